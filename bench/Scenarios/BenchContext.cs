namespace TaskStream.Bench;

/// <summary>What every scenario gets: its sizes, the paths, the one load client, the report, Ctrl-C.</summary>
public sealed record BenchContext(BenchOptions Options, BenchPaths Paths, SseLoad Load, Report Report, CancellationToken Token)
{
    public Task<ServerProcess> StartAsync(Target target, ServerConfig config) =>
        ServerProcess.StartAsync(target, config, Paths, Load.Http, Token);
}
