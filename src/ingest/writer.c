/* writer.c - the writer's jobs: COPY batches, rejects, presence, upkeep, and their results (see writer.h). */
#include "writer.h"

#include "writer_int.h"

#include "copy_format.h"
#include "core/log.h"
#include "core/timeutil.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

#define WRITER_MAINTAIN_RETRY_MS 300000 /* after a failed upkeep */
#define WRITER_COPY_CHUNK 65536
#define WRITER_COPY_ROW_MAX 512 /* bytes of one COPY row at most: 30 + topic */
#define WRITER_COPY_KEEP 65536  /* COPY buffer kept between batches; a larger one is freed once drained */
/*
 * A batch of QoS 0 readings only: its commit need not wait for the WAL flush
 * (nobody is acknowledged; see writer_config.qos0_async_commit). SET LOCAL
 * lasts until the end of the implicit transaction of this one query string,
 * so the COPY's commit is the only one it affects.
 */
#define WRITER_COPY_ASYNC_SQL "SET LOCAL synchronous_commit = off; " COPY_READINGS_SQL
/*
 * A small batch (at most cfg.insert_max rows, --insert-max, 16 by default; a lone reading is the usual
 * case below a few hundred a second: nothing arrived while the previous write
 * was under way) goes in one round trip instead of the COPY's two (the COPY
 * statement, then its data): a prepared INSERT of the rows of three binary
 * array parameters, unnest()ed in order, with the same triggers (one
 * statement, one NOTIFY). The QoS 0 variant sets synchronous_commit off for
 * its own transaction in the same statement (set_config(..., true) is SET
 * LOCAL; the filter is evaluated per row, before the commit). Both are
 * prepared by JOB_SESSION on every new connection.
 */
#define WRITER_INSERT "sensorpipe_readings"
#define WRITER_INSERT_ASYNC "sensorpipe_readings_async"
#define WRITER_INSERT_ROWS "INSERT INTO readings (ts, topic, value) SELECT * FROM unnest($1, $2, $3)"
#define WRITER_SESSION_SQL                                                                                             \
    "PREPARE " WRITER_INSERT " (timestamptz[], text[], float8[]) AS " WRITER_INSERT_ROWS "; "                          \
    "PREPARE " WRITER_INSERT_ASYNC " (timestamptz[], text[], float8[]) AS " WRITER_INSERT_ROWS                         \
    " WHERE set_config('synchronous_commit', 'off', true) = 'off'; "                                                   \
    "SET client_connection_check_interval = 1000"

void writer_init(struct writer *w, const struct writer_config *cfg, struct batchq *readings, struct rejectq *rejects,
                 struct presenceq *presence, struct ingest_stats *stats)
{
    memset(w, 0, sizeof *w);
    w->cfg = *cfg;
    w->readings = readings;
    w->rejects = rejects;
    w->presence = presence;
    w->stats = stats;
    w->state = WR_DOWN;
    w->job = JOB_NONE;
    w->last_job = JOB_MAINTAIN; /* so readings come first */
    /* room for a whole batch; a row is bounded, so only malloc can fail */
    sbuf_init(&w->copy, 0, readings->batch_max * WRITER_COPY_ROW_MAX + 1024);
    stmt_init(&w->stmt);
    const struct pgconn_config pcfg = writer_pgconn_config(cfg, "sensorpipe-ingest");
    pgconn_init(&w->pc, &pcfg, (uint32_t)time_now_us()); /* connects at once */
}

struct pgconn_config writer_pgconn_config(const struct writer_config *cfg, const char *app_name)
{
    /* client_encoding: every string the ingest sends is UTF-8 */
    return (struct pgconn_config){.conninfo = cfg->dsn,
                                  .app_name = app_name,
                                  .client_encoding = "UTF8",
                                  .password = cfg->db_password,
                                  .backoff_base_ms = WRITER_BACKOFF_BASE_MS,
                                  .backoff_max_ms = WRITER_BACKOFF_MAX_MS,
                                  .stable_ms = WRITER_STABLE_MS};
}

