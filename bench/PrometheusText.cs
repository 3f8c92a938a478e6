using System.Globalization;

namespace TaskStream.Bench;

/// <summary>Reads figures out of the Prometheus text format that /metrics answers with.</summary>
public static class PrometheusText
{
    /// <summary>Every sample of <paramref name="metric"/> summed, whatever its labels.</summary>
    public static long Sum(string text, string metric) =>
        text.Split('\n')
            .Where(line => line.StartsWith(metric + "{", StringComparison.Ordinal) || line.StartsWith(metric + " ", StringComparison.Ordinal))
            .Sum(line => (long)double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture));

    /// <summary>
    /// The samples of <paramref name="metric"/>, summed by the value of <paramref name="label"/> (other labels, such
    /// as the exporter's scope, are ignored): <c>name{a="x",outcome="cancelled"} 12 [timestamp]</c>.
    /// </summary>
    public static IReadOnlyDictionary<string, long> SumBy(string text, string metric, string label)
    {
        var sums = new Dictionary<string, long>();
        var key = label + "=\"";
        foreach (var line in text.Split('\n'))
        {
            var close = line.IndexOf('}', StringComparison.Ordinal);
            if (!line.StartsWith(metric + "{", StringComparison.Ordinal) || close < 0)
            {
                continue;
            }

            var labels = line[(metric.Length + 1)..close];
            var at = labels.IndexOf(key, StringComparison.Ordinal);
            if (at < 0)
            {
                continue;
            }

            var start = at + key.Length;
            var name = labels[start..labels.IndexOf('"', start)];
            var value = double.Parse(line[(close + 1)..].Trim().Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture);
            sums[name] = sums.GetValueOrDefault(name) + (long)value;
        }

        return sums;
    }
}
