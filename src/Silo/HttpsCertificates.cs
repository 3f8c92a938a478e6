namespace TaskStream.Silo;

/// <summary>
/// The PEM files of Kestrel's HTTPS endpoints (<c>Kestrel:Endpoints:NAME:Certificate:Path</c> and <c>KeyPath</c>, or
/// <c>Kestrel:Certificates:Default</c>). Kestrel reads a relative path from the content root, which is the binary's folder
/// here (for appsettings.json); a user means the working directory, as for the database, so such paths are made absolute.
/// </summary>
internal static class HttpsCertificates
{
    /// <summary>Makes the configured certificate paths absolute; a missing file stops the silo with one line naming its key.</summary>
    public static void ResolveFromWorkingDirectory(ConfigurationManager configuration)
    {
        var certificates = configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(endpoint => endpoint.GetSection("Certificate"))
            .Append(configuration.GetSection("Kestrel:Certificates:Default"));
        var resolved = new Dictionary<string, string?>();
        foreach (var file in certificates.SelectMany(c => new[] { c.GetSection("Path"), c.GetSection("KeyPath") }).Where(f => !string.IsNullOrEmpty(f.Value)))
        {
            var path = Path.GetFullPath(file.Value!);
            resolved[file.Path] = File.Exists(path)
                ? path
                : throw new CertificateFileMissingException($"{file.Path} = '{file.Value}' ({path}): no such file. "
                    + "Give the PEM certificate (Path) and its key (KeyPath); relative paths are from the working directory.");
        }

        configuration.AddInMemoryCollection(resolved);
    }
}

/// <summary>A configured certificate or key file does not exist; its message is the one line to print.</summary>
public sealed class CertificateFileMissingException(string message) : Exception(message);
