using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace TaskStream.Api;

/// <summary>Settings under <c>TaskStream:Dashboard</c>: whether the Orleans dashboard is served, and who may see it.</summary>
internal sealed class DashboardOptions
{
    public const string Section = "TaskStream:Dashboard";

    /// <summary>Serve the dashboard at <c>/dashboard</c>; unset means on in Development only.</summary>
    public bool? Enabled { get; set; }

    /// <summary>
    /// When set, every client must give it (HTTP Basic, any user name). When not, only clients on the silo's
    /// own machine (loopback) get in.
    /// </summary>
    [MinLength(12, ErrorMessage = Section + ":" + nameof(Password) + " must be at least 12 characters.")]
    public string? Password { get; set; }
}

/// <summary>
/// Guards the dashboard, which has no authentication of its own and shows the cluster's inside (grain types,
/// silo addresses, live logs). Without a password it is served to this machine only (<see cref="LoopbackTrust"/>);
/// with one, to whoever gives it, and every client's attempts are limited like its writes (<c>WriteBurst</c>,
/// <c>WritesPerSecond</c>) so that the password cannot be guessed at speed. Plain HTTP sends the password
/// readable: expose the dashboard only behind TLS.
/// </summary>
internal sealed class DashboardAccess(IOptions<DashboardOptions> options, LoopbackTrust loopback, IOptions<LimitsOptions> limits) : IDisposable
{
    private const string PasswordKey = DashboardOptions.Section + ":" + nameof(DashboardOptions.Password);
    private const string Challenge = "Basic realm=\"TaskStream dashboard\", charset=\"UTF-8\"";
    private readonly byte[]? _passwordHash = options.Value.Password is { } password ? SHA256.HashData(Encoding.UTF8.GetBytes(password)) : null;
    private readonly PartitionedRateLimiter<HttpContext> _attempts = PartitionedRateLimiter.Create<HttpContext, IPAddress>(
        http => RateLimitPartition.GetTokenBucketLimiter(ClientAddress.Key(http), _ => limits.Value.WriteBucket()));

    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        if (_passwordHash is null)
        {
            if (loopback.Distrust(http) is not { } reason)
            {
                await next(http);
                return;
            }

            await Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
                detail: $"Without a password the dashboard is served to this machine only, addressed to localhost, 127.0.0.1 or [::1] " +
                    $"and not to another site's page; {reason}. Set {PasswordKey} to open it to others.")
                .ExecuteAsync(http);
            return;
        }

        // Every request counts, the right password too: the limit is checked before the password is.
        using var attempt = _attempts.AttemptAcquire(http);
        if (!attempt.IsAcquired)
        {
            await WriteRateLimitPolicy.TooManyAsync(http, attempt, "dashboard password attempts");
            return;
        }

        if (HasPassword(http.Request))
        {
            await next(http);
            return;
        }

        http.Response.Headers.WWWAuthenticate = Challenge;
        await Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized",
            detail: $"The dashboard needs the password set in {PasswordKey} (HTTP Basic, any user name).")
            .ExecuteAsync(http);
    }

    public void Dispose() => _attempts.Dispose();

    private bool HasPassword(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        string credentials;
        try
        {
            credentials = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
        }
        catch (FormatException)
        {
            return false;
        }

        var colon = credentials.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return false;
        }

        // Compare hashes, in constant time: neither the length nor the content leaks through timing.
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(credentials[(colon + 1)..]));
        return CryptographicOperations.FixedTimeEquals(given, _passwordHash);
    }
}
