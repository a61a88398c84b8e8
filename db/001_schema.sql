-- 001_schema.sql - readings (time-partitioned), rejects, devices, NOTIFY triggers.
--
-- Applied by `sensorpipe migrate` inside one transaction, under an advisory lock.
-- Partitioning: a TimescaleDB hypertable when the extension can be created,
-- otherwise native daily range partitions made ahead of time by
-- sensorpipe_maintain() (called by the ingest at start and every hour).

CREATE SEQUENCE readings_id_seq AS bigint;

DO $$
BEGIN
    -- TimescaleDB must be in shared_preload_libraries: without it CREATE EXTENSION
    -- ends the session (FATAL), which no exception handler can catch.
    -- Preloaded, its loader defines the setting timescaledb.disable_load, listed
    -- in pg_settings only then (a placeholder from SET or postgresql.conf is not).
    -- pg_settings is readable by any role, unlike current_setting(
    -- 'shared_preload_libraries'), which needs superuser or pg_read_all_settings.
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND EXISTS (SELECT 1 FROM pg_settings WHERE name = 'timescaledb.disable_load') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'timescaledb is available but could not be created (%); using native partitions', SQLERRM;
        END;
    END IF;

    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        CREATE TABLE readings (
            id    bigint NOT NULL DEFAULT nextval('readings_id_seq'),
            ts    timestamptz NOT NULL DEFAULT now(),
            topic text NOT NULL,
            value double precision NOT NULL
        );
        PERFORM create_hypertable('readings', 'ts', chunk_time_interval => interval '1 day');
    ELSE
        CREATE TABLE readings (
            id    bigint NOT NULL DEFAULT nextval('readings_id_seq'),
            ts    timestamptz NOT NULL DEFAULT now(),
            topic text NOT NULL,
            value double precision NOT NULL
        ) PARTITION BY RANGE (ts);
        -- catches timestamps outside the partitions made ahead (far past or future)
        CREATE TABLE readings_default PARTITION OF readings DEFAULT;
    END IF;
END
$$;

ALTER SEQUENCE readings_id_seq OWNED BY readings.id;
CREATE INDEX readings_id_idx ON readings (id);
CREATE INDEX readings_topic_ts_idx ON readings (topic, ts DESC);

-- Settings of this installation (retention, partitions ahead).
CREATE TABLE sensorpipe_settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO sensorpipe_settings VALUES ('retention_days', '0'), ('partitions_ahead_days', '7');

-- Payloads the ingest refused, with the reason, kept for an operator to look at.
CREATE TABLE rejects (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    reason      text NOT NULL
);
CREATE INDEX rejects_received_at_idx ON rejects (received_at);

-- Device presence from <device>/status (online on connect, offline as last will).
CREATE TABLE devices (
    device     text PRIMARY KEY,
    online     boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Serialise writers of readings for the length of their transaction, so ids
-- become visible in increasing order: a reader that has seen id N has seen
-- every committed id below N. This is what makes `?after=<id>` resume without
-- a gap. Commits that NOTIFY are serialised by PostgreSQL anyway.
CREATE FUNCTION readings_serialise_writers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7346120001);  -- 'sensorpipe readings writers'
    RETURN NULL;
END
$$;

CREATE TRIGGER readings_serialise
    BEFORE INSERT ON readings
    FOR EACH STATEMENT EXECUTE FUNCTION readings_serialise_writers();

-- One NOTIFY per INSERT/COPY statement (not per row) on channel new_reading.
-- Payload: {"first":<min id>,"last":<max id>,"count":<rows>} - the listener
-- reads the rows itself (`id > last id it has seen`).
CREATE FUNCTION readings_notify_statement() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    lo bigint;
    hi bigint;
    n  bigint;
BEGIN
    SELECT min(id), max(id), count(*) INTO lo, hi, n FROM new_rows;
    IF n > 0 THEN
        PERFORM pg_notify('new_reading',
            json_build_object('first', lo, 'last', hi, 'count', n)::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER readings_notify
    AFTER INSERT ON readings
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION readings_notify_statement();

-- Presence changes on channel device_presence: {"device":"pico","online":true,"ts":"..."}
CREATE FUNCTION devices_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('device_presence',
        json_build_object('device', NEW.device, 'online', NEW.online,
                          'ts', to_char(NEW.updated_at AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'))::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER devices_notify
    AFTER INSERT OR UPDATE ON devices
    FOR EACH ROW EXECUTE FUNCTION devices_notify();

-- Partition upkeep: create daily partitions from yesterday to N days ahead and
-- drop those older than the retention (0 = keep everything). Idempotent.
CREATE FUNCTION sensorpipe_maintain() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    ahead     int := (SELECT value::int FROM sensorpipe_settings WHERE key = 'partitions_ahead_days');
    keep_days int := (SELECT value::int FROM sensorpipe_settings WHERE key = 'retention_days');
    day       date;
    part      record;
    made      int := 0;
    dropped   int := 0;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        IF keep_days > 0 THEN
            EXECUTE format('SELECT count(*) FROM drop_chunks(%L, older_than => now() - %L::interval)',
                           'readings', keep_days || ' days') INTO dropped;
        END IF;
        RETURN format('timescaledb: dropped %s chunks', dropped);
    END IF;

    FOR i IN -1 .. ahead LOOP
        day := (now() AT TIME ZONE 'UTC')::date + i;
        IF to_regclass(format('readings_%s', to_char(day, 'YYYYMMDD'))) IS NULL THEN
            -- rows already in the default partition for that day would block it: skip then
            IF NOT EXISTS (SELECT 1 FROM readings_default
                           WHERE ts >= day::timestamp AT TIME ZONE 'UTC'
                             AND ts < (day + 1)::timestamp AT TIME ZONE 'UTC') THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF readings FOR VALUES FROM (%L) TO (%L)',
                               format('readings_%s', to_char(day, 'YYYYMMDD')),
                               (day::timestamp AT TIME ZONE 'UTC'),
                               ((day + 1)::timestamp AT TIME ZONE 'UTC'));
                made := made + 1;
            END IF;
        END IF;
    END LOOP;

    IF keep_days > 0 THEN
        FOR part IN
            SELECT c.relname FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'readings'::regclass
              AND c.relname ~ '^readings_[0-9]{8}$'
              AND to_date(substr(c.relname, 10), 'YYYYMMDD') < (now() AT TIME ZONE 'UTC')::date - keep_days
        LOOP
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := dropped + 1;
        END LOOP;
    END IF;
    RETURN format('partitions: %s created, %s dropped', made, dropped);
END
$$;

SELECT sensorpipe_maintain();
