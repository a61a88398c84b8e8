/*
 * pgconn.h - one non-blocking libpq connection driven by the lws event loop,
 * reconnecting with backoff.
 *
 * The libpq socket is dup()ed and adopted into lws as a raw file
 * (LWS_ADOPT_RAW_FILE_DESC) bound to the "pg" protocol, whose callback is
 * pgc_lws_callback(); lws closes the descriptor it adopted, libpq its own. The
 * connect itself is asynchronous too (PQconnectStartParams/PQconnectPoll, with
 * a timeout), and the socket is re-adopted if libpq changes it while trying
 * several addresses. When the connection fails or drops, libpq's connection is
 * finished, the `down` hook runs and a lws_sul timer tries again after
 * backoff_next_ms().
 *
 * Life cycle: DOWN --timer--> CONNECTING --PQconnectPoll OK--> UP --error--> DOWN.
 * The user owns struct pgc; the pgc owns conn and its adopted wsi.
 */
#ifndef SP_SERVE_PGCONN_H
#define SP_SERVE_PGCONN_H

#include "firmware/core/backoff.h"

#include <libpq-fe.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#define PGC_PROTOCOL "sensorpipe-pg" /* lws protocol name the sockets are adopted into */

enum pgc_state {
    PGC_DOWN,       /* no connection; the retry timer is armed (unless stopped) */
    PGC_CONNECTING, /* conn being set up; timeout timer armed */
    PGC_UP,         /* ready for queries */
};

struct pgc;

struct pgc_hooks {
    void (*up)(struct pgc *c, void *arg);                    /* connection ready */
    void (*input)(struct pgc *c, void *arg);                 /* input consumed: results and notifies may wait */
    void (*down)(struct pgc *c, void *arg, const char *why); /* lost; c->conn is already gone */
};

struct pgc {
    const char *name;     /* "listen" / "query", for logs */
    const char *conninfo; /* libpq string or URI; borrowed, outlives the pgc */
    const char *app_name; /* fallback_application_name */
    const char *options;  /* libpq "options" (e.g. "-c statement_timeout=30000"), or NULL; borrowed */
    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct pgc_hooks hooks;
    void *arg;

    enum pgc_state state;
    PGconn *conn;
    struct lws *wsi; /* adopted dup of PQsocket(conn); its opaque user data points back here */
    int sock;        /* PQsocket(conn) the wsi was made for */
    bool want_flush; /* PQflush said there is more to send */
    bool stopped;    /* pgc_stop() ran: no more retries */
    struct backoff backoff;
    lws_sorted_usec_list_t sul; /* retry or connect timeout */
    /* asks lws for a writable callback from outside one: lws 4.1 drops a request
     * made inside LWS_CALLBACK_RAW_WRITEABLE_FILE once that callback returns */
    lws_sorted_usec_list_t writable_sul;
    bool in_writable; /* inside the RAW_WRITEABLE_FILE callback */
    uint64_t failures;          /* connections lost or failed to open */
    char last_error[256];
};

/* Set up (nothing connects until pgc_start). */
void pgc_init(struct pgc *c, const char *name, const char *conninfo, const char *app_name, struct lws_context *ctx,
              struct lws_vhost *vh, const struct pgc_hooks *hooks, void *arg);
/* Connect now (and reconnect forever after failures). */
void pgc_start(struct pgc *c);
/* Flush pending output after PQsend*; asks lws for writability when libpq could not send it all. 0 or -1. */
int pgc_flush(struct pgc *c);
/* Drop the connection (e.g. a send failed) and schedule a retry; runs the down hook. */
void pgc_fail(struct pgc *c, const char *why);
/*
 * Stop for good: cancel the timer, finish libpq, detach the wsi (lws closes it
 * when the context goes). No hooks run. Call before lws_context_destroy.
 */
void pgc_stop(struct pgc *c);
/* The lws callback of the PGC_PROTOCOL raw-file protocol. */
int pgc_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

#endif
