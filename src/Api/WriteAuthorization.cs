using System.Net;
using Microsoft.AspNetCore.Http;

namespace TaskStream.Api;

/// <summary>
/// Lets a write through only with a configured bearer token or, when none is configured, from a loopback
/// client. It runs before the handler, so a refused request's body is never read and nothing is written.
/// </summary>
public sealed class WriteAuthorization(WriteTokens tokens) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (tokens.None)
        {
            if (IsLoopback(http.Connection.RemoteIpAddress))
            {
                return next(context);
            }

            TaskWriteBody.CloseConnectionIfBodyMayNotDrain(http);
            return ValueTask.FromResult<object?>(TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden,
                    detail: $"Writes from other machines need a bearer token, and this server has none: configure {WriteAuthOptions.Section}:WriteTokens."));
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

    /// <summary>Also true for IPv4 loopback seen through an IPv6 socket (<c>::ffff:127.0.0.1</c>).</summary>
    public static bool IsLoopback(IPAddress? address) =>
        address is not null && IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
}
