-- 007_people.sql - people and scripts: users, sessions and API tokens (docs/SECURITY.md,
-- "People: logins, sessions, tokens"). Every `serve` process shares them.
--
--   users       a name and a slow salted password hash (scrypt, core/pwhash.h); made by
--               `sensorpipe user add` as the schema's owner
--   sessions    a login of the dashboard: the cookie is "<id>.<secret>", only SHA-256(secret)
--               is kept; made and removed by serve (POST /login, /logout), gone at expires_at
--   api_tokens  a script's Bearer token "<id>.<secret>", SHA-256(secret) kept; read_only is
--               recorded for routes that write (auth.h: auth_may()); revoked_at ends it
--   auth_version  one row, bumped by a trigger on every change of the three, which also NOTIFYs
--                 sensorpipe_auth so every serve reloads at once; serve also polls it
--               and reloads the credentials it checks when it moved
--
-- serve gets exactly what logins need, through sensorpipe_secure() (db/006), redefined here:
-- SELECT (id, name, password_hash) ON users; SELECT, INSERT, DELETE ON sessions; SELECT ON
-- api_tokens; SELECT, UPDATE ON auth_version (the trigger runs as the one who changed a row).
-- Nothing for the ingest.

CREATE TABLE IF NOT EXISTS users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS sessions (
    id            text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
    user_id       bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    secret_sha256 bytea NOT NULL CHECK (length(secret_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires_idx ON sessions (expires_at);

CREATE TABLE IF NOT EXISTS api_tokens (
    id            text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
    label         text NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
    user_id       bigint REFERENCES users ON DELETE CASCADE,
    read_only     boolean NOT NULL DEFAULT false,
    secret_sha256 bytea NOT NULL CHECK (length(secret_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

CREATE TABLE IF NOT EXISTS auth_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    v   bigint NOT NULL DEFAULT 0
);
INSERT INTO auth_version (one, v) VALUES (true, 0) ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION auth_version_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_version SET v = v + 1;
    PERFORM pg_notify('sensorpipe_auth', '');  -- every serve reloads now (the poll is the fallback)
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS users_auth_version ON users;
CREATE TRIGGER users_auth_version AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION auth_version_bump();
DROP TRIGGER IF EXISTS sessions_auth_version ON sessions;
CREATE TRIGGER sessions_auth_version AFTER INSERT OR UPDATE OR DELETE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION auth_version_bump();
DROP TRIGGER IF EXISTS api_tokens_auth_version ON api_tokens;
CREATE TRIGGER api_tokens_auth_version AFTER INSERT OR UPDATE OR DELETE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION auth_version_bump();

-- sensorpipe_secure() of db/006, and the people tables for serve
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

    -- serve: what logins need (db/007), no more
    GRANT SELECT (id, name, password_hash) ON users TO sensorpipe_serve;
    GRANT SELECT, INSERT, DELETE ON sessions TO sensorpipe_serve;
    GRANT SELECT ON api_tokens TO sensorpipe_serve;
    GRANT SELECT, UPDATE ON auth_version TO sensorpipe_serve;
END
$$;

SELECT sensorpipe_secure();
