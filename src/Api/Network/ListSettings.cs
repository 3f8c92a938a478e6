using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace TaskStream.Api;

/// <summary>
/// List settings given as one value. <c>TaskStream__Auth__WriteTokens=x</c> (rather than <c>…__0=x</c>) sets the
/// list's own key, which the configuration binder ignores: the setting would silently do nothing. Here it is one entry.
/// </summary>
internal static class ListSettings
{
    public static OptionsBuilder<T> BindSingleValue<T>(this OptionsBuilder<T> options, string key, Func<T, string[]> get, Action<T, string[]> set)
        where T : class =>
        options.Configure<IConfiguration>((value, configuration) =>
        {
            if (configuration[key] is { } single)
            {
                set(value, [.. get(value), single]);
            }
        });
}
