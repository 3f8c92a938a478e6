using StackExchange.Redis;

namespace TaskStream.Silo;

/// <summary>
/// The Redis that holds the membership table (<c>TaskStream:Cluster:Membership = redis</c>): its connection string,
/// with the ACL user and password from settings of their own, so that a secret can come from the environment while
/// the address stays in a file.
/// </summary>
internal static class ClusterRedis
{
    public static ConfigurationOptions Options(ClusterSettings cluster)
    {
        var options = ConfigurationOptions.Parse(cluster.Redis);
        if (!string.IsNullOrEmpty(cluster.RedisUser))
        {
            options.User = cluster.RedisUser;
        }

        if (!string.IsNullOrEmpty(cluster.RedisPassword))
        {
            options.Password = cluster.RedisPassword;
        }

        return options;
    }

    /// <summary>
    /// Connects once before the silo starts: Orleans would fail on the same mistake, but with its stack traces in the
    /// log. The password is never part of the message.
    /// </summary>
    /// <exception cref="RedisUnreachableException">Redis cannot be reached or refuses the credentials.</exception>
    public static void EnsureReachable(ClusterSettings cluster)
    {
        var options = Options(cluster);
        try
        {
            using var connection = ConnectionMultiplexer.Connect(options);
        }
        catch (RedisConnectionException exception)
        {
            var given = $"{ClusterSettings.Section}:{nameof(ClusterSettings.Redis)} = '{options.ToString(includePassword: false)}'";
            throw new RedisUnreachableException(exception.FailureType == ConnectionFailureType.AuthenticationFailure
                ? $"{given}: Redis refused the credentials (user {(options.User is null ? "default" : $"'{options.User}'")}, "
                    + $"password {(options.Password is null ? "not set" : "set")}): {exception.InnerException?.Message ?? exception.Message} "
                    + $"Set them with {ClusterSettings.Section}:{nameof(ClusterSettings.RedisUser)} and {ClusterSettings.Section}:{nameof(ClusterSettings.RedisPassword)}."
                : $"{given}: cannot connect to Redis ({exception.FailureType}). Start it, or correct the address.");
        }
    }
}

/// <summary>The membership's Redis cannot be used; the message is the one line to print.</summary>
public sealed class RedisUnreachableException(string message) : Exception(message);
