/*
 * serve_loop.c - serve's event loop, uv or poll (see serve_loop.h).
 *
 * uv: serve owns a uv_loop_t and hands it to lws as foreign_loops[0] with
 * LWS_SERVER_OPTION_LIBUV; lws loads its libuv plugin and watches every socket
 * (HTTP, WebSocket, the adopted libpq sockets, its event pipe) with a uv_poll_t
 * (epoll underneath) and its lws_sul timers with one uv_timer_t that it re-arms
 * after each I/O callback and each timer pass. SIGTERM/SIGINT are uv signal
 * watchers that stop the loop. Stopping: lws_context_destroy() closes every
 * connection and starts closing lws' uv handles, the loop runs on until they are
 * closed (lws finishes the context's destruction from their close callbacks and
 * a last lws_context_destroy()), then our own handles are closed and the loop too.
 *
 * poll: lws' built-in loop, lws_service() until a signal; the handler sets a flag
 * and wakes poll() through lws' event pipe.
 */
#include "serve_loop.h"

#include "core/log.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define SERVE_LOOP_UV_PLUGIN "libwebsockets-evlib_uv.so"
#define SERVE_LOOP_DESTROY_PASSES 8 /* lws_context_destroy + uv_run rounds before giving up on a clean stop */

static volatile sig_atomic_t poll_stop_flag;
static struct lws_context *poll_signal_ctx;

static void poll_on_signal(int sig)
{
    (void)sig;
    poll_stop_flag = 1;
    if (poll_signal_ctx)
        lws_cancel_service(poll_signal_ctx); /* wakes poll(): writes to lws' event pipe */
}

static void uv_on_signal(uv_signal_t *w, int signum)
{
    log_info("signal %d", signum);
    uv_stop(w->loop);
}

int serve_loop_parse(const char *name, enum serve_loop_kind *kind)
{
    if (!strcmp(name, "uv"))
        *kind = SERVE_LOOP_UV;
    else if (!strcmp(name, "poll"))
        *kind = SERVE_LOOP_POLL;
    else
        return -1;
    return 0;
}

/* Can lws load its libuv plugin? lws looks for it by name at context creation; so do we, to name the package. */
static int uv_plugin_check(char *err, size_t errlen)
{
    void *h = dlopen(SERVE_LOOP_UV_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(err, errlen,
                 "--event-loop uv needs libwebsockets' libuv plugin %s (Debian package %s), which does not load: %s; "
                 "install the package or run with --event-loop poll",
                 SERVE_LOOP_UV_PLUGIN, SERVE_LOOP_UV_PACKAGE, why ? why : "not found");
        return -1;
    }
    dlclose(h);
    return 0;
}

int serve_loop_init(struct serve_loop *l, enum serve_loop_kind kind, char *err, size_t errlen)
{
    static const int sigs[2] = {SIGTERM, SIGINT};
    memset(l, 0, sizeof *l);
    l->kind = kind;
    signal(SIGPIPE, SIG_IGN);
    if (kind == SERVE_LOOP_POLL) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = poll_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        return 0;
    }
    if (uv_plugin_check(err, errlen))
        return -1;
    int rc = uv_loop_init(&l->uv);
    if (rc) {
        snprintf(err, errlen, "cannot make the libuv loop: %s", uv_strerror(rc));
        return -1;
    }
    l->uv_ready = true;
    for (int i = 0; i < 2; i++) {
        uv_signal_init(&l->uv, &l->sig[i]);
        if ((rc = uv_signal_start(&l->sig[i], uv_on_signal, sigs[i]))) {
            snprintf(err, errlen, "cannot watch signal %d: %s", sigs[i], uv_strerror(rc));
            return -1; /* serve_loop_destroy closes what was made */
        }
    }
    l->foreign[0] = &l->uv;
    return 0;
}

void serve_loop_context_info(struct serve_loop *l, struct lws_context_creation_info *info)
{
    if (l->kind != SERVE_LOOP_UV)
        return;
    info->options |= LWS_SERVER_OPTION_LIBUV;
    info->foreign_loops = l->foreign;
}

int serve_loop_run(struct serve_loop *l, struct lws_context *ctx)
{
    if (l->kind == SERVE_LOOP_UV) {
        uv_run(&l->uv, UV_RUN_DEFAULT); /* returns at uv_stop (a signal) */
        return 0;
    }
    poll_signal_ctx = ctx;
    int rc = 0;
    while (!poll_stop_flag)
        if (lws_service(ctx, 0) < 0) {
            log_error("the event loop failed");
            rc = -1;
            break;
        }
    poll_signal_ctx = NULL;
    return rc;
}

void serve_loop_destroy(struct serve_loop *l, struct lws_context **pctx)
{
    poll_signal_ctx = NULL;
    if (l->kind == SERVE_LOOP_POLL || !l->uv_ready) {
        lws_context_destroy(*pctx); /* no-op on NULL */
        *pctx = NULL;
        return;
    }
    /*
     * lws needs the loop to run while it closes its handles; it sets *pctx to NULL (info.pcontext)
     * once the context is wholly freed, which takes another lws_context_destroy() after they closed.
     * uv_run(UV_RUN_DEFAULT) returns when no handle is left open or closing, ours closed first.
     */
    lws_context_destroy(*pctx);
    for (int i = 0; i < 2; i++)
        if (l->sig[i].loop && !uv_is_closing((uv_handle_t *)&l->sig[i]))
            uv_close((uv_handle_t *)&l->sig[i], NULL);
    for (int i = 0; *pctx && i < SERVE_LOOP_DESTROY_PASSES; i++) {
        uv_run(&l->uv, UV_RUN_DEFAULT);
        lws_context_destroy(*pctx);
    }
    if (*pctx) {
        log_warn("the libuv loop did not finish closing libwebsockets' handles");
        *pctx = NULL;
    }
    uv_run(&l->uv, UV_RUN_DEFAULT); /* runs the last close callbacks */
    if (uv_loop_close(&l->uv))
        log_warn("the libuv loop still has handles open at exit");
    l->uv_ready = false;
}
