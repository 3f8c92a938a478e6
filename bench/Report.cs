using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TaskStream.Bench;

/// <summary>
/// One measured figure, TaskStream's beside the baseline's. Ratio is TaskStream / baseline. A target is
/// printed beside the figure and marked met or missed; it is never asserted.
/// </summary>
public sealed record Row(string Case, string Metric, string Unit, double? TaskStream, double? Baseline)
{
    public double? Ratio => TaskStream is { } t && Baseline is { } b && b != 0 && !double.IsNaN(t) && !double.IsNaN(b) ? t / b : null;

    public string? Target { get; init; }

    public bool? TargetMet { get; init; }
}

/// <summary>Something wrong in a run: an error, a wrong count, a dead server. Target null: the bench's own.</summary>
public sealed record BenchProblem(string Scenario, Target? Target, string Text);

public sealed class Section(string scenario, string title)
{
    public string Scenario { get; } = scenario;

    public string Title { get; } = title;

    public List<Row> Rows { get; } = [];

    public List<string> Notes { get; } = [];

    /// <summary>
    /// Set for a scenario without a baseline (<c>scale</c>): one printed line per level, a cell per column,
    /// instead of the TaskStream / baseline rows (which are still written to the JSON, as numbers).
    /// </summary>
    public string[]? Columns { get; set; }

    public List<string[]> Table { get; } = [];

    public Row Add(Row row)
    {
        Rows.Add(row);
        return row;
    }
}

/// <summary>
/// Collects the sections, prints each as a table when it is done, and writes the whole run as JSON.
/// <see cref="Problems"/> are what makes a run fail: errors, wrong counts, a scenario that threw.
/// </summary>
public sealed class Report
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public DateTimeOffset Started { get; } = DateTimeOffset.Now;

    public List<Section> Sections { get; } = [];

    public List<BenchProblem> Problems { get; } = [];

    /// <summary>
    /// Whether the run failed. A smoke run fails on any problem: it proves the bench, baseline included,
    /// works. A full run fails on TaskStream's problems and the bench's own; the baseline's are reported but
    /// do not fail it (at 10,000 idle streams the baseline, holding a connection per stream by design,
    /// runs out of file descriptors here, and that is a fact about the yardstick, not a broken run).
    /// </summary>
    public bool Failed(bool smoke) => Problems.Any(p => smoke || p.Target != Target.Baseline);

    public void Problem(string scenario, string text, Target? target = null)
    {
        Problems.Add(new BenchProblem(scenario, target, text));
        Console.WriteLine($"  PROBLEM {scenario}: {text}");
    }

    /// <summary>Records a problem (without stopping the run) when <paramref name="ok"/> is false.</summary>
    public void Check(bool ok, string scenario, string text, Target? target = null)
    {
        if (!ok)
        {
            Problem(scenario, text, target);
        }
    }

    public Section Begin(string scenario, string title)
    {
        var section = new Section(scenario, title);
        Sections.Add(section);
        return section;
    }

    public static void Print(Section section)
    {
        var header = section.Columns ?? ["case", "metric", "TaskStream", "baseline", "ratio", "target"];
        var lines = section.Columns is not null ? section.Table : section.Rows.Select(r => new[]
        {
            r.Case, $"{r.Metric} ({r.Unit})", Format(r.TaskStream, r.Unit), Format(r.Baseline, r.Unit),
            r.Ratio is { } ratio ? ratio.ToString("0.00", CultureInfo.InvariantCulture) : "-",
            r.Target is null ? "" : $"{r.Target} {(r.TargetMet switch { true => "[met]", false => "[MISSED]", _ => "" })}",
        }).ToList();
        var leftAligned = section.Columns is null ? 2 : 1;
        var widths = header.Select((h, i) => Math.Max(h.Length, lines.Count == 0 ? 0 : lines.Max(l => l[i].Length))).ToArray();
        var text = new StringBuilder();
        text.AppendLine();
        text.AppendLine($"== {section.Title}");
        AppendLine(text, header, widths, leftAligned);
        AppendLine(text, widths.Select(w => new string('-', w)).ToArray(), widths, leftAligned);
        foreach (var line in lines)
        {
            AppendLine(text, line, widths, leftAligned);
        }

        foreach (var note in section.Notes)
        {
            text.AppendLine($"   note: {note}");
        }

        Console.Write(text);
    }

    public string Write(string directory, string name, object run)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"{name}-{Started:yyyyMMdd-HHmmss}.json");
        var document = new
        {
            started = Started,
            finished = DateTimeOffset.Now,
            run,
            sections = Sections.Select(s => new
            {
                s.Scenario,
                s.Title,
                s.Notes,
                table = s.Columns is null ? null : new { columns = s.Columns, lines = s.Table },
                rows = s.Rows.Select(r => new { r.Case, r.Metric, r.Unit, r.TaskStream, r.Baseline, r.Ratio, r.Target, r.TargetMet }),
            }),
            problems = Problems.Select(p => new { p.Scenario, target = p.Target?.ToString(), p.Text }),
        };
        File.WriteAllText(path, JsonSerializer.Serialize(document, Json));
        return path;
    }

    private static void AppendLine(StringBuilder text, string[] cells, int[] widths, int leftAligned)
    {
        text.Append("  ");
        for (var i = 0; i < cells.Length; i++)
        {
            // Names (the first columns, and the target) left-aligned, numbers right-aligned.
            var left = i < leftAligned || (leftAligned == 2 && i == cells.Length - 1);
            text.Append(left ? cells[i].PadRight(widths[i]) : cells[i].PadLeft(widths[i]));
            text.Append("  ");
        }

        text.AppendLine();
    }

    internal static string Format(double? value, string unit) => value switch
    {
        null => "-",
        { } v when double.IsNaN(v) => "n/a",
        { } v when unit is "ms" => v.ToString(v < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture),
        { } v when unit is "fds" or "%" => v.ToString("0.00", CultureInfo.InvariantCulture),
        { } v when unit is "CPU s" => v.ToString("0.000", CultureInfo.InvariantCulture),
        { } v when unit is "MB" or "KB" or "s" or "µs" => v.ToString("0.0", CultureInfo.InvariantCulture),
        { } v => v.ToString("#,0", CultureInfo.InvariantCulture),
    };
}
