-- 011_rollup_catch_up.sql - the rollups (db/004: readings_minutely, readings_hourly) kept up after
-- the commit of readings instead of inside it.
--
-- Until now each level had an AFTER STATEMENT trigger with a transition table, readings_<level>_add,
-- that upserted every INSERT or COPY's rows into its level inside the writer's transaction: on the
-- path of every reading to the dashboards (0.17 ms of a 0.67 ms median at 1,000/s,
-- docs/BENCHMARKS.md, "What the rollup triggers cost on the path") and a hash aggregate and an
-- upsert per statement however small. Now:
--
--   sensorpipe_rollup_mark     one row: last_id, the highest id of readings every rollup kept holds
--   sensorpipe_rollup_catch_up(max_rows)
--                              adds the rows of readings above the mark (at most max_rows of them,
--                              NULL: all) to every level whose setting is 'on', moves the mark past
--                              them, in one transaction; returns how many rows it added. The ingest
--                              calls it about once a second on a connection of its own
--                              (src/ingest/rollup_keeper.c), so one grouped upsert covers the
--                              statements of a second.
--   /api/readings              adds the raw rows above the mark to what it reads from the rollups, in
--                              the same statement (one snapshot), so every answer still equals the raw
--                              query however far behind the catch-up is (src/serve/http_api.c).
--
-- Why "id above the mark" is exact: writers of readings hold the writers' lock (001's
-- readings_serialise) from before their first row to their commit, and ids come from one sequence,
-- so ids become visible in increasing order: once id N is visible, no row below N will appear
-- later (the guarantee `?after=<id>` already relies on). Rows written without that lock (triggers
-- off, session_replication_role = replica, or straight into a partition) are not covered, as
-- before: call sensorpipe_rollup_rebuild(from, to) after such a load.
--
-- sensorpipe_rollup_rebuild(from, to) (004) keeps its name and answer: it now takes the writers'
-- lock, catches up (or, for a rebuild of everything, moves the mark to the last row), then recounts
-- as before (004's function, renamed sensorpipe_rollup_recount).
--
-- The triggers are dropped; their functions readings_<level>_add() stay (unused: db/006's
-- sensorpipe_secure() names them). Running 004 again by hand makes the triggers again: run this
-- file after it, then sensorpipe_rollup_rebuild(NULL, NULL). Applied by `sensorpipe migrate` in one
-- transaction, on an empty or a populated database; every statement can run again. Both paths: on
-- TimescaleDB no level is 'on' (no rollup, as before) and the catch-up only moves the mark.

CREATE TABLE IF NOT EXISTS sensorpipe_rollup_mark (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_id  bigint NOT NULL  -- every row of readings with id <= last_id is in every level kept
);

-- The rows of readings above the mark, in id order, at most max_rows of them (NULL: all), added to
-- every level kept and the mark moved past them. The rows are read once, grouped at the finest
-- level kept, and each level is upserted from that (a coarser grain is a whole multiple of the
-- finer ones, as in sensorpipe_rollup_rebuild): one statement, so every level takes the same
-- rows; measured 90-100 ms for 100,000 rows (two reads, one per level: 100-107 ms). Rows of
-- (mark, top] cannot change after top is read (see above). The mark row is locked first: one
-- catch-up at a time, and a second waits and then sees the first's mark.
CREATE OR REPLACE FUNCTION sensorpipe_rollup_catch_up(max_rows bigint DEFAULT 100000) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    mark    bigint;
    top     bigint;
    added   bigint;
    level   record;
    fine    text;           -- the new rows, grouped at the finest level kept
    upserts text[] := '{}'; -- one per level kept, from fine
    sql     text;
BEGIN
    SELECT last_id INTO mark FROM sensorpipe_rollup_mark FOR UPDATE;
    SELECT max(id), count(*) INTO top, added
    FROM (SELECT id FROM readings WHERE id > mark ORDER BY id LIMIT max_rows) s;
    IF top IS NULL THEN
        RETURN 0;
    END IF;
    FOR level IN SELECT l.* FROM sensorpipe_rollup_levels() l
                 JOIN sensorpipe_settings s ON s.key = l.setting AND s.value = 'on' ORDER BY l.grain LOOP
        fine := coalesce(fine, format(
            'SELECT date_bin(%L::interval, ts, timestamptz ''epoch'') AS b, topic, count(*) AS n, sum(value) AS s,'
            ' min(value) AS lo, max(value) AS hi FROM readings WHERE id > $1 AND id <= $2 GROUP BY 1, 2', level.grain));
        upserts := upserts || format(
            'INSERT INTO %I AS r (bucket, topic, n, sum, min, max)'
            ' SELECT date_bin(%L::interval, b, timestamptz ''epoch''), topic, sum(n), sum(s), min(lo), max(hi) FROM fine'
            ' GROUP BY 1, 2 ON CONFLICT (bucket, topic) DO UPDATE SET n = r.n + EXCLUDED.n, sum = r.sum + EXCLUDED.sum,'
            ' min = least(r.min, EXCLUDED.min), max = greatest(r.max, EXCLUDED.max)', 'readings_' || level.name, level.grain);
    END LOOP;
    IF fine IS NOT NULL THEN
        sql := 'WITH fine AS MATERIALIZED (' || fine || ')';
        FOR i IN 1 .. cardinality(upserts) - 1 LOOP
            sql := sql || format(', up%s AS (%s)', i, upserts[i]);
        END LOOP;
        EXECUTE sql || ' ' || upserts[cardinality(upserts)] USING mark, top;
    END IF;
    UPDATE sensorpipe_rollup_mark SET last_id = top;
    RETURN added;
END
$$;

-- 004's rebuild becomes the recount; the rebuild of the same name wraps it.
DO $$
BEGIN
    IF to_regprocedure('sensorpipe_rollup_recount(timestamptz, timestamptz)') IS NULL THEN
        ALTER FUNCTION sensorpipe_rollup_rebuild(timestamptz, timestamptz) RENAME TO sensorpipe_rollup_recount;
    END IF;
END
$$;

-- Recount every level for the hours overlapping [from_ts, to_ts) (NULL = unbounded), as 004's
-- did, with the mark kept right: under the writers' lock (no write in flight), rows above the mark
-- outside the range are added first; a rebuild of everything moves the mark to the last row.
CREATE OR REPLACE FUNCTION sensorpipe_rollup_rebuild(from_ts timestamptz DEFAULT NULL,
                                                     to_ts timestamptz DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7346120001);  -- the writers' lock of readings_serialise_writers()
    IF NOT coalesce(isfinite(from_ts), false) AND NOT coalesce(isfinite(to_ts), false) THEN
        UPDATE sensorpipe_rollup_mark SET last_id = coalesce((SELECT max(id) FROM readings), 0);
    ELSE
        PERFORM sensorpipe_rollup_catch_up(NULL);
    END IF;
    RETURN sensorpipe_rollup_recount(from_ts, to_ts);
END
$$;

-- The triggers go, the mark starts at the last row they counted. DROP TRIGGER locks readings
-- against writers until this migration commits, so no row lands between the two.
DO $$
DECLARE
    level record;
BEGIN
    PERFORM pg_advisory_xact_lock(7346120001);
    FOR level IN SELECT * FROM sensorpipe_rollup_levels() LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON readings', 'readings_' || level.name || '_add');
    END LOOP;
    INSERT INTO sensorpipe_rollup_mark (last_id) VALUES (coalesce((SELECT max(id) FROM readings), 0))
    ON CONFLICT (only_row) DO NOTHING;
END
$$;

-- db/006's sensorpipe_secure() runs this after its own grants, at this migration and after every
-- later one: the catch-up runs as the owner (it writes the rollups, which the ingest may not) and
-- the ingest may call it; serve reads the mark.
CREATE OR REPLACE FUNCTION sensorpipe_secure_rollup_mark() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tsdb text := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                  WHERE e.extname = 'timescaledb');
BEGIN
    EXECUTE format('ALTER FUNCTION sensorpipe_rollup_catch_up(bigint) SECURITY DEFINER SET search_path = %s%s, pg_temp',
                   quote_ident(current_schema()),
                   CASE WHEN tsdb IS NOT NULL AND tsdb <> current_schema() THEN ', ' || quote_ident(tsdb) ELSE '' END);
    GRANT EXECUTE ON FUNCTION sensorpipe_rollup_catch_up(bigint) TO sensorpipe_ingest;
    GRANT SELECT ON sensorpipe_rollup_mark TO sensorpipe_serve;
END
$$;