void writer_set_settle(struct writer *w, writer_settle_fn fn, void *ctx)
{
    w->settle = fn;
    w->settle_ctx = ctx;
}

static void writer_settle(struct writer *w, struct ack_ref ack)
{
    if (w->settle && ack.mid)
        w->settle(w->settle_ctx, ack);
}

void writer_set_known(struct writer *w, struct known *k)
{
    w->known = k;
}

void writer_free(struct writer *w)
{
    pgconn_close(&w->pc);
    sbuf_free(&w->copy);
    stmt_free(&w->stmt);
}

void writer_stop(struct writer *w)
{
    w->stopping = true;
}

bool writer_drained(const struct writer *w)
{
    return w->job == JOB_NONE && batchq_count(w->readings) == 0 && rejectq_count(w->rejects) == 0 &&
           presenceq_count(w->presence) == 0;
}

int writer_pollfd(const struct writer *w, short *events)
{
    int fd = w->pc.conn ? PQsocket(w->pc.conn) : -1;
    if (fd < 0)
        return -1;
    switch (w->state) {
    case WR_DOWN: /* the connection is being made */
        *events = w->pc.wait == PGCONN_WAIT_READ ? POLLIN : POLLOUT;
        break;
    case WR_COPY_DATA:
        /* blocked on a full output buffer; keep reading so the server is never stuck on us */
        *events = POLLIN | POLLOUT;
        break;
    default:
        /* idle: notice a server that closes the connection; else the results */
        *events = (short)(POLLIN | (w->flushing ? POLLOUT : 0));
        break;
    }
    return fd;
}

int64_t writer_next_timer(const struct writer *w)
{
    switch (w->state) {
    case WR_DOWN:
        return pgconn_next_timer(&w->pc);
    case WR_IDLE:
        return w->stopping ? INT64_MAX : w->maintain_at_ms;
    default:
        return INT64_MAX;
    }
}

/* ---- jobs ---- */

/* The queue job j writes rows from, or NULL for a job without rows. */
static struct rowq *writer_rows(const struct writer *w, enum writer_job j)
{
    switch (j) {
    case JOB_READINGS:
        return &w->readings->q;
    case JOB_REJECTS:
        return &w->rejects->q;
    case JOB_PRESENCE:
        return &w->presence->q;
    default:
        return NULL;
    }
}

/* Put the job's rows back in their queues, untouched, for the next attempt. */
void writer__job_retry(struct writer *w)
{
    struct rowq *q = writer_rows(w, w->job);
    if (q)
        rowq_retry(q);
    w->job = JOB_NONE;
}

static bool writer_has_work(const struct writer *w, enum writer_job j, int64_t now_ms)
{
    if (j == JOB_MAINTAIN)
        return !w->stopping && now_ms >= w->maintain_at_ms;
    const struct rowq *q = writer_rows(w, j);
    return q && rowq_count(q) > 0;
}

/* After a send: push what libpq buffered; -1 when the connection failed. */
static int writer_flush(struct writer *w)
{
    int r = PQflush(w->pc.conn);
    if (r < 0)
        return -1;
    w->flushing = r == 1;
    return 0;
}

/* A small batch: the rows as three arrays in w->copy, one INSERT. */
static int writer_send_insert(struct writer *w, size_t n)
{
    size_t at[3];
    sbuf_reset(&w->copy);
    at[0] = w->copy.len;
    copy_array_begin(&w->copy, COPY_OID_TIMESTAMPTZ, n);
    for (size_t i = 0; i < n; i++)
        copy_array_ts(&w->copy, batchq_row(w->readings, i)->ts_us);
    at[1] = w->copy.len;
    copy_array_begin(&w->copy, COPY_OID_TEXT, n);
    for (size_t i = 0; i < n; i++) {
        const struct reading_row *r = batchq_row(w->readings, i);
        copy_array_text(&w->copy, r->topic->text, r->topic->len);
    }
    at[2] = w->copy.len;
    copy_array_begin(&w->copy, COPY_OID_FLOAT8, n);
    for (size_t i = 0; i < n; i++)
        copy_array_f64(&w->copy, batchq_row(w->readings, i)->value);
    if (w->copy.failed) {
        log_error("database: out of memory formatting %zu readings", n);
        return -1;
    }
    const char *values[3] = {w->copy.data + at[0], w->copy.data + at[1], w->copy.data + at[2]};
    const int lengths[3] = {(int)(at[1] - at[0]), (int)(at[2] - at[1]), (int)(w->copy.len - at[2])};
    const int formats[3] = {1, 1, 1};
    if (!PQsendQueryPrepared(w->pc.conn, w->job_async ? WRITER_INSERT_ASYNC : WRITER_INSERT, 3, values, lengths,
                             formats, 0))
        return -1;
    w->state = WR_RESULT;
    return 0;
}

