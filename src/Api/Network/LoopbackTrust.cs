using System.Net;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace TaskStream.Api;

/// <summary>
/// When to trust a request as this machine's, where no credential is configured (tokenless writes, the dashboard
/// without a password): it comes from a loopback client (<see cref="ClientAddress"/>), is addressed to a loopback
/// name, and is not sent by another site's page. The name matters because of DNS rebinding: a page a developer
/// visits can point its own name at 127.0.0.1, and its requests then come from loopback and are same-origin to
/// the browser, but carry that name in <c>Host</c>. Names listed in ASP.NET Core's <c>AllowedHosts</c> are this
/// server's own (the framework refuses every other one with 400 before we run), so they count as well.
/// </summary>
internal sealed class LoopbackTrust(IOptions<HostFilteringOptions> hostFiltering)
{
    private readonly bool _hostsNamed = hostFiltering.Value.AllowedHosts is { Count: > 0 } hosts && !hosts.Contains("*");

    /// <summary>Why <paramref name="http"/> is not trusted as this machine's (a clause for a problem's detail), or null.</summary>
    public string? Distrust(HttpContext http)
    {
        var request = http.Request;
        if (!ClientAddress.IsLoopback(http))
        {
            return "this request comes from another machine";
        }

        if (!_hostsNamed && !IsLoopbackName(request.Host))
        {
            return $"this request is addressed to '{request.Host.Host}', not localhost, 127.0.0.1 or [::1] (or a name in AllowedHosts)";
        }

        if (request.Headers["Sec-Fetch-Site"] == "cross-site" || !IsOwnOrigin(request))
        {
            return "this request comes from another site's page";
        }

        return null;
    }

    /// <summary><c>localhost</c> or a loopback address literal: names no one else can point at this machine.</summary>
    private static bool IsLoopbackName(HostString host) =>
        string.Equals(host.Host, "localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    /// <summary>No <c>Origin</c> (not a browser's cross-origin request), or the one of the page at this Host.</summary>
    private static bool IsOwnOrigin(HttpRequest request)
    {
        var origins = request.Headers.Origin;
        if (origins.Count == 0)
        {
            return true;
        }

        // "null" (a sandboxed or file: page) does not parse as an absolute URI, and is refused with the rest.
        return origins.Count == 1 && Uri.TryCreate(origins[0], UriKind.Absolute, out var origin)
            && string.Equals(origin.Host, request.Host.Host, StringComparison.OrdinalIgnoreCase)
            && origin.Port == (request.Host.Port ?? origin.Port);
    }
}
