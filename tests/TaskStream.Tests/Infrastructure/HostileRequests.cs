using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;

namespace TaskStream.Tests.Infrastructure;

/// <summary>A generated request: what HttpClient sends (an ASCII request target, header values in UTF-8).</summary>
public sealed record HostileRequest(HttpMethod Method, string Target, IReadOnlyList<(string Name, string Value)> Headers)
{
    public bool IsStream => Target.StartsWith("/tasks/stream", StringComparison.OrdinalIgnoreCase);

    public override string ToString()
    {
        var headers = string.Join(" | ", Headers.Take(6).Select(h => $"{h.Name}: {Shorten(h.Value)}"));
        return $"{Method} {Shorten(Target)} [{Headers.Count} headers: {headers}]";
    }

    private static string Shorten(string text) => text.Length <= 200 ? text : $"{text[..200]}…({text.Length} chars)";
}

/// <summary>
/// Random and malformed requests from one seed. <see cref="Next"/> is well-formed HTTP carrying garbage: query
/// strings (unknown, repeated, huge and many parameters, percent-encoding garbage, SQL fragments, unicode) and
/// headers (Last-Event-ID values, Accept, many and large headers) within Kestrel's limits, so the application
/// answers them. <see cref="NextMalformed"/> is broken HTTP that Kestrel refuses before the application runs.
/// No request ever asks for <c>follow</c>: a follow stream never ends.
/// </summary>
public sealed class HostileRequests(Random random)
{
    private static readonly string[] Routes = ["/tasks/stream", "/tasks/stream-function", "/tasks/list", "/status"];

    private static readonly string[] OddPaths =
    [
        "/tasks/stream/", "/TASKS/STREAM", "/Tasks/List", "/tasks//list", "/tasks/%2e%2e/status", "/tasks/list;jsessionid=1",
        "/tasks/stream/extra", "/", "/tasks", "/tasks/", "/status/", "/tasks/%", "/tasks/%zz", "/%ff", "/tasks/stream%20",
        "/tasks/stream%2Fx", "/tasks/../status", "/tasks/./list", "/status.json", "/tasks/list.php",
    ];

    private static readonly string[] Nasty =
    [
        "1; DROP TABLE tasks", "1; DROP TABLE tasks;--", "'; DROP TABLE tasks; --", "' OR '1'='1", "1 OR 1=1", "1) OR (1=1",
        "0 UNION SELECT name, sql, 1, 1 FROM sqlite_master", "\"; DELETE FROM tasks; --", "1; UPDATE tasks SET completed = 1",
        "1/**/OR/**/1=1", "1' AND SLEEP(5)--", "1; ATTACH DATABASE '/tmp/x' AS x; --", "NULL", "null", "undefined", "NaN",
        "Infinity", "-Infinity", "1e3", "1E+3", "0x10", "0b1", "+5", " 5", "5 ", "1.5", "1,5", "-0", "00000000000000000000001",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551616", "2147483647",
        "2147483648", "1000000000", "1000000001", "-1", "0", "true", "TRUE", "True", "tRuE", "false", "FALSE", "maybe",
        "yes", "on", "1", "", " ", "\t", "%", "%%", "${jndi:ldap://x/a}", "{{7*7}}", "<script>alert(1)</script>",
        "../../etc/passwd", "C:\\Windows\\win.ini", "\u0663", "\uff11\uff12\uff13", "\u00b9", "\U0001D7D9", "\u202e1",
        "\u200b1", "1\u200b", "\ufeff1", "\u00e9", "\U0001F600", "\ufffd", "1\u0000", "\u0000", "a\u0001b", "[]", "{}",
        "[1,2]", "{\"$gt\":0}", "__proto__", "constructor", "%s%s%s%n", "\\x00", "\\u0000", "AAAA",
    ];

    private static readonly string[] Names =
    [
        "completed", "limit", "after", "completed", "limit", "after", "LIMIT", "Limit", "Completed", "AFTER", "limit ",
        " limit", "limit[]", "limit[0]", "li mit", "", "=", "Last-Event-ID", "lastEventId", "id", "__proto__", "_", "callback",
        "utm_source", "page", "offset", "sort", "order", "fields", "filter", "q", "format", "\u00e9", "\U0001F600", "limit\u0000",
    ];

    private static readonly string[] Accepts =
    [
        "text/event-stream", "application/json", "*/*", "text/html", "application/problem+json", "image/png", "garbage",
        "text/*;q=0", "application/json;q=0, text/event-stream", "\u00e9/\u00e9", ";;;", "*/*;q=abc",
    ];

    private static readonly string[] Garbage = ["%", "%z", "%zz", "%g0", "%0", "%00", "%ff", "%FF%FE", "%c3%28", "%ed%a0%80", "%e2%80%ae", "%c0%af", "+", "%2b", "%26", "%3d", "%25"];

