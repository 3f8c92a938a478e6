using System.Diagnostics;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using TaskStream.Tests.Infrastructure;
using Xunit.Abstractions;

namespace TaskStream.Tests;

/// <summary>
/// The page in ten tabs of one headless Chromium (followers-test.mjs). Over HTTPS the browser speaks HTTP/2, one
/// connection carries every tab's stream, and all ten follow. Over plain HTTP/1.1 a browser opens at most six
/// connections per host and each stream holds one: how many tabs got theirs is recorded, not asserted (the browser's rule).
/// Timed, so alone.
/// </summary>
[Collection(nameof(WholeProcessCollection))]
public sealed class HttpsBrowserTests(ITestOutputHelper output)
{
    private const int Tabs = 10;

    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task OverHttpsWithHttp2TenTabsOfThePageAllFollowAndOneWriteReachesEachWithinASecond()
    {
        var directory = TaskStreamServer.NewDirectory();
        var (certificatePath, keyPath) = await SelfSignedCertificateAsync(directory);
        await using var server = await TaskStreamServer.StartAsync(directory, configure: null,
            ("Kestrel:Endpoints:Https:Url", "https://127.0.0.1:0"),
            ("Kestrel:Endpoints:Https:Certificate:Path", certificatePath),
            ("Kestrel:Endpoints:Https:Certificate:KeyPath", keyPath),
            ("TaskStream:Streaming:EventIntervalMs", "0"));
        Assert.Equal(Uri.UriSchemeHttps, server.BaseAddress.Scheme);
        // Trust exactly the certificate made above.
        using var certificate = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        using var http = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == certificate.GetCertHashString() },
        }) { BaseAddress = server.BaseAddress };
        await using var browser = NodeScript.Start("followers-test.mjs", server.BaseAddress.ToString(), $"{Tabs}", "60000");

        var opened = await browser.NextAsync("opened", StepTimeout);

        Assert.Equal(Tabs, opened.GetProperty("live").GetInt32());
        Assert.All(opened.GetProperty("protocols").EnumerateArray(), protocol => Assert.Equal("h2", protocol.GetString()));
        Assert.Empty(opened.GetProperty("offLoopback").EnumerateArray());
        var delays = await WriteAndMeasureAsync(http, browser);
        output.WriteLine($"HTTPS (h2): {Tabs} of {Tabs} tabs live; the write reached them after {string.Join(", ", delays)} ms");
        Assert.Equal(Tabs, delays.Count);
        Assert.All(delays, delay => Assert.InRange(delay, 0, 1000));
    }

    [Fact]
    public async Task OverPlainHttpTheTabsThatGotTheirStreamFollowOverHttp11AndHowManyDidIsRecorded()
    {
        await using var server = await TaskStreamServer.StartAsync(("TaskStream:Streaming:EventIntervalMs", "0"));
        await using var browser = NodeScript.Start("followers-test.mjs", server.BaseAddress.ToString(), $"{Tabs}", "10000");

        var opened = await browser.NextAsync("opened", StepTimeout);
        var live = opened.GetProperty("live").GetInt32();

        Assert.InRange(live, 1, Tabs);
        Assert.All(opened.GetProperty("protocols").EnumerateArray(), protocol => Assert.Equal("http/1.1", protocol.GetString()));
        var delays = await WriteAndMeasureAsync(server.Http, browser);
        output.WriteLine($"HTTP/1.1: {live} of {Tabs} tabs live within 10 s; the write reached them after {string.Join(", ", delays)} ms");
        Assert.All(delays, delay => Assert.InRange(delay, 0, 1000));
    }

    /// <summary>Adds a task through the API and returns, per live tab, the ms until it showed in the tab's list (-1: never).</summary>
    private static async Task<List<long>> WriteAndMeasureAsync(HttpClient http, NodeScript browser)
    {
        var writtenAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        using var response = await http.PostAsJsonAsync("/tasks", new { title = "Seen by every tab" });
        response.EnsureSuccessStatusCode();
        var id = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetInt64();
        await browser.SendAsync($"wrote {id} {writtenAt}");
        var arrived = await browser.NextAsync("arrived", StepTimeout);
        return [.. arrived.GetProperty("delays").EnumerateArray().Select(d => d.GetInt64())];
    }

    /// <summary>The README's one-line openssl command: a self-signed certificate for localhost and 127.0.0.1, and its key.</summary>
    private static async Task<(string Certificate, string Key)> SelfSignedCertificateAsync(string directory)
    {
        var (certificate, key) = (Path.Combine(directory, "cert.pem"), Path.Combine(directory, "key.pem"));
        var start = new ProcessStartInfo("openssl") { RedirectStandardError = true };
        foreach (var argument in new[] { "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                     "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", certificate })
        {
            start.ArgumentList.Add(argument);
        }

        using var openssl = Process.Start(start)!;
        var errors = await openssl.StandardError.ReadToEndAsync();
        await openssl.WaitForExitAsync();
        Assert.True(openssl.ExitCode == 0, $"openssl failed: {errors}");
        return (certificate, key);
    }
}
