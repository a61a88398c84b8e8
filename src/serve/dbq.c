/* dbq.c - FIFO of async parameterised queries on one libpq connection (see dbq.h). */
#include "dbq.h"

#include <stdlib.h>
#include <string.h>

struct dbq_entry {
    struct dbq_entry *next;
    const char *sql; /* borrowed literal */
    int nparams;
    char *params[DBQ_MAX_PARAMS]; /* owned copies; NULL = SQL NULL */
    dbq_cb cb;                    /* NULL once the owner cancelled */
    void *owner, *arg;
};

static void entry_free(struct dbq_entry *e)
{
    for (int i = 0; i < e->nparams; i++)
        free(e->params[i]);
    free(e);
}

static void dbq_kick_cb(lws_sorted_usec_list_t *sul);

void dbq_init(struct dbq *q, struct pgc *pgc, size_t max_queued, uint64_t *errors, uint64_t *refused)
{
    memset(q, 0, sizeof *q);
    q->pgc = pgc;
    q->max_queued = max_queued;
    q->errors = errors;
    q->refused = refused;
}

void dbq_free(struct dbq *q)
{
    lws_sul_cancel(&q->kick);
    if (q->running)
        entry_free(q->running);
    q->running = NULL;
    while (q->head) {
        struct dbq_entry *e = q->head;
        q->head = e->next;
        entry_free(e);
    }
    q->tail = NULL;
    PQclear(q->result);
    q->result = NULL;
    q->queued = 0;
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
    if (err && q->errors)
        (*q->errors)++;
    if (e->cb)
        e->cb(e->owner, e->arg, res, err);
    PQclear(res);
    entry_free(e);
}

static void dbq_kick(struct dbq *q)
{
    while (!q->running && q->head && pgc_up(q->pgc)) {
        struct dbq_entry *e = q->head;
        q->head = e->next;
        if (!q->head)
            q->tail = NULL;
        q->running = e;
        if (!PQsendQueryParams(q->pgc->pc.conn, e->sql, e->nparams, NULL, (const char *const *)e->params, NULL, NULL,
                               0) ||
            pgc_flush(q->pgc)) {
            /* the connection is broken: dbq_on_down (via the pgc's down hook) fails e and the rest */
            pgc_fail(q->pgc, PQerrorMessage(q->pgc->pc.conn));
            return;
        }
    }
}

static void dbq_kick_cb(lws_sorted_usec_list_t *sul)
{
    dbq_kick(lws_container_of(sul, struct dbq, kick));
}

int dbq_submit(struct dbq *q, const char *sql, int nparams, const char *const *params, dbq_cb cb, void *owner,
               void *arg, const char **why)
{
    const char *reason = NULL;
    if (!pgc_up(q->pgc))
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
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->queued++;
    if (!q->running)
        lws_sul_schedule(q->pgc->ctx, 0, &q->kick, dbq_kick_cb, 1);
    return 0;
}

void dbq_cancel_owner(struct dbq *q, const void *owner)
{
    if (q->running && q->running->owner == owner)
        q->running->cb = NULL; /* its result is thrown away when it comes */
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

void dbq_on_input(struct dbq *q)
{
    while (q->running && pgc_up(q->pgc) && !PQisBusy(q->pgc->pc.conn)) {
        PGresult *r = PQgetResult(q->pgc->pc.conn);
        if (r) {
            /* keep the last result, but never let a later one hide an error */
            ExecStatusType st = q->result ? PQresultStatus(q->result) : PGRES_TUPLES_OK;
            if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
                PQclear(q->result);
                q->result = r;
            } else
                PQclear(r);
            continue;
        }
        struct dbq_entry *e = q->running;
        PGresult *res = q->result;
        q->running = NULL;
        q->result = NULL;
        q->queued--;
        deliver(q, e, res, "no result");
        dbq_kick(q);
    }
}

void dbq_on_down(struct dbq *q, const char *why)
{
    PQclear(q->result);
    q->result = NULL;
    for (;;) {
        struct dbq_entry *e = q->running;
        if (e)
            q->running = NULL;
        else if ((e = q->head)) {
            q->head = e->next;
            if (!q->head)
                q->tail = NULL;
        } else
            break;
        q->queued--;
        deliver(q, e, NULL, why);
    }
}
