/*
 * migrate.h - versioned schema migrations (db/NNN_name.sql, embedded at build time).
 *
 * Each file runs once, in order, in its own transaction, under an advisory
 * lock so several processes may migrate at start without racing. Applied
 * versions are recorded in schema_migrations.
 */
#ifndef SP_MIGRATE_H
#define SP_MIGRATE_H

#include <libpq-fe.h>
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

/* Set retention (days, 0 = keep, negative = leave as stored) and run sensorpipe_maintain(); -1 with err on failure. */
int migrate_maintain(PGconn *conn, long retention_days, char *err, size_t errlen);

/* `sensorpipe migrate` */
int migrate_main(int argc, char **argv);

#endif