    private static readonly string[] RawSafe = ["-", ".", "_", "~", "!", "$", "'", "(", ")", "*", ",", ";", ":", "@", "/", "?", "\"", "<", ">", "{", "}", "|", "\\", "^", "`", "[", "]"];

    // Kestrel's limits are 8 KB for the request line and 32 KB and 100 for the headers; Host and the like need room.
    private const int MaxTarget = 7_900;
    private const int MaxHeaderBytes = 30_000;
    private const int MaxHeaders = 95;

    public HostileRequest Next()
    {
        while (true)
        {
            var request = Generate();
            var target = request.Target;
            var query = target.Contains('?') ? QueryHelpers.ParseQuery(target[target.IndexOf('?')..]) : [];
            if (target.Length <= MaxTarget && request.Headers.Count <= MaxHeaders
                && request.Headers.Sum(h => h.Name.Length + Encoding.UTF8.GetByteCount(h.Value) + 4) <= MaxHeaderBytes
                && !query.Keys.Any(key => key.Trim().Equals("follow", StringComparison.OrdinalIgnoreCase)))
            {
                return request;
            }
        }
    }

    private HostileRequest Generate()
    {
        var roll = random.Next(100);
        var method = roll < 92 ? HttpMethod.Get : Pick([HttpMethod.Head, HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Options]);
        // Other methods only on the read routes: /tasks and /tasks/{id} take writes.
        var path = method != HttpMethod.Get ? Pick(Routes) : random.Next(20) switch
        {
            < 14 => Pick(Routes),
            < 18 => "/tasks/" + Uri.EscapeDataString(Value().Replace("\0", "")),
            _ => Pick(OddPaths),
        };
        var query = QueryString();
        var headers = new List<(string, string)>();
        if (random.Next(2) == 0)
        {
            headers.Add(("Last-Event-ID", HeaderValue(Value())));
            if (random.Next(10) == 0)
            {
                headers.Add(("Last-Event-ID", HeaderValue(Value())));
            }
        }

        if (random.Next(3) != 0)
        {
            headers.Add(("Accept", Pick(Accepts)));
        }

        switch (random.Next(12))
        {
            case 0: // many headers, within Kestrel's 100
                for (var i = random.Next(30, 85); i > 0; i--)
                {
                    headers.Add(($"X-Fuzz-{i}", HeaderValue(Value())));
                }

                break;
            case 1: // one large header, within Kestrel's 32 KB
                headers.Add(("X-Fuzz-Large", new string((char)random.Next('a', 'z' + 1), random.Next(4_000, 24_000))));
                break;
            default:
                for (var i = random.Next(0, 4); i > 0; i--)
                {
                    headers.Add((Pick(["X-Forwarded-For", "Cookie", "Origin", "Referer", "Range", "If-None-Match", "Cache-Control", "X-Requested-With", "Authorization"]),
                        HeaderValue(Value())));
                }

                break;
        }

        return new HostileRequest(method, path + query, headers);
    }

    private string QueryString()
    {
        var count = random.Next(20) switch
        {
            0 => 0,
            < 16 => random.Next(1, 5),
            < 19 => random.Next(5, 45), // past 32 parameters: 400 naming "query"
            _ => 1,
        };
        if (count == 0)
        {
            return random.Next(4) == 0 ? Pick(["?", "?&", "?&&=", "?=", "?%"]) : "";
        }

        var query = new StringBuilder("?");
        for (var i = 0; i < count; i++)
        {
            if (i > 0)
            {
                query.Append(random.Next(15) == 0 ? Pick(["&&", ";", "&=&"]) : "&");
            }

            query.Append(Encode(Pick(Names)));
            if (random.Next(15) != 0)
            {
                query.Append('=').Append(Encode(Value()));
            }
        }

        if (random.Next(20) == 0)
        {
            // A huge parameter: over 2048 characters is refused by the application, over 8 KB by Kestrel (not here).
            query.Append("&pad=").Append('7', random.Next(1_000, 6_500));
        }

        return query.ToString();
    }

