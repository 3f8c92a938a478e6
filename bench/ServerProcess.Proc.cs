namespace TaskStream.Bench;

/// <summary>What the bench reads about a server from /proc: memory, threads, CPU time, open files.</summary>
public sealed partial class ServerProcess
{
    /// <summary>Resident set size now and its peak (VmHWM), in KiB, from /proc/PID/status.</summary>
    public (long RssKb, long PeakKb) Memory()
    {
        long rss = 0, peak = 0;
        foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = ParseKb(line);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = ParseKb(line);
            }
        }

        return (rss, peak);
    }

    /// <summary>The server's threads now: <c>Threads:</c> of /proc/PID/status.</summary>
    public int Threads() =>
        int.Parse(File.ReadLines($"/proc/{Pid}/status").First(l => l.StartsWith("Threads:", StringComparison.Ordinal)).AsSpan(8).Trim(),
            System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>CPU time the server has used so far (user + system), from /proc/PID/stat, in clock ticks (1/100 s here).</summary>
    public long CpuTicks() => CpuTicksOf(Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The same for any process: a pid, or <c>self</c> for the bench itself.</summary>
    public static long CpuTicksOf(string pid)
    {
        // Fields after the command name, which is in parentheses and may contain spaces: utime and stime are 14 and 15.
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture)
            + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>CPU time the server has used so far (user + system), in seconds: <see cref="CpuTicks"/> at 100 per second.</summary>
    public double CpuSeconds() => CpuTicks() / 100.0;

    /// <summary>File descriptors the server holds now (sockets, database files): /proc/PID/fd.</summary>
    public int OpenFiles() => Directory.GetFileSystemEntries($"/proc/{Pid}/fd").Length;

    /// <summary>Resets VmHWM to the current RSS (Linux clear_refs "5"), so a later peak is this phase's own.</summary>
    public bool TryResetPeak()
    {
        try
        {
            File.WriteAllText($"/proc/{Pid}/clear_refs", "5");
            return true;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long ParseKb(string line) =>
        long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture);
}
