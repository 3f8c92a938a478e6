using System.Diagnostics;

namespace TaskStream.Tests.Infrastructure;

/// <summary>Waits for a condition instead of sleeping for a guessed time.</summary>
public static class Eventually
{
    public static async Task<TimeSpan> TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string because)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Not true within {timeout.TotalSeconds:0.#} s: {because}");
            }

            await Task.Delay(10);
        }

        return clock.Elapsed;
    }
}
