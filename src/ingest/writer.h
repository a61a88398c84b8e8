/*
 * writer.h - the ingest's one PostgreSQL connection, driven from the event loop.
 *
 * libpq in non-blocking mode: the connection is made with PQconnectStartParams
 * / PQconnectPoll, statements are sent with PQsendQuery / PQputCopyData and
 * results collected with PQconsumeInput / PQisBusy / PQgetResult, so a slow or
 * dead database never stalls the MQTT side. One statement at a time; while it
 * is under way the queues fill, and the next statement takes all that waits
 * (group commit, see batch.h).
 *
 * Jobs, taken in turn when the connection is idle: a binary COPY of readings
 * (copy_format.h; with synchronous_commit off for its transaction when no row
 * holds a PUBACK and cfg.qos0_async_commit is set), an
 * INSERT of rejects, an upsert of presence, and the hourly partition upkeep.
 * Before them, once per connection, the session settings (JOB_SESSION):
 * client_connection_check_interval (PostgreSQL 14+), so a statement still
 * running when the ingest dies is cancelled within a second instead of
 * committing later - a late commit would turn the broker's redelivery of its
 * messages into duplicates. Its failure (an older server, a pooler) is only logged.
 *
 * The connection itself (parameters with TCP keepalives, connect timeout,
 * backoff) is core/pgconn.h's; the writer drives it from the ingest's poll().
 *
 * Failures: a lost connection (or any error that is not about the data)
 * keeps the job's rows queued, closes the connection and reconnects with
 * backoff; the same rows are written after the reconnect. A data error
 * (SQLSTATE class 22 or 23) narrows the batch down to the row at fault, which
 * goes to rejects. At the first connection only, migrations (--migrate: as
 * the schema's owner; as another role, such as sensorpipe_ingest, only the
 * schema's version is checked) and migrate_maintain() run in blocking mode
 * before anything else; then, once, the stored topics and devices are loaded
 * into the known table (known.h). The upkeep, sensorpipe_maintain(), is
 * SECURITY DEFINER: it runs as the owner whoever calls it (db/006).
 */
#ifndef SP_INGEST_WRITER_H
#define SP_INGEST_WRITER_H

#include "batch.h"
#include "core/pgconn.h"
#include "known.h"
#include "core/sbuf.h"
#include "presence.h"
#include "reject.h"
#include "statements.h"
#include "stats.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

struct writer_config {
    const char *dsn;         /* borrowed; "" = libpq defaults and PG* variables */
    const char *db_password; /* borrowed, from --db-password-file; NULL: none (libpq's own ways apply) */
    bool migrate;            /* migrate_at_start() at the first connection (migrates as the schema's owner only) */
    long retention_days;     /* given to migrate_maintain() at the first connection (as the owner only) */
    /*
     * Commit a COPY whose rows are all untracked (QoS 0, or QoS 1 without held
     * PUBACKs) with synchronous_commit off: no acknowledgement waits for it, so
     * the WAL flush need not either. A batch holding a PUBACK always waits.
     */
    bool qos0_async_commit;
    size_t insert_max; /* batches of at most this many readings by the prepared INSERT (writer.c); 0: all by COPY */
};

/* Named after what holds the connection in each state. */
enum writer_state {
    WR_DOWN,       /* pc not UP: DOWN (retry timer) or CONNECTING (pc.wait, deadline); pc.state says which */
    WR_IDLE,       /* pc UP, no statement under way */
    WR_COPY_START, /* COPY sent; waiting for the server to take data (PGRES_COPY_IN) */
    WR_COPY_DATA,  /* rows and end-of-data being queued and flushed */
    WR_RESULT,     /* statement sent; collecting results until PQgetResult gives NULL */
};

/* Jobs taken in turn (JOB_KINDS of them), and JOB_SESSION: once per connection, before the others. */
enum writer_job {
    JOB_READINGS = 0,
    JOB_REJECTS,
    JOB_PRESENCE,
    JOB_MAINTAIN,
    JOB_KINDS,
    JOB_SESSION = JOB_KINDS,
    JOB_NONE = -1
};

