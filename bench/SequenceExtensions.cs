namespace TaskStream.Bench;

internal static class SequenceExtensions
{
    /// <summary>Groups consecutive elements with the same key, keeping their order.</summary>
    public static IEnumerable<List<T>> ChunkBy<T, TKey>(this IEnumerable<T> source, Func<T, TKey> key)
    {
        List<T>? run = null;
        TKey? current = default;
        foreach (var item in source)
        {
            var k = key(item);
            if (run is not null && EqualityComparer<TKey>.Default.Equals(k, current))
            {
                run.Add(item);
                continue;
            }

            if (run is not null)
            {
                yield return run;
            }

            run = [item];
            current = k;
        }

        if (run is not null)
        {
            yield return run;
        }
    }
}
