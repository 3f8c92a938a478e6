using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// A TCP port (on loopback, or on <c>listen</c>) that forwards every connection to another endpoint, and can be cut
/// (listener closed, open connections reset) and restored on the same port: a database that becomes unreachable and comes back.
/// </summary>
public sealed class TcpForwarder : IAsyncDisposable
{
    private readonly IPEndPoint _target;
    private readonly IPAddress _listen;
    private readonly ConcurrentDictionary<TcpClient, byte> _connections = new();
    private TcpListener? _listener;
    private CancellationTokenSource? _stopping;
    private Task _accepting = Task.CompletedTask;

    public TcpForwarder(IPEndPoint target, IPAddress? listen = null)
    {
        _target = target;
        _listen = listen ?? IPAddress.Loopback;
        Port = TaskStreamServer.FreeTcpPort();
        Start();
    }

    public int Port { get; }

    /// <summary>Accepting connections (started and not cut since).</summary>
    public bool IsOpen => _listener is not null;

    public void Start()
    {
        _stopping = new CancellationTokenSource();
        _listener = new TcpListener(_listen, Port);
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start();
        _accepting = AcceptAsync(_listener, _stopping.Token);
    }

    /// <summary>Refuses new connections and resets the open ones.</summary>
    public async Task CutAsync()
    {
        _stopping?.Cancel();
        _listener?.Stop();
        _listener = null;
        await _accepting;
        foreach (var connection in _connections.Keys)
        {
            try
            {
                // RST, as a vanished host's connections end. (Client is null once the forwarding task closed it.)
                connection.Client?.LingerState = new LingerOption(true, 0);
            }
            catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
            {
                // Closing meanwhile.
            }

            connection.Dispose();
        }

        _connections.Clear();
    }

    private async Task AcceptAsync(TcpListener listener, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(stopping);
            }
            catch (Exception exception) when (exception is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ForwardAsync(client, stopping);
        }
    }

    private async Task ForwardAsync(TcpClient client, CancellationToken stopping)
    {
        var server = new TcpClient();
        _connections[client] = 0;
        _connections[server] = 0;
        try
        {
            await server.ConnectAsync(_target, stopping);
            using var done = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            await Task.WhenAny(
                client.GetStream().CopyToAsync(server.GetStream(), done.Token),
                server.GetStream().CopyToAsync(client.GetStream(), done.Token));
            await done.CancelAsync();
        }
        catch (Exception exception) when (exception is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // One side went away, or the forwarder was cut.
        }
        finally
        {
            _connections.TryRemove(client, out _);
            _connections.TryRemove(server, out _);
            client.Dispose();
            server.Dispose();
        }
    }

    public async ValueTask DisposeAsync() => await CutAsync();
}
