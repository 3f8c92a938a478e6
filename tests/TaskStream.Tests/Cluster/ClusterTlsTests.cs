using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// With <c>TaskStream:Cluster:Tls</c> on, the silo's Orleans ports talk only to peers holding a certificate from the
/// configured authority. Each test makes its own authorities and certificates.
/// </summary>
public sealed class ClusterTlsTests
{
    [Fact]
    public async Task TheSiloPortTalksOnlyTlsAndOnlyToHoldersOfTheAuthoritysCertificates()
    {
        using var authority = TestAuthority.Create("cluster");
        using var rogue = TestAuthority.Create("rogue");
        var silo = authority.Issue("silo");
        await using var server = await TaskStreamServer.StartAsync(silo.Settings(authority));
        var port = server.GetService<IOptions<EndpointOptions>>().Value.SiloPort;

        // In the clear the silo says nothing and hangs up on what it is sent (a silo without TLS greets, below).
        Assert.Equal(Answer.HungUp, await ProbeAsync(port, tls: false));
        // Over TLS, with a certificate from the authority, it greets; with any other certificate or none it hangs up.
        Assert.Equal(Answer.Greeted, await ProbeAsync(port, tls: true, authority.Issue("peer").Certificate));
        Assert.Equal(Answer.HungUp, await ProbeAsync(port, tls: true, rogue.Issue("rogue-peer").Certificate));
        Assert.Equal(Answer.HungUp, await ProbeAsync(port, tls: true, authority.SelfSigned("self-signed").Certificate));
        Assert.Equal(Answer.HungUp, await ProbeAsync(port, tls: true, clientCertificate: null));
    }

    [Fact]
    public async Task WithoutTlsTheSiloPortGreetsAnyoneInTheClear()
    {
        await using var server = await TaskStreamServer.StartAsync();
        var port = server.GetService<IOptions<EndpointOptions>>().Value.SiloPort;

        // The control for the test above: a plain connection gets the silo's Orleans greeting.
        Assert.Equal(Answer.Greeted, await ProbeAsync(port, tls: false));
    }

    [Fact]
    public async Task WithTheGatewayOnOnlyOrleansClientsWithACertificateFromTheAuthorityGetIn()
    {
        using var authority = TestAuthority.Create("cluster");
        using var rogue = TestAuthority.Create("rogue");
        var gatewayPort = TaskStreamServer.FreeTcpPort();
        await using var server = await TaskStreamServer.StartAsync(
        [
            .. authority.Issue("silo").Settings(authority),
            ("TaskStream:Cluster:Gateway", "true"),
            ("TaskStream:Cluster:GatewayPort", gatewayPort.ToString()),
        ]);

        Assert.Null(await CallThroughGatewayAsync(gatewayPort, authority.Issue("client").Certificate));
        // The silo closes the connection during the handshake; the client gives up on the gateway.
        Assert.IsType<ConnectionFailedException>(await CallThroughGatewayAsync(gatewayPort, rogue.Issue("rogue-client").Certificate));
        Assert.IsType<ConnectionFailedException>(await CallThroughGatewayAsync(gatewayPort, authority.SelfSigned("self-signed-client").Certificate));
        Assert.IsType<ConnectionFailedException>(await CallThroughGatewayAsync(gatewayPort, certificate: null));
    }

