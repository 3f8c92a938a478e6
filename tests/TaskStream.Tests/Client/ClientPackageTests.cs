using System.IO.Compression;
using System.Xml.Linq;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary><c>dotnet pack</c> makes a TaskStream.Client package that stands alone: its readme, MIT license, and no server assemblies.</summary>
public sealed class ClientPackageTests
{
    [Fact]
    public async Task ThePackageHasItsReadmeAndLicenseAndDependsOnNothing()
    {
        var output = Path.Combine(Path.GetTempPath(), "taskstream-tests", Guid.NewGuid().ToString("N"));
        try
        {
            var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            var pack = await Repository.RunAsync("dotnet",
                ["pack", Repository.PathTo(Path.Combine("src", "Client", "Client.csproj")), "-c", configuration, "--no-build", "--no-restore", "-o", output],
                TimeSpan.FromMinutes(3));
            Assert.True(pack.ExitCode == 0, pack.Output + pack.Errors);

            using var package = ZipFile.OpenRead(Assert.Single(Directory.GetFiles(output, "TaskStream.Client.*.nupkg")));
            var files = package.Entries.Select(e => e.FullName).ToList();
            Assert.Contains("README.md", files);
            Assert.Contains("lib/net10.0/TaskStream.Client.dll", files);
            Assert.Contains("lib/net10.0/TaskStream.Client.xml", files);

            XNamespace ns;
            XDocument nuspec;
            using (var stream = package.GetEntry("TaskStream.Client.nuspec")!.Open())
            {
                nuspec = XDocument.Load(stream);
                ns = nuspec.Root!.Name.Namespace;
            }

            var metadata = nuspec.Root!.Element(ns + "metadata")!;
            Assert.Equal("TaskStream.Client", metadata.Element(ns + "id")!.Value);
            Assert.Equal("MIT", metadata.Element(ns + "license")!.Value);
            Assert.Equal("README.md", metadata.Element(ns + "readme")!.Value);
            Assert.False(string.IsNullOrWhiteSpace(metadata.Element(ns + "description")?.Value));
            Assert.Empty(metadata.Descendants(ns + "dependency")); // HttpClient and SseParser are in .NET itself: no Orleans, nothing
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }
}
