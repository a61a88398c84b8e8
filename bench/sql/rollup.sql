-- bench/sql/rollup.sql - PROPOSAL, not part of the schema (db/ is the lead's): an hourly
-- rollup of readings, kept up to date by a statement-level trigger, so that the 24 h
-- hourly-bucket query reads ~25 rows per topic instead of every reading.
--
-- bench/run installs it on its own databases to measure (a) the 24 h query answered
-- from it and (b) what maintaining it costs the ingest. See docs/BENCHMARKS.md.
--
-- One row per (hour, topic): count, sum, min, max; avg = sum / n. The trigger runs once
-- per INSERT/COPY statement over the statement's transition table, like the NOTIFY
-- trigger, so a COPY of 10000 rows is one grouped upsert of a few hundred rows.
-- Writers of readings are already serialised by readings_serialise_writers()
-- (advisory lock), so upserts of the same (bucket, topic) never race.
CREATE TABLE readings_hourly (
    bucket timestamptz NOT NULL,
    topic  text NOT NULL,
    n      bigint NOT NULL,
    sum    double precision NOT NULL,
    min    double precision NOT NULL,
    max    double precision NOT NULL,
    PRIMARY KEY (bucket, topic)
);

CREATE FUNCTION readings_hourly_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO readings_hourly AS h (bucket, topic, n, sum, min, max)
    SELECT date_bin('1 hour', ts, 'epoch'), topic, count(*), sum(value), min(value), max(value)
    FROM new_rows GROUP BY 1, 2
    ON CONFLICT (bucket, topic) DO UPDATE
    SET n = h.n + EXCLUDED.n, sum = h.sum + EXCLUDED.sum,
        min = least(h.min, EXCLUDED.min), max = greatest(h.max, EXCLUDED.max);
    RETURN NULL;
END
$$;

CREATE TRIGGER readings_hourly_add
    AFTER INSERT ON readings
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION readings_hourly_add();