/*
 * Called once for the ack reference of every row the writer is done with:
 * the row is committed, or it was given up and counted as lost (rejects the
 * database refused, refused rows the full rejects queue could not keep). A row
 * that moves to another queue (a reading the database refused becomes a
 * reject) takes its reference along and is settled when that row is.
 */
typedef void (*writer_settle_fn)(void *ctx, struct ack_ref ack);

struct writer {
    struct writer_config cfg;
    struct batchq *readings; /* borrowed queues and counters */
    struct rejectq *rejects;
    struct presenceq *presence;
    struct ingest_stats *stats;
    writer_settle_fn settle; /* may be NULL */
    void *settle_ctx;
    struct known *known; /* borrowed, may be NULL: filled with what is stored at the first connection */

    struct pgconn pc; /* owned: the connection (pc.conn) and its reconnects */
    enum writer_state state;
    enum writer_job job;      /* under way, or JOB_NONE */
    enum writer_job last_job; /* the previous one, for taking turns */
    size_t job_rows;          /* rows of the job under way */
    bool job_async;           /* the readings job under way commits with synchronous_commit off */
    bool job_insert;          /* ... and is a small batch by the prepared INSERT, not a COPY */
    struct sbuf copy;         /* owned: COPY data of the readings batch under way (or the INSERT's array parameters) */
    size_t copy_off;          /* bytes of it handed to libpq */
    struct stmt stmt;         /* owned: rejects / presence statement under way */
    bool flushing;            /* PQflush left data: wait for the socket to be writable */

    bool job_failed; /* an error result came back for the job */
    char sqlstate[6];
    char errmsg[512];
    char note[256]; /* first value of a SELECT (maintenance summary) */

    int64_t maintain_at_ms; /* next partition upkeep */
    int64_t job_start_us;   /* wall clock when the job under way was sent (for the debug log's write time) */
    bool setup_done;        /* migrations and maintenance at start ran */
    bool session_set;       /* this connection's session settings were sent (JOB_SESSION) */
    bool insert_ready;      /* ... and the INSERTs of small batches are prepared on it */
    bool ever_connected;
    bool stopping;  /* shutting down: no more upkeep, only flushing */
    char peer[160]; /* "host=... port=... dbname=..." for log lines */
};

/* The connection parameters of the writer (app_name given), for another connection of the ingest (rollup_keeper.h). */
struct pgconn_config writer_pgconn_config(const struct writer_config *cfg, const char *app_name);
/* The writer borrows cfg strings, queues and stats; they must outlive it. */
void writer_init(struct writer *w, const struct writer_config *cfg, struct batchq *readings, struct rejectq *rejects,
                 struct presenceq *presence, struct ingest_stats *stats);
/* Tell fn (with ctx) about every row that is durable or given up (see writer_settle_fn). */
void writer_set_settle(struct writer *w, writer_settle_fn fn, void *ctx);
/* Load the stored topics and devices into k (borrowed) once a connection is up (see known.h). */
void writer_set_known(struct writer *w, struct known *k);
/* Close the connection and free the writer's buffers (not the queues). */
void writer_free(struct writer *w);

/* The socket to poll and its events, or -1 when none (waiting on a timer). */
int writer_pollfd(const struct writer *w, short *events);
/* Advance after poll: revents for the socket (0 when woken for another reason). Starts the next job when idle. */
void writer_service(struct writer *w, short revents, int64_t now_ms);
/* Monotonic ms of the next timer the writer needs (INT64_MAX when none). */
int64_t writer_next_timer(const struct writer *w);
/* From now on only flush: no partition upkeep. */
void writer_stop(struct writer *w);
/* True when no statement is under way and every queue is empty. */
bool writer_drained(const struct writer *w);

#endif
