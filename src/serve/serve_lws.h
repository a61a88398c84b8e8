/*
 * serve_lws.h - the libwebsockets side of `sensorpipe serve`: one context, one
 * vhost on --listen, mounts (/ -> --web-root files; /api, /healthz, /metrics
 * -> callbacks), and the protocol callbacks that dispatch to http_api,
 * ws_client and pgconn.
 */
#ifndef SP_SERVE_LWS_H
#define SP_SERVE_LWS_H

struct serve;

/* Create sv->ctx and sv->vh listening on host:port. 0, or -1 with a log line. */
int serve_lws_start(struct serve *sv, const char *host, int port);
/* Route libwebsockets' own log lines into ours (level: enum log_level). */
void serve_lws_log_init(int level);

#endif
