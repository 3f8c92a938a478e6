using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Scalar.AspNetCore;

namespace TaskStream.Api;

/// <summary>
/// The API reference at <c>/docs</c>: Scalar's page over the OpenAPI document. Its scripts are embedded in
/// Scalar.AspNetCore and served from here; what it would fetch from elsewhere (fonts, telemetry, the AI agent) is
/// switched off, no request proxy is set, and its Content-Security-Policy keeps it from reaching other hosts.
/// </summary>
internal static class ApiReference
{
    public const string Route = "/docs";

    public static IEndpointRouteBuilder MapTaskStreamApiReference(this IEndpointRouteBuilder app)
    {
        app.MapScalarApiReference(Route, options => options
                .WithTitle("TaskStream API")
                .WithOpenApiRoutePattern(OpenApiDocument.Route)
                .DisableDefaultFonts()
                .DisableTelemetry()
                .DisableAgent()
                .DisableMcp()
                // Its "Share" and "Generate SDK" would send the document to Scalar's servers.
                .HideDeveloperTools()
                .ExpandAllTags()
                // A fresh nonce on each answer: the page's inline configuration runs, no other inline script does.
                .WithNonce())
            .AddEndpointFilter(async (context, next) =>
            {
                var result = await next(context);
                var headers = context.HttpContext.Response.Headers;
                headers.XContentTypeOptions = "nosniff";
                // The HTML page has a nonce (its scripts do not). Scalar sets inline styles (style-src 'unsafe-inline'); requests
                // only to this origin (connect-src 'self'), so "Try it" reaches this silo alone and nothing leaves for another host.
                if (context.HttpContext.Items[ScalarOptions.NonceHttpContextItemKey] is string nonce)
                {
                    headers.ContentSecurityPolicy = $"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; " +
                        "connect-src 'self'; img-src 'self' data:; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
                }

                return result;
            });
        return app;
    }
}
