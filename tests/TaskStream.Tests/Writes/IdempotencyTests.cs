using System.Net;
using System.Text;
using System.Text.Json;
using Dapper;
using TaskStream.Grains.Data;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// Writes with an <c>Idempotency-Key</c>: a retry gets the first answer and writes nothing, a key is its client's,
/// another write under a used key is a 422, a malformed key a 400. On each store.
/// </summary>
public abstract class IdempotencyTests(WriteHost host)
{
    private HttpClient Http => host.Loopback;

    [Fact]
    public async Task ARetriedPostWithTheSameKeyWritesOnceAndAnswersTheSame201BodyLocationAndSeq()
    {
        var key = NewKey();
        const string body = """{"title":"Buy bread","description":"Rye"}""";

        using var first = await SendAsync(HttpMethod.Post, "/tasks", body, key);
        using var retry = await SendAsync(HttpMethod.Post, "/tasks", body, key);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await retry.Content.ReadAsStringAsync());
        Assert.Equal(first.Headers.Location, retry.Headers.Location);
        Assert.Equal(WriteHost.Seq(first), WriteHost.Seq(retry));
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(1, Count(await host.ListAsync(), "Buy bread"));
    }

    [Fact]
    public async Task TheSameFieldsSpacedAndOrderedDifferentlyAreTheSameWrite()
    {
        var key = NewKey();

        using var first = await SendAsync(HttpMethod.Post, "/tasks", """{"title":"Call Ada","completed":false}""", key);
        using var retry = await SendAsync(HttpMethod.Post, "/tasks", """{ "completed" : false,  "title" : "Call Ada", "description": "" }""", key);

        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(first.Headers.Location, retry.Headers.Location);
        Assert.True(retry.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(1, Count(await host.ListAsync(), "Call Ada"));
    }

    [Fact]
    public async Task TheSameKeyForAnotherWriteIs422NamingTheHeaderAndWritesNothing()
    {
        var key = NewKey();
        using var first = await SendAsync(HttpMethod.Post, "/tasks", """{"title":"Water plants"}""", key);
        var id = JsonDocument.Parse(await first.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetInt64();
        var before = await host.ListAsync();

        using var otherBody = await SendAsync(HttpMethod.Post, "/tasks", """{"title":"Water the lawn"}""", key);
        using var otherMethod = await SendAsync(HttpMethod.Patch, $"/tasks/{id}", """{"title":"Water plants"}""", key);
        using var delete = await SendAsync(HttpMethod.Delete, $"/tasks/{id}", body: null, key);

        foreach (var response in new[] { otherBody, otherMethod, delete })
        {
            var problem = await WriteHost.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity);
            Assert.Contains("Idempotency-Key", problem.GetProperty("detail").GetString());
            Assert.False(response.Headers.Contains("X-TaskStream-Seq"));
        }

        Assert.Equal(before, await host.ListAsync());
    }

    [Fact]
    public async Task AKeyBelongsToItsClientSoAnotherTokensSameKeyIsAWriteOfItsOwn()
    {
        var key = NewKey();

        using var mine = await SendAsync(HttpMethod.Post, "/tasks", """{"title":"Mine"}""", key);
        using var theirs = await SendAsync(HttpMethod.Post, "/tasks", """{"title":"Mine"}""", key, WriteHost.OtherToken);
        using var theirsAgain = await SendAsync(HttpMethod.Post, "/tasks", """{"title":"Mine"}""", key, WriteHost.OtherToken);
        using var theirOther = await SendAsync(HttpMethod.Post, "/tasks", """{"title":"Theirs"}""", NewKey(), WriteHost.OtherToken);

        Assert.Equal(HttpStatusCode.Created, mine.StatusCode);
        Assert.Equal(HttpStatusCode.Created, theirs.StatusCode);
        Assert.NotEqual(mine.Headers.Location, theirs.Headers.Location);
        Assert.False(theirs.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(theirs.Headers.Location, theirsAgain.Headers.Location);
        Assert.True(theirsAgain.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(2, Count(await host.ListAsync(), "Mine"));
    }

    [Fact]
    public async Task ARetriedPatchAnswersWhatTheFirstDidAndUndoesNoLaterChange()
    {
        var id = (await host.CreateAsync("Paint the door")).GetProperty("id").GetInt64();
        var key = NewKey();

        using var first = await SendAsync(HttpMethod.Patch, $"/tasks/{id}", """{"completed":true}""", key);
        using var later = await SendAsync(HttpMethod.Patch, $"/tasks/{id}", """{"title":"Paint the gate","completed":false}""", key: null);
        using var retry = await SendAsync(HttpMethod.Patch, $"/tasks/{id}", """{"completed":true}""", key);

        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        var firstBody = await first.Content.ReadAsStringAsync();
        Assert.Contains("\"completed\":true", firstBody);
        Assert.Equal(firstBody, await retry.Content.ReadAsStringAsync());
        Assert.Equal(WriteHost.Seq(first), WriteHost.Seq(retry));
        Assert.True(retry.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(await later.Content.ReadAsStringAsync(), await Http.GetStringAsync($"/tasks/{id}"));
    }

    [Fact]
    public async Task ARetriedDeleteAnswers204AgainWithItsSeqInsteadOf404()
    {
        var id = (await host.CreateAsync("Throw away")).GetProperty("id").GetInt64();
        var key = NewKey();

        using var first = await SendAsync(HttpMethod.Delete, $"/tasks/{id}", body: null, key);
        using var retry = await SendAsync(HttpMethod.Delete, $"/tasks/{id}", body: null, key);
        using var unkeyed = await SendAsync(HttpMethod.Delete, $"/tasks/{id}", body: null, key: null);

        Assert.Equal(HttpStatusCode.NoContent, first.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, retry.StatusCode);
        Assert.Equal(WriteHost.Seq(first), WriteHost.Seq(retry));
        Assert.True(retry.Headers.Contains("Idempotent-Replayed"));
        await WriteHost.AssertProblemAsync(unkeyed, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task ARetryOfA404IsA404AgainEvenOnceTheTaskExists()
    {
        var next = (await host.CreateAsync("Before the gap")).GetProperty("id").GetInt64() + 1;
        var key = NewKey();

        using var first = await SendAsync(HttpMethod.Patch, $"/tasks/{next}", """{"completed":true}""", key);
        Assert.Equal(next, (await host.CreateAsync("Fills the gap")).GetProperty("id").GetInt64());
        using var retry = await SendAsync(HttpMethod.Patch, $"/tasks/{next}", """{"completed":true}""", key);

        await WriteHost.AssertProblemAsync(first, HttpStatusCode.NotFound);
        await WriteHost.AssertProblemAsync(retry, HttpStatusCode.NotFound);
        Assert.True(retry.Headers.Contains("Idempotent-Replayed"));
        Assert.Contains("\"completed\":false", await Http.GetStringAsync($"/tasks/{next}"));
    }

    [Fact]
    public async Task AKeyOf255VisibleCharactersIsAccepted()
    {
        var visible = new string([.. Enumerable.Range('!', '~' - '!' + 1).Select(c => (char)c)]);
        var key = string.Concat(Enumerable.Repeat(visible, 3))[..255];

        using var first = await SendAsync(HttpMethod.Post, "/tasks", """{"title":"Long key"}""", key);
        using var retry = await SendAsync(HttpMethod.Post, "/tasks", """{"title":"Long key"}""", key);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.True(retry.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(first.Headers.Location, retry.Headers.Location);
    }

    public static TheoryData<string, string> BadKeys => new()
    {
        { "POST", "" }, { "POST", new string('k', 256) }, { "POST", "two words" }, { "POST", "tab\there" }, { "POST", "café" },
        { "PATCH", "" }, { "PATCH", "two words" }, { "DELETE", "" }, { "DELETE", new string('k', 256) },
    };

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task AMalformedKeyIs400NamingIdempotencyKeyAndWritesNothing(string method, string key)
    {
        var id = (await host.CreateAsync("Kept")).GetProperty("id").GetInt64();
        var before = await host.ListAsync();
        var request = WriteHost.Request(new HttpMethod(method), method == "POST" ? "/tasks" : $"/tasks/{id}",
            method == "DELETE" ? null : """{"title":"Changed"}""");
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);

        // UTF-8 on the wire for "café" (Kestrel decodes header values as UTF-8).
        using var client = new HttpClient(new SocketsHttpHandler { RequestHeaderEncodingSelector = (_, _) => Encoding.UTF8 })
        {
            BaseAddress = Http.BaseAddress,
        };
        using var response = await client.SendAsync(request);

        await WriteHost.AssertInvalidAsync(response, "Idempotency-Key");
        Assert.Equal(before, await host.ListAsync());
    }

    [Fact]
    public async Task AKeyGivenTwiceIs400()
    {
        var request = WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"Twice"}""");
        request.Headers.TryAddWithoutValidation("Idempotency-Key", [NewKey(), NewKey()]);

        using var response = await Http.SendAsync(request);

        await WriteHost.AssertInvalidAsync(response, "Idempotency-Key");
    }

    [Fact]
    public async Task ConcurrentDuplicatesWriteOnceAndAllGetTheSameAnswer()
    {
        var key = NewKey();

        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ =>
            SendAsync(HttpMethod.Post, "/tasks", """{"title":"Only once"}""", key)));

        try
        {
            Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
            Assert.Single(responses.Select(r => r.Headers.Location).Distinct());
            Assert.Single(responses.Select(WriteHost.Seq).Distinct());
            Assert.Single(responses, r => !r.Headers.Contains("Idempotent-Replayed"));
            Assert.Equal(1, Count(await host.ListAsync(), "Only once"));
        }
        finally
        {
            foreach (var response in responses)
            {
                response.Dispose();
            }
        }
    }

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? body, string? key, string token = WriteHost.Token)
    {
        var request = WriteHost.Request(method, path, body, token);
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        }

        return Http.SendAsync(request);
    }

    internal static string NewKey() => Guid.NewGuid().ToString();

    internal static int Count(string list, string title) =>
        JsonDocument.Parse(list).RootElement.GetProperty("tasks").EnumerateArray().Count(t => t.GetProperty("title").GetString() == title);
}

public sealed class SqliteIdempotencyTests(TokenWriteHost host) : IdempotencyTests(host), IClassFixture<TokenWriteHost>;

public sealed class PostgresIdempotencyTests(PostgresTokenWriteHost host) : IdempotencyTests(host), IClassFixture<PostgresTokenWriteHost>;

/// <summary>Keys kept for 2 s, so that they expire during a test.</summary>
public abstract class KeyExpiryTests(WriteHost host)
{
    public const int KeepSeconds = 2;

    [Fact]
    public async Task AnExpiredKeyWritesAgainAndExpiredKeysArePurged()
    {
        var (key, other) = (IdempotencyTests.NewKey(), IdempotencyTests.NewKey());
        using var first = await PostAsync(key);
        using var retry = await PostAsync(key);
        using var otherFirst = await PostAsync(other, "Expiring too");
        Assert.True(retry.Headers.Contains("Idempotent-Replayed"), "a retry within the keep time is a replay");
        Assert.Equal(1, await KeptAsync(other));

        await Task.Delay(TimeSpan.FromSeconds(KeepSeconds + 0.5));
        using var late = await PostAsync(key);
        using var lateRetry = await PostAsync(key);

        Assert.Equal(HttpStatusCode.Created, late.StatusCode);
        Assert.NotEqual(first.Headers.Location, late.Headers.Location);
        Assert.False(late.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(late.Headers.Location, lateRetry.Headers.Location);
        Assert.True(lateRetry.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(2, IdempotencyTests.Count(await host.ListAsync(), "Expiring"));
        Assert.Equal(0, await KeptAsync(other)); // purged by the later keyed writes
    }

    private Task<HttpResponseMessage> PostAsync(string key, string title = "Expiring")
    {
        var request = WriteHost.Request(HttpMethod.Post, "/tasks", JsonSerializer.Serialize(new { title }));
        request.Headers.Add("Idempotency-Key", key);
        return host.Loopback.SendAsync(request);
    }

    private async Task<long> KeptAsync(string key)
    {
        await using var connection = await host.Server.GetService<TaskStore>().OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM idempotency_keys WHERE idempotency_key = @Key", new { Key = key });
    }
}

public sealed class SqliteKeyExpiryTests(ShortKeyHost host) : KeyExpiryTests(host), IClassFixture<ShortKeyHost>;

public sealed class PostgresKeyExpiryTests(PostgresShortKeyHost host) : KeyExpiryTests(host), IClassFixture<PostgresShortKeyHost>;

/// <summary>Two silos on one store, no write tokens (the keys of loopback clients).</summary>
public sealed class IdempotencyAcrossSilosTests(TwoSilos silos) : IClassFixture<TwoSilos>
{
    [Fact]
    public async Task DuplicatesSentToTwoSilosAtOnceWriteOnce()
    {
        var key = IdempotencyTests.NewKey();

        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(i =>
        {
            var request = WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"One of a pair"}""", token: null);
            request.Headers.Add("Idempotency-Key", key);
            return (i % 2 == 0 ? silos.A : silos.B).Http.SendAsync(request);
        }));

        try
        {
            Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
            Assert.Single(responses.Select(r => r.Headers.Location).Distinct());
            Assert.Single(responses, r => !r.Headers.Contains("Idempotent-Replayed"));
            Assert.Equal(1, IdempotencyTests.Count(await silos.A.Http.GetStringAsync("/tasks/list"), "One of a pair"));
        }
        finally
        {
            foreach (var response in responses)
            {
                response.Dispose();
            }
        }
    }
}
