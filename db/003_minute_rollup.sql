-- 003_minute_rollup.sql - readings_minutely: count, sum, min and max of every (minute, topic),
-- kept like readings_hourly (002) by a statement-level trigger, so a bucket query whose range
-- does not start or end on an hour reads the whole minutes of its partial first and last hour
-- from here and raw rows only for at most two partial minutes (docs/ARCHITECTURE.md,
-- "The hourly rollup").
--
-- Applied by `sensorpipe migrate` in one transaction, on an empty or a populated database:
-- the minutes are backfilled from the readings already stored. Every statement can run again.
-- This file replaces 002's sensorpipe_rollup_rebuild() and sensorpipe_maintain() with versions
-- that handle both levels: run 002 by hand again and you must run this file after it.
--
-- Plain PostgreSQL only, as 002: on the TimescaleDB path no trigger is made and the setting
-- minute_rollup is 'off' (docs/TIMESCALEDB.md). Not followed, as for 002: UPDATE or DELETE by
-- hand, rows written with triggers off, rows inserted into a partition directly; after such a
-- change call sensorpipe_rollup_rebuild(from, to), which now rebuilds both levels.

CREATE TABLE IF NOT EXISTS readings_minutely (
    bucket timestamptz NOT NULL,        -- start of the minute: date_bin('1 minute', ts, 'epoch')
    topic  text NOT NULL,
    n      bigint NOT NULL,             -- readings in the minute
    sum    double precision NOT NULL,   -- avg = sum / n
    min    double precision NOT NULL,
    max    double precision NOT NULL,
    PRIMARY KEY (bucket, topic)
);

-- Add one statement's rows to the minute rollup: one grouped upsert, as readings_hourly_add()
-- does for hours, under the same writers' lock (readings_serialise, 001), so upserts of one
-- (bucket, topic) never race.
CREATE OR REPLACE FUNCTION readings_minutely_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO readings_minutely AS m (bucket, topic, n, sum, min, max)
    SELECT date_bin('1 minute', ts, timestamptz 'epoch'), topic, count(*), sum(value), min(value), max(value)
    FROM new_rows GROUP BY 1, 2
    ON CONFLICT (bucket, topic) DO UPDATE
    SET n = m.n + EXCLUDED.n, sum = m.sum + EXCLUDED.sum,
        min = least(m.min, EXCLUDED.min), max = greatest(m.max, EXCLUDED.max);
    RETURN NULL;
END
$$;

-- Recompute both rollups for every hour that overlaps [from_ts, to_ts) (NULL = unbounded):
-- one pass over readings into readings_minutely, then readings_hourly from those minutes.
-- Returns the hourly rows written (as 002's version did). Takes the writers' lock, so no
-- insert lands between the delete and the recount.
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
    DELETE FROM readings_minutely WHERE bucket >= lo AND bucket < hi;
    DELETE FROM readings_hourly WHERE bucket >= lo AND bucket < hi;
    INSERT INTO readings_minutely (bucket, topic, n, sum, min, max)
    SELECT date_bin('1 minute', ts, timestamptz 'epoch'), topic, count(*), sum(value), min(value), max(value)
    FROM readings WHERE ts >= lo AND ts < hi GROUP BY 1, 2;
    -- an hour is its 60 minutes; lo and hi are on hours, so every minute read is whole
    INSERT INTO readings_hourly (bucket, topic, n, sum, min, max)
    SELECT date_bin('1 hour', bucket, timestamptz 'epoch'), topic, sum(n), sum(sum), min(min), max(max)
    FROM readings_minutely WHERE bucket >= lo AND bucket < hi GROUP BY 1, 2;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

-- 'on' when the trigger maintains readings_minutely; /api/readings reads it only then.
INSERT INTO sensorpipe_settings (key, value) VALUES ('minute_rollup', 'off') ON CONFLICT (key) DO NOTHING;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        -- hypertables: no transition-table trigger; the API falls back to raw rows
        UPDATE sensorpipe_settings SET value = 'off' WHERE key = 'minute_rollup';
        RETURN;
    END IF;
    -- CREATE TRIGGER locks readings against writers until this migration commits, so the
    -- backfill below sees every row committed before and the trigger every row after.
    DROP TRIGGER IF EXISTS readings_minutely_add ON readings;
    CREATE TRIGGER readings_minutely_add
        AFTER INSERT ON readings
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION readings_minutely_add();
    PERFORM sensorpipe_rollup_rebuild(NULL, NULL);
    UPDATE sensorpipe_settings SET value = 'on' WHERE key = 'minute_rollup';
END
$$;

-- Retention: as 002's, and the minute rows of the days dropped go too.
CREATE OR REPLACE FUNCTION sensorpipe_maintain() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    keep_days int := (SELECT value::int FROM sensorpipe_settings WHERE key = 'retention_days');
    parts     text := sensorpipe_maintain_partitions();
    since     timestamptz := (((now() AT TIME ZONE 'UTC')::date - keep_days)::timestamp AT TIME ZONE 'UTC');
    hourly    bigint := 0;
    minutely  bigint := 0;
BEGIN
    IF keep_days > 0 THEN
        DELETE FROM readings_hourly WHERE bucket < since;
        GET DIAGNOSTICS hourly = ROW_COUNT;
        DELETE FROM readings_minutely WHERE bucket < since;
        GET DIAGNOSTICS minutely = ROW_COUNT;
    END IF;
    RETURN format('%s; rollup: %s hourly rows deleted, %s minutely rows deleted', parts, hourly, minutely);
END
$$;
