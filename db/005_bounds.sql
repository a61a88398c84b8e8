-- 005_bounds.sql - what the store holds is bounded: readings.value within ±1e15 (so finite), and
-- a retention for rejects, devices and readings_default as for readings (docs/SECURITY.md, "Bounds
-- on what a device may say").
--
-- Any writer may insert into readings (psql too), so the value bound the ingest applies
-- (src/core/payload.h, PAYLOAD_VALUE_MAX) is also a CHECK constraint here. Within it no stored
-- value can make a sum, avg() (which sums squares too) or a rollup's sum overflow: before it, one
-- reading of 1e160 made every bucket query over its hour fail with "value out of range: overflow".
--
-- Applied by `sensorpipe migrate` in one transaction, on both paths (a partitioned table, or a
-- TimescaleDB hypertable: a CHECK on the parent reaches every partition or chunk, present and
-- future); every statement can run again. On a populated database:
--   1. rows already out of range are moved to rejects (reason below) and their rollup hours
--      recounted: one sequential scan of readings under the writers' lock (writers queue, readers
--      go on), like 002's backfill;
--   2. the constraint is added NOT VALID: no scan, new rows are checked from the commit on, but it
--      takes ACCESS EXCLUSIVE on readings and its partitions until this migration commits (readers
--      wait too, for what is left of it: step 3);
--   3. sensorpipe_maintain() (the ingest runs it at start and hourly, `migrate` every time)
--      validates it once: a second scan, but in its own transaction under SHARE UPDATE EXCLUSIVE,
--      so readers and writers go on. Until then pg_constraint.convalidated is false, which only
--      means PostgreSQL does not assume the bound for old rows (step 1 moved them all).
-- Validating inside this migration would make that second scan hold ACCESS EXCLUSIVE, blocking
-- every reader of readings (the API, the dashboards) for the length of a full scan.

-- 1 and 2: move what is out of range, then the constraint.
DO $$
DECLARE
    hours    timestamptz[];  -- the rollup hours of the rows moved
    infinite timestamptz[];  -- their ts when ±infinity: the trigger put those at bucket ±infinity
    h        timestamptz;
    level    record;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint
               WHERE conrelid = 'readings'::regclass AND conname = 'readings_value_bounded') THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(7346120001);  -- the writers' lock of readings_serialise_writers()
    -- NaN sorts above every number in PostgreSQL, so NOT (value <= 1e15) catches it with ±Infinity
    WITH moved AS (
        DELETE FROM readings WHERE NOT (value >= -1e15 AND value <= 1e15)
        RETURNING ts, topic, value
    ), kept AS (
        INSERT INTO rejects (topic, payload, reason)
        SELECT topic, convert_to(json_build_object('value', value, 'ts', ts)::text, 'UTF8'),
               'value out of range: more than 1e15 in magnitude or not finite (moved from readings by migration 005)'
        FROM moved
    )
    SELECT array_agg(DISTINCT date_bin('1 hour', ts, timestamptz 'epoch')) FILTER (WHERE isfinite(ts)),
           array_agg(DISTINCT ts) FILTER (WHERE NOT isfinite(ts))
    INTO hours, infinite FROM moved;
    IF (SELECT value FROM sensorpipe_settings WHERE key = 'hourly_rollup') = 'on' THEN
        FOREACH h IN ARRAY coalesce(hours, '{}') LOOP
            PERFORM sensorpipe_rollup_rebuild(h, h + interval '1 hour');
        END LOOP;
        -- no rebuild range reaches bucket ±infinity: recount those rows of each level here
        FOREACH h IN ARRAY coalesce(infinite, '{}') LOOP
            FOR level IN SELECT * FROM sensorpipe_rollup_levels() LOOP
                EXECUTE format('DELETE FROM %I WHERE bucket = $1', 'readings_' || level.name) USING h;
                EXECUTE format('INSERT INTO %I (bucket, topic, n, sum, min, max)
                                SELECT $1, topic, count(*), sum(value), min(value), max(value)
                                FROM readings WHERE ts = $1 GROUP BY topic', 'readings_' || level.name) USING h;
            END LOOP;
        END LOOP;
    END IF;
    ALTER TABLE readings ADD CONSTRAINT readings_value_bounded
        CHECK (value >= -1e15 AND value <= 1e15) NOT VALID;
END
$$;

-- Retention (retention_days > 0; whole UTC days, as for partitions): 004's upkeep, then
--   - readings_default (plain PostgreSQL): its rows older than the retention. They used to stay
--     (their day has no partition to drop); the ts window of the ingest keeps new ones out of the
--     future, but any writer can still put rows there.
--   - rejects: rows received before the retention. A device that sends garbage fills rejects at
--     the rate the broker lets it; this bounds how long it is kept.
--   - devices: offline devices whose last presence update is older than the retention. An online
--     device stays however old its update: it said online on connect and its will has not fired.
-- and, once, the validation of readings_value_bounded (step 3 above). Returns 004's summary with
-- "; retention: N default rows, N rejects, N devices deleted" and, on the call that validates,
-- "; value bound validated" (or "not validated (<error>)": maintenance goes on; new rows are
-- checked all the same).
CREATE OR REPLACE FUNCTION sensorpipe_maintain() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    keep_days int := (SELECT value::int FROM sensorpipe_settings WHERE key = 'retention_days');
    parts     text := sensorpipe_maintain_partitions();
    since     timestamptz := (((now() AT TIME ZONE 'UTC')::date - keep_days)::timestamp AT TIME ZONE 'UTC');
    level     record;
    deleted   bigint;
    report    text[] := '{}';
    n_default bigint := 0;
    n_rejects bigint := 0;
    n_devices bigint := 0;
    bound     text := '';
BEGIN
    FOR level IN SELECT * FROM sensorpipe_rollup_levels() ORDER BY grain DESC LOOP
        deleted := 0;
        IF keep_days > 0 THEN
            EXECUTE format('DELETE FROM %I WHERE bucket < $1', 'readings_' || level.name) USING since;
            GET DIAGNOSTICS deleted = ROW_COUNT;
        END IF;
        report := report || format('%s %s rows deleted', deleted, level.name);
    END LOOP;
    IF keep_days > 0 THEN
        IF to_regclass('readings_default') IS NOT NULL THEN
            DELETE FROM readings_default WHERE ts < since;
            GET DIAGNOSTICS n_default = ROW_COUNT;
        END IF;
        DELETE FROM rejects WHERE received_at < since;
        GET DIAGNOSTICS n_rejects = ROW_COUNT;
        DELETE FROM devices WHERE NOT online AND updated_at < since;
        GET DIAGNOSTICS n_devices = ROW_COUNT;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'readings'::regclass
               AND conname = 'readings_value_bounded' AND NOT convalidated) THEN
        BEGIN
            ALTER TABLE readings VALIDATE CONSTRAINT readings_value_bounded;
            bound := '; value bound validated';
        EXCEPTION WHEN OTHERS THEN
            bound := format('; value bound not validated (%s)', SQLERRM);
        END;
    END IF;
    RETURN format('%s; rollup: %s; retention: %s default rows, %s rejects, %s devices deleted%s',
                  parts, array_to_string(report, ', '), n_default, n_rejects, n_devices, bound);
END
$$;
