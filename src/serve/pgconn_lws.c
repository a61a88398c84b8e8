/* pgconn_lws.c - a core/pgconn connection in the lws loop: socket adoption, one timer, hooks (see pgconn_lws.h). */
#include "pgconn_lws.h"

#include "core/log.h"
#include "core/timeutil.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define PGC_BACKOFF_BASE_MS 100
#define PGC_BACKOFF_MAX_MS 10000

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

void pgc_init(struct pgc *c, const char *name, const char *conninfo, const char *password, const char *app_name,
              const char *options, struct lws_context *ctx, struct lws_vhost *vh, const struct pgc_hooks *hooks,
              void *arg)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->ctx = ctx;
    c->vh = vh;
    c->hooks = *hooks;
    c->arg = arg;
    c->sock = -1;
    const struct pgconn_config cfg = {.conninfo = conninfo,
                                      .password = password,
                                      .app_name = app_name,
                                      .options = options,
                                      .backoff_base_ms = PGC_BACKOFF_BASE_MS,
                                      .backoff_max_ms = PGC_BACKOFF_MAX_MS,
                                      .stable_ms = 0}; /* once UP, the next failure retries from the base delay */
    pgconn_init(&c->pc, &cfg, (uint32_t)getpid() ^ (uint32_t)(uintptr_t)c);
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
    int fd = PQsocket(c->pc.conn);
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

/* Arm the timer for the connection's next time: the retry (DOWN) or the connect deadline (CONNECTING). */
static void pgc_schedule(struct pgc *c, int64_t now_ms)
{
    int64_t ms = pgconn_next_timer(&c->pc) - now_ms;
    lws_sul_schedule(c->ctx, 0, &c->sul, pgc_sul_cb, (lws_usec_t)(ms > 0 ? ms : 0) * LWS_US_PER_MS);
}

/* pc went DOWN, its retry drawn: let the socket go, log, arm the retry, run the down hook. */
static void pgc_down(struct pgc *c, int64_t now_ms)
{
    pgc_detach(c);
    c->want_flush = false;
    if (!c->stopped) {
        /* the same failure again and again (database down) is logged once, then at debug level */
        log_msg(c->pc.repeated ? LOG_DEBUG : LOG_WARN, "database %s connection: %s; retrying in %u ms", c->name,
                c->pc.last_error, c->pc.retry_ms);
        pgc_schedule(c, now_ms);
    }
    if (c->hooks.down)
        c->hooks.down(c, c->arg, c->pc.last_error);
}

void pgc_fail(struct pgc *c, const char *why)
{
    if (c->pc.state == PGCONN_DOWN)
        return;
    int64_t now = time_mono_ms();
    pgconn_lost(&c->pc, now, why); /* copies why before finishing the PGconn it may point into */
    pgc_down(c, now);
}

static void pgc_attempt(struct pgc *c, int64_t now_ms)
{
    if (pgconn_start(&c->pc, now_ms) != 0) {
        pgc_down(c, now_ms);
        return;
    }
    if (pgc_adopt(c)) {
        pgc_fail(c, "cannot watch the connection's socket");
        return;
    }
    pgc_schedule(c, now_ms); /* the connect timeout */
    pgc_want_writable(c);    /* pc.wait is PGCONN_WAIT_WRITE right after the start */
}

static void pgc_sul_cb(lws_sorted_usec_list_t *sul)
{
    struct pgc *c = lws_container_of(sul, struct pgc, sul);
    if (c->stopped)
        return;
    int64_t now = time_mono_ms();
    switch (c->pc.state) {
    case PGCONN_DOWN:
        if (now >= c->pc.retry_at_ms)
            pgc_attempt(c, now);
        else
            pgc_schedule(c, now);
        break;
    case PGCONN_CONNECTING:
        if (pgconn_poll(&c->pc, false, now) == PGCONN_WAITING)
            pgc_schedule(c, now); /* woke before the deadline */
        else
            pgc_down(c, now); /* timed out */
        break;
    default:
        break;
    }
}

void pgc_start(struct pgc *c)
{
    c->stopped = false;
    pgc_schedule(c, time_mono_ms()); /* the first attempt is due at once */
}

static void pgc_connect_step(struct pgc *c)
{
    int64_t now = time_mono_ms();
    enum pgconn_result r = pgconn_poll(&c->pc, true, now);
    if (r == PGCONN_FAILED || r == PGCONN_TIMED_OUT) {
        pgc_down(c, now);
        return;
    }
    if (PQsocket(c->pc.conn) != c->sock) {
        /* libpq moved on to another address: watch the new socket */
        pgc_detach(c);
        if (pgc_adopt(c)) {
            pgc_fail(c, "cannot watch the connection's socket");
            return;
        }
    }
    if (r == PGCONN_READY) {
        lws_sul_cancel(&c->sul);
        log_info("database %s connection ready (server %d, pid %d)", c->name, PQserverVersion(c->pc.conn),
                 PQbackendPID(c->pc.conn));
        if (c->hooks.up)
            c->hooks.up(c, c->arg);
    } else if (c->pc.wait == PGCONN_WAIT_WRITE)
        pgc_want_writable(c); /* PGCONN_WAIT_READ: POLLIN is always watched */
}

int pgc_flush(struct pgc *c)
{
    if (!pgc_up(c))
        return -1;
    int r = PQflush(c->pc.conn);
    if (r < 0)
        return -1;
    c->want_flush = r == 1;
    if (c->want_flush)
        pgc_want_writable(c);
    return 0;
}

static void pgc_io(struct pgc *c, bool writable)
{
    if (c->pc.state == PGCONN_CONNECTING) {
        pgc_connect_step(c);
        return;
    }
    if (!pgc_up(c))
        return;
    if (!writable && !PQconsumeInput(c->pc.conn)) {
        pgc_fail(c, PQerrorMessage(c->pc.conn));
        return;
    }
    if (c->want_flush && pgc_flush(c)) {
        pgc_fail(c, PQerrorMessage(c->pc.conn));
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
    pgconn_close(&c->pc);
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
        pgc_fail(c, c->pc.conn && *PQerrorMessage(c->pc.conn) ? PQerrorMessage(c->pc.conn) : "connection closed");
        break;
    default:
        break;
    }
    return 0;
}
