using System.Net;
using System.Text;
using System.Text.Json;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// Every rule of a write's body, one row each: the refusal is problem+json naming the field (or "body"), and the
/// task list is exactly as it was. Titles and descriptions are measured in text elements.
/// </summary>
public sealed class TaskWriteValidationTests(TokenWriteHost host) : IClassFixture<TokenWriteHost>
{
    private static readonly string Title201 = new('t', 201);
    private static readonly string Description2001 = new('d', 2001);

    public static TheoryData<string, string> BadCreates => new()
    {
        { """{"title":"a","colour":"red"}""", "colour" },
        { """{"title":"a","Title":"b"}""", "Title" },
        { """{"title":"a","title":"b"}""", "title" },
        { """{"title":"a","completed":false,"completed":true}""", "completed" },
        { """{"title":5}""", "title" },
        { """{"title":["a"]}""", "title" },
        { """{"title":{"text":"a"}}""", "title" },
        { """{"title":"a","description":7}""", "description" },
        { """{"title":"a","completed":"yes"}""", "completed" },
        { """{"title":"a","completed":1}""", "completed" },
        { """{"title":null}""", "title" },
        { """{"title":"a","description":null}""", "description" },
        { """{"title":"a","completed":null}""", "completed" },
        { """{}""", "title" },
        { """{"description":"no title"}""", "title" },
        { """{"title":""}""", "title" },
        { """{"title":"   "}""", "title" },
        { """{"title":"\t\n"}""", "title" },
        { $$"""{"title":"{{Title201}}"}""", "title" },
        { $$"""{"title":"a","description":"{{Description2001}}"}""", "description" },
        { """{"title":"\ud800"}""", "title" },
        { "{\"title\":\"a\\\"", "body" },
        { """{"title":"a",}""", "body" },
        { """{title:"a"}""", "body" },
        { """{'title':'a'}""", "body" },
        { """{"title":"a"} x""", "body" },
        { """{"title":"a"}{"title":"b"}""", "body" },
        { """{"title":"a" /* note */}""", "body" },
        { """{"title":"a",""", "body" },
        { "[]", "body" },
        { """["title"]""", "body" },
        { "\"a\"", "body" },
        { "42", "body" },
        { "null", "body" },
        { "true", "body" },
        { "", "body" },
        { "   ", "body" },
    };

    [Theory]
    [MemberData(nameof(BadCreates))]
    public async Task PostRefusesABadBodyWith400NamingTheFieldAndWritesNothing(string body, string field) =>
        await AssertRefusedAsync(WriteHost.Request(HttpMethod.Post, "/tasks", body), field);

    public static TheoryData<string, string> BadPatches => new()
    {
        { """{}""", "body" },
        { """{"title":""}""", "title" },
        { """{"title":null}""", "title" },
        { """{"done":true}""", "done" },
        { """{"completed":"true"}""", "completed" },
        { """{"completed":true,"completed":true}""", "completed" },
        { $$"""{"title":"{{Title201}}"}""", "title" },
        { $$"""{"description":"{{Description2001}}"}""", "description" },
        { "{\"title\":\"a\"", "body" },
        { "", "body" },
        { "[]", "body" },
    };

    [Theory]
    [MemberData(nameof(BadPatches))]
    public async Task PatchRefusesABadBodyWith400NamingTheFieldAndChangesNothing(string body, string field) =>
        await AssertRefusedAsync(WriteHost.Request(HttpMethod.Patch, "/tasks/1", body), field);

    [Fact]
    public async Task ABodyThatIsNotUtf8IsRefusedNamingTheBodyOrField()
    {
        var before = await host.ListAsync();
        var request = WriteHost.Request(HttpMethod.Post, "/tasks");
        request.Content = new ByteArrayContent([.. Encoding.ASCII.GetBytes("{\"title\":\""), 0xFF, 0xFE, .. Encoding.ASCII.GetBytes("\"}")]);
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");

        using var response = await host.Loopback.SendAsync(request);

        var problem = await WriteHost.AssertProblemAsync(response, HttpStatusCode.BadRequest);
        var errors = problem.GetProperty("errors");
        Assert.True(errors.TryGetProperty("title", out _) || errors.TryGetProperty("body", out _), problem.ToString());
        Assert.Equal(before, await host.ListAsync());
    }

