/* rollup_keeper.c - the rollups' catch-up on a connection of its own (see rollup_keeper.h). */
#include "rollup_keeper.h"

#include "core/log.h"
#include "core/stringify.h"
#include "core/timeutil.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROLLUP_SQL "SELECT sensorpipe_rollup_catch_up(" SP_STR(ROLLUP_MAX_ROWS) ")"

void rollup_keeper_init(struct rollup_keeper *k, const struct pgconn_config *cfg, struct ingest_stats *stats)
{
    memset(k, 0, sizeof *k);
    k->stats = stats;
    pgconn_init(&k->pc, cfg, (uint32_t)time_now_us() ^ 0x5eed);
}

void rollup_keeper_rows_committed(struct rollup_keeper *k)
{
    k->due = true;
}

void rollup_keeper_stop(struct rollup_keeper *k)
{
    k->stopping = true;
}

void rollup_keeper_free(struct rollup_keeper *k)
{
    pgconn_close(&k->pc);
}

int rollup_keeper_pollfd(const struct rollup_keeper *k, short *events)
{
    int fd = k->pc.conn ? PQsocket(k->pc.conn) : -1;
    if (fd < 0)
        return -1;
    if (k->pc.state == PGCONN_CONNECTING)
        *events = k->pc.wait == PGCONN_WAIT_READ ? POLLIN : POLLOUT;
    else
        *events = (short)(POLLIN | (k->flushing ? POLLOUT : 0));
    return fd;
}

int64_t rollup_keeper_next_timer(const struct rollup_keeper *k)
{
    bool want = k->due && !k->stopping;
    switch (k->pc.state) {
    case PGCONN_DOWN:
        return want ? k->pc.retry_at_ms : INT64_MAX;
    case PGCONN_CONNECTING:
        return pgconn_next_timer(&k->pc);
    default:
        return want && !k->busy ? k->at_ms : INT64_MAX;
    }
}

/* The connection is unusable: the catch-up under way (if any) counts as not done; reconnect with back-off. */
static void keeper_lost(struct rollup_keeper *k, int64_t now_ms, const char *why)
{
    if (k->busy)
        k->due = true;
    k->busy = k->flushing = false;
    uint32_t ms = pgconn_lost(&k->pc, now_ms, why);
    log_warn("rollup connection lost (%s); reconnecting in %u ms", k->pc.last_error, ms);
}

/* One result of the catch-up under way: its count, or its error (the first wins). */
static void keeper_take_result(struct rollup_keeper *k, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) == 1)
        k->added = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    else if (st != PGRES_TUPLES_OK && !k->failed) {
        k->failed = true;
        pgconn_flatten(k->errmsg, sizeof k->errmsg, PQresultErrorMessage(res));
    }
}

/* The catch-up ended: the next one in a second (at once when it took its most), or in a minute after an error. */
static void keeper_done(struct rollup_keeper *k, int64_t now_ms)
{
    k->busy = false;
    if (k->failed) {
        log_warn("rollup catch-up failed: %s; trying again in %d s (answers stay exact: serve adds the rows above "
                 "the rollups' mark from readings)",
                 k->errmsg, ROLLUP_RETRY_MS / 1000);
        k->due = true;
        k->at_ms = now_ms + ROLLUP_RETRY_MS;
        return;
    }
    k->stats->rolled_up += k->added;
    k->stats->rollup_runs++;
    bool more = k->added >= ROLLUP_MAX_ROWS;
    if (more)
        k->due = true;
    k->at_ms = more ? now_ms : now_ms + ROLLUP_EVERY_MS;
    log_debug("rollup catch-up: %llu readings added%s", k->added, more ? ", more waiting" : "");
}

/* UP: read what came, finish the catch-up under way, start the next when it is time. */
static void keeper_up(struct rollup_keeper *k, short revents, int64_t now_ms)
{
    PGconn *c = k->pc.conn;
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && !PQconsumeInput(c)) {
        char msg[512];
        pgconn_flatten(msg, sizeof msg, PQerrorMessage(c));
        keeper_lost(k, now_ms, msg[0] ? msg : "read failed");
        return;
    }
    if (k->flushing && (revents & POLLOUT)) {
        int r = PQflush(c);
        if (r < 0) {
            keeper_lost(k, now_ms, "write failed");
            return;
        }
        k->flushing = r == 1;
    }
    PGresult *res;
    while (!PQisBusy(c) && (res = PQgetResult(c))) {
        if (k->busy)
            keeper_take_result(k, res);
        PQclear(res);
    }
    if (PQstatus(c) == CONNECTION_BAD) {
        keeper_lost(k, now_ms, "server closed the connection");
        return;
    }
    if (k->busy) {
        if (PQisBusy(c))
            return;
        keeper_done(k, now_ms);
    }
    if (!k->due || k->stopping || now_ms < k->at_ms)
        return;
    k->due = false;
    k->failed = false;
    k->added = 0;
    if (!PQsendQuery(c, ROLLUP_SQL)) {
        keeper_lost(k, now_ms, "send failed");
        return;
    }
    k->busy = true;
    int r = PQflush(c);
    if (r < 0)
        keeper_lost(k, now_ms, "write failed");
    else
        k->flushing = r == 1;
}

void rollup_keeper_service(struct rollup_keeper *k, short revents, int64_t now_ms)
{
    if (k->pc.state == PGCONN_DOWN) {
        if (!k->due || k->stopping || now_ms < k->pc.retry_at_ms)
            return;
        if (pgconn_start(&k->pc, now_ms) != 0)
            log_warn("rollup connection failed: %s; retrying in %u ms", k->pc.last_error, k->pc.retry_ms);
        return; /* wait for the socket to be writable before the first PQconnectPoll */
    }
    if (k->pc.state == PGCONN_CONNECTING) {
        enum pgconn_result r = pgconn_poll(&k->pc, revents != 0, now_ms);
        if (r == PGCONN_WAITING)
            return;
        if (r != PGCONN_READY) {
            log_warn("rollup connection %s; retrying in %u ms", r == PGCONN_TIMED_OUT ? "timed out" : k->pc.last_error,
                     k->pc.retry_ms);
            return;
        }
        char peer[160];
        pgconn_describe(&k->pc, peer, sizeof peer);
        log_info("rollup connection up (%s)", peer);
        revents = 0; /* those were the connection's events */
    }
    keeper_up(k, revents, now_ms);
}
