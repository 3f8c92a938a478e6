using Microsoft.AspNetCore.Http;

namespace TaskStream.Api;

/// <summary>
/// Lets a write through only with a configured bearer token or, when none is configured, from this machine
/// (<see cref="LoopbackTrust"/>). It runs before the handler, so a refused request's body is never read and
/// nothing is written.
/// </summary>
internal sealed class WriteAuthorization(WriteTokens tokens, LoopbackTrust loopback) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (tokens.None)
        {
            if (loopback.Distrust(http) is not { } reason)
            {
                return next(context);
            }

            TaskWriteBody.CloseConnectionIfBodyMayNotDrain(http);
            return ValueTask.FromResult<object?>(TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden,
                detail: $"This server has no write token, so it takes writes only from this machine, addressed to localhost, " +
                    $"127.0.0.1 or [::1] and not from another site's page; {reason}. To write otherwise, configure " +
                    $"{WriteAuthOptions.Section}:WriteTokens and send 'Authorization: Bearer <token>'."));
        }

        if (tokens.Match(http) >= 0)
        {
            return next(context);
        }

        var token = WriteTokens.ReadBearer(http.Request);
        TaskWriteBody.CloseConnectionIfBodyMayNotDrain(http);
        http.Response.Headers.WWWAuthenticate = token is null
            ? "Bearer realm=\"TaskStream\""
            : "Bearer realm=\"TaskStream\", error=\"invalid_token\"";
        return ValueTask.FromResult<object?>(TypedResults.Problem(statusCode: StatusCodes.Status401Unauthorized,
            detail: token is null
                ? "Writes need an 'Authorization: Bearer <token>' header with one of the server's write tokens."
                : "The bearer token is not one of the server's write tokens."));
    }
}
