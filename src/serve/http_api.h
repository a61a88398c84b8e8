/*
 * http_api.h - the REST side: /api/topics, /api/readings(.csv), /healthz,
 * /metrics, 404 for anything else that is not a file, 405 for methods other
 * than GET and HEAD.
 *
 * A request that needs the database submits its query to the query pool
 * (dbq.h) and returns; the callback builds the whole body into `body` (sbuf,
 * at most --api-max-bytes: 413 beyond), asks lws for HTTP_WRITEABLE, and
 * api_writeable() sends headers then the body in chunks. /api/readings runs
 * as a heavy query in single-row mode, each row rendered as it comes, so its
 * result is never held whole, and it stops (413) at the cap, or (503) when
 * all API bodies held would pass 4 x --api-max-bytes. A client that leaves
 * first (CLOSED_HTTP) cancels its queries (on the server too), so no callback
 * touches freed memory.
 *
 * struct api_req lives in the lws per-session memory of the HTTP connection
 * (zeroed by lws); it owns `body` while `active`.
 */
#ifndef SP_SERVE_HTTP_API_H
#define SP_SERVE_HTTP_API_H

#include "conn_limits.h"
#include "core/sbuf.h"
#include "query_params.h"

#include <libpq-fe.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

struct serve;
struct auth_req;

struct api_req {
    bool active; /* between api_http and the end of the response */
    bool ready;  /* status, content type and body are set */
    bool head;   /* HEAD: headers only */
    bool csv;    /* /api/readings as CSV */
    bool headers_sent;
    int status;
    const char *ctype; /* literal */
    size_t sent;       /* body bytes written */
    size_t held;       /* body capacity counted in sv->api_held */
    long rows;         /* /api/readings rows rendered so far */
    struct sbuf body;  /* owned while active */
    struct serve *sv;
    struct lws *wsi;
    struct qp_readings q;
    struct auth_req *auth; /* POST /login, /logout: owned (auth.c) */
    const char *location;  /* a redirect's Location (literal), or NULL */
    char set_cookie[192];  /* a Set-Cookie value, or "" */
    struct addr_hold hold; /* counted in flight under its address (--max-requests-per-addr) while active */
};

/*
 * LWS_CALLBACK_FILTER_HTTP_CONNECTION: refuse methods other than GET/HEAD
 * (405), versions other than HTTP/1.0 and 1.1 (505), and requests with a body
 * (413; 400 for a bad Content-Length or any Transfer-Encoding), with a JSON
 * reason, counted. 0, or 1 (refused: close).
 */
int api_filter(struct serve *sv, struct lws *wsi);
/*
 * FILTER_HTTP_CONNECTION of a request that came while the one before it on the
 * connection is still being answered (HTTP pipelining): libwebsockets 4.1.6
 * would answer neither and hold the connection until --http-timeout-s, so it
 * gets 400 and is closed, counted. Returns 1 (close).
 */
int api_refuse_pipelined(struct serve *sv, struct lws *wsi, struct api_req *r);
/* LWS_CALLBACK_HTTP with the request path. 0, or -1 to close. */
int api_http(struct serve *sv, struct lws *wsi, struct api_req *r, const char *uri);
/* LWS_CALLBACK_HTTP_WRITEABLE. 0, or -1 to close. */
int api_writeable(struct api_req *r);
/* The response is ready: status, content type (literal), r->body. For auth.c. */
void api_reply(struct api_req *r, int status, const char *ctype);
/* A JSON error response {"error": msg}. */
void api_error(struct api_req *r, int status, const char *msg);
/* A query failed: 503 when the connection is gone (res NULL), 500 (logged) when the database refused it. */
void api_db_error(struct api_req *r, const PGresult *res, const char *err);
/* A timestamp (µs since the epoch) as a JSON string, RFC 3339 UTC with microseconds. */
void api_json_ts(struct sbuf *b, int64_t us);
/* LWS_CALLBACK_CLOSED_HTTP / HTTP_DROP_PROTOCOL: cancel queries, free. Idempotent. */
void api_closed(struct api_req *r);

#endif
