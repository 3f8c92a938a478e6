using System.Globalization;

namespace TaskStream.Bench;

/// <summary>
/// Sizes and durations of a run. Full-run defaults keep <c>all</c> within about 15 minutes on the 2-core
/// machine; <c>--smoke</c> shrinks everything to prove the bench works, in well under 2 minutes.
/// </summary>
public sealed record BenchOptions
{
    public required string[] Scenarios { get; init; }

    public bool Smoke { get; init; }

    /// <summary>Load before measuring, per target: the JIT needs about 20 s of it on a 2-core machine before figures settle.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Measured time per concurrency level in <c>short</c>.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(30);

    public int[] ShortClients { get; init; } = [16, 64, 256];

    public int LargeTasks { get; init; } = 1_000_000;

    /// <summary>Measured 1,000,000-task streams per target in <c>large</c>; the median is reported.</summary>
    public int LargeRuns { get; init; } = 3;

    public int[] IdleStreams { get; init; } = [1_000, 5_000, 10_000];

    /// <summary>Streams per case in <c>idle</c>'s row-width comparison (short rows, then 2,000-character descriptions).</summary>
    public int IdleWideStreams { get; init; } = 1_000;

    public int CancelClients { get; init; } = 500;

    /// <summary>Silos per level in <c>scale</c>: each level is a fresh cluster of that many.</summary>
    public int[] ScaleSilos { get; init; } = [1, 2, 3];

    /// <summary>Closed-loop clients in <c>scale</c>, spread round-robin over the silos' APIs.</summary>
    public int ScaleClients { get; init; } = 64;

    /// <summary>Follow streams held open in <c>follow</c> while it measures idle cost and fan-out.</summary>
    public int FollowStreams { get; init; } = 2_000;

    /// <summary>Writes made one at a time in <c>follow</c>, each awaited at every follower before the next.</summary>
    public int FollowWrites { get; init; } = 50;

    /// <summary>
    /// Silos per level in <c>follow</c>: 1 (writes and followers on one silo), 2 (writes via silo 0, followers on silo 1),
    /// 3 or more (writes via silo 0, followers round robin over every silo).
    /// </summary>
    public int[] FollowSilos { get; init; } = [1, 2];

    /// <summary>
    /// Processes that hold <c>follow</c>'s followers: 1, the bench itself; more, that many child processes of the bench
    /// (<c>Bench follow-client</c>), each with its share, since each process is held to the open-files limit.
    /// </summary>
    public int FollowClientProcesses { get; init; } = 1;

