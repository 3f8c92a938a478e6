using System.Collections.Concurrent;

namespace TaskStream.Bench;

/// <summary>Results of many streams: counts, error kinds and time-to-first-event samples.</summary>
public sealed class LoadStats
{
    private readonly ConcurrentBag<double> _ttfe = [];
    private readonly ConcurrentDictionary<string, int> _errors = new();
    private readonly ConcurrentDictionary<(string Relay, string GrainSilo), Tally> _placements = new();
    private long _ok;
    private long _tasks;

    public long Ok => Interlocked.Read(ref _ok);

    public long Tasks => Interlocked.Read(ref _tasks);

    public long Errors => _errors.Values.Sum(v => (long)v);

    public IReadOnlyDictionary<string, int> ErrorKinds => _errors;

    /// <summary>
    /// Correct streams by where they ran: the silos their <c>end</c> event named as the relay's and the grain's. Only
    /// streams that read them (<see cref="StreamPlan.ReadEndSilo"/>) count.
    /// </summary>
    public IReadOnlyDictionary<(string Relay, string GrainSilo), Tally> Placements => _placements;

    /// <param name="result">One finished stream.</param>
    public void Add(StreamResult result)
    {
        Interlocked.Add(ref _tasks, result.Tasks);
        if (!double.IsNaN(result.TtfeMs))
        {
            _ttfe.Add(result.TtfeMs);
        }

        if (result.Ok)
        {
            Interlocked.Increment(ref _ok);
            if (result.EndSilo is { } silo)
            {
                _placements.AddOrUpdate((result.EndRelay ?? "", silo), new Tally(1, result.TotalMs),
                    (_, t) => new Tally(t.Streams + 1, t.TotalMs + result.TotalMs));
            }
        }
        else
        {
            _errors.AddOrUpdate(result.Error!, 1, (_, n) => n + 1);
        }
    }

    /// <summary>Adds another batch's streams to these (warm-up rounds).</summary>
    public void Add(LoadStats other)
    {
        Interlocked.Add(ref _ok, other.Ok);
        Interlocked.Add(ref _tasks, other.Tasks);
        foreach (var sample in other._ttfe)
        {
            _ttfe.Add(sample);
        }

        foreach (var (kind, count) in other._errors)
        {
            _errors.AddOrUpdate(kind, count, (_, n) => n + count);
        }

        foreach (var (where, tally) in other._placements)
        {
            _placements.AddOrUpdate(where, tally, (_, t) => new Tally(t.Streams + tally.Streams, t.TotalMs + tally.TotalMs));
        }
    }

    public double TtfePercentile(double p) => Percentiles.Of(_ttfe, p);

    /// <summary>Streams, and the sum of their times from request to end event (ms).</summary>
    public readonly record struct Tally(long Streams, double TotalMs);

    public string ErrorSummary() => _errors.IsEmpty ? "none" : Summarize(_errors);

    /// <summary>Error kinds by count, most frequent first: "3× HTTP 503; 1× …".</summary>
    public static string Summarize(IEnumerable<KeyValuePair<string, int>> errors) =>
        string.Join("; ", errors.OrderByDescending(e => e.Value).Select(e => $"{e.Value}× {e.Key}"));
}

public static class Percentiles
{
    /// <summary>Nearest-rank percentile (p in 0..100); NaN for no samples.</summary>
    public static double Of(IEnumerable<double> samples, double p)
    {
        var sorted = samples.ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        Array.Sort(sorted);
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
