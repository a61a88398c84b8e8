-- 002_hourly_rollup.sql - readings_hourly: count, sum, min and max of every (hour, topic),
-- kept up to date by a statement-level trigger, so bucket queries of an hour or more read
-- a few rows per topic and hour instead of every reading (docs/ARCHITECTURE.md, "Rollup").
--
-- Applied by `sensorpipe migrate` in one transaction, on an empty or a populated database:
-- the rollup is backfilled from the readings already stored. Every statement can run again
-- (IF NOT EXISTS, OR REPLACE), so the file is idempotent as well as versioned.
--
-- Plain PostgreSQL only. On the TimescaleDB path (detected as 001 does: the extension is
-- installed in this database) no trigger is made, the setting hourly_rollup is 'off' and
-- /api/readings answers every bucket from readings (docs/TIMESCALEDB.md).
--
-- What the rollup does not follow: UPDATE or DELETE of readings by hand, rows written with
-- triggers disabled (session_replication_role = replica) and rows inserted into a partition
-- directly instead of into readings. After such a change call
-- sensorpipe_rollup_rebuild(from, to) for the hours concerned.

CREATE TABLE IF NOT EXISTS readings_hourly (
    bucket timestamptz NOT NULL,        -- start of the hour: date_bin('1 hour', ts, 'epoch')
    topic  text NOT NULL,
    n      bigint NOT NULL,             -- readings in the hour
    sum    double precision NOT NULL,   -- avg = sum / n
    min    double precision NOT NULL,
    max    double precision NOT NULL,
    PRIMARY KEY (bucket, topic)
);

-- Add one statement's rows to the rollup: one grouped upsert (a COPY of 10,000 rows is a
-- few hundred rollup rows). Writers of readings hold the advisory lock taken by the BEFORE
-- STATEMENT trigger readings_serialise (001) until they commit, and every AFTER trigger
-- runs after it, so two upserts of the same (bucket, topic) never race.
CREATE OR REPLACE FUNCTION readings_hourly_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO readings_hourly AS h (bucket, topic, n, sum, min, max)
    SELECT date_bin('1 hour', ts, timestamptz 'epoch'), topic, count(*), sum(value), min(value), max(value)
    FROM new_rows GROUP BY 1, 2
    ON CONFLICT (bucket, topic) DO UPDATE
    SET n = h.n + EXCLUDED.n, sum = h.sum + EXCLUDED.sum,
        min = least(h.min, EXCLUDED.min), max = greatest(h.max, EXCLUDED.max);
    RETURN NULL;
END
$$;

-- Recompute the rollup of every hour that overlaps [from_ts, to_ts) from readings (NULL =
-- unbounded); returns the rollup rows written. Takes the writers' lock, so no insert lands
-- between the delete and the recount. For bulk loads made with triggers off, and repairs.
CREATE OR REPLACE FUNCTION sensorpipe_rollup_rebuild(from_ts timestamptz DEFAULT NULL,
                                                     to_ts timestamptz DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := CASE WHEN isfinite(from_ts) THEN date_bin('1 hour', from_ts, timestamptz 'epoch')
                           ELSE '-infinity' END;
    hi timestamptz := CASE WHEN isfinite(to_ts)
                           THEN date_bin('1 hour', to_ts - interval '1 microsecond', timestamptz 'epoch') + interval '1 hour'
                           ELSE 'infinity' END;
    written bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7346120001);  -- the writers' lock of readings_serialise_writers()
    DELETE FROM readings_hourly WHERE bucket >= lo AND bucket < hi;
    INSERT INTO readings_hourly (bucket, topic, n, sum, min, max)
    SELECT date_bin('1 hour', ts, timestamptz 'epoch'), topic, count(*), sum(value), min(value), max(value)
    FROM readings WHERE ts >= lo AND ts < hi GROUP BY 1, 2;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

-- 'on' when the trigger maintains readings_hourly; /api/readings reads the rollup only then.
INSERT INTO sensorpipe_settings (key, value) VALUES ('hourly_rollup', 'off') ON CONFLICT (key) DO NOTHING;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        -- hypertables: no transition-table trigger; the API falls back to raw rows
        UPDATE sensorpipe_settings SET value = 'off' WHERE key = 'hourly_rollup';
        RETURN;
    END IF;
    -- A block range index on ts: the partial first and last hour of a bucket query read
    -- raw rows by time alone, which (topic, ts DESC) cannot serve without a whole scan.
    -- Rows arrive in time order, so a BRIN index is tiny, nearly free to maintain and
    -- selective. (A hypertable has its own index on ts.)
    CREATE INDEX IF NOT EXISTS readings_ts_brin_idx ON readings USING brin (ts) WITH (autosummarize = on);
    -- CREATE TRIGGER locks readings against writers until this migration commits, so the
    -- backfill below sees every row committed before and the trigger every row after.
    DROP TRIGGER IF EXISTS readings_hourly_add ON readings;
    CREATE TRIGGER readings_hourly_add
        AFTER INSERT ON readings
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION readings_hourly_add();
    PERFORM sensorpipe_rollup_rebuild(NULL, NULL);
    UPDATE sensorpipe_settings SET value = 'on' WHERE key = 'hourly_rollup';
END
$$;

-- Retention: 001's sensorpipe_maintain() becomes sensorpipe_maintain_partitions(), and
-- sensorpipe_maintain() runs it, then deletes the rollup rows of the days it dropped:
-- partitions (and TimescaleDB chunks) older than retention_days whole UTC days before today.
DO $$
BEGIN
    IF to_regprocedure('sensorpipe_maintain_partitions()') IS NULL THEN
        ALTER FUNCTION sensorpipe_maintain() RENAME TO sensorpipe_maintain_partitions;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION sensorpipe_maintain() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    keep_days int := (SELECT value::int FROM sensorpipe_settings WHERE key = 'retention_days');
    parts     text := sensorpipe_maintain_partitions();
    deleted   bigint := 0;
BEGIN
    IF keep_days > 0 THEN
        DELETE FROM readings_hourly
        WHERE bucket < (((now() AT TIME ZONE 'UTC')::date - keep_days)::timestamp AT TIME ZONE 'UTC');
        GET DIAGNOSTICS deleted = ROW_COUNT;
    END IF;
    RETURN format('%s; rollup: %s hourly rows deleted', parts, deleted);
END
$$;
