using System.Net;
using System.Net.Sockets;

namespace TaskStream.Bench;

/// <summary>Free loopback ports for the servers the bench starts.</summary>
public static class LoopbackPorts
{
    /// <summary>A loopback port nobody listens on now (the OS picks it); used at once by the server.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// The first of <paramref name="count"/> consecutive ports free on both loopbacks now and not in
    /// <paramref name="taken"/> (which gets them), for a cluster's base ports: silo K takes base + K, possibly
    /// seconds later. They come from below the kernel's ephemeral range, so that no outgoing connection (the
    /// bench makes thousands) is given one of them as its local port in the meantime.
    /// </summary>
    public static int FreeRun(int count, ISet<int> taken)
    {
        var ceiling = EphemeralLow() - count;
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var first = Random.Shared.Next(10_000, ceiling);
            if (Enumerable.Range(first, count).All(p => !taken.Contains(p) && IsFree(p)))
            {
                taken.UnionWith(Enumerable.Range(first, count));
                return first;
            }
        }

        throw new InvalidOperationException($"no {count} consecutive free loopback ports between 10000 and {ceiling}");

        static int EphemeralLow()
        {
            try
            {
                // "32768\t60999": the first port the kernel hands out to outgoing connections.
                var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
                return Math.Max(int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture), 20_000);
            }
            catch (Exception exception) when (exception is IOException or FormatException or UnauthorizedAccessException)
            {
                return 32_768;
            }
        }

        // Kestrel's "localhost" listens on 127.0.0.1 and, where there is one, [::1].
        static bool IsFree(int port) => IsFreeOn(IPAddress.Loopback, port) && (!Socket.OSSupportsIPv6 || IsFreeOn(IPAddress.IPv6Loopback, port));

        static bool IsFreeOn(IPAddress address, int port)
        {
            try
            {
                using var listener = new TcpListener(address, port);
                listener.Start();
                return true;
            }
            catch (SocketException exception) when (exception.SocketErrorCode != SocketError.AddressAlreadyInUse)
            {
                return address.AddressFamily == AddressFamily.InterNetworkV6; // no IPv6 loopback: nothing to collide with
            }
            catch (SocketException)
            {
                return false;
            }
        }
    }
}
