-- 009_notify_rows.sql - the new_reading NOTIFY of a small statement carries its rows.
--
-- 001's readings_notify_statement() sent {"first","last","count"} for every INSERT or COPY
-- statement, and every listener read the rows back (`id > last seen`): for a lone reading, one
-- more round trip to the database after the commit, on the path to every dashboard. Now a
-- statement of at most 16 rows whose payload stays within 4000 bytes (half of PostgreSQL's
-- 8000-byte NOTIFY limit) also sends them:
--   {"first":..,"last":..,"count":..,"rows":[[id, ts_us, "topic", value], ...]}
-- in id order, ts_us = microseconds since the epoch (exact: extract() is numeric). Larger
-- statements, and any with a ±infinity ts, send the id range alone, as before: any writer
-- still works, and the three fields every listener read are unchanged (docs/INTERFACES.md,
-- "NOTIFY channels"). serve appends carried rows to its ring without a query when their first
-- id follows its last one (src/serve/hub_feed.c); otherwise it fetches as before.
CREATE OR REPLACE FUNCTION readings_notify_statement() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    lo      bigint;
    hi      bigint;
    n       bigint;
    finite  boolean;
    payload text;
BEGIN
    SELECT min(id), max(id), count(*), bool_and(isfinite(ts)) INTO lo, hi, n, finite FROM new_rows;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    IF n <= 16 AND finite THEN
        SELECT json_build_object('first', lo, 'last', hi, 'count', n, 'rows',
                   json_agg(json_build_array(id, (extract(epoch FROM ts) * 1000000)::bigint, topic, value)
                            ORDER BY id))::text
            INTO payload FROM new_rows;
        IF octet_length(payload) <= 4000 THEN
            PERFORM pg_notify('new_reading', payload);
            RETURN NULL;
        END IF;
    END IF;
    PERFORM pg_notify('new_reading', json_build_object('first', lo, 'last', hi, 'count', n)::text);
    RETURN NULL;
END
$$;
