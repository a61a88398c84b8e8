-- 010_rollup_topic_index.sql - an index per rollup level (db/004: readings_minutely,
-- readings_hourly) on (topic text_pattern_ops, bucket), covering n, sum, min and max, so a
-- bucket query for some topics (a device page: /api/readings?topic=dev042/#) reads only those
-- topics' rollup rows, from the index alone, instead of every topic's rows in the range with the
-- topic regex tested on each (docs/ARCHITECTURE.md, "The hourly rollup"; docs/BENCHMARKS.md,
-- "History at size": a 30-day hourly view of one device went from every hourly row of the month
-- to its own).
--
-- Why text_pattern_ops: /api/readings filters with `topic ~ '^dev042(/.*)?$'` (the MQTT filter
-- as an anchored regex, core/topic.c). PostgreSQL turns the regex's fixed prefix into an index
-- range only on an index whose ordering is plain bytes: the C collation or the pattern operator
-- class. The databases here use C.UTF-8 (scripts/pg.sh) or a locale, so the operator class is
-- what works everywhere. INCLUDE (n, sum, min, max): with the visibility map set (autovacuum)
-- the scan never visits the table; a rollup row of one topic sits in a different page for every
-- bucket, which made a plain index little better than the scan.
--
-- Cost: about as large as the level's primary key plus its four columns (measured: 88 bytes a
-- minutely row), and one more index entry per rollup row the triggers upsert. Made inside the
-- migration's transaction: on a populated database, writers of readings (whose triggers write
-- the rollups) wait while it is built (tens of seconds for 13M minute rows). Every statement
-- can run again; new levels get theirs by running this file's block again.

DO $$
DECLARE
    level record;
BEGIN
    FOR level IN SELECT * FROM sensorpipe_rollup_levels() LOOP
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I (topic text_pattern_ops, bucket) INCLUDE (n, sum, min, max)',
                       'readings_' || level.name || '_topic_idx', 'readings_' || level.name);
    END LOOP;
END
$$;
