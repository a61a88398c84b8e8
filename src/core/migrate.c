/* migrate.c - apply the embedded db/NNN_*.sql migrations; `sensorpipe migrate` (see migrate.h). */
#include "migrate.h"

#include "config.h"
#include "log.h"
#include "pgconn.h"
#include "secret.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_LOCK_KEY 7346120000LL

/* After each migration, in its transaction: the privileges of db/006, when that file has run. */
#define MIGRATE_SECURE_SQL                                                                                             \
    "DO $$ BEGIN IF to_regprocedure('sensorpipe_secure()') IS NOT NULL THEN PERFORM sensorpipe_secure(); END IF; "     \
    "END $$"

/* Run one command; on failure write the server's message into err. */
static int exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

static int applied_version(PGconn *conn, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

int migrate_run(PGconn *conn, char *err, size_t errlen)
{
    int applied = 0;
    char sql[128];
    PGresult *r = PQexec(conn, "SET client_min_messages = warning");
    PQclear(r);
    /* lock first: two processes migrating an empty database at once would otherwise race
     * on CREATE TABLE IF NOT EXISTS (a duplicate key in the catalog) */
    snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(%lld)", MIGRATE_LOCK_KEY);
    if (exec_ok(conn, sql, err, errlen))
        return -1;
    if (exec_ok(conn,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                err, errlen))
        goto fail;
    int current = applied_version(conn, err, errlen);
    if (current < 0)
        goto fail;
    for (int i = 0; i < migrations_count; i++) {
        const struct migration *m = &migrations[i];
        if (m->version <= current)
            continue;
        if (exec_ok(conn, "BEGIN", err, errlen))
            goto fail;
        if (exec_ok(conn, m->sql, err, errlen) || exec_ok(conn, MIGRATE_SECURE_SQL, err, errlen)) {
            char reason[512];
            snprintf(reason, sizeof reason, "%s", err);
            snprintf(err, errlen, "migration %s failed: %s", m->name, reason);
            PQclear(PQexec(conn, "ROLLBACK"));
            goto fail;
        }
        const char *params[2];
        char version[16];
        snprintf(version, sizeof version, "%d", m->version);
        params[0] = version;
        params[1] = m->name;
        r = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, NULL, params, NULL,
                         NULL, 0);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok || exec_ok(conn, "COMMIT", err, errlen)) {
            if (!ok)
                snprintf(err, errlen, "could not record migration %s", m->name);
            PQclear(PQexec(conn, "ROLLBACK"));
            goto fail;
        }
        log_info("applied migration %s", m->name);
        applied++;
    }
    /* nothing applied: the privileges all the same, for a function replaced by hand since */
    if (!applied && exec_ok(conn, MIGRATE_SECURE_SQL, err, errlen))
        goto fail;
    snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%lld)", MIGRATE_LOCK_KEY);
    PQclear(PQexec(conn, sql));
    return applied;
fail:
    snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%lld)", MIGRATE_LOCK_KEY);
    PQclear(PQexec(conn, sql));
    return -1;
}

int migrate_is_owner(PGconn *conn, char *user, char *owner, size_t namelen, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, "SELECT current_user,"
                               " coalesce((SELECT pg_get_userbyid(c.relowner) FROM pg_class c"
                               "           WHERE c.oid = to_regclass('schema_migrations')),"
                               "          (SELECT pg_get_userbyid(datdba) FROM pg_database"
                               "           WHERE datname = current_database())),"
                               " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        snprintf(err, errlen, "cannot tell the schema's owner: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    const char *cur = PQgetvalue(r, 0, 0), *own = PQgetvalue(r, 0, 1);
    int yes = !strcmp(cur, own) || !strcmp(PQgetvalue(r, 0, 2), "t");
    if (user && namelen)
        snprintf(user, namelen, "%s", cur);
    if (owner && namelen)
        snprintf(owner, namelen, "%s", own);
    PQclear(r);
    return yes;
}

