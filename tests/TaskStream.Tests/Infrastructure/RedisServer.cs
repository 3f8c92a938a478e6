using System.Diagnostics;
using System.Net.Sockets;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// A throw-away redis-server on a free port (installed by scripts/test.sh), with no persistence: on loopback, and on
/// <c>alsoOn</c> if given (an address other hosts' namespaces reach).
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly Process _process;

    private RedisServer(Process process, int port) => (_process, Port) = (process, port);

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <param name="arguments">More redis-server options, such as <c>--requirepass</c> or <c>--user</c> (an ACL user).</param>
    public static async Task<RedisServer> StartAsync(params string[] arguments)
    {
        var port = TaskStreamServer.FreeTcpPort();
        var start = new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" },
            RedirectStandardOutput = true,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception exception)
        {
            throw new InvalidOperationException("redis-server is not installed: run the README's test command (scripts/test.sh).", exception);
        }

        process.BeginOutputReadLine();
        var server = new RedisServer(process, port);
        await Eventually.TrueAsync(server.AnswersPingAsync, TimeSpan.FromSeconds(10), "redis-server answers PING");
        return server;
    }

    private async Task<bool> AnswersPingAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer);
            // A server that wants a password answers too, with NOAUTH.
            var answer = System.Text.Encoding.ASCII.GetString(buffer, 0, read);
            return answer.StartsWith("+PONG") || answer.StartsWith("-NOAUTH");
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
