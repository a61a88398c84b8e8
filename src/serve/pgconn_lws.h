/*
 * pgconn_lws.h - a core/pgconn.h connection driven by the lws event loop.
 *
 * core/pgconn makes the connection (parameters with TCP keepalives, the
 * asynchronous connect with its timeout, back-off, one-line errors); this
 * layer only watches it from lws. The libpq socket is dup()ed and adopted into
 * lws as a raw file (LWS_ADOPT_RAW_FILE_DESC) bound to the PGC_PROTOCOL
 * protocol, whose callback is pgc_lws_callback(); lws closes the descriptor it
 * adopted, libpq its own. The socket is re-adopted if libpq changes it while
 * trying several addresses. One lws_sul timer runs the retry and the connect
 * timeout. When the connection fails or drops, the `down` hook runs and the
 * timer tries again after the back-off.
 *
 * Life cycle: pc.state, DOWN --timer--> CONNECTING --PQconnectPoll OK--> UP --error--> DOWN.
 * The user owns struct pgc; the pgc owns pc (and so the PGconn) and its adopted wsi.
 */
#ifndef SP_SERVE_PGCONN_LWS_H
#define SP_SERVE_PGCONN_LWS_H

#include "core/pgconn.h"

#include <libpq-fe.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#define PGC_PROTOCOL "sensorpipe-pg" /* lws protocol name the sockets are adopted into */

struct pgc;

struct pgc_hooks {
    void (*up)(struct pgc *c, void *arg);                    /* connection ready */
    void (*input)(struct pgc *c, void *arg);                 /* input consumed: results and notifies may wait */
    void (*down)(struct pgc *c, void *arg, const char *why); /* lost; pc.conn is already gone */
};

struct pgc {
    const char *name; /* "listen" / "query", for logs */
    struct pgconn pc; /* the connection: pc.state, pc.conn (owned) */
    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct pgc_hooks hooks;
    void *arg;

    struct lws *wsi;            /* adopted dup of PQsocket(pc.conn); its opaque user data points back here */
    int sock;                   /* PQsocket(pc.conn) the wsi was made for */
    bool want_flush;            /* PQflush said there is more to send */
    bool stopped;               /* pgc_stop() ran: no more retries */
    lws_sorted_usec_list_t sul; /* retry (DOWN) or connect timeout (CONNECTING) */
    /* asks lws for a writable callback from outside one: lws 4.1 drops a request
     * made inside LWS_CALLBACK_RAW_WRITEABLE_FILE once that callback returns */
    lws_sorted_usec_list_t writable_sul;
    bool in_writable; /* inside the RAW_WRITEABLE_FILE callback */
};

/*
 * Set up (nothing connects until pgc_start). conninfo (libpq string or URI),
 * password (from --db-password-file, or NULL), app_name
 * (fallback_application_name) and options (libpq "options", e.g.
 * "-c statement_timeout=30000", or NULL) are borrowed and outlive the pgc.
 */
void pgc_init(struct pgc *c, const char *name, const char *conninfo, const char *password, const char *app_name,
              const char *options, struct lws_context *ctx, struct lws_vhost *vh, const struct pgc_hooks *hooks,
              void *arg);
/* Connect now (and reconnect forever after failures). */
void pgc_start(struct pgc *c);
/* True when queries may be sent (pc.state UP). */
static inline bool pgc_up(const struct pgc *c)
{
    return c->pc.state == PGCONN_UP;
}
/* Flush pending output after PQsend*; asks lws for writability when libpq could not send it all. 0 or -1. */
int pgc_flush(struct pgc *c);
/* Drop the connection (e.g. a send failed) and schedule a retry; runs the down hook. why may be PQerrorMessage. */
void pgc_fail(struct pgc *c, const char *why);
/*
 * Stop for good: cancel the timer, finish libpq, detach the wsi (lws closes it
 * when the context goes). No hooks run. Call before lws_context_destroy.
 */
void pgc_stop(struct pgc *c);
/* The lws callback of the PGC_PROTOCOL raw-file protocol. */
int pgc_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

#endif
