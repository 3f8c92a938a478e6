using System.Globalization;
using System.Net;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>Writes past a client's burst get 429 with Retry-After; other clients' writes go on.</summary>
public sealed class WriteRateLimitTests(RateLimitedWriteHost host) : IClassFixture<RateLimitedWriteHost>
{
    private const int Burst = 5;

    [Fact]
    public async Task ABurstOverTheLimitGets429WithRetryAfterWhileAnotherTokensWritesPass()
    {
        var accepted = await WriteUntilLimitedAsync(host.Loopback, WriteHost.Token, HttpStatusCode.Created);
        Assert.True(accepted >= Burst, $"only {accepted} writes before the first 429");

        using var other = await host.Loopback.SendAsync(Post(WriteHost.OtherToken));
        Assert.Equal(HttpStatusCode.Created, other.StatusCode);
    }

    [Fact]
    public async Task RefusedWritesCountPerAddressAndAnotherAddressIsNotLimited()
    {
        // Without a (configured) token a client is its address: guessing tokens from 127.0.0.1 runs out of its bucket.
        var refused = await WriteUntilLimitedAsync(host.Loopback, "guessed-token", HttpStatusCode.Unauthorized);
        Assert.True(refused >= Burst, $"only {refused} attempts before the first 429");

        using var remote = await host.Remote.SendAsync(Post("guessed-token"));
        Assert.Equal(HttpStatusCode.Unauthorized, remote.StatusCode);
    }

    /// <summary>Writes as fast as it can until a 429 (a 1/s refill cannot keep up), checks that answer; returns how many got <paramref name="expected"/>.</summary>
    private async Task<int> WriteUntilLimitedAsync(HttpClient client, string token, HttpStatusCode expected)
    {
        for (var sent = 0; sent < Burst + 100; sent++)
        {
            var before = await host.ListAsync();
            using var response = await client.SendAsync(Post(token));
            if (response.StatusCode != HttpStatusCode.TooManyRequests)
            {
                Assert.Equal(expected, response.StatusCode);
                continue;
            }

            var problem = await WriteHost.AssertProblemAsync(response, HttpStatusCode.TooManyRequests);
            var retryAfter = int.Parse(Assert.Single(response.Headers.GetValues("Retry-After")), CultureInfo.InvariantCulture);
            Assert.InRange(retryAfter, 1, 60);
            Assert.Contains(retryAfter.ToString(CultureInfo.InvariantCulture), problem.GetProperty("detail").GetString());
            Assert.Equal(before, await host.ListAsync());
            return sent;
        }

        throw new Xunit.Sdk.XunitException($"No 429 after {Burst + 100} writes in a row.");
    }

    private static HttpRequestMessage Post(string token) =>
        WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"One of many"}""", token);
}
