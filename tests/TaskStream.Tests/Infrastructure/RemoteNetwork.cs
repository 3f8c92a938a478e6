using System.ComponentModel;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// Another host, as far as a server here can tell: a network namespace of its own joined to this one by a veth
/// pair, on a private /30 (IPv4) and /64 (IPv6) that nothing on this machine uses. A server listening on
/// <see cref="ServerAddress"/> sees this network's clients arrive from <see cref="ClientAddress"/>; the traffic
/// never leaves the machine. Needs root and iproute2 (<c>ip netns</c>); names are unique per run, and
/// <see cref="Dispose"/> (or the next run, for a test process that was killed) removes the namespace.
/// </summary>
public sealed partial class RemoteNetwork : IDisposable
{
    /// <summary>Every namespace a test makes is named <c>taskstream-PID-HEX</c>, so leftovers of dead test processes can be found.</summary>
    internal const string Prefix = "taskstream-";
    private const int CloneNewNet = 0x40000000;
    private static readonly Lock Choosing = new();

    // Subnets this process chose: two networks made at once must not take the same one before either has its addresses.
    private static readonly HashSet<(int, int)> Chosen = [];

    private RemoteNetwork(string name, IPAddress serverAddress, IPAddress clientAddress, IPAddress serverAddressV6, IPAddress clientAddressV6)
    {
        Name = name;
        ServerAddress = serverAddress;
        ClientAddress = clientAddress;
        ServerAddressV6 = serverAddressV6;
        ClientAddressV6 = clientAddressV6;
    }

    /// <summary>The namespace's name (<c>ip netns exec NAME …</c>).</summary>
    public string Name { get; }

    /// <summary>This machine's end of the pair: where a server listens to be reached from the namespace.</summary>
    public IPAddress ServerAddress { get; }

    /// <summary>The namespace's end: the address the server sees.</summary>
    public IPAddress ClientAddress { get; }

    /// <summary>This machine's end on IPv6.</summary>
    public IPAddress ServerAddressV6 { get; }

    /// <summary>The namespace's first IPv6 address; <see cref="ClientAddressV6In64"/> gives others of its /64.</summary>
    public IPAddress ClientAddressV6 { get; }

    /// <summary>Another address of the client's IPv6 /64 (<paramref name="n"/> from 2 to 9, all configured on the namespace's end).</summary>
    public IPAddress ClientAddressV6In64(int n)
    {
        var bytes = ClientAddressV6.GetAddressBytes();
        bytes[15] = (byte)n;
        return new IPAddress(bytes);
    }

    public static RemoteNetwork Create()
    {
        RemoveLeftovers();
        string name, hostEnd;
        int third, fourth;
        lock (Choosing)
        {
            (third, fourth) = FreeSubnet();
            var id = Guid.NewGuid().ToString("N")[..8];
            name = $"{Prefix}{Environment.ProcessId}-{id}";
            hostEnd = $"tsh{id}"; // interface names have at most 15 characters
            Ip($"netns add {name}");
        }

        var server = IPAddress.Parse($"10.231.{third}.{fourth + 1}");
        var client = IPAddress.Parse($"10.231.{third}.{fourth + 2}");
        var v6 = $"fd00:231:{third:x}:{fourth:x}";
        var network = new RemoteNetwork(name, server, client, IPAddress.Parse($"{v6}::1"), IPAddress.Parse($"{v6}::2"));
        try
        {
            Ip($"link add {hostEnd} type veth peer name tsc0 netns {name}");
            Ip($"addr add {server}/30 dev {hostEnd}");
            Ip($"addr add {v6}::1/64 dev {hostEnd} nodad");
            Ip($"link set {hostEnd} up");
            Ip($"-n {name} addr add {client}/30 dev tsc0");
            for (var n = 2; n <= 9; n++)
            {
                Ip($"-n {name} addr add {v6}::{n}/64 dev tsc0 nodad");
            }

            Ip($"-n {name} link set tsc0 up");
            Ip($"-n {name} link set lo up");
            return network;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>An HTTP client whose connections start in the namespace (from <paramref name="local"/>, if given).</summary>
    public HttpClient Client(Uri baseAddress, IPAddress? local = null) =>
        new(new SocketsHttpHandler
        {
            MaxResponseDrainSize = 0,
            ConnectCallback = async (context, cancellationToken) =>
            {
                var endpoint = new IPEndPoint(IPAddress.Parse(context.DnsEndPoint.Host), context.DnsEndPoint.Port);
                var socket = NewSocket(endpoint.AddressFamily);
                try
                {
                    if (local is not null)
                    {
                        socket.Bind(new IPEndPoint(local, 0));
                    }

                    await socket.ConnectAsync(endpoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        })
        { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>
    /// A TCP socket of the namespace. A socket belongs to the network namespace of the thread that created it,
    /// so a thread of its own joins the namespace (setns), creates it and ends; the socket then works from any thread.
    /// </summary>
    public Socket NewSocket(AddressFamily family)
    {
        Socket? socket = null;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/var/run/netns/{Name}");
                if (SetNs((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new Win32Exception(Marshal.GetLastPInvokeError(), $"setns into {Name}");
                }

                socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
            }
            catch (Exception exception)
            {
                failure = exception;
            }
        });
        thread.Start();
        thread.Join();
        return socket ?? throw new InvalidOperationException($"No socket in network namespace {Name}.", failure);
    }

    public void Dispose()
    {
        // Deleting the namespace deletes its end of the pair, and with it this machine's end.
        TryIp($"netns del {Name}");
    }

    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static extern int SetNs(int fd, int nstype);

    /// <summary>A /30 of 10.231.0.0/16 (and the matching IPv6 /64) that no interface here has an address in.</summary>
    private static (int Third, int Fourth) FreeSubnet()
    {
        var taken = Run("ip", "-o addr show");
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var third = Random.Shared.Next(256);
            var fourth = Random.Shared.Next(64) * 4;
            if (!taken.Contains($"10.231.{third}.", StringComparison.Ordinal)
                && !taken.Contains($"fd00:231:{third:x}:{fourth:x}:", StringComparison.Ordinal)
                && Chosen.Add((third, fourth)))
            {
                return (third, fourth);
            }
        }

        throw new InvalidOperationException("No free /30 in 10.231.0.0/16 for a test network.");
    }

    /// <summary>Namespaces of test processes that no longer run (killed before they could clean up).</summary>
    internal static void RemoveLeftovers()
    {
        foreach (Match leftover in LeftoverName().Matches(TryRun("ip", "netns list")))
        {
            if (!Directory.Exists($"/proc/{leftover.Groups["pid"].Value}"))
            {
                TryIp($"netns del {leftover.Groups["name"].Value}");
            }
        }
    }

    [GeneratedRegex($@"^(?<name>{Prefix}(?<pid>\d+)-[0-9a-f]+)", RegexOptions.Multiline)]
    private static partial Regex LeftoverName();

    internal static void Ip(string arguments) => Run("ip", arguments);

    internal static void TryIp(string arguments) => TryRun("ip", arguments);

    private static string TryRun(string file, string arguments)
    {
        try
        {
            return Run(file, arguments);
        }
        catch (InvalidOperationException)
        {
            return "";
        }
    }

    internal static string Run(string file, string arguments)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (Win32Exception exception)
        {
            throw new InvalidOperationException($"'{file}' is missing: these tests need iproute2 (scripts/test.sh installs it) and root.", exception);
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"'{file} {arguments}' failed ({process.ExitCode}): {error}");
            }

            return output.Result;
        }
    }
}
