using Microsoft.Extensions.Options;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>Store settings that cannot work stop the host at start, naming the key.</summary>
public sealed class StoreSettingsTests
{
    [Fact]
    public async Task PostgresWithoutAConnectionStringStopsTheHostAtStartNamingTheKey()
    {
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            TaskStreamServer.StartAsync(("TaskStream:Database:Provider", "postgres")));

        Assert.Contains("TaskStream:Database:ConnectionString is required when TaskStream:Database:Provider is 'postgres'", failure.Message);
    }

    [Theory]
    [InlineData("TaskStream:Database:WriteTimeoutSeconds", "25")]
    [InlineData("TaskStream:Database:RetainChanges", "0")]
    [InlineData("TaskStream:Database:PageBytes", "100")]
    public async Task AStoreSettingOutOfRangeStopsTheHostAtStartNamingIt(string key, string value)
    {
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => TaskStreamServer.StartAsync((key, value)));

        Assert.Contains(key.Split(':')[^1], failure.Message);
    }
}
