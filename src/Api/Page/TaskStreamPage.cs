using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace TaskStream.Api;

/// <summary>
/// The page at <c>/</c>: plain HTML, CSS and JavaScript embedded in this assembly (no build step, nothing
/// from a CDN), read once at start and served with an ETag. Its script is in <c>wwwroot/app.js</c>.
/// </summary>
public static class TaskStreamPage
{
    // Scripts and styles only from this origin, no inline code, no framing: task text can never run as code.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    public static IEndpointRouteBuilder MapTaskStreamPage(this IEndpointRouteBuilder app)
    {
        // HEAD too, for link checkers and uptime probes (Kestrel sends no body for HEAD).
        app.MapMethods("/", [HttpMethods.Get, HttpMethods.Head], Serve(PageFile.Load("index.html", "text/html; charset=utf-8"))).ExcludeFromDescription();
        app.MapGet("/page/app.js", Serve(PageFile.Load("app.js", "text/javascript; charset=utf-8"))).ExcludeFromDescription();
        app.MapGet("/page/app.css", Serve(PageFile.Load("app.css", "text/css; charset=utf-8"))).ExcludeFromDescription();
        return app;
    }

    private static Func<HttpResponse, IResult> Serve(PageFile file) => response =>
    {
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        // Revalidate every time: a new build of the page must never be mixed with an old cached script.
        response.Headers.CacheControl = "no-cache";
        return TypedResults.Bytes(file.Content, file.ContentType, entityTag: file.ETag);
    };

    private sealed record PageFile(byte[] Content, string ContentType, EntityTagHeaderValue ETag)
    {
        public static PageFile Load(string name, string contentType)
        {
            using var stream = typeof(TaskStreamPage).Assembly.GetManifestResourceStream("page/" + name)
                ?? throw new InvalidOperationException($"The page file {name} is not embedded in {typeof(TaskStreamPage).Assembly.GetName().Name}.");
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var content = buffer.ToArray();
            var hash = Convert.ToHexStringLower(SHA256.HashData(content).AsSpan(0, 8));
            return new PageFile(content, contentType, new EntityTagHeaderValue($"\"{hash}\""));
        }
    }
}
