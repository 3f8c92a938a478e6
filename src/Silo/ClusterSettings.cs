using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace TaskStream.Silo;

/// <summary>
/// Settings under <c>TaskStream:Cluster</c>: which cluster this silo joins and on which ports.
/// Silo number K of a local cluster (<c>--instance K</c>) offsets every port by K.
/// </summary>
public sealed class ClusterSettings
{
    public const string Section = "TaskStream:Cluster";

    [Range(0, 1000)]
    public int Instance { get; set; }

    /// <summary><c>localhost</c> (development clustering, instance 0 is the primary) or <c>redis</c>.</summary>
    [EnumDataType(typeof(ClusterMembership), ErrorMessage = Section + ":" + nameof(Membership) + " must be 'localhost' or 'redis'.")]
    public ClusterMembership Membership { get; set; } = ClusterMembership.Localhost;

    /// <summary>Redis connection string, for <c>Membership = redis</c>.</summary>
    public string Redis { get; set; } = "localhost:6379";

    /// <summary>Redis ACL user (replaces the connection string's <c>user=</c>).</summary>
    public string? RedisUser { get; set; }

    /// <summary>Redis password (replaces the connection string's <c>password=</c>); never logged.</summary>
    public string? RedisPassword { get; set; }

    [Range(1, 65535)]
    public int ApiPort { get; set; } = 8000;

    [Range(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    /// <summary>
    /// Whether the silo accepts external Orleans clients on <see cref="GatewayPort"/>. Off: the co-hosted API needs
    /// no gateway, and one would let any client on the network call the grains around the API's checks.
    /// </summary>
    public bool Gateway { get; set; }

    [Range(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>The address other silos reach this one at.</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    public string ClusterId { get; set; } = "taskstream";

    public string ServiceId { get; set; } = "taskstream";

    /// <summary>
    /// Failure detection (Orleans' <c>ClusterMembershipOptions</c>): silos probe each other every
    /// <see cref="ProbeTimeoutMs"/>; <see cref="MissedProbesLimit"/> missed probes in a row make a silo vote the other
    /// dead, and <see cref="DeathVotes"/> votes declare it dead. Shorter finds a crash sooner and kills a slow silo sooner.
    /// </summary>
    [Range(100, 60_000)]
    public int ProbeTimeoutMs { get; set; } = 1000;

    [Range(1, 10)]
    public int MissedProbesLimit { get; set; } = 2;

    [Range(1, 10)]
    public int DeathVotes { get; set; } = 2;

    public static ClusterSettings From(IConfiguration configuration)
    {
        var settings = configuration.GetSection(Section).Get<ClusterSettings>() ?? new ClusterSettings();
        var problems = StartupFailure.Problems(settings, Section, configuration);
        return problems.Count == 0 ? settings : throw new OptionsValidationException(Section, typeof(ClusterSettings), problems);
    }

    /// <summary>
    /// Fails when something already listens on this silo's Orleans ports. Orleans' listener allows port reuse:
    /// without this check a second silo binds beside the first, and the kernel splits connections between them.
    /// </summary>
    public void EnsurePortsFree()
    {
        // The address Apply makes Orleans listen on.
        var address = Membership == ClusterMembership.Redis ? IPAddress.Parse(AdvertisedAddress) : IPAddress.Loopback;
        EnsureFree(address, SiloPort, nameof(SiloPort));
        if (Gateway)
        {
            EnsureFree(address, GatewayPort, nameof(GatewayPort));
        }
    }

    private void EnsureFree(IPAddress address, int basePort, string key)
    {
        var port = basePort + Instance;
        using var probe = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        // Without ReuseAddress, which .NET on Linux makes SO_REUSEPORT (what lets a second listener in); .NET sets
        // SO_REUSEADDR itself, so connections of an earlier run in TIME_WAIT do not count, only a live listener.
        try
        {
            probe.Bind(new IPEndPoint(address, port));
        }
        catch (SocketException exception) when (exception.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            var offset = Instance == 0 ? "" : $" (+{Instance} for --instance {Instance})";
            throw new PortInUseException($"{Section}:{key} = {basePort}{offset}: port {port} on {address} is already in use, "
                + $"perhaps by another silo. Stop what uses it, or choose another with {Section}:{key} or --instance.");
        }
    }

    public void Apply(ISiloBuilder silo)
    {
        var siloPort = SiloPort + Instance;
        // Orleans opens no gateway listener for port 0.
        var gatewayPort = Gateway ? GatewayPort + Instance : 0;
        if (Membership == ClusterMembership.Redis)
        {
            // Any silo may die and the rest carry on: the membership table lives in Redis, not in a silo.
            silo.UseRedisClustering(redis => redis.ConfigurationOptions = ClusterRedis.Options(this));
            silo.Configure<ClusterOptions>(cluster => (cluster.ClusterId, cluster.ServiceId) = (ClusterId, ServiceId));
            silo.ConfigureEndpoints(IPAddress.Parse(AdvertisedAddress), siloPort, gatewayPort, listenOnAnyHostAddress: false);
        }
        else
        {
            // Development clustering: instance 0 holds the membership table, so it must start first and is
            // a single point of failure.
            silo.UseLocalhostClustering(siloPort, gatewayPort,
                new IPEndPoint(IPAddress.Loopback, SiloPort), ServiceId, ClusterId);
        }

        // By default a dead silo is noticed in a few seconds rather than Orleans' ~15: probe every second, declare
        // death after two missed probes, with votes from two silos (one in a two-silo cluster).
        silo.Configure<ClusterMembershipOptions>(membership =>
        {
            membership.ProbeTimeout = TimeSpan.FromMilliseconds(ProbeTimeoutMs);
            membership.NumMissedProbesLimit = MissedProbesLimit;
            membership.NumVotesForDeathDeclaration = DeathVotes;
            membership.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
        });
    }
}

/// <summary>Where the cluster's membership table lives; settings spell it in any case (<c>localhost</c>, <c>redis</c>).</summary>
public enum ClusterMembership
{
    Localhost,
    Redis,
}

/// <summary>An Orleans port of this silo is taken; its message is the one line to print.</summary>
internal sealed class PortInUseException(string message) : Exception(message);
