using System.Net;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// Hosts on one private LAN, made on this machine: each host is a network namespace of its own with one address on
/// a /24 of 10.232.0.0/16, plugged by a veth pair into a bridge, and this machine's root namespace is plugged into
/// the same bridge at <see cref="RootAddress"/> (where servers the hosts need, such as Redis or a database forwarder,
/// listen). Pulling a host's cable (<see cref="Unplug"/>) is a real partition: its packets go nowhere, no
/// connection is refused. The bridge sits in a namespace of its own, so deleting the namespaces (<see cref="Dispose"/>,
/// or the next run for a killed test process, as with <see cref="RemoteNetwork"/>) removes every interface.
/// </summary>
public sealed class HostNetwork : IDisposable
{
    private static readonly Lock Choosing = new();
    private readonly string _hub;
    private readonly List<string> _namespaces = [];

    private HostNetwork(string hub, IPAddress rootAddress, IReadOnlyList<NetworkHost> hosts)
    {
        (_hub, RootAddress, Hosts) = (hub, rootAddress, hosts);
        _namespaces.Add(hub);
        _namespaces.AddRange(hosts.Select(h => h.Namespace));
    }

    /// <summary>The root namespace's address on the LAN.</summary>
    public IPAddress RootAddress { get; }

    public IReadOnlyList<NetworkHost> Hosts { get; }

    public static HostNetwork Create(int hosts)
    {
        RemoteNetwork.RemoveLeftovers();
        var id = Guid.NewGuid().ToString("N")[..8];
        var hub = $"{RemoteNetwork.Prefix}{Environment.ProcessId}-{id}";
        int third;
        lock (Choosing)
        {
            var taken = RemoteNetwork.Run("ip", "-o addr show");
            third = Enumerable.Range(0, 100).Select(_ => Random.Shared.Next(256)).First(t => !taken.Contains($"10.232.{t}.", StringComparison.Ordinal));
            RemoteNetwork.Ip($"netns add {hub}");
        }

        var network = new HostNetwork(hub, IPAddress.Parse($"10.232.{third}.1"),
            [.. Enumerable.Range(0, hosts).Select(i => new NetworkHost($"{hub}{i:x}", IPAddress.Parse($"10.232.{third}.{10 + i}")))]);
        try
        {
            RemoteNetwork.Ip($"-n {hub} link add lan type bridge");
            RemoteNetwork.Ip($"-n {hub} link set lan up");
            var root = $"tsl{id}"; // interface names have at most 15 characters
            RemoteNetwork.Ip($"link add {root} type veth peer name root netns {hub}");
            RemoteNetwork.Ip($"-n {hub} link set root master lan up");
            RemoteNetwork.Ip($"addr add {network.RootAddress}/24 dev {root}");
            RemoteNetwork.Ip($"link set {root} up");
            foreach (var (host, i) in network.Hosts.Select((h, i) => (h, i)))
            {
                RemoteNetwork.Ip($"netns add {host.Namespace}");
                RemoteNetwork.Ip($"-n {hub} link add h{i} type veth peer name eth0 netns {host.Namespace}");
                RemoteNetwork.Ip($"-n {hub} link set h{i} master lan up");
                RemoteNetwork.Ip($"-n {host.Namespace} addr add {host.Address}/24 dev eth0");
                RemoteNetwork.Ip($"-n {host.Namespace} link set eth0 up");
                RemoteNetwork.Ip($"-n {host.Namespace} link set lo up");
            }

            return network;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>Pulls host <paramref name="host"/>'s cable from the bridge: nothing reaches it, nothing leaves it.</summary>
    public void Unplug(int host) => RemoteNetwork.Ip($"-n {_hub} link set h{host} down");

    public void PlugIn(int host) => RemoteNetwork.Ip($"-n {_hub} link set h{host} up");

    public void Dispose()
    {
        // A namespace's deletion takes its ends of the veth pairs with it, and so the other ends.
        foreach (var name in _namespaces)
        {
            RemoteNetwork.TryIp($"netns del {name}");
        }
    }
}

/// <summary>One host of a <see cref="HostNetwork"/>: its namespace (<c>ip netns exec NAME …</c>) and its address.</summary>
public sealed record NetworkHost(string Namespace, IPAddress Address);