    [Fact]
    public async Task SilosWithoutACertificateFromTheAuthorityCannotJoinWhileTheClusterCarriesOn()
    {
        using var authority = TestAuthority.Create("cluster");
        using var other = TestAuthority.Create("other");
        var selfSigned = other.SelfSigned("self-signed");
        await using var redis = await RedisServer.StartAsync();
        var directory = TaskStreamServer.NewDirectory();
        (string, string)[] cluster =
        [
            ("TaskStream:Cluster:Membership", "redis"),
            ("TaskStream:Cluster:Redis", redis.ConnectionString),
            ("TaskStream:Cluster:ClusterId", "test-" + Guid.NewGuid().ToString("N")),
        ];
        var silos = new List<SiloProcess>();
        var rogues = new List<SiloProcess>();
        try
        {
            silos.Add(await SiloProcess.StartAsync(directory, [.. cluster, .. authority.Issue("silo-a").Settings(authority)]));
            silos.Add(await SiloProcess.StartAsync(directory, [.. cluster, .. authority.Issue("silo-b").Settings(authority)]));
            await ActiveSilosAreAsync(silos, silos);

            // The same membership table, the same cluster id; each rogue trusts its own certificate, none has one from the authority.
            Dictionary<string, string> environment = [];
            rogues.Add(SiloProcess.Launch(directory, environment, [.. cluster, .. other.Issue("other-authority").Settings(other)]));
            rogues.Add(SiloProcess.Launch(directory, environment,
            [
                .. cluster, .. selfSigned.Settings(other), ("TaskStream:Cluster:Tls:AuthorityPath", selfSigned.CertificatePath),
            ]));
            rogues.Add(SiloProcess.Launch(directory, environment, cluster));
            // The silos refuse their connections and declare them dead; a rogue told it is dead stops. Meanwhile none of
            // them serves, and no silo that answers counts any but the two as active.
            var members = (await Task.WhenAll(silos.Select(s => s.StatusAsync()))).Select(s => s!.Value.GetProperty("silo").GetString()!).ToHashSet();
            var watch = System.Diagnostics.Stopwatch.StartNew();
            while (!rogues.All(r => r.HasExited))
            {
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(90), $"a rogue silo is still running:\n{rogues.First(r => !r.HasExited).Output}");
                foreach (var status in await Task.WhenAll(silos.Select(s => s.StatusAsync())))
                {
                    // A silo too busy to answer /status within its 2 s says nothing either way.
                    Assert.Subset(members, status?.GetProperty("silos").EnumerateArray().Select(a => a.GetString()!).ToHashSet() ?? []);
                }

                foreach (var rogue in rogues)
                {
                    Assert.True(await rogue.StatusAsync() is null, $"a rogue silo is serving:\n{rogue.Output}");
                }

                await Task.Delay(500);
            }

            // A silo with a certificate from the authority joins beside them, and the cluster works.
            silos.Add(await SiloProcess.StartAsync(directory, [.. cluster, .. authority.Issue("silo-c").Settings(authority)]));
            await ActiveSilosAreAsync(silos, silos);
            using var http = new HttpClient();
            using var created = await http.PostAsync(new Uri(silos[2].Url, "/tasks"),
                new StringContent("""{"title":"Written beside rogues"}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            using var read = await http.GetAsync(new Uri(silos[0].Url, created.Headers.Location!.OriginalString));
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        }
        finally
        {
            foreach (var silo in rogues.Concat(silos))
            {
                await silo.DisposeAsync();
            }

            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Waits until every silo of <paramref name="observers"/> sees exactly <paramref name="members"/> as active.</summary>
    private static async Task ActiveSilosAreAsync(List<SiloProcess> observers, List<SiloProcess> members)
    {
        var expected = new List<string>();
        foreach (var member in members)
        {
            expected.Add((await member.StatusAsync())!.Value.GetProperty("silo").GetString()!);
        }

        expected.Sort(StringComparer.Ordinal);
        string Seen(System.Text.Json.JsonElement? status) =>
            string.Join(", ", status?.GetProperty("silos").EnumerateArray().Select(s => s.GetString()!).Order(StringComparer.Ordinal) ?? Enumerable.Empty<string>());
        await Eventually.TrueAsync(async () => (await Task.WhenAll(observers.Select(o => o.StatusAsync()))).All(s => Seen(s) == string.Join(", ", expected)),
            TimeSpan.FromSeconds(30), $"the active silos are {string.Join(", ", expected)}");
    }

    private enum Answer
    {
        /// <summary>The silo sent bytes: its Orleans greeting (each end of a silo connection sends one at once).</summary>
        Greeted,

        /// <summary>The silo closed the connection without a word.</summary>
        HungUp,

        /// <summary>Neither within 10 s.</summary>
        Silent,
    }

    /// <summary>
    /// Connects to <paramref name="port"/> (through TLS, showing <paramref name="clientCertificate"/>, if <paramref name="tls"/>),
    /// waits for the silo's greeting and, in the clear when none comes, sends bytes that are no TLS handshake.
    /// </summary>
    private static async Task<Answer> ProbeAsync(int port, bool tls, X509Certificate2? clientCertificate = null)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        Stream stream = client.GetStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[256];
        try
        {
            if (!tls)
            {
                var greeting = stream.ReadAsync(buffer, timeout.Token).AsTask();
                if (await Task.WhenAny(greeting, Task.Delay(TimeSpan.FromSeconds(5))) == greeting)
                {
                    return await greeting > 0 ? Answer.Greeted : Answer.HungUp;
                }

                await stream.WriteAsync("\u0010\0\0\0plain text, no TLS"u8.ToArray(), timeout.Token);
                return await greeting > 0 ? Answer.Greeted : Answer.HungUp;
            }

            var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
            stream = ssl;
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "127.0.0.1",
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                // The client's view of the silo is not under test here.
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }, timeout.Token);
            // Under TLS 1.3 the silo judges the client's certificate after the client's side of the handshake: a refusal
            // comes as an alert or a close on the first read.
            return await stream.ReadAsync(buffer, timeout.Token) > 0 ? Answer.Greeted : Answer.HungUp;
        }
        catch (OperationCanceledException)
        {
            return Answer.Silent;
        }
        catch (Exception exception) when (exception is IOException or AuthenticationException)
        {
            return Answer.HungUp;
        }
        finally
        {
            await stream.DisposeAsync();
        }
    }

    /// <summary>Starts an Orleans client on the silo's gateway and calls a grain; the failure, or null when it worked.</summary>
    private static async Task<Exception?> CallThroughGatewayAsync(int gatewayPort, X509Certificate2? certificate)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.UseStaticClustering(new IPEndPoint(IPAddress.Loopback, gatewayPort));
            // A refused connection ends the start at once, rather than being retried until the test's deadline.
            client.UseConnectionRetryFilter((_, _) => Task.FromResult(false));
            client.Configure<ClusterOptions>(cluster => (cluster.ClusterId, cluster.ServiceId) = ("taskstream", "taskstream"));
            if (certificate is not null)
            {
                // The client trusts any silo: what is tested is whether the silo lets the client in.
                client.UseTls(certificate, tls => tls.AllowAnyRemoteCertificate());
            }
        });
        using var host = builder.Build();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await host.StartAsync(timeout.Token);
            var hosts = await host.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true)
                .WaitAsync(timeout.Token);
            Assert.Single(hosts);
            return null;
        }
        catch (Exception exception) when (exception is not Xunit.Sdk.XunitException)
        {
            return exception;
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }
}
