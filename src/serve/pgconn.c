/* pgconn.c - libpq connection in the lws loop: async connect, I/O, backoff (see pgconn.h). */
#include "pgconn.h"

#include "core/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PGC_BACKOFF_BASE_MS 100
#define PGC_BACKOFF_MAX_MS 10000
#define PGC_CONNECT_TIMEOUT_S 10

static void pgc_sul_cb(lws_sorted_usec_list_t *sul);

static void pgc_writable_sul_cb(lws_sorted_usec_list_t *sul)
{
    struct pgc *c = lws_container_of(sul, struct pgc, writable_sul);
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

/* Be called back when the socket is writable (deferred when asked from the writable callback itself). */
static void pgc_want_writable(struct pgc *c)
{
    if (!c->wsi)
        return;
    if (c->in_writable)
        lws_sul_schedule(c->ctx, 0, &c->writable_sul, pgc_writable_sul_cb, 1);
    else
        lws_callback_on_writable(c->wsi);
}

void pgc_init(struct pgc *c, const char *name, const char *conninfo, const char *app_name, struct lws_context *ctx,
              struct lws_vhost *vh, const struct pgc_hooks *hooks, void *arg)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->conninfo = conninfo;
    c->app_name = app_name;
    c->ctx = ctx;
    c->vh = vh;
    c->hooks = *hooks;
    c->arg = arg;
    c->state = PGC_DOWN;
    c->sock = -1;
    backoff_init(&c->backoff, PGC_BACKOFF_BASE_MS, PGC_BACKOFF_MAX_MS, (uint32_t)getpid() ^ (uint32_t)(uintptr_t)c);
}

/* Forget our wsi and have lws close it soon; its callbacks ignore it from now on. */
static void pgc_detach(struct pgc *c)
{
    if (!c->wsi)
        return;
    lws_set_opaque_user_data(c->wsi, NULL);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    c->wsi = NULL;
}

/* Adopt a dup of libpq's current socket into lws. 0 or -1. */
static int pgc_adopt(struct pgc *c)
{
    int fd = PQsocket(c->conn);
    if (fd < 0)
        return -1;
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0)
        return -1;
    lws_adopt_desc_t info;
    memset(&info, 0, sizeof info);
    info.vh = c->vh;
    info.type = LWS_ADOPT_RAW_FILE_DESC;
    info.fd.filefd = d;
    info.vh_prot_name = PGC_PROTOCOL;
    info.opaque = c;
    struct lws *wsi = lws_adopt_descriptor_vhost_via_info(&info);
    if (!wsi)
        return -1; /* lws closed d */
    c->wsi = wsi;
    c->sock = fd;
    return 0;
}

static void pgc_schedule(struct pgc *c, uint32_t ms)
{
    lws_sul_schedule(c->ctx, 0, &c->sul, pgc_sul_cb, (lws_usec_t)ms * LWS_US_PER_MS);
}

void pgc_fail(struct pgc *c, const char *why)
{
    if (c->state == PGC_DOWN)
        return;
    /* why may point into the PGconn (PQerrorMessage): copy it, on one line, before PQfinish */
    char prev[sizeof c->last_error];
    memcpy(prev, c->last_error, sizeof prev);
    size_t n = 0;
    for (const char *p = why && *why ? why : "unknown error"; *p && n + 1 < sizeof c->last_error; p++) {
        char ch = (*p == '\n' || *p == '\t' || *p == '\r') ? ' ' : *p;
        if (ch == ' ' && (n == 0 || c->last_error[n - 1] == ' '))
            continue;
        c->last_error[n++] = ch;
    }
    while (n && c->last_error[n - 1] == ' ')
        n--;
    c->last_error[n] = '\0';
    pgc_detach(c);
    PQfinish(c->conn);
    c->conn = NULL;
    c->want_flush = false;
    c->state = PGC_DOWN;
    c->failures++;
    if (!c->stopped) {
        uint32_t ms = backoff_next_ms(&c->backoff);
        /* the same failure again and again (database down) is logged once, then at debug level */
        log_msg(strcmp(prev, c->last_error) ? LOG_WARN : LOG_DEBUG, "database %s connection: %s; retrying in %u ms",
                c->name, c->last_error, ms);
        pgc_schedule(c, ms);
    }
    if (c->hooks.down)
        c->hooks.down(c, c->arg, c->last_error);
}

