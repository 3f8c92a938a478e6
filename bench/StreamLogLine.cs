using System.Text.Json;

namespace TaskStream.Bench;

/// <summary>
/// What the bench reads off a server's per-stream log line (TaskEventStream on the silo, the same fields on the
/// baseline): the release time, which no metric carries, and the outcome it belongs to.
/// </summary>
public sealed record StreamLogLine(string Outcome, double ReleaseMs)
{
    private static readonly string[] StreamLogCategories = ["TaskStream.Api.TaskEventStream", BaselineServer.LogCategory];

    // One line of the JSON console formatter: {"Category":…, "State":{"Outcome":…, "ReleaseMs":…}}.
    // Numbers may come as JSON numbers or as strings, depending on how the logger was declared.
    public static StreamLogLine? TryParse(string line)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            if (!root.TryGetProperty("Category", out var category) || !StreamLogCategories.Contains(category.GetString())
                || !root.TryGetProperty("State", out var state))
            {
                return null;
            }

            return new StreamLogLine(state.GetProperty("Outcome").ToString(), Number(state, "ReleaseMs"));
        }
        catch (Exception exception) when (exception is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }

        static double Number(JsonElement state, string name)
        {
            var value = state.GetProperty(name);
            return value.ValueKind == JsonValueKind.Number
                ? value.GetDouble()
                : double.Parse(value.GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
