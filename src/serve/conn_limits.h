/*
 * conn_limits.h - the per-address limits of `sensorpipe serve` on its lws connections
 * (--max-conns-per-addr, --max-ws-per-addr, --max-requests-per-addr) and the socket buffer sizes
 * (--socket-sndbuf, --socket-rcvbuf), on top of the table of addr_limit.h.
 *
 * Connections are counted by TCP peer when accepted (nothing else is known yet); a connection over
 * the limit is closed at once, without a word. The --trusted-proxy's own address is not limited
 * in connections (all clients come through it). WebSockets and API requests in flight are counted
 * by client address (http_client_bytes: the peer, or behind --trusted-proxy the rightmost
 * X-Forwarded-For) and refused with 429 and a JSON reason (503 when the table is full).
 * Every refusal is counted (sensorpipe_addr_refused_total{limit}) and logged at most once a second
 * per limit.
 *
 * Each accepted connection carries a small struct conn_info (owned here, freed when lws destroys
 * the connection) in its lws opaque user data: when it was accepted, whether a complete request
 * head was seen (for the malformed / header_timeout counts), and the address it is counted under.
 */
#ifndef SP_SERVE_CONN_LIMITS_H
#define SP_SERVE_CONN_LIMITS_H

#include "addr_limit.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct serve;

#define CONN_ADDRS_MAX 16384 /* addresses tracked at once (the table's fixed size) */

/* One WebSocket or request counted under an address; zeroed = nothing counted. */
struct addr_hold {
    uint8_t key[16];
    bool counted;
};

/* The table (seeded at random). 0 or -1. */
int conn_limits_init(struct serve *sv);
void conn_limits_free(struct serve *sv);
/* LWS_CALLBACK_FILTER_NETWORK_CONNECTION: a socket was accepted. 0 to go on, 1 to close it (over its limit). */
int conn_limits_accept(struct serve *sv, int fd);
/* LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED: count the connection, attach its conn_info. */
void conn_limits_instantiated(struct serve *sv, struct lws *wsi);
/* A complete request head arrived on wsi (any request on the connection). */
void conn_limits_request_seen(struct lws *wsi);
/* LWS_CALLBACK_WSI_DESTROY of a connection of ours: uncount it, count a refusal if it never sent a head, free. */
void conn_limits_destroyed(struct serve *sv, struct lws *wsi);
/* The request head deadline: --http-head-timeout-s, never longer than --http-timeout-s. */
long conn_head_timeout_s(const struct serve *sv);
/* The address the client of wsi is counted under (headers still held: http_client_bytes, as a key). 0 or -1. */
int conn_limits_client(const struct serve *sv, struct lws *wsi, uint8_t key[16]);
/*
 * Is one more of kind (ADDR_WS or ADDR_REQ) allowed for key? 0 yes: with take, it is counted in
 * *h (give it back with conn_limits_give); without, only checked. Otherwise the HTTP status to
 * refuse with (429 over the limit, 503 table full), counted and logged, with a reason in msg.
 */
int conn_limits_take(struct serve *sv, const uint8_t key[16], enum addr_kind kind, bool take, struct addr_hold *h,
                     char *msg, size_t msglen);
/* Give back what *h counts (nothing when it counts nothing); *h counts nothing after. */
void conn_limits_give(struct serve *sv, enum addr_kind kind, struct addr_hold *h);

#endif
