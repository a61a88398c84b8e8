/* dbq.c - FIFO of async parameterised queries on a small pool of libpq connections (see dbq.h). */
#include "dbq.h"

#include <stdlib.h>
#include <string.h>

#define DBQ_CANCEL_POLL_US 20000 /* how often a connection waiting for its cancel is looked at again */

struct dbq_entry {
    struct dbq_entry *next;
    const char *sql; /* borrowed literal */
    int nparams;
    char *params[DBQ_MAX_PARAMS]; /* owned copies; NULL = SQL NULL */
    dbq_cb cb;                    /* NULL once the owner cancelled */
    dbq_row_cb row;               /* row mode; NULL once cancelled */
    bool heavy;
    bool cancelled; /* its failure is expected: not counted as an error */
    void *owner, *arg;
};

static void entry_free(struct dbq_entry *e)
{
    for (int i = 0; i < e->nparams; i++)
        free(e->params[i]);
    free(e);
}

static void dbq_kick_cb(lws_sorted_usec_list_t *sul);

void dbq_init(struct dbq *q, struct pgc *pgcs, int n, size_t max_queued, uint64_t *errors, uint64_t *refused,
              uint64_t *cancelled)
{
    memset(q, 0, sizeof *q);
    q->nslots = n < 1 ? 1 : n > DBQ_POOL_MAX ? DBQ_POOL_MAX : n;
    for (int i = 0; i < q->nslots; i++)
        q->slot[i].pgc = &pgcs[i];
    q->ctx = pgcs[0].ctx;
    q->max_queued = max_queued;
    q->errors = errors;
    q->refused = refused;
    q->cancelled = cancelled;
}

void dbq_free(struct dbq *q)
{
    lws_sul_cancel(&q->kick);
    for (int i = 0; i < q->nslots; i++) {
        struct dbq_slot *s = &q->slot[i];
        pgcancel_wait(&s->cancel);
        if (s->running)
            entry_free(s->running);
        s->running = NULL;
        PQclear(s->result);
        s->result = NULL;
    }
    while (q->head) {
        struct dbq_entry *e = q->head;
        q->head = e->next;
        entry_free(e);
    }
    q->tail = NULL;
    q->queued = 0;
}

bool dbq_up(const struct dbq *q)
{
    return dbq_count_up(q) > 0;
}

int dbq_count_up(const struct dbq *q)
{
    int n = 0;
    for (int i = 0; i < q->nslots; i++)
        n += pgc_up(q->slot[i].pgc);
    return n;
}

int dbq_count_busy(const struct dbq *q)
{
    int n = 0;
    for (int i = 0; i < q->nslots; i++)
        n += q->slot[i].running != NULL;
    return n;
}

/* Run e's callback (unless cancelled) with res / the failure reason, then free e and res. */
static void deliver(struct dbq *q, struct dbq_entry *e, PGresult *res, const char *why)
{
    const char *err = NULL;
    if (!res)
        err = why ? why : "no result";
    else {
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
            err = *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQresStatus(st);
    }
    if (err && q->errors && !e->cancelled)
        (*q->errors)++;
    if (e->cb)
        e->cb(e->owner, e->arg, res, err);
    PQclear(res);
    entry_free(e);
}

/* The first waiting entry that may run now (a heavy one only when heavy_ok), unlinked; or NULL. */
static struct dbq_entry *take(struct dbq *q, bool heavy_ok)
{
    struct dbq_entry **pp = &q->head, *prev = NULL;
    for (; *pp; prev = *pp, pp = &(*pp)->next) {
        struct dbq_entry *e = *pp;
        if (e->heavy && !heavy_ok)
            continue;
        *pp = e->next;
        if (q->tail == e)
            q->tail = prev;
        e->next = NULL;
        return e;
    }
    return NULL;
}

/* Is slot s free for a new query? (up, idle, no cancel in flight) Arms a re-check while a cancel runs. */
static bool slot_free(struct dbq *q, struct dbq_slot *s)
{
    if (pgcancel_busy(&s->cancel)) {
        lws_sul_schedule(q->ctx, 0, &q->kick, dbq_kick_cb, DBQ_CANCEL_POLL_US);
        return false;
    }
    return !s->running && pgc_up(s->pgc);
}

static void dbq_kick(struct dbq *q)
{
    int heavy_running = 0;
    for (int i = 0; i < q->nslots; i++)
        heavy_running += q->slot[i].running && q->slot[i].running->heavy;
    for (int i = 0; i < q->nslots && q->head; i++) {
        struct dbq_slot *s = &q->slot[i];
        if (!slot_free(q, s))
            continue;
        struct dbq_entry *e = take(q, q->nslots == 1 || heavy_running < q->nslots - 1);
        if (!e)
            return;
        heavy_running += e->heavy;
        s->running = e;
        PGconn *conn = s->pgc->pc.conn;
        if (!PQsendQueryParams(conn, e->sql, e->nparams, NULL, (const char *const *)e->params, NULL, NULL, 0) ||
            (e->row && !PQsetSingleRowMode(conn)) || pgc_flush(s->pgc)) {
            /* the connection is broken: dbq_on_down (via the pgc's down hook) fails e */
            pgc_fail(s->pgc, PQerrorMessage(conn));
            return; /* the down hook kicks again */
        }
    }
}

