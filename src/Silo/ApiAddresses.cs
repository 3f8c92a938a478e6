using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;

namespace TaskStream.Silo;

/// <summary>
/// Checks the HTTP addresses before anything starts. Kestrel binds last, after the Orleans silo has joined: a port
/// it finds taken then stops a running silo, whose hurried shutdown logs warnings with stack traces. Checked here, a
/// taken port is one line. Host names other than localhost are left to Kestrel, as is any race with another process.
/// </summary>
internal static class ApiAddresses
{
    /// <param name="defaultPort">The port of the default address (<c>localhost</c>), when neither <c>urls</c> nor <c>Kestrel:Endpoints</c> are set.</param>
    public static void EnsureFree(IConfiguration configuration, int? defaultPort)
    {
        var addresses = configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => (Key: $"{e.Path}:Url", Url: e["Url"], Given: $"'{e["Url"]}'"))
            .Concat((configuration["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(url => (Key: "--urls", Url: (string?)url, Given: $"'{url}'")))
            .ToList();
        if (defaultPort is { } port)
        {
            addresses.Add(($"{ClusterSettings.Section}:{nameof(ClusterSettings.ApiPort)}", $"http://localhost:{port}", $"{port} (http://localhost:{port})"));
        }

        foreach (var (key, url, given) in addresses)
        {
            if (url is not null && BindingAddress.Parse(url) is { IsUnixPipe: false, Port: > 0 } binding && Probe(binding.Host) is { } address)
            {
                EnsureFree($"{key} = {given}", key, address, binding.Port);
            }
        }
    }

    private static IPAddress? Probe(string host) => host switch
    {
        "localhost" => IPAddress.Loopback,
        "*" or "+" => IPAddress.Any,
        _ => IPAddress.TryParse(host.Trim('[', ']'), out var address) ? address : null,
    };

    private static void EnsureFree(string setting, string key, IPAddress address, int port)
    {
        using var probe = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Bind(new IPEndPoint(address, port));
        }
        catch (SocketException exception) when (exception.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new PortInUseException($"{setting}: port {port} on {address}: address already in use. Stop what uses it, or choose another with {key}.");
        }
    }
}
