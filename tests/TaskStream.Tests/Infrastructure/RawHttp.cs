using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TaskStream.Tests.Infrastructure;

/// <summary>An HTTP/1.1 response read off a raw socket; <see cref="Status"/> 0 when the server answered nothing.</summary>
public sealed record RawResponse(int Status, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}

/// <summary>
/// Sends bytes no HttpClient would send (raw non-ASCII, NUL, broken header lines, oversized heads) on a connection
/// of their own, and reads the answer until the server closes. The request should carry <c>Connection: close</c>.
/// </summary>
public static class RawHttp
{
    public static async Task<RawResponse> ExchangeAsync(Uri server, byte[] request, TimeSpan timeout)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var cancellation = new CancellationTokenSource(timeout);
        await socket.ConnectAsync(IPAddress.Loopback, server.Port, cancellation.Token);
        var received = new MemoryStream();
        try
        {
            await socket.SendAsync(request, cancellation.Token);
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await socket.ReceiveAsync(buffer, cancellation.Token)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (SocketException exception) when (exception.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
        {
            // The server refused the request and closed while it was still being sent; what it answered
            // before that (if anything) is parsed below.
        }

        return Parse(received.ToArray());
    }

    private static RawResponse Parse(byte[] raw)
    {
        var end = raw.AsSpan().IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            return new RawResponse(0, new Dictionary<string, string>(), []);
        }

        var lines = Encoding.Latin1.GetString(raw, 0, end).Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1]);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            headers[line[..colon]] = line[(colon + 1)..].Trim();
        }

        var body = raw.AsSpan(end + 4);
        return new RawResponse(status, headers,
            headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding == "chunked" ? Dechunk(body) : body.ToArray());
    }

    private static byte[] Dechunk(ReadOnlySpan<byte> chunked)
    {
        var body = new MemoryStream();
        while (true)
        {
            var lineEnd = chunked.IndexOf("\r\n"u8);
            var size = lineEnd < 0 ? 0 : Convert.ToInt32(Encoding.ASCII.GetString(chunked[..lineEnd]).Split(';')[0], 16);
            if (size == 0 || chunked.Length < lineEnd + 2 + size)
            {
                return body.ToArray();
            }

            body.Write(chunked.Slice(lineEnd + 2, size));
            chunked = chunked[Math.Min(chunked.Length, lineEnd + 2 + size + 2)..];
        }
    }
}