static int writer_send_readings(struct writer *w)
{
    size_t n = batchq_begin(w->readings);
    bool held_ack = false; /* a row whose message's PUBACK waits for this commit */
    for (size_t i = 0; i < n && !held_ack; i++)
        held_ack = batchq_row(w->readings, i)->ack.mid != 0;
    w->job_rows = n;
    w->job_async = w->cfg.qos0_async_commit && !held_ack;
    w->job_insert = n <= w->cfg.insert_max && w->insert_ready;
    if (w->job_insert)
        return writer_send_insert(w, n);
    sbuf_reset(&w->copy);
    copy_binary_header(&w->copy);
    for (size_t i = 0; i < n; i++) {
        const struct reading_row *r = batchq_row(w->readings, i);
        copy_binary_row(&w->copy, r->ts_us, r->topic->text, r->topic->len, r->value);
    }
    copy_binary_trailer(&w->copy);
    w->copy_off = 0;
    if (w->copy.failed) {
        log_error("database: out of memory formatting %zu readings", n);
        return -1;
    }
    if (!PQsendQuery(w->pc.conn, w->job_async ? WRITER_COPY_ASYNC_SQL : COPY_READINGS_SQL))
        return -1;
    w->state = WR_COPY_START;
    return 0;
}

static int writer_send_stmt(struct writer *w)
{
    if (!PQsendQueryParams(w->pc.conn, w->stmt.sql.data, w->stmt.nparams, NULL, w->stmt.values, w->stmt.lengths,
                           w->stmt.formats, 0))
        return -1;
    w->state = WR_RESULT;
    return 0;
}

/* Start job j. Returns -1 when the connection failed (the caller handles it). */
static int writer_start(struct writer *w, enum writer_job j)
{
    w->job = j;
    w->job_start_us = time_now_us();
    if (j != JOB_SESSION)
        w->last_job = j;
    w->job_failed = false;
    w->sqlstate[0] = w->errmsg[0] = w->note[0] = '\0';
    int rc;
    switch (j) {
    case JOB_READINGS:
        rc = writer_send_readings(w);
        break;
    case JOB_REJECTS:
        w->job_rows = rowq_begin(&w->rejects->q, STMT_MAX_ROWS);
        rc = stmt_rejects(&w->stmt, w->rejects, w->job_rows) == 0 ? writer_send_stmt(w) : -1;
        break;
    case JOB_PRESENCE:
        w->job_rows = rowq_begin(&w->presence->q, STMT_MAX_ROWS);
        rc = stmt_presence(&w->stmt, w->presence, w->job_rows) == 0 ? writer_send_stmt(w) : -1;
        break;
    case JOB_MAINTAIN:
        w->job_rows = 0;
        rc = PQsendQuery(w->pc.conn, "SELECT sensorpipe_maintain()") ? 0 : -1;
        if (rc == 0)
            w->state = WR_RESULT;
        break;
    case JOB_SESSION:
        w->job_rows = 0;
        w->session_set = true;
        rc = PQsendQuery(w->pc.conn, WRITER_SESSION_SQL) ? 0 : -1;
        if (rc == 0)
            w->state = WR_RESULT;
        break;
    default:
        rc = -1;
    }
    if (rc == 0)
        rc = writer_flush(w);
    return rc;
}

