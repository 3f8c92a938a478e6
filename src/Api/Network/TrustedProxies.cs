using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;
using IPNetwork = System.Net.IPNetwork;

namespace TaskStream.Api;

/// <summary>Settings under <c>TaskStream:Network</c>.</summary>
internal sealed class NetworkOptions : IValidatableObject
{
    public const string Section = "TaskStream:Network";

    /// <summary>
    /// Reverse proxies whose <c>X-Forwarded-For</c> names the client: addresses (<c>10.0.0.5</c>, <c>::1</c>) or
    /// networks (<c>10.0.0.0/24</c>). None = the header is ignored and a client is the socket's peer.
    /// </summary>
    public SettingList TrustedProxies { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var proxy in TrustedProxies.Where(proxy => ParseNetwork(proxy) is null))
        {
            yield return new ValidationResult(
                $"{Section}:TrustedProxies: '{proxy}' is not an IP address or a network (address/prefix).", [nameof(TrustedProxies)]);
        }
    }

    internal static IPNetwork? ParseNetwork(string text) =>
        IPAddress.TryParse(text, out var address) ? new IPNetwork(address, address.GetAddressBytes().Length * 8)
        : text.Contains('/', StringComparison.Ordinal) && IPNetwork.TryParse(text, out var network) ? network
        : null;
}

/// <summary>
/// Makes ASP.NET Core's forwarded-headers middleware take <c>X-Forwarded-For</c> (and <c>X-Forwarded-Proto</c>)
/// from the proxies in <c>TaskStream:Network:TrustedProxies</c> only, and from nobody when none are named. It
/// overrides what <c>ASPNETCORE_FORWARDEDHEADERS_ENABLED=true</c> sets (every peer trusted), so that switch cannot
/// let a client claim to be loopback or invent addresses for fresh per-client allowances.
/// </summary>
internal sealed class TrustedProxies(IOptions<NetworkOptions> options) : IPostConfigureOptions<ForwardedHeadersOptions>
{
    public void PostConfigure(string? name, ForwardedHeadersOptions forwarded)
    {
        // Empty lists mean "trust every peer" to the middleware: with no proxy named, forward nothing instead.
        forwarded.KnownProxies.Clear();
        forwarded.KnownIPNetworks.Clear();
        var networks = options.Value.TrustedProxies.Select(proxy => NetworkOptions.ParseNetwork(proxy)!.Value).ToList();
        if (networks.Count == 0)
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.None;
            return;
        }

        networks.ForEach(forwarded.KnownIPNetworks.Add);
        forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
        // Walk back through every named proxy of a chain, right to left, to the first address none of them is.
        forwarded.ForwardLimit = null;
    }
}
