namespace TaskStream.Grains.Data;

/// <summary>
/// The store's schema, seed and upgrade SQL, per store. Both stores have the same shape:
/// <list type="bullet">
/// <item><c>tasks</c>: the seed's columns (<c>id</c>, <c>title</c>, <c>description</c>, <c>completed</c>) and
/// <c>seq</c>, the sequence number of the task's latest change.</item>
/// <item><c>task_changes</c>: the change log, one row per change: the task as the change left it (all NULL for a
/// deletion) and whether it was completed before (NULL for a creation). Follow streams read it.</item>
/// <item><c>task_feed</c>: one row: <c>head</c>, the newest change's sequence number; <c>horizon</c>, the
/// newest one that may be gone from the log; <c>retain</c>, how many changes the log keeps.</item>
/// </list>
/// Triggers on <c>tasks</c> give every insert, real update and delete — ours or any other writer's — the next
/// sequence number, log it and prune the log. The next number is taken by updating the one <c>task_feed</c>
/// row, whose lock is held until commit, so numbers are taken in commit order: no reader can see change S+1
/// before S is committed. (SQLite: its one writer at a time; PostgreSQL: the row lock, taken by a statement
/// trigger before any task row is locked, so two writers cannot deadlock over it.)
/// </summary>
internal sealed record TaskSchema(
    string CreateTasksSql,
    string FeedSql,
    string StartIdsSql,
    string UpgradeFromV1Sql,
    string UpgradeFromV2Sql,
    string TableExistsSql,
    string ColumnExistsSql,
    string? PrepareSql,
    string? InitLockSql)
{
    /// <summary>The PostgreSQL channel a change is announced on (with its sequence number) when it commits.</summary>
    public const string NotifyChannel = "taskstream_changes";

    public const string FeedExistsSql = "SELECT COUNT(*) FROM task_feed";

    // The seed's five tasks, then tasks 6..N (deterministic text, every third completed). A fresh store's
    // history is its creation: task N was created by change N, and the log says so (as far as it keeps).
    public const string SeedSql = """
        INSERT INTO tasks (id, title, description, completed, seq) VALUES
            (1, 'Implement SSE streaming', 'Add server-sent events to API', FALSE, 1),
            (2, 'Database integration', 'Connect SQLAlchemy with SSE', TRUE, 2),
            (3, 'Add filtering', 'Support query parameters in streams', FALSE, 3),
            (4, 'Write documentation', 'Document best practices', TRUE, 4),
            (5, 'Performance testing', 'Test with large datasets', FALSE, 5);
        """;

    public const string GenerateSql = """
        WITH RECURSIVE n(id) AS (SELECT 6 UNION ALL SELECT id + 1 FROM n WHERE id < @Count)
        INSERT INTO tasks (id, title, description, completed, seq)
        SELECT id, 'Task ' || id, 'Generated sample task number ' || id, (id % 3 = 0), id FROM n;
        """;

    /// <summary>Logs the seeded tasks' creations (the newest <c>@Retain</c>) and starts the feed at the last one.</summary>
    public const string SeedFeedSql = """
        INSERT INTO task_changes (seq, task_id, title, description, completed, was_completed)
        SELECT seq, id, title, description, completed, NULL FROM tasks WHERE seq > @Count - @Retain;
        INSERT INTO task_feed (id, head, horizon, retain) VALUES (1, @Count, CASE WHEN @Count > @Retain THEN @Count - @Retain ELSE 0 END, @Retain);
        """;

    /// <summary>An upgraded store's history is unknown: its log starts empty at its newest change.</summary>
    public const string UpgradedFeedSql = "INSERT INTO task_feed (id, head, horizon, retain) VALUES (1, @Head, @Head, @Retain)";

    /// <summary>Applies this silo's retention: a lower one prunes the log now; writes keep it there.</summary>
    public const string RetainSql = """
        UPDATE task_feed SET retain = @Retain, horizon = CASE WHEN head - @Retain > horizon THEN head - @Retain ELSE horizon END;
        DELETE FROM task_changes WHERE seq <= (SELECT horizon FROM task_feed);
        """;

    private const string SqliteTasksSql = """
        CREATE TABLE tasks (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            title       TEXT    NOT NULL,
            description TEXT    NOT NULL DEFAULT '',
            completed   INTEGER NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
            seq         INTEGER NOT NULL DEFAULT 0
        );
        """;

    public static readonly TaskSchema Sqlite = new(
        CreateTasksSql: SqliteTasksSql,
        // AFTER triggers run per row, at once, inside the writer's transaction. The UPDATE of `seq` they make
        // does not fire the update trigger, which watches the seed's columns only.
        FeedSql: """
            CREATE INDEX ix_tasks_completed_id ON tasks (completed, id);
            CREATE INDEX ix_tasks_seq ON tasks (seq);
            CREATE TABLE task_feed (
                id      INTEGER PRIMARY KEY CHECK (id = 1),
                head    INTEGER NOT NULL,
                horizon INTEGER NOT NULL,
                retain  INTEGER NOT NULL CHECK (retain > 0)
            );
            CREATE TABLE task_changes (
                seq           INTEGER PRIMARY KEY,
                task_id       INTEGER NOT NULL,
                title         TEXT,
                description   TEXT,
                completed     INTEGER,
                was_completed INTEGER
            );
            CREATE TRIGGER tasks_inserted AFTER INSERT ON tasks BEGIN
                UPDATE task_feed SET head = head + 1, horizon = MAX(horizon, head + 1 - retain);
                DELETE FROM task_changes WHERE seq = (SELECT head - retain FROM task_feed);
                UPDATE tasks SET seq = (SELECT head FROM task_feed) WHERE id = NEW.id;
                INSERT INTO task_changes (seq, task_id, title, description, completed, was_completed)
                    SELECT head, NEW.id, NEW.title, NEW.description, NEW.completed, NULL FROM task_feed;
            END;
            CREATE TRIGGER tasks_updated AFTER UPDATE OF title, description, completed ON tasks
            WHEN OLD.title IS NOT NEW.title OR OLD.description IS NOT NEW.description OR OLD.completed IS NOT NEW.completed
            BEGIN
                UPDATE task_feed SET head = head + 1, horizon = MAX(horizon, head + 1 - retain);
                DELETE FROM task_changes WHERE seq = (SELECT head - retain FROM task_feed);
                UPDATE tasks SET seq = (SELECT head FROM task_feed) WHERE id = NEW.id;
                INSERT INTO task_changes (seq, task_id, title, description, completed, was_completed)
                    SELECT head, NEW.id, NEW.title, NEW.description, NEW.completed, OLD.completed FROM task_feed;
            END;
            CREATE TRIGGER tasks_deleted AFTER DELETE ON tasks BEGIN
                UPDATE task_feed SET head = head + 1, horizon = MAX(horizon, head + 1 - retain);
                DELETE FROM task_changes WHERE seq = (SELECT head - retain FROM task_feed);
                INSERT INTO task_changes (seq, task_id, title, description, completed, was_completed)
                    SELECT head, OLD.id, NULL, NULL, NULL, OLD.completed FROM task_feed;
            END;
            CREATE TRIGGER tasks_id_fixed BEFORE UPDATE OF id ON tasks WHEN NEW.id IS NOT OLD.id BEGIN
                SELECT RAISE(ABORT, 'a task''s id cannot change');
            END;
            """,
        // AUTOINCREMENT never hands out an id again, even the highest one after it was deleted.
        StartIdsSql: """
            UPDATE sqlite_sequence SET seq = MAX(seq, @MaxId) WHERE name = 'tasks';
            INSERT INTO sqlite_sequence (name, seq) SELECT 'tasks', @MaxId WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'tasks');
            """,
        // SQLite cannot make a column AUTOINCREMENT in place: the table is rebuilt, in the same transaction.
        UpgradeFromV1Sql: "ALTER TABLE tasks RENAME TO tasks_before_upgrade;" + SqliteTasksSql + """
            INSERT INTO tasks (id, title, description, completed, seq) SELECT id, title, description, completed, id FROM tasks_before_upgrade;
            DROP TABLE tasks_before_upgrade;
            """,
        UpgradeFromV2Sql: "ALTER TABLE tasks RENAME TO tasks_before_upgrade;" + SqliteTasksSql + """
            INSERT INTO tasks (id, title, description, completed, seq) SELECT id, title, description, completed, seq FROM tasks_before_upgrade WHERE NOT deleted;
            DROP TABLE tasks_before_upgrade;
            """,
        TableExistsSql: "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = @Name",
        ColumnExistsSql: "SELECT COUNT(*) > 0 FROM pragma_table_info('tasks') WHERE name = @Name",
        PrepareSql: "PRAGMA journal_mode=WAL;",
        InitLockSql: null);

    public static readonly TaskSchema Postgres = new(
        CreateTasksSql: """
            CREATE TABLE tasks (
                id          BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                title       TEXT    NOT NULL,
                description TEXT    NOT NULL DEFAULT '',
                completed   BOOLEAN NOT NULL DEFAULT FALSE,
                seq         BIGINT  NOT NULL DEFAULT 0
            );
            """,
        // Row triggers run AFTER the row is written (a BEFORE trigger would log an INSERT that ON CONFLICT then
        // skips); the statement trigger takes the feed's row lock before the statement locks any task row.
        FeedSql: """
            CREATE INDEX ix_tasks_completed_id ON tasks (completed, id);
            CREATE INDEX ix_tasks_seq ON tasks (seq);
            CREATE TABLE task_feed (
                id      INTEGER PRIMARY KEY CHECK (id = 1),
                head    BIGINT  NOT NULL,
                horizon BIGINT  NOT NULL,
                retain  BIGINT  NOT NULL CHECK (retain > 0)
            );
            CREATE TABLE task_changes (
                seq           BIGINT PRIMARY KEY,
                task_id       BIGINT NOT NULL,
                title         TEXT,
                description   TEXT,
                completed     BOOLEAN,
                was_completed BOOLEAN
            );
            CREATE FUNCTION taskstream_lock_feed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM 1 FROM task_feed FOR NO KEY UPDATE;
                RETURN NULL;
            END $$;
            CREATE FUNCTION taskstream_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                change BIGINT;
                kept   BIGINT;
            BEGIN
                UPDATE task_feed SET head = head + 1, horizon = GREATEST(horizon, head + 1 - retain)
                    RETURNING head, retain INTO change, kept;
                DELETE FROM task_changes WHERE seq = change - kept;
                IF TG_OP = 'DELETE' THEN
                    INSERT INTO task_changes (seq, task_id, title, description, completed, was_completed)
                        VALUES (change, OLD.id, NULL, NULL, NULL, OLD.completed);
                ELSE
                    UPDATE tasks SET seq = change WHERE id = NEW.id;
                    INSERT INTO task_changes (seq, task_id, title, description, completed, was_completed)
                        VALUES (change, NEW.id, NEW.title, NEW.description, NEW.completed,
                                CASE WHEN TG_OP = 'UPDATE' THEN OLD.completed END);
                END IF;
                PERFORM pg_notify('taskstream_changes', change::text);
                RETURN NULL;
            END $$;
            CREATE FUNCTION taskstream_fixed_id() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'a task''s id cannot change';
            END $$;
            CREATE TRIGGER tasks_lock_feed BEFORE INSERT OR DELETE OR UPDATE OF title, description, completed ON tasks
                FOR EACH STATEMENT EXECUTE FUNCTION taskstream_lock_feed();
            CREATE TRIGGER tasks_inserted AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION taskstream_record_change();
            CREATE TRIGGER tasks_updated AFTER UPDATE OF title, description, completed ON tasks FOR EACH ROW
                WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.description IS DISTINCT FROM NEW.description
                      OR OLD.completed IS DISTINCT FROM NEW.completed)
                EXECUTE FUNCTION taskstream_record_change();
            CREATE TRIGGER tasks_deleted AFTER DELETE ON tasks FOR EACH ROW EXECUTE FUNCTION taskstream_record_change();
            CREATE TRIGGER tasks_id_fixed BEFORE UPDATE OF id ON tasks FOR EACH ROW
                WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION taskstream_fixed_id();
            """,
        StartIdsSql: "SELECT setval(pg_get_serial_sequence('tasks', 'id'), GREATEST(@MaxId, 1), @MaxId > 0)",
        UpgradeFromV1Sql: """
            DROP INDEX IF EXISTS ix_tasks_completed_id;
            ALTER TABLE tasks ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
            UPDATE tasks SET seq = id;
            ALTER TABLE tasks ALTER COLUMN description SET DEFAULT '', ALTER COLUMN completed SET DEFAULT FALSE,
                              ALTER COLUMN seq SET DEFAULT 0, ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY;
            """,
        UpgradeFromV2Sql: """
            DELETE FROM tasks WHERE deleted;
            DROP INDEX IF EXISTS ix_tasks_seq;
            DROP INDEX IF EXISTS ix_tasks_completed_id;
            ALTER TABLE tasks DROP COLUMN deleted, DROP COLUMN completed_seq;
            ALTER TABLE tasks ALTER COLUMN description SET DEFAULT '', ALTER COLUMN completed SET DEFAULT FALSE,
                              ALTER COLUMN seq SET DEFAULT 0, ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY;
            """,
        // A scan of the catalog under the statement's snapshot: to_regclass() answers from this session's
        // cache, which can still say "no such table" after another silo created it and released the lock.
        TableExistsSql: "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = @Name)",
        ColumnExistsSql: "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'tasks' AND column_name = @Name)",
        PrepareSql: null,
        InitLockSql: "SELECT pg_advisory_xact_lock(7271021)");
}