/* Record one result of the job under way (the first error wins). */
static void writer_take_result(struct writer *w, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK && PQntuples(res) > 0 && PQnfields(res) > 0)
        snprintf(w->note, sizeof w->note, "%s", PQgetvalue(res, 0, 0));
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_IN && !w->job_failed) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        w->job_failed = true;
        snprintf(w->sqlstate, sizeof w->sqlstate, "%s", state ? state : "");
        pgconn_flatten(w->errmsg, sizeof w->errmsg, PQresultErrorMessage(res));
        if (!w->errmsg[0])
            pgconn_flatten(w->errmsg, sizeof w->errmsg, PQerrorMessage(w->pc.conn));
    }
}

/* Class 22 (data exception) and 23 (integrity constraint): the rows are at fault, not the connection. */
static bool writer_data_error(const struct writer *w)
{
    return !strncmp(w->sqlstate, "22", 2) || !strncmp(w->sqlstate, "23", 2);
}

/* The database refused one reading: keep it in rejects as a JSON payload with the reason. */
static void writer_reject_reading(struct writer *w, const struct reading_row *r)
{
    struct sbuf payload, reason;
    char ts[TIME_RFC3339_LEN + 1];
    time_format_rfc3339(r->ts_us, ts);
    sbuf_init(&payload, 0, 256);
    sbuf_puts(&payload, "{\"value\":");
    sbuf_json_double(&payload, r->value);
    sbuf_printf(&payload, ",\"ts\":\"%s\"}", ts);
    sbuf_init(&reason, 0, 1024);
    sbuf_printf(&reason, "database refused the row: %s", w->errmsg);
    w->stats->rejected[REJECT_DATABASE]++;
    if (payload.failed || reason.failed ||
        rejectq_push(w->rejects, REJECT_DATABASE, r->topic->text, r->topic->len, payload.data, payload.len, reason.data,
                     time_now_us(), r->ack) != 0) {
        w->stats->rejects_lost++;
        log_error("reading on %s refused by the database and not kept (rejects queue full): %s", r->topic->text,
                  w->errmsg);
        writer_settle(w, r->ack); /* counted as lost: holding its PUBACK would only block the broker */
    }
    sbuf_free(&payload);
    sbuf_free(&reason);
}