static void dbq_kick_cb(lws_sorted_usec_list_t *sul)
{
    dbq_kick(lws_container_of(sul, struct dbq, kick));
}

int dbq_submit_opts(struct dbq *q, const char *sql, int nparams, const char *const *params, const struct dbq_opts *opts,
                    dbq_cb cb, void *owner, void *arg, const char **why)
{
    const char *reason = NULL;
    if (!dbq_up(q))
        reason = "database unavailable";
    else if (q->queued >= q->max_queued)
        reason = "too many queries waiting";
    else if (nparams < 0 || nparams > DBQ_MAX_PARAMS)
        reason = "too many query parameters";
    struct dbq_entry *e = reason ? NULL : calloc(1, sizeof *e);
    if (!reason && !e)
        reason = "out of memory";
    for (int i = 0; e && i < nparams; i++) {
        e->nparams = i + 1;
        if (params[i] && !(e->params[i] = strdup(params[i]))) {
            entry_free(e);
            e = NULL;
            reason = "out of memory";
        }
    }
    if (!e) {
        if (q->refused)
            (*q->refused)++;
        if (why)
            *why = reason;
        return -1;
    }
    e->nparams = nparams;
    e->sql = sql;
    e->cb = cb;
    e->owner = owner;
    e->arg = arg;
    if (opts) {
        e->heavy = opts->heavy;
        e->row = opts->row;
    }
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->queued++;
    lws_sul_schedule(q->ctx, 0, &q->kick, dbq_kick_cb, 1);
    return 0;
}

int dbq_submit(struct dbq *q, const char *sql, int nparams, const char *const *params, dbq_cb cb, void *owner,
               void *arg, const char **why)
{
    return dbq_submit_opts(q, sql, nparams, params, NULL, cb, owner, arg, why);
}

/* The running query of s will not be wanted: no callbacks, and the server is asked to stop it. */
static void cancel_running(struct dbq *q, struct dbq_slot *s)
{
    struct dbq_entry *e = s->running;
    if (e->cancelled)
        return;
    e->cancelled = true;
    e->cb = NULL;
    e->row = NULL;
    if (q->cancelled)
        (*q->cancelled)++;
    if (pgc_up(s->pgc))
        pgcancel_start(&s->cancel, s->pgc->pc.conn); /* if it cannot start, statement_timeout still ends it */
}

void dbq_cancel_owner(struct dbq *q, const void *owner)
{
    for (int i = 0; i < q->nslots; i++)
        if (q->slot[i].running && q->slot[i].running->owner == owner)
            cancel_running(q, &q->slot[i]);
    struct dbq_entry **pp = &q->head, *prev = NULL;
    while (*pp) {
        struct dbq_entry *e = *pp;
        if (e->owner == owner) {
            *pp = e->next;
            if (q->tail == e)
                q->tail = prev;
            entry_free(e);
            q->queued--;
        } else {
            prev = e;
            pp = &e->next;
        }
    }
}

void dbq_on_up(struct dbq *q)
{
    dbq_kick(q);
}

static struct dbq_slot *slot_of(struct dbq *q, struct pgc *c)
{
    for (int i = 0; i < q->nslots; i++)
        if (q->slot[i].pgc == c)
            return &q->slot[i];
    return NULL;
}

void dbq_on_input(struct dbq *q, struct pgc *c)
{
    struct dbq_slot *s = slot_of(q, c);
    while (s && s->running && pgc_up(c) && !PQisBusy(c->pc.conn)) {
        PGresult *r = PQgetResult(c->pc.conn);
        if (r && PQresultStatus(r) == PGRES_SINGLE_TUPLE) {
            struct dbq_entry *e = s->running;
            if (e->row && e->row(e->owner, e->arg, r))
                cancel_running(q, s); /* the owner has had enough */
            PQclear(r);
            continue;
        }
        if (r) {
            /* keep the last result, but never let a later one hide an error */
            ExecStatusType st = s->result ? PQresultStatus(s->result) : PGRES_TUPLES_OK;
            if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
                PQclear(s->result);
                s->result = r;
            } else
                PQclear(r);
            continue;
        }
        struct dbq_entry *e = s->running;
        PGresult *res = s->result;
        s->running = NULL;
        s->result = NULL;
        q->queued--;
        deliver(q, e, res, "no result");
        dbq_kick(q);
    }
}

/* Fail every waiting entry (no connection is left to run them). */
static void fail_waiting(struct dbq *q, const char *why)
{
    struct dbq_entry *e;
    while ((e = q->head)) {
        q->head = e->next;
        if (!q->head)
            q->tail = NULL;
        q->queued--;
        deliver(q, e, NULL, why);
    }
}

void dbq_on_down(struct dbq *q, struct pgc *c, const char *why)
{
    struct dbq_slot *s = slot_of(q, c);
    if (!s)
        return;
    PQclear(s->result);
    s->result = NULL;
    struct dbq_entry *e = s->running;
    if (e) {
        s->running = NULL;
        q->queued--;
        deliver(q, e, NULL, why);
    }
    if (!dbq_up(q))
        fail_waiting(q, why);
    else
        lws_sul_schedule(q->ctx, 0, &q->kick, dbq_kick_cb, 1); /* another connection takes what waits */
}