int migrate_check_version(PGconn *conn, char *err, size_t errlen)
{
    int want = migrations_count ? migrations[migrations_count - 1].version : 0;
    PGresult *r = PQexec(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    bool exists = !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    if (!exists) {
        snprintf(err, errlen,
                 "the database has no sensorpipe schema (no table schema_migrations): run `sensorpipe migrate` "
                 "as its owner first");
        return -1;
    }
    char why[512];
    int have = applied_version(conn, why, sizeof why);
    if (have < 0) {
        snprintf(err, errlen, "cannot read the schema's version: %s", why);
        return -1;
    }
    if (have < want) {
        snprintf(err, errlen,
                 "the schema is at version %d and this binary needs %d: run `sensorpipe migrate` as the schema's "
                 "owner",
                 have, want);
        return -1;
    }
    return 0;
}

int migrate_at_start(PGconn *conn, bool *owner, char *err, size_t errlen)
{
    char user[128], own[128];
    int yes = migrate_is_owner(conn, user, own, sizeof user, err, errlen);
    *owner = yes == 1;
    if (yes < 0)
        return -1;
    if (yes)
        return migrate_run(conn, err, errlen);
    log_info("connected as %s, not as the schema's owner %s: migrations skipped (`sensorpipe migrate` as the owner "
             "applies them)",
             user, own);
    return migrate_check_version(conn, err, errlen) == 0 ? 0 : -1;
}

/* Store the retention in sensorpipe_settings; 0 or -1 with err. */
static int set_retention(PGconn *conn, long retention_days, char *err, size_t errlen)
{
    char days[24];
    snprintf(days, sizeof days, "%ld", retention_days);
    const char *params[1] = {days};
    PGresult *r = PQexecParams(conn, "UPDATE sensorpipe_settings SET value = $1 WHERE key = 'retention_days'", 1, NULL,
                               params, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

int migrate_maintain(PGconn *conn, long retention_days, char *err, size_t errlen)
{
    /* a negative retention keeps what an earlier run stored */
    if (retention_days >= 0 && set_retention(conn, retention_days, err, errlen) != 0)
        return -1;
    PGresult *r = PQexec(conn, "SELECT sensorpipe_maintain()");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    log_info("maintenance: %s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int migrate_main(int argc, char **argv)
{
    char *db = NULL, *log_level = NULL, *password_file = NULL;
    long retention = 0;
    const struct cfg_opt opts[] = {
        {"db", CFG_STR, &db, "", 0, 0, "DATABASE_URL", "libpq connection string or URI (PG* variables apply)", false},
        {"db-password-file", CFG_STR, &password_file, "", 0, 0, NULL,
         "file whose first line is the database password (readable by this user only; never on the command line)",
         false},
        {"retention-days", CFG_INT, &retention, "-1", -1, 36500, NULL,
         "drop readings, rejects, readings_default rows and offline devices older than this many days (0 = keep; -1 = "
         "leave the stored setting)",
         false},
        {"log-level", CFG_STR, &log_level, "info", 0, 0, NULL, "error, warn, info or debug", false},
        {0},
    };
    char err[512];
    int rc = cfg_parse(opts, argc, argv, NULL, err, sizeof err);
    if (rc == CFG_HELP) {
        cfg_usage(stdout, "migrate", "Create or upgrade the schema, then create partitions ahead and apply retention.",
                  opts);
        cfg_free(opts);
        return 0;
    }
    if (rc != CFG_OK) {
        fprintf(stderr, "sensorpipe migrate: %s\n", err);
        cfg_free(opts);
        return 2;
    }
    char password[SECRET_MAX + 1] = "";
    size_t password_len = 0;
    if (*password_file && secret_read_file(password_file, password, &password_len, err, sizeof err)) {
        fprintf(stderr, "sensorpipe migrate: %s\n", err);
        cfg_free(opts);
        return 2;
    }
    int level = log_level_parse(log_level);
    log_init("migrate", level < 0 ? LOG_INFO : (enum log_level)level);
    const struct pgconn_config pcfg = {
        .conninfo = db, .app_name = "sensorpipe-migrate", .password = *password_file ? password : NULL};
    PGconn *conn = pgconn_connect_blocking(&pcfg);
    int status = 1;
    char user[128], owner[128];
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[512];
        pgconn_flatten(msg, sizeof msg, PQerrorMessage(conn));
        log_error("cannot connect to the database: %s", msg);
        goto done;
    }
    int may = migrate_is_owner(conn, user, owner, sizeof user, err, sizeof err);
    if (may < 0) {
        log_error("%s", err);
        goto done;
    }
    if (!may) {
        log_error("connected as %s: only the schema's owner (%s) or a superuser migrates", user, owner);
        goto done;
    }
    int n = migrate_run(conn, err, sizeof err);
    if (n < 0) {
        log_error("%s", err);
        goto done;
    }
    if (migrate_maintain(conn, retention, err, sizeof err) != 0) {
        log_error("maintenance failed: %s", err);
        goto done;
    }
    log_info("schema up to date (%d migration%s applied)", n, n == 1 ? "" : "s");
    status = 0;
done:
    PQfinish(conn);
    secret_wipe(password, sizeof password);
    cfg_free(opts);
    return status;
}
