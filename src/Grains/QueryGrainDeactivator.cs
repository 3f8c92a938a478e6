using Orleans.Timers;

namespace TaskStream.Grains;

/// <summary>
/// Deactivates a TaskQuery activation as soon as its caller has disposed a query whose grain it will not reuse
/// (cancelled, dropped, failed, or no room in the caller's pool): the caller says so through
/// <see cref="DeactivateKey"/> in the request context of the final Dispose call, and a Dispose that comes before
/// its query even started says so by itself. Left alone, such an activation would wait for Orleans' collection
/// age (15 min by default), so a client opening and resetting streams in a loop could pile up thousands of them.
/// </summary>
/// <remarks>
/// It acts on the final Dispose call, not in the iterator's <c>finally</c>: that call comes after the iterator has
/// ended, and would activate the grain again. Deactivation waits until the activation is idle, so a cleanup still
/// running in an interleaved enumeration call finishes first. A caller that gave up while its StartEnumeration call
/// was in flight can have its Dispose arrive first; that StartEnumeration is refused when it comes (nobody would
/// read or dispose it), and the activation is deactivated a few seconds later.
/// </remarks>
public sealed class QueryGrainDeactivator : IIncomingGrainCallFilter
{
    /// <summary>Request-context key a caller sets (to <c>true</c>) around the Dispose call of a grain it will not reuse.</summary>
    public const string DeactivateKey = "TaskStream.DeactivateAfterDispose";

    // How long a Dispose that overtook its StartEnumeration waits for it; the caller sent both at once.
    private static readonly TimeSpan LateStartGrace = TimeSpan.FromSeconds(5);

    private static readonly DeactivationReason NotReused =
        new(DeactivationReasonCode.ApplicationRequested, "Its caller disposed its query and will not reuse it.");

    public Task Invoke(IIncomingGrainCallContext context) =>
        context.InterfaceMethod.DeclaringType == typeof(IAsyncEnumerableGrainExtension) && context.TargetContext.GrainInstance is TaskQueryGrain
            ? InvokeEnumerationCall(context)
            : context.Invoke();

    // Not async: a follower's MoveNext call waits in the grain for as long as nothing changes, and an async frame
    // here would be held for every waiting follower. Only DisposeAsync has something to do after the call.
    private static Task InvokeEnumerationCall(IIncomingGrainCallContext context)
    {
        var activation = context.TargetContext;
        var requests = activation.GetComponent<Requests>();
        if (requests is null)
        {
            activation.SetComponent(requests = new Requests());
        }

        var requestId = (Guid)context.Request.GetArgument(0)!;
        switch (context.InterfaceMethod.Name)
        {
            case nameof(IAsyncEnumerableGrainExtension.StartEnumeration) when requestId == requests.DisposedBeforeStart:
                context.Result = (EnumerationResult.Canceled, (object?)null); // the timer below deactivates
                return Task.CompletedTask;
            case nameof(IAsyncEnumerableGrainExtension.StartEnumeration):
                requests.Started = requestId;
                break;
            case nameof(IAsyncEnumerableGrainExtension.DisposeAsync):
                return InvokeDisposeAsync(context, activation, requests, requestId);
        }

        return context.Invoke();
    }

    private static async Task InvokeDisposeAsync(IIncomingGrainCallContext context, IGrainContext activation, Requests requests, Guid requestId)
    {
        var notReused = RequestContext.Get(DeactivateKey) is true;
        try
        {
            await context.Invoke();
        }
        finally
        {
            AfterDispose(activation, requests, requestId, notReused);
        }
    }

    private static void AfterDispose(IGrainContext activation, Requests requests, Guid requestId, bool notReused)
    {
        if (requestId == requests.Started)
        {
            if (notReused)
            {
                activation.Deactivate(NotReused);
            }

            return;
        }

        // Its StartEnumeration has not come (the caller gave up, and its proxy may have sent this Dispose itself,
        // without our key): refuse it when it comes, and deactivate unless another query has started meanwhile.
        requests.DisposedBeforeStart = requestId;
        activation.GetComponent<ITimerRegistry>()!.RegisterGrainTimer(activation,
            static (state, _) =>
            {
                if (state.Requests.Started == state.StartedBefore)
                {
                    state.Activation.Deactivate(NotReused);
                }

                return Task.CompletedTask;
            },
            (Activation: activation, Requests: requests, StartedBefore: requests.Started),
            new GrainTimerCreationOptions(LateStartGrace, Timeout.InfiniteTimeSpan) { KeepAlive = false });
    }

    /// <summary>The enumeration requests one activation has seen.</summary>
    private sealed class Requests
    {
        public Guid Started { get; set; }

        public Guid DisposedBeforeStart { get; set; }
    }
}
