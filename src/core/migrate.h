/*
 * migrate.h - versioned schema migrations (db/NNN_name.sql, embedded at build time).
 *
 * Each file runs once, in order, in its own transaction, under an advisory
 * lock so several processes may migrate at start without racing. Applied
 * versions are recorded in schema_migrations. After each file, in its
 * transaction (or once when none was applied), sensorpipe_secure() (db/006)
 * runs when it exists: it puts back the roles' privileges and the SECURITY
 * DEFINER settings that a function replaced since loses.
 *
 * Only the schema's owner migrates (docs/SECURITY.md, "PostgreSQL: least
 * privilege"): a daemon connected as another role (sensorpipe_ingest,
 * sensorpipe_serve) skips the migrations and checks that the schema is there
 * and not older than the binary (migrate_at_start).
 */
#ifndef SP_MIGRATE_H
#define SP_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct migration migrations[];
extern const int migrations_count;

/*
 * Bring the database on conn (blocking mode) up to the newest version.
 * Returns the number of migrations applied (0 when up to date) or -1 with a
 * reason in err.
 */
int migrate_run(PGconn *conn, char *err, size_t errlen);

/*
 * Whether the session may migrate: 1 when its user is the schema's owner (the
 * owner of schema_migrations, or of the database while that table does not
 * exist) or a superuser, 0 when not, -1 with err. user and owner (may be
 * NULL) receive the two role names.
 */
int migrate_is_owner(PGconn *conn, char *user, char *owner, size_t namelen, char *err, size_t errlen);

/*
 * 0 when the schema is at least at the newest embedded version; -1 with err
 * when it is missing, older, or cannot be read.
 */
int migrate_check_version(PGconn *conn, char *err, size_t errlen);

/*
 * A daemon's start with --migrate: migrate_run() when the session may migrate
 * (*owner = true), otherwise an info line and migrate_check_version()
 * (*owner = false). Returns the migrations applied (0 when skipped) or -1
 * with err.
 */
int migrate_at_start(PGconn *conn, bool *owner, char *err, size_t errlen);

/*
 * Set retention (days, 0 = keep, negative = leave as stored; only the owner
 * may) and run sensorpipe_maintain() (SECURITY DEFINER: the ingest's role may
 * call it); -1 with err on failure.
 */
int migrate_maintain(PGconn *conn, long retention_days, char *err, size_t errlen);

/* `sensorpipe migrate` */
int migrate_main(int argc, char **argv);

#endif
