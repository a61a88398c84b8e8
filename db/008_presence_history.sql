-- 008_presence_history.sql - the history of device presence (online/offline changes), for the
-- device page of the dashboard (GET /api/presence) and the rejects route (GET /api/rejects).
--
--   presence_history  one row per presence update of `devices` (insert or update), written by
--                     the trigger devices_presence_history; `devices` keeps only the current state
--
-- Bounded twice, in the trigger itself (so it holds with no upkeep running):
--   - at most 1000 rows per device: an insert deletes that device's rows beyond the newest 1000
--   - the retention (sensorpipe_settings.retention_days > 0): an insert deletes every device's
--     rows older than the retention (whole UTC days, as for partitions and rejects, db/005),
--     through the index on ts, so nothing is scanned when nothing is old
-- Rows past the retention stay until the next presence change of any device.
--
-- The trigger function runs as the owner (SECURITY DEFINER with a fixed search_path, set by
-- sensorpipe_secure_history(), which db/006's sensorpipe_secure() runs): the ingest, which
-- updates `devices`, gets no privilege on presence_history. serve gets SELECT on it and on
-- rejects (the device page shows rejected payloads, docs/SECURITY.md).

CREATE TABLE IF NOT EXISTS presence_history (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device text NOT NULL,
    online boolean NOT NULL,
    ts     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS presence_history_device_ts_idx ON presence_history (device, ts);
CREATE INDEX IF NOT EXISTS presence_history_ts_idx ON presence_history (ts);

-- the rejects of one device, newest first (GET /api/rejects?device=): the topic's first level
CREATE INDEX IF NOT EXISTS rejects_device_idx ON rejects (split_part(topic, '/', 1), id);

-- what is there already: one row per device, its current state
INSERT INTO presence_history (device, online, ts)
SELECT d.device, d.online, d.updated_at FROM devices d
WHERE NOT EXISTS (SELECT 1 FROM presence_history h WHERE h.device = d.device);

CREATE OR REPLACE FUNCTION presence_history_add() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    keep_days int := coalesce((SELECT value::int FROM sensorpipe_settings WHERE key = 'retention_days'), 0);
    cut       bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.online = NEW.online AND OLD.updated_at = NEW.updated_at THEN
        RETURN NULL;  -- nothing new
    END IF;
    INSERT INTO presence_history (device, online, ts) VALUES (NEW.device, NEW.online, NEW.updated_at);
    SELECT id INTO cut FROM presence_history WHERE device = NEW.device
        ORDER BY ts DESC, id DESC OFFSET 1000 LIMIT 1;
    IF cut IS NOT NULL THEN
        DELETE FROM presence_history WHERE device = NEW.device AND id <= cut;
    END IF;
    IF keep_days > 0 THEN
        DELETE FROM presence_history
            WHERE ts < (((now() AT TIME ZONE 'UTC')::date - keep_days)::timestamp AT TIME ZONE 'UTC');
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS devices_presence_history ON devices;
CREATE TRIGGER devices_presence_history
    AFTER INSERT OR UPDATE ON devices
    FOR EACH ROW EXECUTE FUNCTION presence_history_add();

-- db/006's sensorpipe_secure() runs this after its own grants, at this migration and after every later one.
CREATE OR REPLACE FUNCTION sensorpipe_secure_history() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER FUNCTION presence_history_add() SECURITY DEFINER SET search_path = %s, pg_temp',
                   quote_ident(current_schema()));
    GRANT SELECT ON presence_history TO sensorpipe_serve;
    GRANT SELECT ON rejects TO sensorpipe_serve;
END
$$;
