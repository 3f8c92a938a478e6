namespace TaskStream.Client;

/// <summary>
/// The addresses a client may use, and the one it uses now: after a failure there it moves on to the next, and
/// every later call starts there, so a dead silo costs one failed attempt, not one per call.
/// </summary>
internal sealed class ServerAddresses
{
    private readonly Uri[] _addresses;
    private int _current;

    public ServerAddresses(HttpClient http, IList<Uri> configured)
    {
        IEnumerable<Uri> addresses = configured.Count > 0 ? configured
            : http.BaseAddress is { } single ? [single]
            : throw new ArgumentException("Set the HttpClient's BaseAddress or TaskStreamClientOptions.BaseAddresses.", nameof(configured));
        _addresses = [.. addresses.Select(WithTrailingSlash)];
    }

    public int Current => Volatile.Read(ref _current);

    /// <summary><paramref name="relative"/> (no leading slash) under address <paramref name="index"/>, keeping any path prefix it has.</summary>
    public Uri Resolve(int index, string relative) => new(_addresses[index], relative);

    /// <summary>Moves on from <paramref name="index"/>, unless another call already has.</summary>
    public void Failed(int index) => Interlocked.CompareExchange(ref _current, (index + 1) % _addresses.Length, index);

    // "http://host/api" + "tasks" would lose "api": a base address is a folder.
    private static Uri WithTrailingSlash(Uri address)
    {
        if (!address.IsAbsoluteUri)
        {
            throw new ArgumentException($"A TaskStream base address must be absolute, not '{address}'.", nameof(address));
        }

        return address.AbsoluteUri.EndsWith('/') ? address : new Uri(address.AbsoluteUri + "/");
    }
}