static void writer_job_done(struct writer *w, int64_t now_ms)
{
    enum writer_job j = w->job;
    size_t n;
    if (!w->job_failed) {
        /* committed: the messages of these rows may be acknowledged */
        for (size_t i = 0; i < w->job_rows; i++) {
            if (j == JOB_READINGS)
                writer_settle(w, batchq_row(w->readings, i)->ack);
            else if (j == JOB_REJECTS)
                writer_settle(w, rejectq_row(w->rejects, i)->ack);
            else if (j == JOB_PRESENCE)
                writer_settle(w, presenceq_row(w->presence, i)->ack);
        }
        switch (j) {
        case JOB_READINGS:
            n = batchq_done(w->readings);
            w->stats->written += n;
            w->stats->batches++;
            w->stats->inserts += w->job_insert;
            if (n > w->stats->max_batch)
                w->stats->max_batch = n;
            log_debug("wrote %zu readings in one %s%s; %zu waiting; %.3f ms from send to commit", n,
                      w->job_insert ? "INSERT" : "COPY",
                      w->job_async ? " (QoS 0 only: commit without waiting for the WAL flush)" : "",
                      batchq_count(w->readings), (double)(time_now_us() - w->job_start_us) / 1000.0);
            if (!batchq_count(w->readings) && w->copy.cap > WRITER_COPY_KEEP)
                sbuf_free(&w->copy); /* the burst is over: give its buffer back (reusable, grows again) */
            break;
        case JOB_REJECTS:
            w->stats->rejects_written += rejectq_done(w->rejects);
            break;
        case JOB_PRESENCE:
            w->stats->presence += rowq_done(&w->presence->q);
            break;
        case JOB_MAINTAIN:
            log_info("maintenance: %s", w->note);
            w->maintain_at_ms = now_ms + WRITER_MAINTAIN_EVERY_MS;
            break;
        default:
            break;
        }
        if (j == JOB_SESSION)
            w->insert_ready = true;
        if (j != JOB_MAINTAIN && j != JOB_SESSION)
            backoff_reset(&w->pc.backoff);
        w->job = JOB_NONE;
        w->state = WR_IDLE;
        return;
    }

    if (j == JOB_SESSION) {
        /* not fatal: without it a statement in flight at a crash may still commit (more duplicates) */
        log_warn("database: session setup failed (%s); going on without client_connection_check_interval and the "
                 "INSERT of small batches (every batch by COPY)",
                 w->errmsg);
        w->job = JOB_NONE;
        w->state = WR_IDLE;
        return;
    }
    if (j == JOB_MAINTAIN) {
        log_warn("partition upkeep failed: %s; trying again in %d s", w->errmsg, WRITER_MAINTAIN_RETRY_MS / 1000);
        w->maintain_at_ms = now_ms + WRITER_MAINTAIN_RETRY_MS;
        w->job = JOB_NONE;
        w->state = WR_IDLE;
        return;
    }
    if (!writer_data_error(w)) {
        char why[600];
        snprintf(why, sizeof why, "%s%s%s", w->sqlstate, w->sqlstate[0] ? " " : "", w->errmsg);
        writer__lost(w, now_ms, why);
        return;
    }

    switch (j) {
    case JOB_READINGS:
        if (batchq_refused(w->readings) == 1) {
            writer_reject_reading(w, batchq_row(w->readings, 0));
            batchq_done(w->readings);
        } else
            log_warn("database refused a batch of %zu readings (%s %s); retrying in batches of %zu to find the row",
                     w->job_rows, w->sqlstate, w->errmsg, w->readings->limit);
        break;
    case JOB_REJECTS:
        for (size_t i = 0; i < w->job_rows; i++)
            writer_settle(w, rejectq_row(w->rejects, i)->ack); /* given up, counted as lost */
        n = rejectq_done(w->rejects);
        w->stats->rejects_lost += n;
        log_error("database refused %zu rejects rows, not kept: %s %s", n, w->sqlstate, w->errmsg);
        break;
    case JOB_PRESENCE:
        for (size_t i = 0; i < w->job_rows; i++) {
            const struct presence *e = presenceq_row(w->presence, i);
            char topic[TOPIC_LEVEL_MAX + 8], reason[600];
            snprintf(topic, sizeof topic, "%s/status", e->device);
            snprintf(reason, sizeof reason, "database refused the presence update: %s", w->errmsg);
            const char *word = e->online ? "online" : "offline";
            w->stats->rejected[REJECT_DATABASE]++;
            if (rejectq_push(w->rejects, REJECT_DATABASE, topic, strlen(topic), word, strlen(word), reason, e->ts_us,
                             e->ack) != 0) {
                w->stats->rejects_lost++;
                writer_settle(w, e->ack);
            }
        }
        rowq_done(&w->presence->q);
        log_error("database refused %zu presence updates (kept in rejects): %s %s", w->job_rows, w->sqlstate,
                  w->errmsg);
        break;
    default:
        break;
    }
    w->job = JOB_NONE;
    w->state = WR_IDLE;
}

/* Queue the COPY rows and the end of data; stops early when libpq's buffer is full. */
static int writer_copy_data(struct writer *w)
{
    while (w->copy_off < w->copy.len) {
        size_t n = w->copy.len - w->copy_off;
        if (n > WRITER_COPY_CHUNK)
            n = WRITER_COPY_CHUNK;
        int r = PQputCopyData(w->pc.conn, w->copy.data + w->copy_off, (int)n);
        if (r < 0)
            return -1;
        if (r == 0) {
            w->flushing = true;
            return 0;
        }
        w->copy_off += n;
    }
    int r = PQputCopyEnd(w->pc.conn, NULL);
    if (r < 0)
        return -1;
    if (r == 0) {
        w->flushing = true;
        return 0;
    }
    w->state = WR_RESULT;
    return writer_flush(w);
}