    [Fact]
    public async Task AllBadFieldsAreNamedAtOnce()
    {
        using var response = await host.Loopback.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks",
            """{"title":"","description":1,"completed":null,"extra":0}"""));

        var errors = (await WriteHost.AssertInvalidAsync(response, "title")).GetProperty("errors");
        Assert.Equal(["completed", "description", "extra", "title"], errors.EnumerateObject().Select(e => e.Name).Order());
    }

    public static TheoryData<string> AcceptedTitles => new()
    {
        "a",
        new string('t', 200),
        string.Concat(Enumerable.Repeat("\U0001F44D", 200)),   // 200 emoji: 400 UTF-16 code units, 200 characters
        string.Concat(Enumerable.Repeat("e\u0301", 200)),      // 200 accented letters written with a combining accent
        "  padded  ",
    };

    [Theory]
    [MemberData(nameof(AcceptedTitles))]
    public async Task TitlesOf1To200CharactersAreStoredAsSent(string title)
    {
        using var response = await host.Loopback.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks",
            JsonSerializer.Serialize(new { title })));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(title, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("title").GetString());
    }

    [Fact]
    public async Task ATitleOf201EmojiIsRefused() =>
        await AssertRefusedAsync(WriteHost.Request(HttpMethod.Post, "/tasks",
            JsonSerializer.Serialize(new { title = string.Concat(Enumerable.Repeat("\U0001F44D", 201)) })), "title");

    [Fact]
    public async Task ADescriptionOf2000CharactersIsStored()
    {
        var description = new string('d', 2000);
        using var response = await host.Loopback.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks",
            JsonSerializer.Serialize(new { title = "Long", description })));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(description, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("description").GetString());
    }

    [Theory]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("Application/JSON")]
    [InlineData("application/merge-patch+json")]
    public async Task JsonMediaTypesAreAccepted(string contentType)
    {
        using var response = await host.Loopback.SendAsync(WriteHost.Request(HttpMethod.Patch, "/tasks/3",
            """{"description":"Support query parameters in streams"}""", contentType: contentType));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("POST", "/tasks")]
    [InlineData("PATCH", "/tasks/1")]
    public async Task ABodyOverTheSizeLimitIs413AndWritesNothing(string method, string path)
    {
        var before = await host.ListAsync();

        // Just over 16 KiB, and 1 MiB, each with a Content-Length and chunked: valid JSON apart from their size.
        foreach (var (size, chunked) in new[] { (16 * 1024 + 1, false), (16 * 1024 + 1, true), (1024 * 1024, false), (1024 * 1024, true) })
        {
            var padding = new string(' ', size - """{"title":"a"}""".Length);
            var request = WriteHost.Request(new HttpMethod(method), path, $$"""{"title":"a"}{{padding}}""");
            request.Headers.TransferEncodingChunked = chunked;
            HttpResponseMessage response;
            try
            {
                response = await host.Loopback.SendAsync(request);
            }
            catch (HttpRequestException cut) when (size > 64 * 1024 && cut.InnerException is IOException)
            {
                // The server answered 413 and closed while a megabyte was still on its way: the kernel resets a
                // connection closed with unread data, and the client may see that before the answer. A body that
                // fits the socket buffers (16 KiB + 1) always gets its 413; either way nothing is written.
                continue;
            }

            using (response)
            {
                var problem = await WriteHost.AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
                Assert.Contains("16384", problem.GetProperty("detail").GetString());
            }
        }

        Assert.Equal(before, await host.ListAsync());
    }

    [Theory]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("text/plain")]
    [InlineData("text/json")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData("application/json; charset=utf-16")]
    [InlineData(null)]
    public async Task ABodyThatIsNotJsonIs415AndWritesNothing(string? contentType)
    {
        foreach (var (method, path) in new[] { (HttpMethod.Post, "/tasks"), (HttpMethod.Patch, "/tasks/1") })
        {
            var before = await host.ListAsync();
            var request = WriteHost.Request(method, path, """{"title":"a"}""");
            request.Content!.Headers.ContentType = contentType is null ? null : System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);

            using var response = await host.Loopback.SendAsync(request);

            var problem = await WriteHost.AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
            Assert.Contains("application/json", problem.GetProperty("detail").GetString());
            Assert.Equal(before, await host.ListAsync());
        }
    }

    private async Task AssertRefusedAsync(HttpRequestMessage request, string field)
    {
        var before = await host.ListAsync();

        using var response = await host.Loopback.SendAsync(request);

        await WriteHost.AssertInvalidAsync(response, field);
        Assert.False(response.Headers.Contains("X-TaskStream-Seq"));
        Assert.Equal(before, await host.ListAsync());
    }
}
