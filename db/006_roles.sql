-- 006_roles.sql - least privilege: the roles of the two daemons and what each may do
-- (docs/SECURITY.md, "PostgreSQL: least privilege").
--
--   owner              whoever runs the migrations (owns every table and function here);
--                      the only role that migrates, changes settings or runs DDL
--   sensorpipe_ingest  LOGIN: writes readings (COPY/INSERT), rejects and device presence,
--                      and calls sensorpipe_maintain(); no UPDATE/DELETE of readings, no DDL
--   sensorpipe_serve   LOGIN: reads what serve reads (readings, rollups, devices, settings,
--                      the count of rejects, the schema's version) and LISTENs
--
-- Roles are cluster-wide: they are made here when missing, without a password (no password
-- appears in a migration; scripts/pg.sh role-password sets one from a file). Making them
-- needs CREATEROLE (or a superuser); an owner without it needs them made beforehand:
-- CREATE ROLE sensorpipe_ingest LOGIN; CREATE ROLE sensorpipe_serve LOGIN.
--
-- What must run as the owner whoever causes it is SECURITY DEFINER with a fixed search_path
-- (this schema, TimescaleDB's if elsewhere, pg_temp last): the upkeep sensorpipe_maintain()
-- (partitions made ahead, retention), which the ingest calls every hour, and the rollup
-- trigger functions readings_<level>_add(), which fire inside the ingest's COPY and write
-- tables the ingest may not write. EXECUTE on every function of this schema is revoked from
-- PUBLIC; the ingest gets it on sensorpipe_maintain() only.
--
-- sensorpipe_secure() applies all of this and can run again at any time. `sensorpipe migrate`
-- runs it after every later migration too (core/migrate.c), because CREATE OR REPLACE
-- FUNCTION resets SECURITY DEFINER and SET search_path, and a new rollup level brings a new
-- table and trigger function. Applied in one transaction; every statement can run again.
-- Both paths: plain PostgreSQL (partitions) and TimescaleDB (hypertable; chunks are made by
-- TimescaleDB as the hypertable's owner, drop_chunks() runs inside sensorpipe_maintain()).

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['sensorpipe_ingest', 'sensorpipe_serve'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN', r);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN
                    NULL;  -- the migration of another database of this cluster made it just now
                WHEN insufficient_privilege THEN
                    RAISE EXCEPTION 'role % does not exist and % may not create roles', r, current_user
                        USING HINT = format('as a superuser: CREATE ROLE %I LOGIN; then migrate again', r);
            END;
        END IF;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION sensorpipe_secure() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s      text := current_schema();
    tsdb   text := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                    WHERE e.extname = 'timescaledb');
    path   text;
    fn     regprocedure;
    level  record;
BEGIN
    path := quote_ident(s)
            || CASE WHEN tsdb IS NOT NULL AND tsdb <> s THEN ', ' || quote_ident(tsdb) ELSE '' END
            || ', pg_temp';

    -- EXECUTE is granted to PUBLIC by default: not on ours (extension functions stay as they are)
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = quote_ident(s)::regnamespace
          AND p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', fn);
    END LOOP;

    -- owner-run: the upkeep and every rollup trigger function
    EXECUTE format('ALTER FUNCTION sensorpipe_maintain() SECURITY DEFINER SET search_path = %s', path);
    FOR level IN SELECT * FROM sensorpipe_rollup_levels() LOOP
        EXECUTE format('ALTER FUNCTION %I() SECURITY DEFINER SET search_path = %s',
                       'readings_' || level.name || '_add', path);
    END LOOP;

    -- the schema: usable, but no CREATE (PostgreSQL before 15 grants CREATE on public to PUBLIC),
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO sensorpipe_ingest, sensorpipe_serve', s);
    IF has_schema_privilege('sensorpipe_ingest', s, 'CREATE')
       OR has_schema_privilege('sensorpipe_serve', s, 'CREATE') THEN
        BEGIN
            EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC, sensorpipe_ingest, sensorpipe_serve', s);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'the daemons'' roles may create objects in schema % (only its owner can revoke that): '
                          'REVOKE CREATE ON SCHEMA % FROM PUBLIC', s, s;
        END;
    END IF;

    -- nor temporary tables (TEMPORARY on a new database is granted to PUBLIC)
    IF has_database_privilege('sensorpipe_ingest', current_database(), 'TEMPORARY')
       OR has_database_privilege('sensorpipe_serve', current_database(), 'TEMPORARY') THEN
        BEGIN
            EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC, sensorpipe_ingest, sensorpipe_serve',
                           current_database());
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'the daemons'' roles may create temporary tables (only the database''s owner can revoke '
                          'that): REVOKE TEMPORARY ON DATABASE % FROM PUBLIC', current_database();
        END;
    END IF;

    -- the ingest: append readings, rejects and presence; the hourly upkeep
    GRANT INSERT ON readings, rejects, devices TO sensorpipe_ingest;
    -- the presence upsert reads the row it updates (ON CONFLICT ... WHERE, EXCLUDED.*): SELECT on devices
    GRANT SELECT, UPDATE (online, updated_at) ON devices TO sensorpipe_ingest;
    GRANT SELECT (topic) ON readings TO sensorpipe_ingest;  -- the topics it knows at start (known.h), no values
    GRANT USAGE ON SEQUENCE readings_id_seq, rejects_id_seq TO sensorpipe_ingest;
    GRANT SELECT ON schema_migrations TO sensorpipe_ingest;  -- the version check at start
    GRANT EXECUTE ON FUNCTION sensorpipe_maintain() TO sensorpipe_ingest;

    -- serve: read what it answers from, and LISTEN (which needs no grant)
    GRANT SELECT ON readings, devices, sensorpipe_settings, schema_migrations TO sensorpipe_serve;
    GRANT SELECT (id) ON rejects TO sensorpipe_serve;  -- the count in /metrics, not the payloads
    FOR level IN SELECT * FROM sensorpipe_rollup_levels() LOOP
        EXECUTE format('GRANT SELECT ON %I TO sensorpipe_serve', 'readings_' || level.name);
    END LOOP;

    -- what later migrations grant for their own tables: one sensorpipe_secure_<name>() each, in name order
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = quote_ident(s)::regnamespace AND p.pronargs = 0
          AND p.proname LIKE 'sensorpipe\_secure\_%'
        ORDER BY p.proname
    LOOP
        EXECUTE format('SELECT %s', fn);
    END LOOP;
END
$$;

SELECT sensorpipe_secure();