    private string Value() => random.Next(12) switch
    {
        0 or 1 or 2 => Pick(Nasty),
        3 => random.NextInt64(long.MinValue, long.MaxValue).ToString(CultureInfo.InvariantCulture),
        4 => random.Next(-5, 30).ToString(CultureInfo.InvariantCulture),
        5 => new string('9', random.Next(19, 3_000)),
        6 => Unicode(random.Next(1, 12)),
        7 => Ascii(random.Next(1, 40)),
        8 => Pick(Nasty) + Pick(Nasty),
        9 => Pick(["true", "false", "True", "FALSE"]),
        _ => random.Next(0, 25).ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>A query-string piece, ASCII only: well encoded, raw where ASCII allows, or with broken percent-encoding.</summary>
    private string Encode(string text) => random.Next(8) switch
    {
        < 4 => Uri.EscapeDataString(text),
        4 => Uri.EscapeDataString(text).Replace("%20", "+"),
        5 => string.Concat(text.Select(c => c is > ' ' and < '\x7f' && c != '#' ? c.ToString() : Uri.EscapeDataString(c.ToString()))),
        _ => Uri.EscapeDataString(text).Insert(random.Next(Uri.EscapeDataString(text).Length + 1), Pick(Garbage)),
    };

    /// <summary>A header value: anything but CR, LF and NUL (which no client can send as a value).</summary>
    private static string HeaderValue(string text) => text.Replace("\r", "").Replace("\n", "").Replace("\0", "");

    private string Unicode(int length)
    {
        var text = new StringBuilder();
        for (var i = 0; i < length; i++)
        {
            var scalar = random.Next(7) switch
            {
                0 => random.Next(0xA0, 0x100), // Latin-1
                1 => random.Next(0x2000, 0x2070), // spaces, zero-width, bidi controls
                2 => random.Next(0x4E00, 0x9FFF), // CJK
                3 => random.Next(0x1F300, 0x1FAFF), // emoji
                4 => random.Next(0xFF10, 0xFF1A), // fullwidth digits
                5 => random.Next(0x0660, 0x066A), // Arabic-Indic digits
                _ => random.Next(0x0300, 0x0370), // combining marks
            };
            text.Append(char.ConvertFromUtf32(scalar));
        }

        return text.ToString();
    }

    private string Ascii(int length)
    {
        var text = new StringBuilder();
        for (var i = 0; i < length; i++)
        {
            text.Append(random.Next(3) == 0 ? Pick(RawSafe) : ((char)random.Next('0', 'z' + 1)).ToString());
        }

        return text.ToString();
    }

    /// <summary>
    /// Broken HTTP on its own connection: raw non-ASCII or NUL bytes in the target or a header, invalid header
    /// lines, a missing or doubled Host, a request line over Kestrel's 8 KB, headers over 32 KB or over 100.
    /// </summary>
    public byte[] NextMalformed()
    {
        var route = Pick(Routes);
        string Head(string requestLine, string extra = "") => $"{requestLine}\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n";
        byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);
        byte[] Join(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
        var junk = Enumerable.Range(0, random.Next(1, 8)).Select(_ => (byte)random.Next(0x80, 0x100)).ToArray();
        return random.Next(13) switch
        {
            0 => Join(Bytes($"GET {route}?limit="), junk, Bytes(Head(" HTTP/1.1"))),
            1 => Encoding.UTF8.GetBytes(Head($"GET /tasks/{Unicode(3)} HTTP/1.1")),
            2 => Join(Bytes($"GET {route} HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: 1"), junk, Bytes("\r\nConnection: close\r\n\r\n")),
            3 => Bytes(Head($"GET {route} HTTP/1.1", "Last-Event-ID: 1\0\r\n")),
            4 => Bytes(Head($"GET {route} HTTP/1.1", Pick(["Last Event ID: 1\r\n", "Last-Event-ID 1\r\n", " Folded: x\r\n", ": x\r\n", "X-(y): 1\r\n"]))),
            5 => Bytes(Head($"GET {route} HTTP/1.1", string.Concat(Enumerable.Range(0, random.Next(101, 300)).Select(i => $"X-H{i}: {i}\r\n")))),
            6 => Bytes(Head($"GET {route} HTTP/1.1", $"X-Large: {new string('x', random.Next(33_000, 60_000))}\r\n")),
            7 => Bytes(Head($"GET {route} HTTP/1.1", $"Last-Event-ID: {new string('9', random.Next(33_000, 50_000))}\r\n")),
            8 => Bytes(Head($"GET {route}?limit={new string('1', random.Next(8_300, 20_000))} HTTP/1.1")),
            9 => Bytes($"GET {route} HTTP/1.1\r\nConnection: close\r\n\r\n"),
            10 => Bytes(Head($"GET {route} HTTP/1.1", "Host: 127.0.0.2\r\n")),
            11 => Bytes(Head($"GET /tasks/{Pick(["%00", "1%00", "%00%00"])} HTTP/1.1")),
            _ => Bytes(Head(Pick([$"G\u0001T {route} HTTP/1.1", $"GET {route}\u007f HTTP/1.1", $"GET  {route} HTTP/1.1", $"GET {route}", $"GET http://elsewhere{route} HTTP/1.1"]))),
        };
    }

    private T Pick<T>(T[] items) => items[random.Next(items.Length)];
}
