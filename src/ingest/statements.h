/*
 * statements.h - SQL text and parameters for the small writes between batches:
 * refused messages into `rejects` and presence into `devices`.
 *
 * Several rows go in one multi-row statement. Every value is a parameter: the
 * payload as binary (bytea, any bytes), the rest as text. Pure code over the
 * queues; the writer sends what is built here with PQsendQueryParams.
 */
#ifndef SP_INGEST_STATEMENTS_H
#define SP_INGEST_STATEMENTS_H

#include "core/sbuf.h"
#include "core/timeutil.h"
#include "presence.h"
#include "reject.h"

#include <stddef.h>

#define STMT_MAX_ROWS 64  /* rows per statement */
#define STMT_MAX_PARAMS 4 /* parameters per row */

struct stmt {
    struct sbuf sql; /* owned */
    int nparams;
    /* values point into the queue rows or into ts/bools here: valid while those rows are */
    const char *values[STMT_MAX_ROWS * STMT_MAX_PARAMS];
    int lengths[STMT_MAX_ROWS * STMT_MAX_PARAMS];
    int formats[STMT_MAX_ROWS * STMT_MAX_PARAMS];
    char ts[STMT_MAX_ROWS][TIME_RFC3339_LEN + 1];
};

void stmt_init(struct stmt *s);
void stmt_free(struct stmt *s);
/* Build the insert of rejects rows 0..n-1 (n <= STMT_MAX_ROWS). Returns 0, or -1 when out of memory. */
int stmt_rejects(struct stmt *s, const struct rejectq *q, size_t n);
/* Build the upsert of presence rows 0..n-1; an older update never overwrites a newer one. */
int stmt_presence(struct stmt *s, const struct presenceq *q, size_t n);

#endif
