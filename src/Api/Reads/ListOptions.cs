using System.ComponentModel.DataAnnotations;

namespace TaskStream.Api;

/// <summary>Settings under <c>TaskStream:List</c>.</summary>
internal sealed class ListOptions
{
    public const string Section = "TaskStream:List";

    /// <summary>The most tasks one <c>/tasks/list</c> response holds; past it, <c>next_after</c> says where to go on.</summary>
    [Range(1, 100_000)]
    public int MaxTasks { get; set; } = 1000;
}
