/*
 * pgconn.h - one libpq connection's life, for both daemons: the connection
 * parameters (TCP keepalives and tcp_user_timeout, so a dead database link is
 * noticed), the non-blocking connect (PQconnectStartParams / PQconnectPoll)
 * with a timeout, reconnect back-off, and libpq messages flattened to one line.
 *
 * It watches no socket and arms no timer: the caller's event loop (the
 * ingest's poll(), serve's libwebsockets) watches PQsocket(conn) for `wait`
 * while CONNECTING, wakes at pgconn_next_timer(), and calls back. It logs only
 * server notices (debug level, one line each); failures are left in
 * last_error and retry_ms for the caller's own log line.
 *
 * States, named after who holds the connection:
 *   PGCONN_DOWN        conn NULL; the caller's timer starts the next attempt at retry_at_ms
 *   PGCONN_CONNECTING  conn owned, PQconnectPoll under way: waits for `wait` or deadline_ms
 *   PGCONN_UP          conn owned, non-blocking: the caller's statements run on it
 *
 *   DOWN --pgconn_start--> CONNECTING --pgconn_poll: READY--> UP
 *   back to DOWN: pgconn_start refused at once, pgconn_poll FAILED or
 *   TIMED_OUT, pgconn_lost (from CONNECTING or UP)
 *
 * Every way back to DOWN draws the next delay from the back-off; a connection
 * lost after stable_ms UP starts the back-off again from its base.
 */
#ifndef SP_CORE_PGCONN_H
#define SP_CORE_PGCONN_H

#include "firmware/core/backoff.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PGCONN_CONNECT_TIMEOUT_MS 10000
#define PGCONN_PARAMS_MAX 11 /* keys (and values) pgconn_params() writes at most, with the NULL */

struct pgconn_config {
    const char *conninfo;        /* libpq string or URI, expanded as "dbname"; "" = PG* variables; borrowed */
    const char *app_name;        /* fallback_application_name; borrowed */
    const char *options;         /* libpq "options" (e.g. "-c statement_timeout=30000"), or NULL; borrowed */
    const char *client_encoding; /* set after the conninfo, so it cannot be overridden; or NULL; borrowed */
    const char *password; /* from a --db-password-file, set after the conninfo; or NULL; borrowed, never logged */
    uint32_t backoff_base_ms;
    uint32_t backoff_max_ms;
    int64_t stable_ms; /* a connection lost after this long UP restarts the back-off from its base */
};

enum pgconn_state {
    PGCONN_DOWN,
    PGCONN_CONNECTING,
    PGCONN_UP,
};

/* The socket event PQconnectPoll waits for (CONNECTING only). */
enum pgconn_wait {
    PGCONN_WAIT_READ,
    PGCONN_WAIT_WRITE,
};

/* What pgconn_poll() did. */
enum pgconn_result {
    PGCONN_WAITING,   /* still CONNECTING: watch `wait` on PQsocket(conn) (it may be a new socket) */
    PGCONN_READY,     /* now UP */
    PGCONN_FAILED,    /* now DOWN: last_error says why, the retry is at retry_at_ms */
    PGCONN_TIMED_OUT, /* now DOWN: no answer within PGCONN_CONNECT_TIMEOUT_MS */
};

struct pgconn {
    struct pgconn_config cfg; /* its strings borrowed */
    enum pgconn_state state;
    PGconn *conn;          /* owned; NULL when DOWN */
    enum pgconn_wait wait; /* CONNECTING: what the socket must show before the next pgconn_poll */
    struct backoff backoff;
    int64_t retry_at_ms;  /* DOWN: monotonic ms of the next attempt */
    uint32_t retry_ms;    /* the delay drawn when it last went DOWN */
    int64_t deadline_ms;  /* CONNECTING: given up at this time */
    int64_t up_at_ms;     /* UP: since when */
    bool repeated;        /* last_error is the same as the failure before it (for quieter logs) */
    char last_error[512]; /* the last failure, on one line; "" once UP */
};

/*
 * Copy msg (a libpq message; NULL is "") into out on one line: every run of
 * spaces, tabs and line breaks becomes one space, none at either end. Always
 * NUL-terminates (outlen > 0). Returns the length written.
 */
size_t pgconn_flatten(char *out, size_t outlen, const char *msg);

/*
 * The keys and values for PQconnectStartParams (expand_dbname = 1), NULL-
 * terminated, at most PGCONN_PARAMS_MAX of each: application name,
 * keepalives, tcp_user_timeout and options before the conninfo (so the user's
 * conninfo may override them), client_encoding and password after it (the
 * password of --db-password-file wins over one in the conninfo). The values
 * are borrowed from cfg and static strings. Returns the count without the
 * NULL, or -1 when n is too small.
 */
int pgconn_params(const struct pgconn_config *cfg, const char **keys, const char **vals, size_t n);

/*
 * A blocking connection with the same parameters (PQconnectdbParams), for the
 * start-up work done before an event loop runs (migrations). Never NULL
 * unless out of memory; check PQstatus().
 */
PGconn *pgconn_connect_blocking(const struct pgconn_config *cfg);

/* DOWN, first attempt due at once. Copies cfg (not its strings); seed drives the back-off's jitter (not 0). */
void pgconn_init(struct pgconn *pc, const struct pgconn_config *cfg, uint32_t seed);
/*
 * DOWN -> CONNECTING (0; then wait for PGCONN_WAIT_WRITE), or back to DOWN with
 * a retry drawn when libpq refuses at once (-1; last_error says why).
 */
int pgconn_start(struct pgconn *pc, int64_t now_ms);
/*
 * CONNECTING only. ready: the socket showed `wait` (or an error), so
 * PQconnectPoll is called; otherwise only the deadline is checked.
 */
enum pgconn_result pgconn_poll(struct pgconn *pc, bool ready, int64_t now_ms);
/*
 * The connection is unusable (CONNECTING or UP): finish it, record why (may
 * point into the PGconn, e.g. PQerrorMessage; "" or NULL reads "unknown
 * error"), go DOWN with a retry. Nothing when already DOWN. Returns retry_ms.
 */
uint32_t pgconn_lost(struct pgconn *pc, int64_t now_ms, const char *why);
/* Finish the connection for good (DOWN, no retry meant): at shutdown. */
void pgconn_close(struct pgconn *pc);
/* Monotonic ms the caller must call back at: retry_at_ms (DOWN), deadline_ms (CONNECTING), INT64_MAX (UP). */
int64_t pgconn_next_timer(const struct pgconn *pc);
/* "host=... port=... dbname=... user=..." of conn ("?" for what libpq does not say), for log lines. */
void pgconn_describe(const struct pgconn *pc, char *out, size_t outlen);

#endif
