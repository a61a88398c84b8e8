/*
 * dbq.h - a bounded FIFO of asynchronous, parameterised queries on one pgc.
 *
 * dbq_submit() queues (sql, params, callback, owner); one query is on the wire
 * at a time (PQsendQueryParams), its results are collected as input arrives,
 * and the callback runs once with the last result. An owner that goes away
 * (a client closed) calls dbq_cancel_owner(): its queued entries are dropped
 * and the result of its running query is thrown away, so a callback never
 * sees freed memory. When the connection drops, the running and queued
 * queries fail (callback with res NULL and a reason); while it is down,
 * dbq_submit refuses at once. A callback never runs inside dbq_submit().
 */
#ifndef SP_SERVE_DBQ_H
#define SP_SERVE_DBQ_H

#include "pgconn_lws.h"

#include <libpq-fe.h>
#include <stddef.h>

#define DBQ_MAX_PARAMS 9 /* SQL_BUCKETS_MINUTES (http_api.c) has 9 */

/*
 * res: the query's last result (NULL when the connection failed); borrowed,
 * cleared by dbq after the callback returns. err: NULL on success
 * (PGRES_TUPLES_OK / PGRES_COMMAND_OK), else a reason. The callback may submit
 * or cancel queries.
 */
typedef void (*dbq_cb)(void *owner, void *arg, const PGresult *res, const char *err);

struct dbq_entry;

struct dbq {
    struct pgc *pgc;
    struct dbq_entry *head, *tail; /* waiting, owned */
    struct dbq_entry *running;     /* on the wire, owned */
    PGresult *result;              /* last result of the running query so far, owned */
    size_t queued;                 /* waiting + running */
    size_t max_queued;
    uint64_t *errors;            /* counters to bump (may be NULL): failed queries */
    uint64_t *refused;           /* submissions refused (queue full / down) */
    lws_sorted_usec_list_t kick; /* sends the next query from the loop, never inside dbq_submit */
};

void dbq_init(struct dbq *q, struct pgc *pgc, size_t max_queued, uint64_t *errors, uint64_t *refused);
/* Free everything still queued, without running callbacks (shutdown: owners are gone). */
void dbq_free(struct dbq *q);
/*
 * Queue a query. sql is borrowed (a string literal, it must outlive the
 * query); params (may be NULL entries = SQL NULL) are copied. Returns 0 (the
 * callback will run exactly once, unless the owner cancels) or -1 with a
 * reason in *why (the callback will not run).
 */
int dbq_submit(struct dbq *q, const char *sql, int nparams, const char *const *params, dbq_cb cb, void *owner,
               void *arg, const char **why);
/* Forget every query of this owner: no callback will run for them. */
void dbq_cancel_owner(struct dbq *q, const void *owner);
/* Hooks for the pgc: connection ready / input arrived / connection lost. */
void dbq_on_up(struct dbq *q);
void dbq_on_input(struct dbq *q);
void dbq_on_down(struct dbq *q, const char *why);

#endif
