/*
 * people.h - `sensorpipe user add NAME` and `sensorpipe token add|list|revoke`: the
 * people and scripts who may use serve (db/007_people.sql, docs/SECURITY.md "People").
 * They talk to the database as the schema's owner (--db, --db-password-file; the
 * config file's [user] / [token] sections or its top-level db), migrating it first.
 */
#ifndef SP_PEOPLE_H
#define SP_PEOPLE_H

/* argv[0] is "user". Returns the exit status (0, 1 failure, 2 usage). */
int user_main(int argc, char **argv);
/* argv[0] is "token". Returns the exit status (0, 1 failure, 2 usage). */
int token_main(int argc, char **argv);

#endif
