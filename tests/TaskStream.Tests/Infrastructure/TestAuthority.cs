using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// A certificate authority made for one test, with the silo certificates it issues, written as PEM files into a
/// folder of its own (what an operator would make with openssl); nothing is committed or put in a system store.
/// </summary>
public sealed class TestAuthority : IDisposable
{
    public const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    private TestAuthority(string name, X509Certificate2 certificate)
    {
        Certificate = certificate;
        Directory = TaskStreamServer.NewDirectory();
        AuthorityPath = Path.Combine(Directory, $"{name}-ca.pem");
        File.WriteAllText(AuthorityPath, certificate.ExportCertificatePem());
    }

    public X509Certificate2 Certificate { get; }

    public string Directory { get; }

    /// <summary>The authority's certificate, for <c>TaskStream:Cluster:Tls:AuthorityPath</c>.</summary>
    public string AuthorityPath { get; }

    public static TestAuthority Create(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        return new TestAuthority(name, request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30)));
    }

    /// <summary>A silo certificate signed by this authority, for serverAuth and clientAuth unless <paramref name="usages"/> says otherwise.</summary>
    public SiloCertificate Issue(string name, params string[] usages)
    {
        var (request, key) = Request(name, usages);
        using (key)
        {
            using var issued = request.Create(Certificate, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(10),
                RandomNumberGenerator.GetBytes(8));
            return SiloCertificate.Write(Directory, name, issued.CopyWithPrivateKey(key));
        }
    }

    /// <summary>A certificate that signs itself: what anyone without the authority's key can make.</summary>
    public SiloCertificate SelfSigned(string name)
    {
        var (request, key) = Request(name, []);
        using (key)
        {
            return SiloCertificate.Write(Directory, name, request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(10)));
        }
    }

    private static (CertificateRequest Request, ECDsa Key) Request(string name, string[] usages)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        var oids = new OidCollection();
        foreach (var usage in usages is [] ? [ServerAuthentication, ClientAuthentication] : usages)
        {
            oids.Add(new Oid(usage));
        }

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(oids, critical: false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        return (request, key);
    }

    public void Dispose()
    {
        Certificate.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

/// <summary>A silo's certificate with its private key, and the PEM files that hold them.</summary>
public sealed record SiloCertificate(X509Certificate2 Certificate, string CertificatePath, string KeyPath)
{
    public static SiloCertificate Write(string directory, string name, X509Certificate2 certificate)
    {
        var certificatePath = Path.Combine(directory, $"{name}.pem");
        var keyPath = Path.Combine(directory, $"{name}-key.pem");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        return new SiloCertificate(certificate, certificatePath, keyPath);
    }

    /// <summary>The settings that turn TLS on with this certificate, trusting <paramref name="authority"/>.</summary>
    public (string Key, string Value)[] Settings(TestAuthority authority) =>
    [
        ("TaskStream:Cluster:Tls:Enabled", "true"),
        ("TaskStream:Cluster:Tls:CertificatePath", CertificatePath),
        ("TaskStream:Cluster:Tls:KeyPath", KeyPath),
        ("TaskStream:Cluster:Tls:AuthorityPath", authority.AuthorityPath),
    ];
}
