using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace TaskStream.Bench;

/// <summary>
/// The followers of a level spread over several child processes of the bench (<see cref="FollowClient"/>), since
/// each process is held to the machine's open-files limit. Follower i goes to process i mod P and to host i mod H,
/// as if one process opened them all round robin; the processes report what they got, and this adds it up.
/// </summary>
internal sealed class FollowClients : IFollowers
{
    private readonly List<Child> _children;
    private readonly ReceivedCount _received;
    private Task<FollowRecord>? _closing;

    private FollowClients(List<Child> children, ReceivedCount received) => (_children, _received) = (children, received);

    public int Live => _children.Sum(c => c.Live);

    public long Received => _received.Value;

    public Task WhenReceivedAsync(long atLeast) => _received.WhenAtLeastAsync(atLeast);

    public IReadOnlyDictionary<string, int> Errors => _children.SelectMany(c => c.Errors)
        .GroupBy(e => e.Key).ToDictionary(g => g.Key, g => g.Sum(e => e.Value));

    public IReadOnlyList<int> ClientPids => [.. _children.Select(c => c.Process.Id)];

    public static async Task<FollowClients> OpenAsync(IReadOnlyList<Uri> hosts, int n, int processes, int concurrency, CancellationToken token)
    {
        var children = new List<Child>();
        var received = new ReceivedCount(); // all children's, added up as they report
        for (var k = 0; k < processes; k++)
        {
            // Process k's j-th follower is follower k + j·P of the whole, so its host is (k + j·P) mod H.
            var urls = Enumerable.Range(0, hosts.Count).Select(j => hosts[(k + (j * processes)) % hosts.Count].ToString());
            var count = (n / processes) + (k < n % processes ? 1 : 0);
            var info = new ProcessStartInfo { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            ServerProcess.RunSelf(info, ["follow-client", "--urls", string.Join(',', urls), "--count", count.ToString(CultureInfo.InvariantCulture),
                "--concurrency", Math.Max(1, concurrency / processes).ToString(CultureInfo.InvariantCulture)]);
            children.Add(Child.Start(info, received));
        }

        var clients = new FollowClients(children, received);
        foreach (var child in children)
        {
            await Task.WhenAny(child.WentLive.Task, child.Reading).WaitAsync(token);
            if (!child.WentLive.Task.IsCompleted)
            {
                await clients.CloseAsync();
                throw new InvalidOperationException($"follow client (pid {child.Process.Id}) exited before its followers were live: {child.LastErrors()}");
            }
        }

        return clients;
    }

    public Task<FollowRecord> CloseAsync() => _closing ??= CloseCoreAsync();

    private async Task<FollowRecord> CloseCoreAsync()
    {
        foreach (var child in _children.Where(c => !c.Process.HasExited))
        {
            try
            {
                await child.Process.StandardInput.WriteLineAsync("close");
                child.Process.StandardInput.Close();
            }
            catch (IOException)
            {
                // it has gone already; what it said is still read below
            }
        }

        var events = new List<IReadOnlyList<(long Seq, long At)>>();
        var errors = new Dictionary<string, int>();
        foreach (var child in _children)
        {
            await child.Reading.WaitAsync(TimeSpan.FromSeconds(120)).ContinueWith(_ => { }, TaskScheduler.Default);
            ServerProcess.Forget(child.Process);
            if (!child.Reading.IsCompleted || !child.Done)
            {
                child.Kill();
                errors[$"follow client did not report its followers: {child.LastErrors()}"] = child.Live;
            }

            events.AddRange(child.Events);
            foreach (var (error, count) in child.Errors)
            {
                errors[error] = errors.GetValueOrDefault(error) + count;
            }

            child.Process.Dispose();
        }

        return new FollowRecord(events, errors);
    }

    /// <summary>One follow-client process and what it has said so far.</summary>
    private sealed class Child
    {
        private readonly ConcurrentQueue<string> _stderr = new();

        private readonly ReceivedCount _total;

        private Child(Process process, ReceivedCount total)
        {
            (Process, _total) = (process, total);
            Reading = Task.Run(ReadAsync);
        }

        public Process Process { get; }

        public Task Reading { get; }

        public TaskCompletionSource WentLive { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Live { get; private set; }

        private long _received;

        public bool Done { get; private set; }

        public IReadOnlyDictionary<string, int> Errors { get; private set; } = new Dictionary<string, int>();

        public List<IReadOnlyList<(long Seq, long At)>> Events { get; } = [];

        public static Child Start(ProcessStartInfo info, ReceivedCount total)
        {
            var process = new Process { StartInfo = info };
            process.Start();
            ServerProcess.Track(process);
            var child = new Child(process, total);
            process.ErrorDataReceived += (_, e) => child.OnError(e.Data);
            process.BeginErrorReadLine();
            return child;
        }

        public string LastErrors() => string.Join(" | ", _stderr.TakeLast(5));

        public void Kill()
        {
            try
            {
                Process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // already gone
            }
        }

        private void OnError(string? line)
        {
            if (line is not null)
            {
                _stderr.Enqueue(line);
            }
        }

        private async Task ReadAsync()
        {
            while (await Process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("{\"received\":", StringComparison.Ordinal))
                {
                    var received = long.Parse(line.AsSpan(12, line.Length - 13), CultureInfo.InvariantCulture);
                    _total.Add(received - _received); // reports only grow; this reader is the only one that writes _received
                    _received = received;
                    continue;
                }

                using var json = JsonDocument.Parse(line);
                var root = json.RootElement;
                if (root.TryGetProperty("events", out var events))
                {
                    Events.Add([.. events.EnumerateArray().Select(e => (e[0].GetInt64(), e[1].GetInt64()))]);
                    continue;
                }

                Errors = root.GetProperty("errors").EnumerateObject().ToDictionary(e => e.Name, e => e.Value.GetInt32());
                if (root.TryGetProperty("live", out var live))
                {
                    Live = live.GetInt32();
                    WentLive.TrySetResult();
                }
                else
                {
                    Done = true;
                }
            }
        }
    }
}
