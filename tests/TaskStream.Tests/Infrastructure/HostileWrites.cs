using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace TaskStream.Tests.Infrastructure;

/// <summary>What a generated write must get: written (or 404 for an absent id), refused with a 4xx, or either.</summary>
public enum WriteExpectation
{
    Written,
    Refused,
    Either,
}

/// <summary>The fields a valid write sends (null: not sent).</summary>
public sealed record TaskFields(string? Title, string? Description, bool? Completed);

public sealed record HostileWrite(
    HttpMethod Method, string Target, string? ContentType, byte[]? Body, string? Authorization, WriteExpectation Expect, TaskFields? Fields)
{
    public override string ToString()
    {
        var body = Body is null ? "" : Encoding.UTF8.GetString(Body);
        return $"{Method} {Target} [{ContentType}; auth {Authorization?[..Math.Min(Authorization.Length, 12)]}] " +
            $"{(body.Length <= 300 ? body : body[..300] + $"…({body.Length} chars)")} (expected {Expect})";
    }
}

/// <summary>
/// Random task writes from one seed: valid bodies (SQL fragments, unicode, escapes, edge lengths), bodies that
/// must be refused (malformed JSON, wrong types, nulls, unknown or repeated fields, bad lengths, too large, not
/// JSON, bad ids, no or a wrong token), and valid bodies with random bytes changed (either outcome).
/// </summary>
public sealed class HostileWrites(Random random, string token)
{
    private static readonly string[] Texts =
    [
        "Buy milk", "1; DROP TABLE tasks", "'; DROP TABLE tasks; --", "\"; DELETE FROM tasks; --", "' OR '1'='1",
        "0 UNION SELECT name, sql FROM sqlite_master", "Robert'); DROP TABLE tasks;--", "<script>alert(1)</script>",
        "{{7*7}}", "${jndi:ldap://x/a}", "%s%s%n", "%00", "\\", "\\\\\"", "\"quoted\"", "line\nbreak", "tab\there",
        "ctl\u0001char", "nul\u0000char", "\u00e9t\u00e9", "\U0001F600\U0001F469\u200D\U0001F4BB", "\u202eevil", "\u200bzero",
        "\ufeffbom", "\u0663\u0664", "\uff11\uff12", "e\u0301", "\u4e2d\u6587", "\u05e2\u05d1\u05e8\u05d9\u05ea", "null", "true", "0",
        "-1", "9223372036854775808", "[]", "{}", "NaN", "   padded   ", "a",
    ];

    private static readonly string[] BadContentTypes =
    [
        "text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
        "application/json; charset=iso-8859-1", "application/jsonx", "json", "*/*", "application/", "garbage",
    ];

    private static readonly string[] BadIds =
        ["abc", "0", "-1", "1.5", "1e3", "+1", "99999999999999999999", "%20", "1%3B%20DROP%20TABLE%20tasks", "%F0%9F%98%80", "0x1", "%2e%2e"];

    public HostileWrite Next()
    {
        var roll = random.Next(100);
        var method = roll < 50 ? HttpMethod.Post : roll < 85 ? HttpMethod.Patch : HttpMethod.Delete;
        var (target, badId) = method == HttpMethod.Post ? ("/tasks", false) : Id();
        var authorization = random.Next(12) == 0
            ? Pick<string?>([null, "Bearer wrong-token", "Bearer ", $"Basic {token}", $"Bearer {token}x", $"bearer{token}", "Bearer \u00e9"])
            : $"Bearer {token}";
        var unauthorized = authorization != $"Bearer {token}";

        if (method == HttpMethod.Delete)
        {
            return new HostileWrite(method, target, null, null, authorization,
                badId || unauthorized ? WriteExpectation.Refused : WriteExpectation.Written, null);
        }

        var creating = method == HttpMethod.Post;
        var fields = ValidFields(creating);
        var valid = Serialize(fields);
        var (contentType, body, expect) = random.Next(20) switch
        {
            < 11 => (JsonContentType(), valid, WriteExpectation.Written),
            < 18 => Invalid(creating, fields),
            _ => (JsonContentType(), Mutate(valid), WriteExpectation.Either),
        };
        if ((badId || unauthorized) && expect != WriteExpectation.Either)
        {
            expect = WriteExpectation.Refused;
        }

        return new HostileWrite(method, target, contentType, body, authorization, expect, expect == WriteExpectation.Written ? fields : null);
    }

    private (string Target, bool Bad) Id() => random.Next(10) switch
    {
        < 8 => ($"/tasks/{random.Next(1, 80)}", false), // some exist, some never did, some were deleted
        _ => ($"/tasks/{Pick(BadIds)}", true),
    };

    private TaskFields ValidFields(bool creating)
    {
        while (true)
        {
            var fields = new TaskFields(
                creating || random.Next(2) == 0 ? ValidText(200, title: true) : null,
                random.Next(2) == 0 ? ValidText(2000, title: false) : null,
                random.Next(2) == 0 ? random.Next(2) == 0 : null);
            if (creating || fields != new TaskFields(null, null, null))
            {
                return fields;
            }
        }
    }

