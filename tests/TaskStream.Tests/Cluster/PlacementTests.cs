using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// Where a stream's query grain runs, in a two-silo cluster where every stream gets a new grain (no pool): on the
/// silo that relays the stream by default, on either silo with <c>TaskStream:Grains:Placement=random</c>.
/// </summary>
public abstract class PlacementTests(SiloPair silos)
{
    private const int Streams = 40;

    /// <summary>Reads <see cref="Streams"/> short streams through <paramref name="relay"/>: each one's (relay, query silo).</summary>
    protected static async Task<List<(string Relay, string Query)>> StreamThroughAsync(TaskStreamServer relay)
    {
        var placed = new List<(string, string)>();
        for (var i = 0; i < Streams; i++)
        {
            var response = await Sse.ReadAllAsync(relay.Http, "/tasks/stream?limit=1");
            var end = response.Events.Single(e => e.Type == "end").Json;
            Assert.Equal(end.GetProperty("relay").GetString(), response.Headers.GetValues("X-TaskStream-Silo").Single());
            placed.Add((end.GetProperty("relay").GetString()!, end.GetProperty("silo").GetString()!));
        }

        return placed;
    }

    protected static string SiloOf(TaskStreamServer server) => server.GetService<Orleans.Runtime.ILocalSiloDetails>().SiloAddress.ToString();

    protected SiloPair Silos => silos;
}

public sealed class LocalPlacementSilos() : SiloPair("sqlite", ("TaskStream:Grains:PoolSize", "0"));

public sealed class RandomPlacementSilos() : SiloPair("sqlite", ("TaskStream:Grains:PoolSize", "0"), ("TaskStream:Grains:Placement", "random"));

public sealed class LocalPlacementTests(LocalPlacementSilos silos) : PlacementTests(silos), IClassFixture<LocalPlacementSilos>
{
    [Fact]
    public async Task ByDefaultEveryStreamsQueryRunsOnTheSiloThatRelaysIt()
    {
        foreach (var relay in new[] { Silos.A, Silos.B })
        {
            var placed = await StreamThroughAsync(relay);

            Assert.All(placed, p => Assert.Equal((SiloOf(relay), SiloOf(relay)), p));
        }
    }
}

public sealed class RandomPlacementTests(RandomPlacementSilos silos) : PlacementTests(silos), IClassFixture<RandomPlacementSilos>
{
    [Fact]
    public async Task WithRandomPlacementTheQueriesOneSiloRelaysRunOnBothSilos()
    {
        var placed = await StreamThroughAsync(Silos.A);

        Assert.All(placed, p => Assert.Equal(SiloOf(Silos.A), p.Relay));
        // 40 grains placed at random on two silos: all on one would happen twice in 2^40 runs.
        Assert.Equal(new[] { SiloOf(Silos.A), SiloOf(Silos.B) }.Order(), placed.Select(p => p.Query).Distinct().Order());
    }
}
