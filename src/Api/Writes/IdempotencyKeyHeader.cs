using Microsoft.AspNetCore.Http;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// The <c>Idempotency-Key</c> header of a write (as in Stripe's API and the IETF draft "The Idempotency-Key HTTP
/// Header Field"): a client that never heard back from a write sends it again with the same key, and gets the first
/// answer, marked <c>Idempotent-Replayed: true</c>, instead of a second write.
/// </summary>
internal static class IdempotencyKeyHeader
{
    public const int MaxLength = 255;

    /// <summary>
    /// The request's key, scoped to its client; <c>null</c> when it has none, or when it is malformed (then an
    /// error naming the header is added to <paramref name="errors"/>).
    /// </summary>
    public static IdempotencyKey? Read(HttpContext http, WriteTokens tokens, Dictionary<string, string[]> errors)
    {
        var values = http.Request.Headers[TaskStreamHeaders.IdempotencyKey];
        if (values.Count == 0)
        {
            return null;
        }

        if (values.Count > 1 || values[0] is not { Length: > 0 and <= MaxLength } key || !key.All(IsVisibleAscii))
        {
            errors[TaskStreamHeaders.IdempotencyKey] = [$"must be given once, as 1 to {MaxLength} visible ASCII characters (no spaces), such as a UUID"];
            return null;
        }

        return new IdempotencyKey(Scope(http, tokens), key);
    }

    /// <summary>
    /// Whose key it is: the write token's hash, or without a token (loopback clients) the client's address, so that
    /// a client can neither replay nor block another client's key.
    /// </summary>
    private static string Scope(HttpContext http, WriteTokens tokens)
    {
        if (tokens.MatchedHash(http) is { } token)
        {
            return "token:" + token;
        }

        return ClientAddress.IsLoopback(http) ? "loopback" : $"address:{ClientAddress.Key(http)}";
    }

    private static bool IsVisibleAscii(char c) => c is >= '!' and <= '~';
}
