using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace TaskStream.Grains;

/// <summary>
/// Where a new TaskQuery activation goes, chosen by <c>TaskStream:Grains:Placement</c> on the silo that makes the
/// first call (the one whose API took the request): <c>local</c> puts it on that silo, <c>random</c> on any.
/// </summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class QueryPlacement : PlacementStrategy;

/// <summary>Marks the TaskQuery grain as placed by <see cref="QueryPlacementDirector"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class QueryPlacementAttribute() : PlacementAttribute(new QueryPlacement());

/// <summary>Settings under <c>TaskStream:Grains</c> that the grains read.</summary>
public sealed class QueryPlacementOptions
{
    public const string Section = "TaskStream:Grains";

    /// <summary>
    /// <c>local</c>: a query runs on the silo that relays it (a balancer in front spreads the work, a stream depends
    /// on one silo, no hop between silos). <c>random</c>: on any silo, so a demo shows queries crossing silos.
    /// </summary>
    [EnumDataType(typeof(QueryPlacementMode), ErrorMessage = Section + ":" + nameof(Placement) + " must be 'local' or 'random'.")]
    public QueryPlacementMode Placement { get; set; } = QueryPlacementMode.Local;
}

/// <summary>Where new query grains go; settings spell it in any case (<c>local</c>, <c>random</c>).</summary>
public enum QueryPlacementMode
{
    Local,
    Random,
}

/// <summary>
/// Orleans' own prefer-local and random directors in one, switched by a setting rather than by the grain's attribute.
/// Local falls back to random while this silo is not active (starting or stopping), as Orleans' prefer-local does.
/// </summary>
internal sealed class QueryPlacementDirector(IOptions<QueryPlacementOptions> options) : IPlacementDirector
{
    private readonly bool _local = options.Value.Placement == QueryPlacementMode.Local;

    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target);
        var local = _local && context.LocalSiloStatus == SiloStatus.Active && silos.Contains(context.LocalSilo);
        return Task.FromResult(local ? context.LocalSilo : silos[Random.Shared.Next(silos.Length)]);
    }
}
