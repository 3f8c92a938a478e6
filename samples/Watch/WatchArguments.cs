namespace TaskStream.Watch;

/// <summary>The command line: <c>--url URL [--follow] [--completed true|false]</c>.</summary>
internal sealed record WatchArguments(Uri Url, bool Follow, bool? Completed)
{
    private const string Usage = "usage: watch --url http://localhost:8000 [--follow] [--completed true|false]";

    /// <summary>The arguments, or <c>null</c> after printing one line that says what is wrong with them.</summary>
    public static WatchArguments? Parse(string[] args)
    {
        Uri? url = null;
        var follow = false;
        bool? completed = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--url" when i + 1 < args.Length:
                    if (!Uri.TryCreate(args[++i], UriKind.Absolute, out url) || url.Scheme is not ("http" or "https"))
                    {
                        return Fail($"--url must be an http:// or https:// address, not '{args[i]}'");
                    }

                    break;
                case "--follow":
                    follow = true;
                    break;
                case "--completed" when i + 1 < args.Length:
                    completed = args[++i] switch
                    {
                        "true" => true,
                        "false" => false,
                        _ => null,
                    };
                    if (completed is null)
                    {
                        return Fail($"--completed must be true or false, not '{args[i]}'");
                    }

                    break;
                case "--url" or "--completed":
                    return Fail($"{args[i]} needs a value");
                default:
                    return Fail($"unknown argument '{args[i]}'");
            }
        }

        return url is null ? Fail("--url is required") : new WatchArguments(url, follow, completed);
    }

    private static WatchArguments? Fail(string problem)
    {
        Console.Error.WriteLine($"watch: {problem} ({Usage})");
        return null;
    }
}
