using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;

namespace TaskStream.Api;

/// <summary>
/// Who a client is, for the loopback rule and for every per-client limit (streams, writes, dashboard passwords).
/// Its address is the socket's peer, or, when that peer is a proxy named in <c>TaskStream:Network:TrustedProxies</c>,
/// the address the proxy forwarded (<see cref="TrustedProxies"/> lets ASP.NET Core's forwarded-headers middleware
/// apply X-Forwarded-For from those proxies only), so a client cannot choose it.
/// </summary>
internal static class ClientAddress
{
    /// <summary>The client's address; IPv4 seen through an IPv6 socket (<c>::ffff:10.0.0.1</c>) is IPv4.</summary>
    public static IPAddress? Of(HttpContext http) =>
        http.Connection.RemoteIpAddress is { IsIPv4MappedToIPv6: true } mapped ? mapped.MapToIPv4() : http.Connection.RemoteIpAddress;

    /// <summary>Whether the client is on this machine (<c>127.0.0.0/8</c>, <c>::1</c>).</summary>
    public static bool IsLoopback(HttpContext http) => Of(http) is { } address && IPAddress.IsLoopback(address);

    /// <summary>
    /// What a client is counted by: its IPv4 address, or its IPv6 /64 (one host can use every address of its /64,
    /// so a full IPv6 address would hand it 2^64 allowances).
    /// </summary>
    public static IPAddress Key(HttpContext http)
    {
        var address = Of(http);
        if (address is null)
        {
            return IPAddress.None;
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }
}
