/*
 * http_util.h - small helpers over libwebsockets' HTTP side: headers, query
 * arguments, whole small responses written at once, JSON error bodies.
 * They read the request's header table (ah), so they work while lws still
 * holds it: in FILTER_HTTP_CONNECTION, HTTP, HTTP_CONFIRM_UPGRADE and
 * FILTER_PROTOCOL_CONNECTION.
 */
#ifndef SP_SERVE_HTTP_UTIL_H
#define SP_SERVE_HTTP_UTIL_H

#include "core/sbuf.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_ARGS 16

/*
 * Copy the query-string fragments ("name=value", decoded by lws) into buf and
 * point args[] at them. Returns their number, or -1 when there are more than
 * maxargs or they do not fit in buflen.
 */
int http_query_args(struct lws *wsi, char *buf, size_t buflen, const char **args, int maxargs);
/* Header value copied into buf, or NULL when absent or longer than buflen - 1. */
const char *http_header(struct lws *wsi, enum lws_token_indexes tok, char *buf, size_t buflen);
/*
 * Write a complete small response (at most a few KB) right now: status,
 * content type, content length, no-store, optional "connection: close", and the
 * body unless the request was HEAD. Returns 0 or -1 (write failed).
 */
int http_send_now(struct lws *wsi, int status, const char *ctype, const char *body, size_t len, bool close);
/* {"error":"<msg>"} appended to b. */
void http_json_error(struct sbuf *b, const char *msg);
/*
 * Refuse now: {"error":"<msg>"} built in scratch (reset first) and sent with status,
 * the connection closed after it. Returns 0, or -1 when it could not be built or written.
 */
int http_send_json_error(struct sbuf *scratch, struct lws *wsi, int status, const char *msg);
/* True when the request method is HEAD. */
bool http_is_head(struct lws *wsi);
/* The request line's version: 10 for HTTP/1.0, 11 for HTTP/1.1, 0 for anything else or none (HTTP/0.9). */
int http_version(struct lws *wsi);

#endif
