-- bench/history_load.sql - the "history at size" dataset of bench/history.sh (stage `history`
-- of `make bench`, docs/BENCHMARKS.md "History at size"), made inside PostgreSQL.
--
-- psql variables (-v): from_epoch, to_epoch (seconds, multiples of step), step (seconds between
-- two readings of one series), anchor_epoch (the end of the first build: where the spike and
-- the gap below are, so top-ups do not move them), id_base (ids are id_base + 1, 2, ...), fresh (true: a new
-- database, indexes dropped during the load and built after it; false: a top-up of a cached
-- dataset, indexes kept).
--
-- Rows: 100 devices dev000..dev099 x 3 topics (/temperature/dht22, /humidity/dht22,
-- /temperature/internal) = 300 series, one reading per series every `step` seconds in
-- [from_epoch, to_epoch), series s offset by s * step / 300 inside the step, inserted in time
-- order (the BRIN index on ts stays selective). Values are multiples of 1/4 (sums are exact in
-- any order, so the rollups compare with raw rows exactly): a daily wave per device, plus
--   * a spike: dev000/temperature/dht22 reads 80 for the 10 minutes from anchor - 3 days + 12 h
--     (only when that time is inside the range), something to zoom into;
--   * a gap: dev007 sends nothing for the 6 hours from anchor - 10 days (device offline).
-- The NOTIFY and writers' lock triggers are off during the insert (session_replication_role =
-- replica, as the owner); sensorpipe_rollup_rebuild() then builds readings_minutely and
-- readings_hourly (db/004_rollup_levels.sql) and moves the rollups' mark (db/011).
\set ON_ERROR_STOP 1
SET maintenance_work_mem = '256MB';
SET work_mem = '256MB'; -- the rebuild's grouping of a month of rows

-- daily partitions for every day of the range first (sensorpipe_maintain() makes only
-- yesterday to partitions_ahead_days ahead): rows must not land in readings_default
SELECT format('CREATE TABLE %I PARTITION OF readings FOR VALUES FROM (%L) TO (%L)',
              'readings_' || to_char(day, 'YYYYMMDD'),
              day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC')
FROM generate_series((to_timestamp(:from_epoch) AT TIME ZONE 'UTC')::date::timestamp,
                     (to_timestamp(:to_epoch) AT TIME ZONE 'UTC')::date::timestamp, interval '1 day') AS g(t),
     LATERAL (SELECT t::date AS day) d
WHERE to_regclass('readings_' || to_char(day, 'YYYYMMDD')) IS NULL \gexec

SET session_replication_role = replica;
\if :fresh
DROP INDEX readings_id_idx;
DROP INDEX readings_topic_ts_idx;
DROP INDEX readings_ts_brin_idx;
\endif

-- the 300 series (s = 3 * device + kind): topic, level and daily swing of the wave; joined by
-- hash on s, so rows come out in the order of g (time order)
INSERT INTO readings (id, ts, topic, value)
SELECT :id_base + 1 + g, to_timestamp(:from_epoch + sec), topic,
       CASE WHEN s = 0 AND :from_epoch + sec >= :anchor_epoch - 3 * 86400 + 43200
                 AND :from_epoch + sec < :anchor_epoch - 3 * 86400 + 43200 + 600 THEN 80
            ELSE round(4 * (base + swing * sin(2 * pi() * ((:from_epoch + sec) % 86400) / 86400 + phase))) / 4
       END
FROM (SELECT g, (g / 300) * :step + (g % 300) * (:step / 300.0) AS sec, (g % 300)::int AS k
      FROM generate_series(0::bigint, ((:to_epoch - :from_epoch) / :step) * 300 - 1) g) r
JOIN (SELECT x AS s, 'dev' || lpad((x / 3)::text, 3, '0')
                     || (ARRAY['/temperature/dht22', '/humidity/dht22', '/temperature/internal'])[1 + x % 3] AS topic,
             (ARRAY[21, 55, 34])[1 + x % 3] AS base, (ARRAY[6, 15, 3])[1 + x % 3] AS swing, (x / 3)::float8 AS phase
      FROM generate_series(0, 299) x) series ON series.s = r.k
WHERE NOT (s / 3 = 7 AND :from_epoch + sec >= :anchor_epoch - 10 * 86400
           AND :from_epoch + sec < :anchor_epoch - 10 * 86400 + 6 * 3600);
SELECT setval('readings_id_seq', greatest((SELECT last_value FROM readings_id_seq), (SELECT max(id) FROM readings)));

\if :fresh
CREATE INDEX readings_id_idx ON readings (id);
CREATE INDEX readings_topic_ts_idx ON readings (topic, ts DESC);
CREATE INDEX readings_ts_brin_idx ON readings USING brin (ts) WITH (autosummarize = on);
\endif
RESET session_replication_role;
ANALYZE readings;
-- the rollups: both levels for the hours of the range; on a fresh load their
-- primary keys are built after the rows, sorted (random-order inserts into a 13M-entry btree
-- cost more than the grouping)
-- (and db/010's topic indexes, when the schema has them)
SELECT to_regclass('readings_minutely_topic_idx') IS NOT NULL AS topic_idx \gset
\if :fresh
ALTER TABLE readings_minutely DROP CONSTRAINT readings_minutely_pkey;
ALTER TABLE readings_hourly DROP CONSTRAINT readings_hourly_pkey;
\if :topic_idx
DROP INDEX readings_minutely_topic_idx;
DROP INDEX readings_hourly_topic_idx;
\endif
\endif
-- a fresh load holds only the range: rebuilding everything moves the mark to the last row with
-- no catch-up (whose upsert needs the primary keys dropped above); a top-up catches up its rows
-- and recounts its range
\if :fresh
SELECT sensorpipe_rollup_rebuild(NULL, NULL);
\else
SELECT sensorpipe_rollup_rebuild(to_timestamp(:from_epoch), to_timestamp(:to_epoch));
\endif
\if :fresh
ALTER TABLE readings_minutely ADD PRIMARY KEY (bucket, topic);
ALTER TABLE readings_hourly ADD PRIMARY KEY (bucket, topic);
\if :topic_idx
CREATE INDEX readings_minutely_topic_idx ON readings_minutely (topic text_pattern_ops, bucket) INCLUDE (n, sum, min, max);
CREATE INDEX readings_hourly_topic_idx ON readings_hourly (topic text_pattern_ops, bucket) INCLUDE (n, sum, min, max);
\endif
\endif
VACUUM ANALYZE readings;
VACUUM ANALYZE readings_minutely;
VACUUM ANALYZE readings_hourly;
