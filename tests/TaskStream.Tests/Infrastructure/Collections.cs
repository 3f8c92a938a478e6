namespace TaskStream.Tests.Infrastructure;

/// <summary>Tests that measure the whole process (heap, threads, timing) run alone, after the others.</summary>
[CollectionDefinition(nameof(WholeProcessCollection), DisableParallelization = true)]
public sealed class WholeProcessCollection;

/// <summary>Runs alone (no other test allocates meanwhile), because it reads the whole process's heap.</summary>
[CollectionDefinition(nameof(BoundedMemoryTests), DisableParallelization = true)]
public sealed class BoundedMemoryCollection;
