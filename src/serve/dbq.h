/*
 * dbq.h - a bounded FIFO of asynchronous, parameterised queries run on a small pool of pgc connections.
 *
 * dbq_submit() queues (sql, params, callback, owner); each connection of the
 * pool has one query on the wire at a time (PQsendQueryParams), its results
 * are collected as input arrives, and the callback runs once with the last
 * result. Queries are taken in order by the first idle connection, except
 * that "heavy" ones (API reads, backfills) run on at most n - 1 connections of
 * a pool of n: one is always left for the light ones (/api/topics, logins),
 * which then pass the heavy ones waiting.
 *
 * A query may deliver its rows one at a time (libpq single-row mode) to a row
 * callback, so its result is never held whole; the row callback can stop it.
 *
 * An owner that goes away (a client closed) calls dbq_cancel_owner(): its
 * queued entries are dropped, and a running one is cancelled on the server
 * (pgcancel.h) and its result thrown away, so a callback never sees freed
 * memory. A connection with a cancel in flight takes no new query until the
 * cancel is done. When a connection drops, its running query fails (callback
 * with res NULL and a reason); when none is left up, the queued ones fail too
 * and dbq_submit refuses at once. A callback never runs inside dbq_submit().
 */
#ifndef SP_SERVE_DBQ_H
#define SP_SERVE_DBQ_H

#include "pgcancel.h"
#include "pgconn_lws.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DBQ_MAX_PARAMS 10 /* SQL_BUCKETS_MINUTES (http_api.c) has 10 */
#define DBQ_POOL_MAX 8    /* connections of one dbq at most (--db-pool) */

/*
 * res: the query's last result (NULL when the connection failed); borrowed,
 * cleared by dbq after the callback returns. err: NULL on success
 * (PGRES_TUPLES_OK / PGRES_COMMAND_OK), else a reason. The callback may submit
 * or cancel queries.
 */
typedef void (*dbq_cb)(void *owner, void *arg, const PGresult *res, const char *err);
/*
 * One row (a PGRES_SINGLE_TUPLE result, borrowed) of a row-mode query. Return
 * 0 for more, or non-zero to stop: the query is cancelled and neither callback
 * runs again for it. It must not submit or cancel queries.
 */
typedef int (*dbq_row_cb)(void *owner, void *arg, const PGresult *row);

/* How a query runs (dbq_submit_opts). */
struct dbq_opts {
    bool heavy;     /* may be long: runs on at most n - 1 of n connections */
    dbq_row_cb row; /* rows one at a time, then cb with an empty result; NULL = all at once */
};

struct dbq_entry;

/* One connection of the pool and the query it runs. */
struct dbq_slot {
    struct pgc *pgc;
    struct dbq_entry *running; /* on the wire, owned */
    PGresult *result;          /* last result of the running query so far, owned */
    struct pgcancel cancel;    /* the running query being cancelled */
};

struct dbq {
    struct dbq_slot slot[DBQ_POOL_MAX];
    int nslots;
    struct lws_context *ctx;
    struct dbq_entry *head, *tail; /* waiting, owned */
    size_t queued;                 /* waiting + running */
    size_t max_queued;
    uint64_t *errors;            /* counters to bump (may be NULL): failed queries */
    uint64_t *refused;           /* submissions refused (queue full / down) */
    uint64_t *cancelled;         /* running queries cancelled for their owner */
    lws_sorted_usec_list_t kick; /* sends the next query from the loop, never inside dbq_submit */
};

/* pgcs: n (1..DBQ_POOL_MAX) connections, borrowed; they must outlive the dbq. */
void dbq_init(struct dbq *q, struct pgc *pgcs, int n, size_t max_queued, uint64_t *errors, uint64_t *refused,
              uint64_t *cancelled);
/* Free everything still queued, without running callbacks (shutdown: owners are gone); waits for cancels. */
void dbq_free(struct dbq *q);
/*
 * Queue a query. sql is borrowed (a string literal, it must outlive the
 * query); params (may be NULL entries = SQL NULL) are copied. Returns 0 (the
 * callback will run exactly once, unless the owner cancels) or -1 with a
 * reason in *why (the callback will not run).
 */
int dbq_submit(struct dbq *q, const char *sql, int nparams, const char *const *params, dbq_cb cb, void *owner,
               void *arg, const char **why);
/* dbq_submit with options (opts may be NULL: a light query, all rows at once). */
int dbq_submit_opts(struct dbq *q, const char *sql, int nparams, const char *const *params, const struct dbq_opts *opts,
                    dbq_cb cb, void *owner, void *arg, const char **why);
/* Forget every query of this owner: no callback will run for them; a running one is cancelled on the server. */
void dbq_cancel_owner(struct dbq *q, const void *owner);
/* True when at least one connection is up. */
bool dbq_up(const struct dbq *q);
/* Connections up now, and of them running a query. */
int dbq_count_up(const struct dbq *q);
int dbq_count_busy(const struct dbq *q);
/* Hooks for the pgcs: a connection ready / input arrived on c / c lost. */
void dbq_on_up(struct dbq *q);
void dbq_on_input(struct dbq *q, struct pgc *c);
void dbq_on_down(struct dbq *q, struct pgc *c, const char *why);

#endif