/* Move the statement under way as far as libpq allows without blocking. */
static void writer_progress(struct writer *w, int64_t now_ms)
{
    for (;;) {
        switch (w->state) {
        case WR_COPY_DATA:
            if (w->flushing)
                return;
            if (writer_copy_data(w) < 0) {
                /* the server may have ended the COPY with an error: read it if the connection is fine */
                if (PQstatus(w->pc.conn) == CONNECTION_BAD) {
                    writer__lost(w, now_ms, "sending COPY data failed");
                    return;
                }
                w->state = WR_RESULT;
            }
            if (w->state == WR_COPY_DATA)
                return;
            continue;
        case WR_COPY_START:
        case WR_RESULT: {
            if (PQisBusy(w->pc.conn))
                return;
            PGresult *res = PQgetResult(w->pc.conn);
            if (!res) {
                if (w->state == WR_COPY_START && !w->job_failed) {
                    w->job_failed = true;
                    snprintf(w->errmsg, sizeof w->errmsg, "COPY ended without taking data");
                }
                writer_job_done(w, now_ms);
                if (w->state == WR_DOWN)
                    return;
                continue;
            }
            bool copy_in = PQresultStatus(res) == PGRES_COPY_IN;
            writer_take_result(w, res);
            PQclear(res);
            if (copy_in && w->state == WR_COPY_START) {
                w->state = WR_COPY_DATA;
                continue;
            }
            if (copy_in) {
                /* unexpected COPY: end it so the connection comes back to idle */
                PQputCopyEnd(w->pc.conn, "unexpected COPY");
            }
            continue;
        }
        case WR_IDLE: {
            enum writer_job next = w->session_set ? JOB_NONE : JOB_SESSION;
            for (int k = 1; next == JOB_NONE && k <= JOB_KINDS; k++) {
                enum writer_job j = (enum writer_job)((w->last_job + k) % JOB_KINDS);
                if (writer_has_work(w, j, now_ms)) {
                    next = j;
                    break;
                }
            }
            if (next == JOB_NONE)
                return;
            if (writer_start(w, next) != 0) {
                writer__lost(w, now_ms, PQstatus(w->pc.conn) == CONNECTION_BAD ? "connection closed" : "send failed");
                return;
            }
            continue;
        }
        default:
            return;
        }
    }
}

void writer_service(struct writer *w, short revents, int64_t now_ms)
{
    if (w->state == WR_DOWN) {
        if (w->pc.state == PGCONN_DOWN) {
            /* PQconnectStart: wait for the socket to be writable before the first PQconnectPoll */
            if (now_ms >= w->pc.retry_at_ms)
                writer__connect_start(w, now_ms);
            return;
        }
        writer__connect_poll(w, revents != 0, now_ms);
        if (w->state != WR_IDLE)
            return;
        revents = 0; /* those were the connection's events */
    }

    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        if (!PQconsumeInput(w->pc.conn)) {
            char msg[512];
            pgconn_flatten(msg, sizeof msg, PQerrorMessage(w->pc.conn));
            writer__lost(w, now_ms, msg[0] ? msg : "read failed");
            return;
        }
        if (w->state == WR_IDLE) {
            /* nothing is expected while idle: a server closing the connection says so here */
            PGresult *res;
            while (!PQisBusy(w->pc.conn) && (res = PQgetResult(w->pc.conn)))
                PQclear(res);
            if (PQstatus(w->pc.conn) == CONNECTION_BAD) {
                writer__lost(w, now_ms, "server closed the connection");
                return;
            }
        }
    }
    if (w->flushing && (revents & POLLOUT || w->state == WR_COPY_DATA)) {
        if (writer_flush(w) < 0) {
            writer__lost(w, now_ms, "write failed");
            return;
        }
    }
    writer_progress(w, now_ms);
}
