using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Connections;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using TaskStream.Grains;
using TaskStream.Grains.Data;

namespace TaskStream.Silo;

/// <summary>
/// Turns a mistake that stops the silo at start (a setting out of range or unparsable, a database folder that
/// is missing or unwritable, a port in use) into one line for its user: the key, path or port, the bad value
/// and what is allowed. Anything else is a bug and keeps its stack trace.
/// </summary>
internal static partial class StartupFailure
{
    // The settings that take one of a few words; the binder names the type, this names the words.
    private static readonly Type[] Choices = [typeof(DatabaseProvider), typeof(ClusterMembership), typeof(QueryPlacementMode)];

    /// <param name="configuration">The silo's configuration, when it got as far as building one.</param>
    public static IReadOnlyList<string>? Describe(Exception exception, IConfiguration? configuration) => exception switch
    {
        OptionsValidationException options => DescribeOptions(options, configuration),
        // The binder's "Failed to convert configuration value 'abc' at 'Key' to type 'System.Int32'."
        InvalidOperationException when exception.TargetSite?.DeclaringType == typeof(ConfigurationBinder) => [DescribeBinding(exception.Message)],
        IOException { InnerException: AddressInUseException } =>
            [$"{exception.Message} Stop what uses the port, or choose another with --urls or {ClusterSettings.Section}:{nameof(ClusterSettings.ApiPort)}."],
        PortInUseException or CertificateFileMissingException or TlsSettingsException or RedisUnreachableException or DirectoryNotFoundException or UnauthorizedAccessException => [exception.Message],
        SqliteException sqlite => [DescribeDatabase(sqlite, configuration)],
        _ => null,
    };

    /// <summary>One line per failed rule of a settings object, naming its full key and the value given.</summary>
    public static IReadOnlyList<string> Problems(object settings, string section, IConfiguration configuration)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(settings, new ValidationContext(settings), results, validateAllProperties: true);
        return [.. results.Select(result =>
        {
            var key = $"{section}:{result.MemberNames.FirstOrDefault()}";
            var given = configuration[key] is { } value ? $"'{value}'" : "(not set)";
            return $"{key} = {given}: {result.ErrorMessage}";
        })];
    }

    // Validated again from the configuration: the exception names neither the section nor the value.
    private static IReadOnlyList<string> DescribeOptions(OptionsValidationException exception, IConfiguration? configuration)
    {
        var section = exception.OptionsType.GetField("Section", BindingFlags.Public | BindingFlags.Static)?.GetRawConstantValue() as string;
        var problems = section is null || configuration is null
            ? []
            : Problems(configuration.GetSection(section).Get(exception.OptionsType) ?? Activator.CreateInstance(exception.OptionsType)!,
                section, configuration);
        return problems.Count > 0 ? problems : [.. exception.Failures];
    }

    // For a setting that takes one of a few words, the words it takes (in lower case: any case binds).
    private static string DescribeBinding(string message)
    {
        var failed = BindingFailure().Match(message);
        var choice = failed.Success ? Choices.FirstOrDefault(type => type.FullName == failed.Groups["type"].Value) : null;
        return choice is null
            ? message
            : $"{failed.Groups["key"].Value} = '{failed.Groups["value"].Value}': must be "
                + string.Join(" or ", Enum.GetNames(choice).Select(name => $"'{name.ToLowerInvariant()}'")) + ".";
    }

    [GeneratedRegex("^Failed to convert configuration value '(?<value>.*)' at '(?<key>[^']*)' to type '(?<type>[^']*)'")]
    private static partial Regex BindingFailure();

    private static string DescribeDatabase(SqliteException exception, IConfiguration? configuration)
    {
        var path = (configuration?.GetSection(DatabaseOptions.Section).Get<DatabaseOptions>() ?? new DatabaseOptions()).Path;
        return $"{DatabaseOptions.Section}:{nameof(DatabaseOptions.Path)} = '{path}' ({Path.GetFullPath(path)}): {exception.Message} "
            + "The folder must exist and be writable by this process.";
    }
}
