namespace TaskStream.Bench;

/// <summary>One scenario of the bench: the name the command line uses, and what it runs.</summary>
internal interface IScenario
{
    string Name { get; }

    Task RunAsync(BenchContext context);
}

/// <summary>
/// Every scenario, in the order <c>all</c> runs them: the one list the command line, the usage check and the run
/// read, so adding a scenario is a file of its own and a line here.
/// </summary>
internal static class ScenarioRegistry
{
    public static readonly IReadOnlyList<IScenario> All =
        [new ShortScenario(), new LargeScenario(), new IdleScenario(), new CancelScenario(), new ScaleScenario(), new FollowScenario()];

    public static string[] Names => [.. All.Select(s => s.Name)];

    public static IScenario Find(string name) =>
        All.FirstOrDefault(s => s.Name == name) ?? throw new ArgumentException($"unknown scenario '{name}'");
}
