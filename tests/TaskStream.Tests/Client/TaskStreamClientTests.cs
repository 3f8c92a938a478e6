using System.Net;
using Microsoft.Extensions.DependencyInjection;
using TaskStream.Client;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>The .NET client (TaskStream.Client) against a real host over real HTTP: reads, follows, writes and refusals.</summary>
[Collection(nameof(ClientHost))]
public sealed class TaskStreamClientTests(ClientHost host)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private TaskStreamClient Client => host.Client;

    [Fact]
    public async Task ReadTasksReadsTheFiniteStreamToItsEndWithTheSameTasksAsTheList()
    {
        var all = await ListAllAsync(Client, TaskFilter.All);
        Assert.True(all.Count >= 40, $"{all.Count} tasks");

        Assert.Equal(all, await Client.ReadTasksAsync().ToListAsync());
        Assert.Equal(all.Where(t => t.Completed), await Client.ReadTasksAsync(new TaskFilter(Completed: true)).ToListAsync());
        Assert.Equal(all.Where(t => t.Id > 3).Take(2), await Client.ReadTasksAsync(new TaskFilter(Limit: 2, After: 3)).ToListAsync());
        // Nothing after the last task: the server answers 204, and the enumeration is empty.
        Assert.Empty(await Client.ReadTasksAsync(new TaskFilter(After: all[^1].Id)).ToListAsync());
    }

    [Fact]
    public async Task ListTasksGivesPagesAndWhereTheNextOneStarts()
    {
        var first = await Client.ListTasksAsync();
        Assert.Equal(3, first.Tasks.Count); // the host's List:MaxTasks
        Assert.Equal(first.Tasks[^1].Id, first.NextAfter);

        var second = await Client.ListTasksAsync(TaskFilter.All with { After = first.NextAfter });
        Assert.True(second.Tasks[0].Id > first.Tasks[^1].Id);
        var limited = await Client.ListTasksAsync(new TaskFilter(Limit: 2));
        Assert.Equal(first.Tasks.Take(2), limited.Tasks);
        Assert.Null(limited.NextAfter); // the filter's own limit is no cut
    }

    [Fact]
    public async Task FollowSeesEveryWriteAsItHappens()
    {
        await using var follower = new FollowRecorder(Client);
        await Eventually.TrueAsync(() => follower.HasAsync(f => f.IsLive), Patience, "the follower is live");

        var created = await Client.CreateTaskAsync(new NewTask("Follow me", "from the client's tests"));
        var updated = await Client.UpdateTaskAsync(created.Id, new TaskPatch(Completed: true));
        Assert.Equal(created with { Completed = true }, updated);
        Assert.Equal(updated, await Client.GetTaskAsync(created.Id));
        Assert.True(await Client.DeleteTaskAsync(created.Id));
        await Eventually.TrueAsync(() => follower.HasAsync(f => f.Events.OfType<TaskRemoved>().Any(r => r.TaskId == created.Id)),
            Patience, "the follower saw the delete");

        var aboutIt = follower.Events.SkipWhile(e => e is not StreamLive)
            .Where(e => e is TaskReceived { Task.Id: var id } && id == created.Id || e is TaskRemoved { TaskId: var gone } && gone == created.Id).ToList();
        Assert.Collection(aboutIt,
            e => Assert.Equal(created, Assert.IsType<TaskReceived>(e).Task),
            e => Assert.Equal(updated, Assert.IsType<TaskReceived>(e).Task),
            e => Assert.IsType<TaskRemoved>(e));
        AssertIncreasingIds(follower.Events);
        Assert.Equal(await ListAllAsync(Client, TaskFilter.All), follower.View);
    }

    [Fact]
    public async Task RefusalsAreTypedProblemsNamingWhatWasWrong()
    {
        var stream = await Assert.ThrowsAsync<TaskStreamProblemException>(async () => await Client.ReadTasksAsync(new TaskFilter(Limit: 0)).ToListAsync());
        Assert.Equal(400, stream.Status);
        Assert.Equal(HttpStatusCode.BadRequest, stream.StatusCode);
        Assert.Contains("limit", stream.Errors.Keys);
        Assert.Contains("limit", stream.Message);

        var list = await Assert.ThrowsAsync<TaskStreamProblemException>(() => Client.ListTasksAsync(new TaskFilter(Limit: 0)));
        Assert.Equal(["limit"], list.Errors.Keys);
        var follow = await Assert.ThrowsAsync<TaskStreamProblemException>(async () => await Client.FollowAsync(new TaskFilter(After: 1)).ToListAsync());
        Assert.Equal(["after"], follow.Errors.Keys);
        var id = await Assert.ThrowsAsync<TaskStreamProblemException>(() => Client.GetTaskAsync(0));
        Assert.Equal(["id"], id.Errors.Keys);
        var title = await Assert.ThrowsAsync<TaskStreamProblemException>(() => Client.CreateTaskAsync(new NewTask("")));
        Assert.Equal(["title"], title.Errors.Keys);
        var key = await Assert.ThrowsAsync<TaskStreamProblemException>(() => Client.CreateTaskAsync(new NewTask("Keyed"), idempotencyKey: "not a key"));
        Assert.Equal(["Idempotency-Key"], key.Errors.Keys);

        var anonymous = new TaskStreamClient(host.Http);
        var token = await Assert.ThrowsAsync<TaskStreamProblemException>(() => anonymous.CreateTaskAsync(new NewTask("No token")));
        Assert.Equal(401, token.Status);
        Assert.False(string.IsNullOrEmpty(token.Detail));
    }

    [Fact]
    public async Task AMissingTaskIsNullOrFalseNotAnError()
    {
        var missing = long.MaxValue;
        Assert.Null(await Client.GetTaskAsync(missing));
        Assert.Null(await Client.UpdateTaskAsync(missing, new TaskPatch(Title: "Nobody")));
        Assert.False(await Client.DeleteTaskAsync(missing));
    }

    [Fact]
    public async Task ACreateSentAgainWithItsKeyCreatesOneTask()
    {
        var key = Guid.NewGuid().ToString();
        var task = new NewTask($"Once {key}", "sent twice with one key");

        var first = await Client.CreateTaskAsync(task, key);
        var again = await Client.CreateTaskAsync(task, key);

        Assert.Equal(first, again);
        Assert.Single(await ListAllAsync(Client, TaskFilter.All), t => t.Title == task.Title);
        var other = await Assert.ThrowsAsync<TaskStreamProblemException>(() => Client.CreateTaskAsync(task with { Title = "Another" }, key));
        Assert.Equal(422, other.Status);
    }

    [Fact]
    public async Task AWriteWhoseAnswerWasLostIsSentAgainByTheClientAndMadeOnce()
    {
        var losing = new LoseFirstWriteAnswer();
        using var http = new HttpClient(losing) { BaseAddress = host.Server.BaseAddress };
        var client = new TaskStreamClient(http, new TaskStreamClientOptions { WriteToken = ClientHost.Token, RetryDelay = TimeSpan.FromMilliseconds(50) });
        var title = $"Answer lost {Guid.NewGuid()}";

        var task = await client.CreateTaskAsync(new NewTask(title));

        Assert.Equal(2, losing.Writes); // the write reached the server twice…
        Assert.Equal([task], (await ListAllAsync(Client, TaskFilter.All)).Where(t => t.Title == title)); // …and was made once
    }

    [Fact]
    public async Task TheClientWorksAsATypedHttpClient()
    {
        await using var services = new ServiceCollection()
            .AddHttpClient<TaskStreamClient>(http => http.BaseAddress = host.Server.BaseAddress).Services.BuildServiceProvider();

        var client = services.GetRequiredService<TaskStreamClient>();

        Assert.Equal((await Client.ListTasksAsync()).Tasks, (await client.ListTasksAsync()).Tasks);
    }

    /// <summary>Every page of the list for <paramref name="filter"/>, following <see cref="TaskPage.NextAfter"/>.</summary>
    internal static async Task<List<TaskItem>> ListAllAsync(TaskStreamClient client, TaskFilter filter)
    {
        List<TaskItem> tasks = [];
        for (var page = await client.ListTasksAsync(filter); ; page = await client.ListTasksAsync(filter with { After = page.NextAfter }))
        {
            tasks.AddRange(page.Tasks);
            if (page.NextAfter is null)
            {
                return tasks;
            }
        }
    }

    /// <summary>No event id repeats or goes back: nothing was sent twice across reconnects.</summary>
    internal static void AssertIncreasingIds(IEnumerable<TaskStreamEvent> events)
    {
        var ids = events.Where(e => e is TaskReceived or TaskRemoved).Select(e => e.EventId!.Value).ToList();
        Assert.True(ids.Zip(ids.Skip(1)).All(p => p.First < p.Second), "event ids: " + string.Join(",", ids));
    }

    /// <summary>
    /// Fault injection in the HTTP pipeline: the first write reaches the server and is made, and its answer is then
    /// dropped as a broken connection would drop it; the client cannot tell whether it was made.
    /// </summary>
    private sealed class LoseFirstWriteAnswer() : DelegatingHandler(new SocketsHttpHandler())
    {
        public int Writes { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (request.Method != HttpMethod.Get && ++Writes == 1)
            {
                response.Dispose();
                throw new HttpRequestException("The connection broke before the answer arrived.");
            }

            return response;
        }
    }
}
