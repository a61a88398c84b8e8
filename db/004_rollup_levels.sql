-- 004_rollup_levels.sql - the rollups of 002 (hours) and 003 (minutes) defined once, for
-- any level (a table and its grain): the list of levels, one definition of a level (table,
-- trigger function, trigger), one rebuild and one retention step, in place of the same SQL
-- written out at two grains (docs/ARCHITECTURE.md, "The hourly rollup"). What the rollups
-- hold, and so every answer of /api/readings, is unchanged; so are the names of the tables,
-- triggers, functions and settings.
--
-- 002 and 003 stay as they shipped (an applied migration is never edited); on a database that
-- has them this file replaces their functions. Applied by `sensorpipe migrate` in one
-- transaction, on an empty or a populated database; every statement can run again. Running
-- 002 or 003 again by hand puts their own functions back: run the files after it, in order,
-- up to this one.
--
-- Plain PostgreSQL only, as 002 and 003: on the TimescaleDB path no trigger is made and the
-- settings hourly_rollup and minute_rollup stay 'off' (docs/TIMESCALEDB.md). Not followed, as
-- before: UPDATE or DELETE by hand, rows written with triggers off, rows inserted into a
-- partition directly; after such a change call sensorpipe_rollup_rebuild(from, to).

-- The levels, one row each: the table is readings_<name>, its buckets are
-- date_bin(grain, ts, 'epoch'), and setting is the key in sensorpipe_settings that says
-- whether its trigger keeps it. Each grain is a whole multiple of every finer one, so a
-- coarser level can be summed from the level below it (sensorpipe_rollup_rebuild).
CREATE OR REPLACE FUNCTION sensorpipe_rollup_levels()
RETURNS TABLE (name text, grain interval, setting text)
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('minutely', interval '1 minute', 'minute_rollup'),
           ('hourly', interval '1 hour', 'hourly_rollup')
$$;

