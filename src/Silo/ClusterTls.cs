using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace TaskStream.Silo;

/// <summary>
/// Settings under <c>TaskStream:Cluster:Tls</c>: TLS on the silo port (and the gateway, when it is on) with
/// certificates the operator provides. Off by default.
/// </summary>
public sealed class ClusterTlsSettings
{
    public const string Section = "TaskStream:Cluster:Tls";

    public bool Enabled { get; set; }

    /// <summary>This silo's certificate (PEM), issued by the authority, usable for server and client authentication.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The private key of <see cref="CertificatePath"/> (PEM, unencrypted).</summary>
    public string? KeyPath { get; set; }

    /// <summary>The authority's certificate (PEM): a peer is let in only with a certificate it issued.</summary>
    public string? AuthorityPath { get; set; }
}

/// <summary>
/// TLS between silos: each connection, in either direction, needs a certificate issued by the configured authority
/// on both ends. Peers are checked against that authority alone, not the machine's trust store: a certificate
/// from a public CA is no ticket into the cluster.
/// </summary>
internal sealed class ClusterTls(X509Certificate2 certificate, X509Certificate2 authority)
{
    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    /// <summary>The TLS settings, their files loaded and checked; null when TLS is off.</summary>
    /// <exception cref="TlsSettingsException">A file is missing or unreadable, the key does not match, or the
    /// certificate is one the other silos would refuse.</exception>
    public static ClusterTls? From(IConfiguration configuration)
    {
        var settings = configuration.GetSection(ClusterTlsSettings.Section).Get<ClusterTlsSettings>() ?? new ClusterTlsSettings();
        if (!settings.Enabled)
        {
            return null;
        }

        var certificatePath = Existing(settings.CertificatePath, nameof(ClusterTlsSettings.CertificatePath));
        var keyPath = Existing(settings.KeyPath, nameof(ClusterTlsSettings.KeyPath));
        var authorityPath = Existing(settings.AuthorityPath, nameof(ClusterTlsSettings.AuthorityPath));
        var authority = Load(nameof(ClusterTlsSettings.AuthorityPath), authorityPath, "a PEM certificate", () => PemCertificate(authorityPath));
        // Read alone first, so that a file holding no certificate is named by its own key rather than by KeyPath.
        Load(nameof(ClusterTlsSettings.CertificatePath), certificatePath, "a PEM certificate", () => PemCertificate(certificatePath)).Dispose();
        var certificate = Load(nameof(ClusterTlsSettings.KeyPath), keyPath, $"the PEM private key of the certificate in '{certificatePath}'",
            () => X509Certificate2.CreateFromPemFile(certificatePath, keyPath));
        var tls = new ClusterTls(certificate, authority);
        tls.EnsureUsable(certificatePath, authorityPath);
        return tls;
    }

    public void Apply(ISiloBuilder silo) => silo.UseTls(certificate, options =>
    {
        // Both ends show a certificate: the silo that opens a connection proves itself as much as the one accepting it.
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        // Replaces the system's check: the authority decides, and silos are reached by address, not a host name.
        options.RemoteCertificateValidation = (peer, chain, _) => IssuedByAuthority(peer, chain);
    });

    /// <summary>Whether <paramref name="peer"/> chains up to the authority (with any intermediates the peer sent).</summary>
    public bool IssuedByAuthority(X509Certificate2 peer, X509Chain? presented = null)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        // The authority is private to the cluster and publishes no revocation list: retire a key by a new authority.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presented is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);
        }

        return chain.Build(peer);
    }

    // The checks a peer makes, made at start: a silo that could never join says why at once instead of retrying.
    private void EnsureUsable(string certificatePath, string authorityPath)
    {
        var key = $"{ClusterTlsSettings.Section}:{nameof(ClusterTlsSettings.CertificatePath)} = '{certificatePath}'";
        if (certificate.NotAfter < DateTime.Now || certificate.NotBefore > DateTime.Now)
        {
            throw new TlsSettingsException($"{key}: the certificate is valid from {certificate.NotBefore:u} to {certificate.NotAfter:u} only.");
        }

        if (certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } usage
            && !(Has(usage, ServerAuthentication) && Has(usage, ClientAuthentication)))
        {
            throw new TlsSettingsException($"{key}: a silo both accepts and opens connections, so its certificate's extended key "
                + "usage must include serverAuth and clientAuth (or the certificate must have no extended key usage).");
        }

        if (!IssuedByAuthority(certificate))
        {
            throw new TlsSettingsException($"{key}: the certificate ({certificate.Subject}, issued by {certificate.Issuer}) was not issued by "
                + $"the authority in {ClusterTlsSettings.Section}:{nameof(ClusterTlsSettings.AuthorityPath)} = '{authorityPath}' "
                + $"({authority.Subject}), so the other silos would refuse it.");
        }
    }

    private static bool Has(X509EnhancedKeyUsageExtension usage, string oid) =>
        usage.EnhancedKeyUsages.Cast<Oid>().Any(u => u.Value == oid);

    private static string Existing(string? path, string name)
    {
        var key = $"{ClusterTlsSettings.Section}:{name}";
        return string.IsNullOrWhiteSpace(path) ? throw new TlsSettingsException($"{key} (not set): required when {ClusterTlsSettings.Section}:Enabled is true.")
            : File.Exists(path) ? path
            : throw new TlsSettingsException($"{key} = '{path}': no such file ({Path.GetFullPath(path)}).");
    }

    private static X509Certificate2 PemCertificate(string path) => X509Certificate2.CreateFromPem(File.ReadAllText(path));

    private static X509Certificate2 Load(string name, string path, string expected, Func<X509Certificate2> load)
    {
        try
        {
            return load();
        }
        catch (Exception exception) when (exception is CryptographicException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            throw new TlsSettingsException($"{ClusterTlsSettings.Section}:{name} = '{path}': not {expected}: {exception.Message}");
        }
    }
}

/// <summary>A TLS setting the silo cannot start with; its message is the one line to print.</summary>
public sealed class TlsSettingsException(string message) : Exception(message);
