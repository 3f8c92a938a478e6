using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace TaskStream.Api;

/// <summary>
/// The bearer tokens that may write (<c>TaskStream:Auth:WriteTokens</c>). Only their SHA-256 hashes are kept,
/// and a presented token is compared with every one of them in constant time, so neither the length nor the
/// content of a configured token shows in how long a refusal takes.
/// </summary>
internal sealed class WriteTokens(IOptions<WriteAuthOptions> options)
{
    private readonly byte[][] _hashes = [.. options.Value.WriteTokens.Select(Hash)];

    /// <summary>No tokens configured: only loopback clients may write.</summary>
    public bool None => _hashes.Length == 0;

    private static readonly object MatchKey = new();

    /// <summary>
    /// Which configured token the request's bearer token is (its index), or -1. Worked out once per request:
    /// the write rate limit (which partitions by token) and the authorization filter both ask.
    /// </summary>
    public int Match(HttpContext http)
    {
        if (http.Items.TryGetValue(MatchKey, out var known))
        {
            return (int)known!;
        }

        var match = Match(ReadBearer(http.Request));
        http.Items[MatchKey] = match;
        return match;
    }

    /// <summary>The SHA-256 hash (hex) of the configured token the request presented, or <c>null</c>.</summary>
    public string? MatchedHash(HttpContext http) => Match(http) is var match and >= 0 ? Convert.ToHexStringLower(_hashes[match]) : null;

    /// <summary>Which configured token <paramref name="token"/> is (its index), or -1.</summary>
    public int Match(string? token)
    {
        if (token is null)
        {
            return -1;
        }

        var presented = Hash(token);
        var match = -1;
        for (var i = 0; i < _hashes.Length; i++)
        {
            // No early exit: every configured token is compared, whichever one matches.
            if (CryptographicOperations.FixedTimeEquals(presented, _hashes[i]))
            {
                match = i;
            }
        }

        return match;
    }

    /// <summary>The token of an <c>Authorization: Bearer …</c> header, or <c>null</c> when there is none (or more than one).</summary>
    public static string? ReadBearer(HttpRequest request)
    {
        var headers = request.Headers.Authorization;
        if (headers.Count != 1 || headers[0] is not { } value)
        {
            return null;
        }

        const string scheme = "Bearer ";
        return value.Length > scheme.Length && value.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)
            ? value[scheme.Length..].Trim()
            : null;
    }

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}

/// <summary>Settings under <c>TaskStream:Auth</c>.</summary>
internal sealed class WriteAuthOptions : IValidatableObject
{
    public const string Section = "TaskStream:Auth";

    /// <summary>A short token is a guessable one; 16 random characters are beyond reach at the write rate limit.</summary>
    public const int MinTokenLength = 16;

    /// <summary>Bearer tokens accepted for writes; none = writes from this machine only (<see cref="LoopbackTrust"/>).</summary>
    public SettingList WriteTokens { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // A padded token could never match: the header value it arrives in is trimmed.
        if (WriteTokens.Any(token => string.IsNullOrWhiteSpace(token) || token.Trim() != token))
        {
            yield return new ValidationResult(
                $"{Section}:WriteTokens must not contain an empty token or one that starts or ends with whitespace.", [nameof(WriteTokens)]);
        }
        else if (WriteTokens.Any(token => token.Length < MinTokenLength))
        {
            yield return new ValidationResult(
                $"{Section}:WriteTokens must not contain a token shorter than {MinTokenLength} characters.", [nameof(WriteTokens)]);
        }
    }
}
