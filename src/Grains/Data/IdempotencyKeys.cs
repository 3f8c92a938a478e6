using System.ComponentModel.DataAnnotations;
using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;

namespace TaskStream.Grains.Data;

/// <summary>
/// Idempotency keys, kept in the task store beside the tasks: each key is stored with its write's answer in the
/// write's own transaction (under the store's write lock, <see cref="TaskStore.WriteAsync"/>), so either both the
/// write and its key are committed or neither is, on every silo at once.
/// </summary>
internal sealed class IdempotencyKeys(IdempotencyOptions options)
{
    // One statement for both stores: SQLite gives BIGINT integer affinity. `body` is the task the write answered
    // with, as JSON (null for a delete or an absent task); `seq` its change (null for an absent task).
    public const string CreateSql = """
        CREATE TABLE IF NOT EXISTS idempotency_keys (
            scope           TEXT   NOT NULL,
            idempotency_key TEXT   NOT NULL,
            fingerprint     TEXT   NOT NULL,
            body            TEXT,
            seq             BIGINT,
            created_at      BIGINT NOT NULL,
            PRIMARY KEY (scope, idempotency_key)
        );
        CREATE INDEX IF NOT EXISTS ix_idempotency_keys_created_at ON idempotency_keys (created_at);
        """;

    // At most 1,000 expired keys per keyed write: far more than the one each adds, so the table keeps up, and a
    // burst of keys expiring together cannot make one write slow.
    private const string PurgeSql = """
        DELETE FROM idempotency_keys WHERE (scope, idempotency_key) IN
            (SELECT scope, idempotency_key FROM idempotency_keys WHERE created_at < @Cutoff ORDER BY created_at LIMIT 1000)
        """;

    private const string FindSql =
        "SELECT fingerprint, body, seq FROM idempotency_keys WHERE scope = @Scope AND idempotency_key = @Key AND created_at >= @Cutoff";

    // A row still there for this key has expired (FindSql did not see it) and is replaced.
    private const string SaveSql = """
        INSERT INTO idempotency_keys (scope, idempotency_key, fingerprint, body, seq, created_at)
        VALUES (@Scope, @Key, @Fingerprint, @Body, @Seq, @CreatedAt)
        ON CONFLICT (scope, idempotency_key) DO UPDATE SET
            fingerprint = excluded.fingerprint, body = excluded.body, seq = excluded.seq, created_at = excluded.created_at
        """;

    private readonly long _keepMs = options.KeepSeconds * 1000L;

    /// <summary>
    /// Runs <paramref name="run"/> (which makes <paramref name="write"/>) in <paramref name="transaction"/> unless
    /// <paramref name="key"/> is already kept: then answers what the key's write answered if it was this same write,
    /// or <see cref="WriteOutcome.KeyReused"/> if it was another, and writes nothing.
    /// </summary>
    public async Task<WriteAnswer> WriteOnceAsync(DbConnection connection, DbTransaction transaction, IdempotencyKey key, TaskWrite write,
        Func<Task<(TaskItem? Task, long? Seq)>> run)
    {
        var fingerprint = Fingerprint(write);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var cutoff = now - _keepMs;
        await connection.ExecuteAsync(PurgeSql, new { Cutoff = cutoff }, transaction);
        var kept = await connection.QuerySingleOrDefaultAsync<KeptAnswer>(FindSql, new { key.Scope, key.Key, Cutoff = cutoff }, transaction);
        if (kept is not null)
        {
            return kept.Fingerprint == fingerprint
                ? new WriteAnswer(WriteOutcome.Replayed, kept.Body is null ? null : JsonSerializer.Deserialize<TaskItem>(kept.Body, JsonSerializerOptions.Web), kept.Seq)
                : new WriteAnswer(WriteOutcome.KeyReused, null, null);
        }

        var (task, seq) = await run();
        var body = task is null ? null : JsonSerializer.Serialize(task, JsonSerializerOptions.Web);
        await connection.ExecuteAsync(SaveSql, new { key.Scope, key.Key, Fingerprint = fingerprint, Body = body, Seq = seq, CreatedAt = now }, transaction);
        return new WriteAnswer(WriteOutcome.Written, task, seq);
    }

    /// <summary>
    /// What the write is, as SHA-256: its kind, task id and fields, with a create's defaults filled in. So the same
    /// request sent again matches however its JSON is spaced or ordered, and any change of method, task or field does not.
    /// </summary>
    private static string Fingerprint(TaskWrite write) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            write.GetType().Name + " " + JsonSerializer.Serialize(write, write.GetType(), JsonSerializerOptions.Web))));

    private sealed record KeptAnswer(string Fingerprint, string? Body, long? Seq);
}

/// <summary>Settings under <c>TaskStream:Idempotency</c>.</summary>
public sealed class IdempotencyOptions
{
    public const string Section = "TaskStream:Idempotency";

    /// <summary>How long a write's idempotency key is kept, from its write: a retry within this time gets the first answer.</summary>
    [Range(1, 31_536_000)]
    public int KeepSeconds { get; set; } = 86_400;
}
