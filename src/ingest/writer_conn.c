/* writer_conn.c - the writer's connection: non-blocking connect, setup at the first one, loss and backoff (see writer.h). */
#include "writer.h"

#include "writer_int.h"

#include "core/log.h"
#include "core/migrate.h"
#include "core/timeutil.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

#define WRITER_CONNECT_TIMEOUT_MS 10000
#define WRITER_STABLE_MS 10000 /* a connection that lived this long resets the backoff */

/* One line from a libpq message: runs of newlines, tabs and spaces become one space, no trailing space. */
void writer__flatten(char *out, size_t outlen, const char *msg)
{
    size_t n = 0;
    bool space = false;
    for (const char *p = msg ? msg : ""; *p && n + 1 < outlen; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < outlen)
            out[n++] = ' ';
        space = false;
        out[n++] = *p;
    }
    out[n] = '\0';
}

static void writer_notice(void *arg, const char *message)
{
    (void)arg;
    char line[512];
    writer__flatten(line, sizeof line, message);
    log_debug("database notice: %s", line);
}

static void writer_schedule_retry(struct writer *w, int64_t now_ms)
{
    w->retry_at_ms = now_ms + backoff_next_ms(&w->backoff);
    w->state = WR_DOWN;
}

static void writer_describe_peer(struct writer *w)
{
    const char *host = PQhost(w->conn);
    const char *port = PQport(w->conn);
    const char *db = PQdb(w->conn);
    const char *user = PQuser(w->conn);
    snprintf(w->peer, sizeof w->peer, "host=%s port=%s dbname=%s user=%s", host ? host : "?", port ? port : "?",
             db ? db : "?", user ? user : "?");
}

void writer__connect_start(struct writer *w, int64_t now_ms)
{
    /*
     * Our settings come before the user's connection string (expanded from
     * "dbname") so the user may override them; client_encoding comes after,
     * because every string the ingest sends is UTF-8.
     */
    const char *keys[] = {"fallback_application_name", "keepalives_idle", "keepalives_interval", "keepalives_count",
                          "tcp_user_timeout", "dbname", "client_encoding", NULL};
    const char *vals[] = {"sensorpipe-ingest", "30", "10", "3", "60000", w->cfg.dsn, "UTF8", NULL};
    w->conn = PQconnectStartParams(keys, vals, 1);
    if (!w->conn) {
        log_error("database: out of memory starting a connection");
        writer_schedule_retry(w, now_ms);
        return;
    }
    if (PQstatus(w->conn) == CONNECTION_BAD) {
        char msg[512];
        writer__flatten(msg, sizeof msg, PQerrorMessage(w->conn));
        PQfinish(w->conn);
        w->conn = NULL;
        writer_schedule_retry(w, now_ms);
        log_warn("database connection failed: %s; retrying in %lld ms", msg, (long long)(w->retry_at_ms - now_ms));
        return;
    }
    w->state = WR_CONNECTING;
    w->connect_events = POLLOUT; /* PQconnectStart: behave as if PQconnectPoll said WRITING */
    w->connect_deadline_ms = now_ms + WRITER_CONNECT_TIMEOUT_MS;
}

/* Blocking work allowed once, at the first connection: migrations and partition upkeep. */
static int writer_setup(struct writer *w)
{
    char err[1024];
    if (w->cfg.migrate) {
        int n = migrate_run(w->conn, err, sizeof err);
        if (n < 0) {
            char msg[1024];
            writer__flatten(msg, sizeof msg, err);
            log_error("database migration failed: %s", msg);
            return -1;
        }
        log_info("schema up to date (%d migration%s applied)", n, n == 1 ? "" : "s");
    }
    if (migrate_maintain(w->conn, w->cfg.retention_days, err, sizeof err) != 0) {
        char msg[1024];
        writer__flatten(msg, sizeof msg, err);
        /* not fatal: the readings table may still take rows; upkeep runs again within the hour */
        log_warn("partition upkeep failed: %s", msg);
    }
    return 0;
}

static void writer_connected_ok(struct writer *w, int64_t now_ms)
{
    writer_describe_peer(w);
    PQsetNoticeProcessor(w->conn, writer_notice, NULL);
    if (!w->setup_done) {
        if (writer_setup(w) != 0) {
            PQfinish(w->conn);
            w->conn = NULL;
            writer_schedule_retry(w, now_ms);
            return;
        }
        w->setup_done = true;
        now_ms = time_mono_ms(); /* the setup blocked */
        w->maintain_at_ms = now_ms + WRITER_MAINTAIN_EVERY_MS;
    }
    if (PQsetnonblocking(w->conn, 1) != 0) {
        writer__lost(w, now_ms, "cannot set non-blocking mode");
        return;
    }
    w->state = WR_IDLE;
    w->session_set = false; /* JOB_SESSION runs first on this connection */
    w->connected_at_ms = now_ms;
    if (w->ever_connected)
        w->stats->db_reconnects++;
    w->ever_connected = true;
    log_info("database connected (%s); %zu readings queued", w->peer, batchq_count(w->readings));
}

/* ready: the socket showed the event PQconnectPoll waits for. Also enforces the connect timeout. */
void writer__connect_poll(struct writer *w, bool ready, int64_t now_ms)
{
    if (ready) {
        switch (PQconnectPoll(w->conn)) {
        case PGRES_POLLING_READING:
            w->connect_events = POLLIN;
            break;
        case PGRES_POLLING_WRITING:
            w->connect_events = POLLOUT;
            break;
        case PGRES_POLLING_OK:
            writer_connected_ok(w, now_ms);
            return;
        default: {
            char msg[512];
            writer__flatten(msg, sizeof msg, PQerrorMessage(w->conn));
            PQfinish(w->conn);
            w->conn = NULL;
            writer_schedule_retry(w, now_ms);
            log_warn("database connection failed: %s; retrying in %lld ms", msg,
                     (long long)(w->retry_at_ms - now_ms));
            return;
        }
        }
    }
    if (now_ms >= w->connect_deadline_ms) {
        PQfinish(w->conn);
        w->conn = NULL;
        writer_schedule_retry(w, now_ms);
        log_warn("database connection timed out after %d ms; retrying in %lld ms", WRITER_CONNECT_TIMEOUT_MS,
                 (long long)(w->retry_at_ms - now_ms));
    }
}

/* The connection is unusable (or the server refused for a reason that is not the data): start over. */
void writer__lost(struct writer *w, int64_t now_ms, const char *why)
{
    writer__job_retry(w);
    if (w->conn)
        PQfinish(w->conn);
    w->conn = NULL;
    w->flushing = false;
    if (now_ms - w->connected_at_ms >= WRITER_STABLE_MS)
        backoff_reset(&w->backoff);
    writer_schedule_retry(w, now_ms);
    log_warn("database connection lost (%s); %zu readings queued, reconnecting in %lld ms", why,
             batchq_count(w->readings), (long long)(w->retry_at_ms - now_ms));
}

