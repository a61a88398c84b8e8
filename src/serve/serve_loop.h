/*
 * serve_loop.h - serve's event loop (--event-loop): libuv (epoll) through libwebsockets'
 * libuv plugin, serve's own uv loop handed to lws as its foreign loop, or lws' built-in
 * poll() loop. Start, run until SIGTERM/SIGINT, and the ordered stop of the lws context.
 */
#ifndef SP_SERVE_LOOP_H
#define SP_SERVE_LOOP_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

enum serve_loop_kind { SERVE_LOOP_UV, SERVE_LOOP_POLL };

/* The Debian package that ships lws' libuv plugin (named in the error when it is missing). */
#define SERVE_LOOP_UV_PACKAGE "libwebsockets-evlib-uv"

struct serve_loop {
    enum serve_loop_kind kind;
    bool uv_ready;      /* uv is initialised (and must be closed) */
    uv_loop_t uv;       /* the foreign loop lws runs on (kind UV) */
    uv_signal_t sig[2]; /* SIGTERM, SIGINT (kind UV) */
    void *foreign[1];   /* info.foreign_loops: &uv */
};

/* "uv" or "poll" into *kind. 0, or -1 for anything else. */
int serve_loop_parse(const char *name, enum serve_loop_kind *kind);

/*
 * Before the lws context exists: check that lws' libuv plugin can be loaded (kind UV),
 * make the uv loop, and watch SIGTERM/SIGINT. 0, or -1 with a reason in err.
 */
int serve_loop_init(struct serve_loop *l, enum serve_loop_kind kind, char *err, size_t errlen);

/* Set the options of an lws context to be made on this loop. */
void serve_loop_context_info(struct serve_loop *l, struct lws_context_creation_info *info);

/* Run the loop on ctx until SIGTERM/SIGINT. 0, or -1 when the loop failed. */
int serve_loop_run(struct serve_loop *l, struct lws_context *ctx);

/*
 * Destroy *pctx (NULL afterwards): every connection's close callback runs; with uv the
 * loop runs on until lws has closed all its handles. Then free the loop itself. Safe on a
 * loop whose init failed or whose context was never made (*pctx NULL).
 */
void serve_loop_destroy(struct serve_loop *l, struct lws_context **pctx);

#endif