    // Every text in Texts has something besides whitespace, so each is a valid title.
    private string ValidText(int max, bool title) => random.Next(10) switch
    {
        < 6 => Pick(Texts),
        6 => Pick(Texts) + " " + Pick(Texts),
        7 when title => string.Concat(Enumerable.Repeat("\U0001F600", max)), // the limit in text elements, 400 UTF-16 units
        8 => new string('\u00e9', random.Next(1, max + 1)),
        _ => title ? "t" : "",
    };

    private (string? ContentType, byte[]? Body, WriteExpectation Expect) Invalid(bool creating, TaskFields fields)
    {
        var refused = WriteExpectation.Refused;
        string Json(params (string Name, string RawValue)[] members) =>
            "{" + string.Join(",", members.Select(m => $"{JsonSerializer.Serialize(m.Name)}:{m.RawValue}")) + "}";
        var title = JsonSerializer.Serialize(fields.Title ?? "t");
        var valid = Encoding.UTF8.GetString(Serialize(fields));
        var body = random.Next(16) switch
        {
            0 => valid[..random.Next(1, valid.Length)], // any strict prefix of an object is malformed
            1 => valid + Pick(["x", "}", ",", " {}", "\"", "]"]),
            2 => Pick(["{'title':'a'}", "{title:\"a\"}", "{\"title\":\"a\",}", "{\"title\":\"a\" /* c */}", "{\"title\":NaN}",
                "{\"title\":\"\\x\"}", "{\"title\":\"a\u0001b\"}", "{\"title\":\"\\ud800\"}", "{\"title\":\"a\"}{\"title\":\"b\"}"]),
            3 => Pick(["null", "[]", "\"title\"", "1", "true", "", "   ", "[{\"title\":\"a\"}]"]),
            4 => Json(("title", Pick(["1", "true", "null", "[]", "{}", "[\"a\"]", "1.5"]))),
            5 => Json(("title", title), ("completed", Pick(["\"true\"", "1", "0", "null", "[]", "\"yes\""]))),
            6 => Json(("title", title), ("description", Pick(["5", "null", "false", "{}", "[\"d\"]"]))),
            7 => Json(("title", title), (Pick(["id", "Title", "seq", "deleted", "__proto__", "", "title ", "done", "\u00e9"]), "1")),
            8 => Json(("title", title), ("title", title)),
            9 => Json(("title", Pick(["\"\"", "\"   \"", "\"\\t\\n\""]))),
            10 => Json(("title", JsonSerializer.Serialize(new string('t', random.Next(201, 4000))))),
            11 => Json(("title", title), ("description", JsonSerializer.Serialize(new string('d', random.Next(2001, 5000))))),
            12 => creating ? Json(("description", "\"no title\""), ("completed", "true")) : "{}",
            13 => Json(("title", JsonSerializer.Serialize(new string('x', random.Next(17_000, 40_000))))), // over 16 KB: 413
            14 => Json(("title", new string('[', 200) + new string(']', 200))),
            _ => null, // a valid body, but not declared as JSON: 415
        };
        return body is null
            ? (random.Next(6) == 0 ? null : Pick(BadContentTypes), Encoding.UTF8.GetBytes(valid), refused)
            : (JsonContentType(), Encoding.UTF8.GetBytes(body), refused);
    }

    /// <summary>The fields as JSON, in random order and spacing, escaped as a browser would or not at all.</summary>
    private byte[] Serialize(TaskFields fields)
    {
        var members = new List<Action<Utf8JsonWriter>>();
        if (fields.Title is not null)
        {
            members.Add(w => w.WriteString("title", fields.Title));
        }

        if (fields.Description is not null)
        {
            members.Add(w => w.WriteString("description", fields.Description));
        }

        if (fields.Completed is not null)
        {
            members.Add(w => w.WriteBoolean("completed", fields.Completed.Value));
        }

        var output = new MemoryStream();
        using (var writer = new Utf8JsonWriter(output, new JsonWriterOptions
        {
            Indented = random.Next(4) == 0,
            Encoder = random.Next(2) == 0 ? JavaScriptEncoder.UnsafeRelaxedJsonEscaping : JavaScriptEncoder.Default,
        }))
        {
            writer.WriteStartObject();
            foreach (var member in members.OrderBy(_ => random.Next()))
            {
                member(writer);
            }

            writer.WriteEndObject();
        }

        return output.ToArray();
    }

    private byte[] Mutate(byte[] valid)
    {
        var bytes = valid.ToList();
        for (var i = random.Next(1, 4); i > 0 && bytes.Count > 0; i--)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(3))
            {
                case 0:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 1:
                    bytes.Insert(at, (byte)random.Next(256));
                    break;
                default:
                    bytes.RemoveAt(at);
                    break;
            }
        }

        return [.. bytes];
    }

    private string JsonContentType() =>
        Pick(["application/json", "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/merge-patch+json"]);

    private T Pick<T>(T[] items) => items[random.Next(items.Length)];
}
