/*
 * http_peer.h - who sent this request, and how: the one place that reads the peer address,
 * TLS, and (from --trusted-proxy only) X-Forwarded-For / X-Forwarded-Proto; and the Host
 * check of every request against --allowed-hosts.
 *
 * Like http_util.h these read the request's header table, so they work while lws holds it:
 * in FILTER_HTTP_CONNECTION, HTTP, HTTP_CONFIRM_UPGRADE and FILTER_PROTOCOL_CONNECTION.
 */
#ifndef SP_SERVE_HTTP_PEER_H
#define SP_SERVE_HTTP_PEER_H

#include "forwarded.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct serve;

#define HTTP_PEER_ADDR_MAX FWD_ADDR_MAX

/* Is the TCP peer the --trusted-proxy address? (false when none is set) */
bool http_peer_is_proxy(const struct serve *sv, struct lws *wsi);
/*
 * Was this request made over HTTPS? True when TLS is on this listener (--tls-cert), or the
 * peer is --trusted-proxy and its last X-Forwarded-Proto says https. For the Secure flag of
 * a cookie, and the default port of a Host without one.
 */
bool http_request_https(const struct serve *sv, struct lws *wsi);
/*
 * The client's address, written into buf (HTTP_PEER_ADDR_MAX bytes; returns buf): the TCP
 * peer, or, when the peer is --trusted-proxy, the rightmost X-Forwarded-For address (the
 * proxy's own peer; when that header is absent or unreadable, the proxy's address). IPv4 as
 * a.b.c.d (never ::ffff:). For per-address limits and log lines. "?" when unknown.
 */
const char *http_client_addr(const struct serve *sv, struct lws *wsi, char *buf, size_t len);
/* The client's address as 16 bytes (IPv4 as ::ffff:a.b.c.d), chosen as http_client_addr does. 0, or -1 (no peer). */
int http_client_bytes(const struct serve *sv, struct lws *wsi, uint8_t out[16]);
/* The TCP peer of a socket as 16 bytes (IPv4 mapped). 0 or -1. */
int http_fd_peer(int fd, uint8_t out[16]);
/* 16 address bytes as text (IPv4 as a.b.c.d), "?" when they are not printable. */
void http_addr_text(const uint8_t b[16], char *buf, size_t len);
/*
 * The Host check (ws_origin.h) of one request; upgrade: it is a WebSocket upgrade. 0 when
 * allowed; otherwise it answers 421 with a JSON reason, counts it (http_refused{host} or
 * ws_rejected{host}), and returns 1.
 */
int http_check_host(struct serve *sv, struct lws *wsi, bool upgrade);

#endif
