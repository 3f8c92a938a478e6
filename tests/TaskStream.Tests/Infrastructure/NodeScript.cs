using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// A node script from tests/clients that runs beside a test and talks to it: one JSON object per line on its
/// stdout (each with a <c>step</c>), plain lines on its stdin. Killed on dispose if it is still running.
/// </summary>
public sealed class NodeScript : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _errors = new();

    private NodeScript(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _lines.Writer.TryComplete();
            }
            else
            {
                _lines.Writer.TryWrite(e.Data);
            }
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_errors)
            {
                _errors.AppendLine(e.Data);
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Where tests leave files for people to look at (screenshots): TASKSTREAM_TEST_ARTIFACTS, else ./artifacts.</summary>
    public static string ArtifactsDirectory { get; } = Directory.CreateDirectory(
        Environment.GetEnvironmentVariable("TASKSTREAM_TEST_ARTIFACTS") is { Length: > 0 } path ? path : Repository.PathTo("artifacts")).FullName;

    public static NodeScript Start(string script, params string[] arguments)
    {
        var path = Repository.PathTo(Path.Combine("tests/clients", script));
        Assert.True(Directory.Exists(Repository.PathTo("tests/clients/node_modules")),
            "npm packages missing: run the README's test command (scripts/test.sh), which runs `npm ci` in tests/clients");
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Repository.PathTo("tests/clients"),
        };
        start.ArgumentList.Add(path);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return new NodeScript(Process.Start(start) ?? throw new InvalidOperationException("node did not start"));
    }

    /// <summary>The script's next report, which must be step <paramref name="step"/>; a <c>failed</c> report fails the test with what the script saw.</summary>
    public async Task<JsonElement> NextAsync(string step, TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        string line;
        try
        {
            line = await _lines.Reader.ReadAsync(cancellation.Token);
        }
        catch (Exception exception) when (exception is OperationCanceledException or ChannelClosedException)
        {
            throw new TimeoutException($"no '{step}' report from the script within {timeout} ({exception.GetType().Name}); stderr: {Errors}");
        }

        var report = JsonDocument.Parse(line).RootElement;
        var actual = report.GetProperty("step").GetString();
        Assert.True(actual == step, $"expected step '{step}', the script reported: {line}\nstderr: {Errors}");
        return report;
    }

    public async Task SendAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return _errors.ToString();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
