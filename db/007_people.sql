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
-- serve gets exactly what logins need, through sensorpipe_secure_people(), which sensorpipe_secure() (db/006) runs:
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

-- serve: what logins need, no more. db/006's sensorpipe_secure() runs this after its own grants,
-- at this migration and after every later one.
CREATE OR REPLACE FUNCTION sensorpipe_secure_people() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    GRANT SELECT (id, name, password_hash) ON users TO sensorpipe_serve;
    GRANT SELECT, INSERT, DELETE ON sessions TO sensorpipe_serve;
    GRANT SELECT ON api_tokens TO sensorpipe_serve;
    GRANT SELECT, UPDATE ON auth_version TO sensorpipe_serve;
END
$$;

SELECT sensorpipe_secure();
