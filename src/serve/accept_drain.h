/*
 * accept_drain.h - take the rest of the listen queue at once after a connection is refused at accept.
 *
 * libwebsockets 4.1.6 accepts connections in a loop while its listen socket has more, but leaves
 * that loop (until the next pass of the event loop: one poll() over every socket) as soon as
 * LWS_CALLBACK_FILTER_NETWORK_CONNECTION refuses one (lib/roles/listen/ops-listen.c). Under a
 * flood of connections over their per-address limit that is one refusal per pass: ~700 a second on
 * a loaded 2-core host, while the attackers kept 1,100-1,900 connections in the listen queue, so a
 * real client's connection waited seconds to be accepted (docs/SECURITY.md, "Hostile clients").
 *
 * accept_drain, called from that callback when it refuses, accepts the queue itself (at most
 * ACCEPT_DRAIN_MAX connections per call): each connection over its limit is closed at once, each
 * other one gets lws's socket options and is handed to lws (lws_adopt_socket_vhost, which runs
 * LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED as for its own accepts). Counted in
 * sensorpipe_accept_drained_total; accept errors other than an empty queue end the call, logged
 * at most once a second, counted in sensorpipe_accept_errors_total.
 */
#ifndef SP_SERVE_ACCEPT_DRAIN_H
#define SP_SERVE_ACCEPT_DRAIN_H

#include <libwebsockets.h>

struct serve;

#define ACCEPT_DRAIN_MAX 512 /* connections taken per call: bounds the time one loop pass spends here */

/* TCP keepalive on accepted sockets (lws's info.ka_*, set the same way on the ones drained here). */
#define SERVE_KA_TIME_S 60
#define SERVE_KA_INTERVAL_S 10
#define SERVE_KA_PROBES 3

/* listen_wsi: the listening socket whose callback just refused a connection. Returns how many were accepted. */
int accept_drain(struct serve *sv, struct lws *listen_wsi);

#endif