static void pgc_attempt(struct pgc *c)
{
    /* ours first: settings in the user's conninfo (dbname, expanded) win */
    const char *keys[] = {"fallback_application_name", "options", "dbname", NULL};
    const char *vals[] = {c->app_name, c->options ? c->options : "", c->conninfo, NULL};
    c->state = PGC_CONNECTING;
    c->conn = PQconnectStartParams(keys, vals, 1);
    if (!c->conn) {
        pgc_fail(c, "out of memory");
        return;
    }
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        pgc_fail(c, PQerrorMessage(c->conn));
        return;
    }
    if (pgc_adopt(c)) {
        pgc_fail(c, "cannot watch the connection's socket");
        return;
    }
    pgc_schedule(c, PGC_CONNECT_TIMEOUT_S * 1000);
    /* libpq: right after PQconnectStart, behave as if PQconnectPoll returned PGRES_POLLING_WRITING */
    pgc_want_writable(c);
}

static void pgc_sul_cb(lws_sorted_usec_list_t *sul)
{
    struct pgc *c = lws_container_of(sul, struct pgc, sul);
    if (c->stopped)
        return;
    if (c->state == PGC_DOWN)
        pgc_attempt(c);
    else if (c->state == PGC_CONNECTING)
        pgc_fail(c, "connection attempt timed out");
}

void pgc_start(struct pgc *c)
{
    c->stopped = false;
    pgc_schedule(c, 0);
}

static void pgc_connect_step(struct pgc *c)
{
    PostgresPollingStatusType st = PQconnectPoll(c->conn);
    if (st == PGRES_POLLING_FAILED) {
        pgc_fail(c, PQerrorMessage(c->conn));
        return;
    }
    if (PQsocket(c->conn) != c->sock) {
        /* libpq moved on to another address: watch the new socket */
        pgc_detach(c);
        if (pgc_adopt(c)) {
            pgc_fail(c, "cannot watch the connection's socket");
            return;
        }
    }
    switch (st) {
    case PGRES_POLLING_OK:
        lws_sul_cancel(&c->sul);
        if (PQsetnonblocking(c->conn, 1) != 0) {
            pgc_fail(c, PQerrorMessage(c->conn));
            return;
        }
        c->state = PGC_UP;
        c->last_error[0] = '\0';
        backoff_reset(&c->backoff);
        log_info("database %s connection ready (server %d, pid %d)", c->name, PQserverVersion(c->conn),
                 PQbackendPID(c->conn));
        if (c->hooks.up)
            c->hooks.up(c, c->arg);
        break;
    case PGRES_POLLING_READING:
        break; /* POLLIN is always watched */
    default:   /* WRITING, or ACTIVE: poll again when writable */
        pgc_want_writable(c);
        break;
    }
}

int pgc_flush(struct pgc *c)
{
    if (!c->conn || c->state != PGC_UP)
        return -1;
    int r = PQflush(c->conn);
    if (r < 0)
        return -1;
    c->want_flush = r == 1;
    if (c->want_flush)
        pgc_want_writable(c);
    return 0;
}

static void pgc_io(struct pgc *c, bool writable)
{
    if (c->state == PGC_CONNECTING) {
        pgc_connect_step(c);
        return;
    }
    if (c->state != PGC_UP)
        return;
    if (!writable && !PQconsumeInput(c->conn)) {
        pgc_fail(c, PQerrorMessage(c->conn));
        return;
    }
    if (c->want_flush && pgc_flush(c)) {
        pgc_fail(c, PQerrorMessage(c->conn));
        return;
    }
    if (!writable && c->hooks.input)
        c->hooks.input(c, c->arg);
}

void pgc_stop(struct pgc *c)
{
    c->stopped = true;
    lws_sul_cancel(&c->sul);
    lws_sul_cancel(&c->writable_sul);
    if (c->wsi) {
        /* the context's destruction closes it; make its callbacks ignore it */
        lws_set_opaque_user_data(c->wsi, NULL);
        c->wsi = NULL;
    }
    PQfinish(c->conn);
    c->conn = NULL;
    c->state = PGC_DOWN;
}

int pgc_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    (void)user;
    (void)in;
    (void)len;
    struct pgc *c = lws_get_opaque_user_data(wsi);
    if (!c || c->wsi != wsi)
        return 0; /* a detached socket waiting to be closed */
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        pgc_io(c, false);
        break;
    case LWS_CALLBACK_RAW_WRITEABLE_FILE:
        c->in_writable = true;
        pgc_io(c, true);
        c->in_writable = false;
        break;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        /* lws saw a hangup or error on the socket: it is closing this wsi itself */
        c->wsi = NULL;
        pgc_fail(c, c->conn && *PQerrorMessage(c->conn) ? PQerrorMessage(c->conn) : "connection closed");
        break;
    default:
        break;
    }
    return 0;
}
