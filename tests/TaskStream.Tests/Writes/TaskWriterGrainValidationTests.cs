using TaskStream.Grains;
using TaskStream.Tests.Infrastructure;
// The feed tests have a TaskWrite of their own in this namespace.
using GrainWrite = TaskStream.Grains.TaskWrite;

namespace TaskStream.Tests;

/// <summary>
/// The writer grain checks a write itself, as any Orleans client may call it without the HTTP API's checks:
/// a bad write is an <see cref="ArgumentException"/> and writes nothing.
/// </summary>
[Collection(nameof(SqliteGrainCluster))]
public sealed class TaskWriterGrainValidationTests(SqliteGrainCluster cluster)
{
    private static readonly string LongTitle = new('t', TaskRules.MaxTitleLength + 1);
    private static readonly string LongDescription = new('d', TaskRules.MaxDescriptionLength + 1);

    private static readonly Dictionary<string, GrainWrite> BadWrites = new()
    {
        ["create with a null task"] = new GrainWrite.Create(null!),
        ["create with a null title"] = new GrainWrite.Create(new NewTask(null!, "", false)),
        ["create with an empty title"] = new GrainWrite.Create(new NewTask("", "", false)),
        ["create with a whitespace title"] = new GrainWrite.Create(new NewTask(" \t\n", "", false)),
        ["create with a title too long"] = new GrainWrite.Create(new NewTask(LongTitle, "", false)),
        ["create with a null description"] = new GrainWrite.Create(new NewTask("Fine", null!, false)),
        ["create with a description too long"] = new GrainWrite.Create(new NewTask("Fine", LongDescription, false)),
        ["update of id 0"] = new GrainWrite.Update(0, new TaskPatch(Completed: true)),
        ["update of a negative id"] = new GrainWrite.Update(-1, new TaskPatch(Completed: true)),
        ["update with a null patch"] = new GrainWrite.Update(1, null!),
        ["update to a whitespace title"] = new GrainWrite.Update(1, new TaskPatch(Title: "  ")),
        ["update to a title too long"] = new GrainWrite.Update(1, new TaskPatch(Title: LongTitle)),
        ["update to a description too long"] = new GrainWrite.Update(1, new TaskPatch(Description: LongDescription)),
        ["delete of id 0"] = new GrainWrite.Delete(0),
        ["delete of a negative id"] = new GrainWrite.Delete(long.MinValue),
    };

    public static TheoryData<string> Cases => [.. BadWrites.Keys];

    private ITaskWriterGrain Writer => cluster.Grains.GetGrain<ITaskWriterGrain>(0);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task ABadWriteIsRefusedByTheGrainAndWritesNothing(string name)
    {
        var before = await Writer.CreateAsync(new NewTask("Before", "", false));

        await Assert.ThrowsAnyAsync<ArgumentException>(() => Writer.WriteAsync(BadWrites[name]));

        // Writes in this collection run one at a time: a write made by the bad call would have taken the next number.
        var after = await Writer.CreateAsync(new NewTask("After", "", false));
        Assert.Equal(before.Seq + 1, after.Seq);
    }

    [Fact]
    public async Task TheShortcutsAreCheckedToo()
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Writer.CreateAsync(new NewTask(" ", "", false)));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Writer.UpdateAsync(0, new TaskPatch(Completed: true)));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Writer.DeleteAsync(0));
    }

    [Fact]
    public async Task LengthsCountWhatAReaderSeesAsOneCharacter()
    {
        // 200 emoji are 400 UTF-16 code units, and a title as long as the rule allows.
        var written = await Writer.CreateAsync(new NewTask(string.Concat(Enumerable.Repeat("👍", TaskRules.MaxTitleLength)), "", false));

        Assert.Equal(TaskRules.MaxTitleLength * 2, written.Task.Title.Length);
    }
}