-- Recompute every level for each bucket of the coarsest level (an hour) that overlaps
-- [from_ts, to_ts) (NULL = unbounded): one pass over readings into the finest level, then
-- each coarser level from the one below it (an hour is its 60 minutes). Returns the rows
-- written to the coarsest level (the hourly rows, as 002's and 003's versions did). Takes the
-- writers' lock, so no insert lands between a delete and its recount.
CREATE OR REPLACE FUNCTION sensorpipe_rollup_rebuild(from_ts timestamptz DEFAULT NULL,
                                                     to_ts timestamptz DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    top     interval := (SELECT max(grain) FROM sensorpipe_rollup_levels());
    lo      timestamptz := CASE WHEN isfinite(from_ts) THEN date_bin(top, from_ts, timestamptz 'epoch')
                                ELSE '-infinity' END;
    hi      timestamptz := CASE WHEN isfinite(to_ts)
                                THEN date_bin(top, to_ts - interval '1 microsecond', timestamptz 'epoch') + top
                                ELSE 'infinity' END;
    level   record;
    below   text;       -- the level just rebuilt; NULL: count from readings
    written bigint := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7346120001);  -- the writers' lock of readings_serialise_writers()
    FOR level IN SELECT * FROM sensorpipe_rollup_levels() ORDER BY grain LOOP
        EXECUTE format('DELETE FROM %I WHERE bucket >= $1 AND bucket < $2', 'readings_' || level.name)
        USING lo, hi;
        IF below IS NULL THEN
            EXECUTE format(
                'INSERT INTO %I (bucket, topic, n, sum, min, max)
                 SELECT date_bin($3, ts, timestamptz ''epoch''), topic, count(*), sum(value), min(value), max(value)
                 FROM readings WHERE ts >= $1 AND ts < $2 GROUP BY 1, 2', 'readings_' || level.name)
            USING lo, hi, level.grain;
        ELSE
            -- lo and hi are on buckets of the coarsest level, so every row read is whole
            EXECUTE format(
                'INSERT INTO %I (bucket, topic, n, sum, min, max)
                 SELECT date_bin($3, bucket, timestamptz ''epoch''), topic, sum(n), sum(sum), min(min), max(max)
                 FROM %I WHERE bucket >= $1 AND bucket < $2 GROUP BY 1, 2', 'readings_' || level.name, below)
            USING lo, hi, level.grain;
        END IF;
        GET DIAGNOSTICS written = ROW_COUNT;
        below := 'readings_' || level.name;
    END LOOP;
    RETURN written;
END
$$;

-- Retention: sensorpipe_maintain_partitions() (001's upkeep, renamed by 002), then the rows
-- of every level in the days it dropped; reported coarsest first, as 003's version did.
CREATE OR REPLACE FUNCTION sensorpipe_maintain() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    keep_days int := (SELECT value::int FROM sensorpipe_settings WHERE key = 'retention_days');
    parts     text := sensorpipe_maintain_partitions();
    since     timestamptz := (((now() AT TIME ZONE 'UTC')::date - keep_days)::timestamp AT TIME ZONE 'UTC');
    level     record;
    deleted   bigint;
    report    text[] := '{}';
BEGIN
    FOR level IN SELECT * FROM sensorpipe_rollup_levels() ORDER BY grain DESC LOOP
        deleted := 0;
        IF keep_days > 0 THEN
            EXECUTE format('DELETE FROM %I WHERE bucket < $1', 'readings_' || level.name) USING since;
            GET DIAGNOSTICS deleted = ROW_COUNT;
        END IF;
        report := report || format('%s %s rows deleted', deleted, level.name);
    END LOOP;
    RETURN format('%s; rollup: %s', parts, array_to_string(report, ', '));
END
$$;

-- Make one level on a database: its table (as 002 and 003 made theirs), its trigger function
-- readings_<name>_add() and, on plain PostgreSQL, its trigger, which keeps the name 002 or 003
-- gave it (triggers of one event fire in name order: readings_hourly_add,
-- readings_minutely_add, then 001's readings_notify). Returns true when it made the trigger:
-- rows stored before are then not in the table yet, and the caller rebuilds.
--
-- The trigger function adds one statement's rows to the level: one grouped upsert over the
-- transition table new_rows. Writers of readings hold the advisory lock taken by the BEFORE
-- STATEMENT trigger readings_serialise (001) until they commit, and every AFTER trigger runs
-- after it, so two upserts of the same (bucket, topic) never race. It is written out here
-- from one template, with the table and grain as constants, rather than built at every call:
-- the trigger runs on every ingest COPY, and static SQL keeps its plan for the session
-- (EXECUTE would plan it again per statement; docs/ARCHITECTURE.md, "The hourly rollup").
CREATE OR REPLACE FUNCTION sensorpipe_rollup_define(name text, grain interval) RETURNS boolean
LANGUAGE plpgsql AS $define$
DECLARE
    tbl  text := 'readings_' || name;
    trig text := 'readings_' || name || '_add';
BEGIN
    EXECUTE format($sql$
        CREATE TABLE IF NOT EXISTS %I (
            bucket timestamptz NOT NULL,        -- start of the bucket: date_bin(%L, ts, 'epoch')
            topic  text NOT NULL,
            n      bigint NOT NULL,             -- readings in the bucket
            sum    double precision NOT NULL,   -- avg = sum / n
            min    double precision NOT NULL,
            max    double precision NOT NULL,
            PRIMARY KEY (bucket, topic)
        )$sql$, tbl, grain);
    EXECUTE format($sql$
        CREATE OR REPLACE FUNCTION %I() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
        BEGIN
            -- made by sensorpipe_rollup_define (db/004_rollup_levels.sql)
            INSERT INTO %I AS r (bucket, topic, n, sum, min, max)
            SELECT date_bin(%L::interval, ts, timestamptz 'epoch'), topic, count(*), sum(value), min(value), max(value)
            FROM new_rows GROUP BY 1, 2
            ON CONFLICT (bucket, topic) DO UPDATE
            SET n = r.n + EXCLUDED.n, sum = r.sum + EXCLUDED.sum,
                min = least(r.min, EXCLUDED.min), max = greatest(r.max, EXCLUDED.max);
            RETURN NULL;
        END
        $fn$$sql$, trig, tbl, grain);
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN false;  -- hypertables: no transition-table trigger; the API answers from raw rows
    END IF;
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'readings'::regclass AND tgname = trig) THEN
        RETURN false;  -- it calls the function just replaced
    END IF;
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON readings REFERENCING NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION %I()', trig, trig);
    RETURN true;
END
$define$;

-- Every level: defined, its setting 'on' where its trigger keeps it ('off' on TimescaleDB,
-- which /api/readings reads to answer from raw rows), backfilled if its trigger is new. On a
-- database made by 001-003 this only replaces the two trigger functions with the same SQL.
-- CREATE TRIGGER locks readings against writers until this migration commits, so a backfill
-- sees every row committed before and the trigger every row after.
DO $$
DECLARE
    level record;
    made  boolean := false;
    plain boolean := NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
BEGIN
    FOR level IN SELECT * FROM sensorpipe_rollup_levels() ORDER BY grain LOOP
        made := sensorpipe_rollup_define(level.name, level.grain) OR made;
        INSERT INTO sensorpipe_settings (key, value) VALUES (level.setting, 'off') ON CONFLICT (key) DO NOTHING;
    END LOOP;
    IF made THEN
        PERFORM sensorpipe_rollup_rebuild(NULL, NULL);
    END IF;
    UPDATE sensorpipe_settings SET value = CASE WHEN plain THEN 'on' ELSE 'off' END
    WHERE key IN (SELECT setting FROM sensorpipe_rollup_levels());
END
$$;
