/*
 * writer_conn.c - the writer's side of its connection (core/pgconn.h makes
 * it): the log lines, the setup at the first connection, and a loss, which
 * puts the job's rows back (see writer.h).
 */
#include "writer.h"

#include "writer_int.h"

#include "core/log.h"
#include "core/migrate.h"
#include "core/timeutil.h"

/* Log a failed attempt (pc is DOWN again, its retry drawn). */
static void writer_connect_failed(struct writer *w, enum pgconn_result r)
{
    if (r == PGCONN_TIMED_OUT)
        log_warn("database connection timed out after %d ms; retrying in %u ms", PGCONN_CONNECT_TIMEOUT_MS,
                 w->pc.retry_ms);
    else
        log_warn("database connection failed: %s; retrying in %u ms", w->pc.last_error, w->pc.retry_ms);
}

void writer__connect_start(struct writer *w, int64_t now_ms)
{
    if (pgconn_start(&w->pc, now_ms) != 0)
        writer_connect_failed(w, PGCONN_FAILED);
}

/* Blocking work allowed once, at the first connection: migrations and partition upkeep. */
static int writer_setup(struct writer *w)
{
    char err[1024];
    bool owner = false;
    if (w->cfg.migrate) {
        int n = migrate_at_start(w->pc.conn, &owner, err, sizeof err);
        if (n < 0) {
            char msg[1024];
            pgconn_flatten(msg, sizeof msg, err);
            log_error("%s: %s", owner ? "database migration failed" : "database schema check failed", msg);
            return -1;
        }
        if (owner)
            log_info("schema up to date (%d migration%s applied)", n, n == 1 ? "" : "s");
    } else if (w->cfg.retention_days >= 0 && migrate_is_owner(w->pc.conn, NULL, NULL, 0, err, sizeof err) == 1)
        owner = true;
    long retention = w->cfg.retention_days;
    if (retention >= 0 && !owner) {
        log_warn("--retention-days %ld not stored: only the schema's owner changes the settings "
                 "(`sensorpipe migrate --retention-days %ld` as the owner); the stored retention applies",
                 retention, retention);
        retention = -1;
    }
    if (migrate_maintain(w->pc.conn, retention, err, sizeof err) != 0) {
        char msg[1024];
        pgconn_flatten(msg, sizeof msg, err);
        /* not fatal: the readings table may still take rows; upkeep runs again within the hour */
        log_warn("partition upkeep failed: %s", msg);
    }
    return 0;
}

/*
 * Every distinct topic of readings (a skip scan of readings_topic_ts_idx: one index probe per
 * topic, as /api/topics does) and every device of devices.
 */
static const char KNOWN_SQL[] =
    "WITH RECURSIVE t(topic) AS ("
    " SELECT min(topic) FROM readings"
    " UNION ALL"
    " SELECT (SELECT min(r.topic) FROM readings r WHERE r.topic > t.topic) FROM t WHERE t.topic IS NOT NULL)"
    " SELECT false, topic FROM t WHERE topic IS NOT NULL"
    " UNION ALL SELECT true, device FROM devices";

/* Fill the known table from the store, a row at a time (blocking, like the setup). 0, or -1 (logged). */
static int writer_load_known(struct writer *w)
{
    PGconn *c = w->pc.conn;
    size_t topics = 0, devices = 0;
    int rc = 0;
    if (!PQsendQuery(c, KNOWN_SQL) || !PQsetSingleRowMode(c)) {
        char msg[512];
        pgconn_flatten(msg, sizeof msg, PQerrorMessage(c));
        log_warn("cannot read the stored topics and devices: %s", msg);
        return -1;
    }
    PGresult *r;
    while ((r = PQgetResult(c))) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && rc == 0) {
            bool dev = PQgetvalue(r, 0, 0)[0] == 't';
            if (known_add_stored(w->known, PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1), dev) != 0) {
                log_warn("out of memory loading the stored topics and devices");
                rc = -1;
            }
            dev ? devices++ : topics++;
        } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && rc == 0) {
            char msg[512];
            pgconn_flatten(msg, sizeof msg, PQresultErrorMessage(r));
            log_warn("cannot read the stored topics and devices: %s", msg);
            rc = -1;
        }
        PQclear(r);
    }
    if (rc == 0) {
        w->known->loaded = true;
        log_info("known: %zu stored topics, %zu devices with presence; bounds: %zu devices, %zu topics a device",
                 topics, devices, w->known->max_devices, w->known->max_topics);
    }
    return rc;
}

/* pc is UP (non-blocking; the setup's PQexec blocks all the same). */
static void writer_connected_ok(struct writer *w, int64_t now_ms)
{
    pgconn_describe(&w->pc, w->peer, sizeof w->peer);
    if (!w->setup_done) {
        if (writer_setup(w) != 0) {
            pgconn_lost(&w->pc, now_ms, "setup failed"); /* logged above; retried with backoff */
            return;
        }
        w->setup_done = true;
        now_ms = time_mono_ms(); /* the setup blocked */
        w->maintain_at_ms = now_ms + WRITER_MAINTAIN_EVERY_MS;
    }
    if (w->known && !w->known->loaded && writer_load_known(w) != 0) {
        /* the bounds hold for what this process admits; the next connection tries the load again */
        if (PQstatus(w->pc.conn) == CONNECTION_BAD) {
            pgconn_lost(&w->pc, now_ms, "connection lost while loading the known topics");
            return;
        }
    }
    w->state = WR_IDLE;
    w->session_set = false; /* JOB_SESSION runs first on this connection */
    w->insert_ready = false;
    if (w->ever_connected)
        w->stats->db_reconnects++;
    w->ever_connected = true;
    log_info("database connected (%s); %zu readings queued", w->peer, batchq_count(w->readings));
}

/* ready: the socket showed the event PQconnectPoll waits for. Also enforces the connect timeout. */
void writer__connect_poll(struct writer *w, bool ready, int64_t now_ms)
{
    enum pgconn_result r = pgconn_poll(&w->pc, ready, now_ms);
    if (r == PGCONN_READY)
        writer_connected_ok(w, now_ms);
    else if (r != PGCONN_WAITING)
        writer_connect_failed(w, r);
}

/* The connection is unusable (or the server refused for a reason that is not the data): start over. */
void writer__lost(struct writer *w, int64_t now_ms, const char *why)
{
    writer__job_retry(w);
    w->flushing = false;
    w->state = WR_DOWN;
    uint32_t ms = pgconn_lost(&w->pc, now_ms, why);
    log_warn("database connection lost (%s); %zu readings queued, reconnecting in %u ms", w->pc.last_error,
             batchq_count(w->readings), ms);
}
