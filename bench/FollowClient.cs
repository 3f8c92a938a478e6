using System.Globalization;
using System.Text;
using System.Text.Json;

namespace TaskStream.Bench;

/// <summary>
/// A process of follow clients, so that the followers of one <c>follow</c> level can be spread over several
/// processes (each is held to the machine's open-files limit). Run by the bench as
/// <c>Bench follow-client --urls URL[,URL…] --count N --concurrency C</c>: it opens N follow streams round robin over the
/// URLs and reports on stdout, one JSON object a line: <c>{"live":L,"errors":{…}}</c> once all are settled, then
/// <c>{"received":R}</c> whenever its followers have received more; on <c>close</c> (or end of input) on stdin it
/// closes them, writes one <c>{"events":[[seq,at],…]}</c> per follower (at: Stopwatch timestamps, which on Linux all
/// processes read off the same monotonic clock), then <c>{"errors":{…}}</c>, and exits.
/// </summary>
internal static class FollowClient
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault()
            ?? throw new ArgumentException($"follow-client needs {name}");
        var urls = Arg("--urls").Split(',').Select(u => new Uri(u)).ToList();
        var count = int.Parse(Arg("--count"), CultureInfo.InvariantCulture);
        var concurrency = int.Parse(Arg("--concurrency"), CultureInfo.InvariantCulture);

        using var load = new SseLoad();
        var followers = await Followers.OpenAsync(load.Http, urls, count, concurrency, CancellationToken.None);
        var output = Console.Out;
        await output.WriteLineAsync(JsonSerializer.Serialize(new { live = followers.Live, errors = followers.Errors }));

        // Until the bench says close (or goes away), tell it each time every follower here has one more write: what
        // the bench waits for before its next write. On a thread of its own: Console.In's ReadLineAsync blocks the
        // caller until a line comes.
        var closing = Task.Factory.StartNew(() => Console.In.ReadLine(), TaskCreationOptions.LongRunning);
        var live = Math.Max(1, followers.Live);
        while (true)
        {
            var next = ((followers.Received / live) + 1) * live;
            if (await Task.WhenAny(closing, followers.WhenReceivedAsync(next)) == closing)
            {
                break;
            }

            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $$"""{"received":{{followers.Received}}}"""));
        }

        var record = await followers.CloseAsync();
        var line = new StringBuilder();
        foreach (var events in record.Events)
        {
            line.Clear().Append("{\"events\":[");
            for (var i = 0; i < events.Count; i++)
            {
                line.Append(i == 0 ? "[" : ",[").Append(events[i].Seq).Append(',').Append(events[i].At).Append(']');
            }

            await output.WriteLineAsync(line.Append("]}").ToString());
        }

        await output.WriteLineAsync(JsonSerializer.Serialize(new { errors = record.Errors }));
        return 0;
    }
}