    /// <summary>The window over which <c>follow</c> reads the silo's CPU time with every follower idle.</summary>
    public TimeSpan FollowIdle { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A PostgreSQL server (Npgsql connection string of a role that may create databases): <c>follow</c> then also
    /// runs 1 silo on a fresh database there. None: SQLite only.
    /// </summary>
    public string? FollowPostgres { get; init; } = Environment.GetEnvironmentVariable("TASKSTREAM_BENCH_POSTGRES");

    /// <summary>How many streams may be waiting for their first event at once while opening many.</summary>
    public int ConnectConcurrency { get; init; } = 64;

    /// <summary>
    /// When set, <c>short</c> fails the run at any level where TaskStream's CPU per stream is more than this many
    /// times the baseline's (CI's regression guard); otherwise the ratio is only reported.
    /// </summary>
    public double? MaxCpuRatio { get; init; }

    public bool Build { get; init; } = true;

    public string? ResultsDirectory { get; init; }

    public static BenchOptions Smallest(string[] scenarios) => new()
    {
        Scenarios = scenarios,
        Smoke = true,
        Warmup = TimeSpan.Zero,
        Duration = TimeSpan.FromSeconds(3),
        ShortClients = [4],
        LargeTasks = 20_000,
        LargeRuns = 1,
        IdleStreams = [20],
        IdleWideStreams = 20,
        CancelClients = 10,
        ScaleSilos = [1, 2, 3],
        ScaleClients = 6,
        ConnectConcurrency = 8,
        FollowStreams = 20,
        FollowWrites = 5,
        FollowIdle = TimeSpan.FromSeconds(1),
        FollowSilos = [1], // a 2-silo cluster takes ~10 s to form; --follow-silos 1,2 adds it
        FollowClientProcesses = 2, // so CI runs the followers in child processes too
    };

    public static string Usage => $"""
        usage: Bench <{string.Join('|', ScenarioRegistry.Names)}|all> [--smoke] [options]
               Bench baseline-server --db PATH --urls URL [--interval-ms N]
               Bench follow-client --urls URL[,URL…] --count N --concurrency C   (started by follow; see FollowClient.cs)
        options (full-run defaults in brackets; --smoke sets tiny ones, which these still override):
          --warmup SEC               load before measuring, per target [20]
          --duration SEC             measured time per level and target in short and scale [30]
          --clients 16,64,256        closed-loop clients per level in short
          --large-tasks N            tasks in the large stream [1000000]
          --large-runs N             measured large streams per target, median reported [3]
          --idle-streams 1000,5000,10000   open streams per level in idle
          --cancel-clients N         clients that disconnect mid-stream in cancel [500]
          --scale-silos 1,2,3        silos in the cluster, per level in scale
          --scale-clients N          closed-loop clients spread over the silos in scale [64]
          --follow-streams N         follow streams held open in follow [2000]
          --follow-writes N          writes, one at a time, fanned out to them in follow [50]
          --follow-silos 1,2         silos per level in follow (2: writes via silo 0, followers on silo 1;
                                     3 or more: writes via silo 0, followers round robin over all)
          --follow-client-processes N   processes holding the followers: 1 = the bench itself, more = child processes [1]
          --follow-idle SEC          idle window over which follow reads the silo's CPU time [10]
          --follow-postgres CONN     also follow on 1 silo on PostgreSQL: a role's connection string that may create
                                     databases [TASKSTREAM_BENCH_POSTGRES, else SQLite only]
          --connect-concurrency N    streams waiting for their first event at once [64]
          --max-cpu-ratio X          short: fail when TaskStream's CPU per stream exceeds X × the baseline's [off]
          --no-build                 do not build src/Silo (Release) first
          --results DIR              where the JSON goes [bench/results]
        """;

    public static BenchOptions Parse(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith('-'))
        {
            throw new ArgumentException("name a scenario");
        }

        string[] scenarios = args[0] == "all" ? ScenarioRegistry.Names : [ScenarioRegistry.Find(args[0]).Name];
        var rest = args.Skip(1).ToList();
        var options = rest.Contains("--smoke") ? Smallest(scenarios) : new BenchOptions { Scenarios = scenarios };
        for (var i = 0; i < rest.Count; i++)
        {
            string Value() => i + 1 < rest.Count ? rest[++i] : throw new ArgumentException($"{rest[i]} needs a value");
            options = rest[i] switch
            {
                "--smoke" => options,
                "--no-build" => options with { Build = false },
                "--warmup" => options with { Warmup = TimeSpan.FromSeconds(double.Parse(Value(), CultureInfo.InvariantCulture)) },
                "--duration" => options with { Duration = TimeSpan.FromSeconds(double.Parse(Value(), CultureInfo.InvariantCulture)) },
                "--clients" => options with { ShortClients = Ints(Value()) },
                "--large-tasks" => options with { LargeTasks = Ints(Value())[0] },
                "--large-runs" => options with { LargeRuns = Ints(Value())[0] },
                "--idle-streams" => options with { IdleStreams = Ints(Value()) },
                "--idle-wide-streams" => options with { IdleWideStreams = Ints(Value())[0] },
                "--cancel-clients" => options with { CancelClients = Ints(Value())[0] },
                "--scale-silos" => options with { ScaleSilos = Ints(Value()) },
                "--scale-clients" => options with { ScaleClients = Ints(Value())[0] },
                "--follow-streams" => options with { FollowStreams = Ints(Value())[0] },
                "--follow-writes" => options with { FollowWrites = Ints(Value())[0] },
                "--follow-silos" => options with { FollowSilos = Ints(Value()) },
                "--follow-client-processes" => options with { FollowClientProcesses = Ints(Value())[0] },
                "--follow-idle" => options with { FollowIdle = TimeSpan.FromSeconds(double.Parse(Value(), CultureInfo.InvariantCulture)) },
                "--follow-postgres" => options with { FollowPostgres = Value() },
                "--connect-concurrency" => options with { ConnectConcurrency = Ints(Value())[0] },
                "--max-cpu-ratio" => options with { MaxCpuRatio = double.Parse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture) },
                "--results" => options with { ResultsDirectory = Value() },
                var unknown => throw new ArgumentException($"unknown option '{unknown}'"),
            };
        }

        if (options.ScaleSilos.Any(n => n is < 1 or > 20) || options.ScaleClients < 1)
        {
            throw new ArgumentException("--scale-silos takes 1 to 20 silos per level, --scale-clients at least 1");
        }

        if (options.FollowSilos.Any(n => n is < 1 or > 20) || options.FollowStreams < 1 || options.FollowWrites < 1 || options.FollowClientProcesses < 1)
        {
            throw new ArgumentException("--follow-silos takes 1 to 20 per level; --follow-streams, --follow-writes and --follow-client-processes at least 1");
        }

        return options;
    }

    private static int[] Ints(string text) =>
        [.. text.Split(',').Select(t => int.Parse(t.Replace("_", ""), NumberStyles.None, CultureInfo.InvariantCulture))];
}

/// <summary>Where things are: the repository, the silo build to run, results, and this run's scratch files.</summary>
public sealed record BenchPaths(string Root, string SiloDll, string Results, string Scratch)
{
    public static BenchPaths Find(BenchOptions options)
    {
        var root = Up(Directory.GetCurrentDirectory()) ?? Up(AppContext.BaseDirectory)
            ?? throw new InvalidOperationException("Run from inside the TaskStream repository (TaskStream.sln not found).");
        return new BenchPaths(root,
            Path.Combine(root, "src", "Silo", "bin", "Release", "net10.0", "TaskStream.Silo.dll"),
            options.ResultsDirectory ?? Path.Combine(root, "bench", "results"),
            Path.Combine(Path.GetTempPath(), $"taskstream-bench-{Environment.ProcessId}"));

        static string? Up(string? directory)
        {
            for (var d = directory; d is not null; d = Path.GetDirectoryName(d))
            {
                if (File.Exists(Path.Combine(d, "TaskStream.sln")))
                {
                    return d;
                }
            }

            return null;
        }
    }

    /// <summary>A fresh directory for one scenario's database (a missing database is created by the silo).</summary>
    public string NewDatabase(string scenario)
    {
        var directory = Path.Combine(Scratch, scenario);
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }

        Directory.CreateDirectory(directory);
        return Path.Combine(directory, "tasks.db");
    }
}
