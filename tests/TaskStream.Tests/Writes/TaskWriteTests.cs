using System.Net;
using System.Text.Json;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>POST, GET, PATCH and DELETE of one task, as the contract states them; unknown and bad ids. On each store.</summary>
public abstract class TaskWriteTests(WriteHost host)
{
    private HttpClient Http => host.Loopback;

    [Fact]
    public async Task PostCreatesATaskAndAnswers201WithTheTaskItsLocationAndASequenceNumber()
    {
        using var response = await Http.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks",
            """{"title":"Buy milk","description":"Two litres","completed":true}"""));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        var id = JsonDocument.Parse(body).RootElement.GetProperty("id").GetInt64();
        Assert.True(id > 5, body);
        Assert.Equal($$"""{"id":{{id}},"title":"Buy milk","description":"Two litres","completed":true}""", body);
        Assert.Equal($"/tasks/{id}", response.Headers.Location?.OriginalString);
        Assert.True(WriteHost.Seq(response) > 0);
        Assert.Equal(body, await Http.GetStringAsync($"/tasks/{id}"));
    }

    [Fact]
    public async Task PostWithOnlyATitleCreatesAnOpenTaskWithAnEmptyDescription()
    {
        using var response = await Http.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"Just a title"}"""));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var task = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("Just a title", task.GetProperty("title").GetString());
        Assert.Equal("", task.GetProperty("description").GetString());
        Assert.False(task.GetProperty("completed").GetBoolean());
    }

    [Fact]
    public async Task GetReturnsASeedTaskWithoutAToken()
    {
        using var response = await Http.GetAsync("/tasks/2");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"id":2,"title":"Database integration","description":"Connect SQLAlchemy with SSE","completed":true}""",
            await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task CreatePatchAndDeleteEachAnswerWithAHigherSequenceNumberAndTheListFollows()
    {
        using var created = await Http.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks",
            """{"title":"Paint the fence","description":"White"}"""));
        var id = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetInt64();

        using var patched = await Http.SendAsync(WriteHost.Request(HttpMethod.Patch, $"/tasks/{id}", """{"completed":true}"""));
        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        var patchedBody = await patched.Content.ReadAsStringAsync();
        Assert.Equal($$"""{"id":{{id}},"title":"Paint the fence","description":"White","completed":true}""", patchedBody);
        Assert.Equal(patchedBody, await Http.GetStringAsync($"/tasks/{id}"));
        Assert.Contains(patchedBody, await host.ListAsync());

        using var renamed = await Http.SendAsync(WriteHost.Request(HttpMethod.Patch, $"/tasks/{id}",
            """{"title":"Paint the gate","description":"Green","completed":false}"""));
        Assert.Equal($$"""{"id":{{id}},"title":"Paint the gate","description":"Green","completed":false}""",
            await renamed.Content.ReadAsStringAsync());

        using var deleted = await Http.SendAsync(WriteHost.Request(HttpMethod.Delete, $"/tasks/{id}"));
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Empty(await deleted.Content.ReadAsByteArrayAsync());

        long[] seqs = [WriteHost.Seq(created), WriteHost.Seq(patched), WriteHost.Seq(renamed), WriteHost.Seq(deleted)];
        Assert.Equal(seqs.Order(), seqs);
        Assert.Equal(4, seqs.Distinct().Count());
        using var gone = await Http.GetAsync($"/tasks/{id}");
        await WriteHost.AssertProblemAsync(gone, HttpStatusCode.NotFound);
        Assert.DoesNotContain($"\"id\":{id},", await host.ListAsync());
    }

    [Fact]
    public async Task SequenceNumbersIncreaseFromOneWriteToTheNext()
    {
        var seqs = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            using var response = await Http.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks", $$"""{"title":"Numbered {{i}}"}"""));
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            seqs.Add(WriteHost.Seq(response));
        }

        Assert.Equal(seqs.Order(), seqs);
        Assert.Equal(5, seqs.Distinct().Count());
    }

    [Fact]
    public async Task AnAbsentTaskIs404ProblemForGetPatchAndDelete()
    {
        var before = await host.ListAsync();

        using var get = await Http.GetAsync("/tasks/987654321");
        using var patch = await Http.SendAsync(WriteHost.Request(HttpMethod.Patch, "/tasks/987654321", """{"title":"Nobody"}"""));
        using var delete = await Http.SendAsync(WriteHost.Request(HttpMethod.Delete, "/tasks/987654321"));

        foreach (var response in new[] { get, patch, delete })
        {
            var problem = await WriteHost.AssertProblemAsync(response, HttpStatusCode.NotFound);
            Assert.Contains("987654321", problem.GetProperty("detail").GetString());
            Assert.False(response.Headers.Contains("X-TaskStream-Seq"));
        }

        Assert.Equal(before, await host.ListAsync());
    }

    [Fact]
    public async Task ADeletedTaskCannotBePatchedOrDeletedAgain()
    {
        var id = (await host.CreateAsync("Short-lived")).GetProperty("id").GetInt64();
        using var deleted = await Http.SendAsync(WriteHost.Request(HttpMethod.Delete, $"/tasks/{id}"));
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);

        using var patch = await Http.SendAsync(WriteHost.Request(HttpMethod.Patch, $"/tasks/{id}", """{"title":"Back"}"""));
        using var again = await Http.SendAsync(WriteHost.Request(HttpMethod.Delete, $"/tasks/{id}"));

        await WriteHost.AssertProblemAsync(patch, HttpStatusCode.NotFound);
        await WriteHost.AssertProblemAsync(again, HttpStatusCode.NotFound);
    }

    public static TheoryData<string, string> BadIds => new()
    {
        { "GET", "0" }, { "GET", "-1" }, { "GET", "abc" }, { "GET", "1.5" }, { "GET", "+1" }, { "GET", "%201" },
        { "GET", "99999999999999999999" },
        { "PATCH", "0" }, { "PATCH", "abc" }, { "PATCH", "99999999999999999999" },
        { "DELETE", "0" }, { "DELETE", "-1" }, { "DELETE", "abc" },
    };

    [Theory]
    [MemberData(nameof(BadIds))]
    public async Task AnIdThatIsNotAPositiveWholeNumberIs400NamingId(string method, string id)
    {
        var before = await host.ListAsync();

        using var response = await Http.SendAsync(WriteHost.Request(new HttpMethod(method), $"/tasks/{id}",
            method == "PATCH" ? """{"title":"x"}""" : null));

        await WriteHost.AssertInvalidAsync(response, "id");
        Assert.Equal(before, await host.ListAsync());
    }

    [Fact]
    public async Task APatchWithABadIdAndABadBodyNamesBoth()
    {
        using var response = await Http.SendAsync(WriteHost.Request(HttpMethod.Patch, "/tasks/x", """{"title":""}"""));

        var problem = await WriteHost.AssertInvalidAsync(response, "id");
        Assert.True(problem.GetProperty("errors").TryGetProperty("title", out _));
    }
}

public sealed class SqliteTaskWriteTests(TokenWriteHost host) : TaskWriteTests(host), IClassFixture<TokenWriteHost>;

public sealed class PostgresTaskWriteTests(PostgresTokenWriteHost host) : TaskWriteTests(host), IClassFixture<PostgresTokenWriteHost>;
