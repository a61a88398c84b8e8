/*
 * serve_state.h - the one state struct of `sensorpipe serve`, passed to every callback.
 *
 * Read order for the component: serve_main.c (config, start, stop) -> serve_loop.c (the
 * event loop: uv or poll) -> serve_lws.c (HTTP/WebSocket/pg callbacks, dispatch) ->
 * hub_feed.c (LISTEN, fetch new rows into the hub) -> ws_client.c (backfill and live tail
 * per client; ws_group.c its clients by filter) -> http_api.c (REST; http_history.c the
 * device page's routes); under them pgconn_lws.c + dbq.c (libpq in the loop, a pool of
 * query connections; pgcancel.c: server-side cancels from a helper thread), hub.c (the
 * ring), ws_frame.c, ws_rx.c, query_params.c, history_params.c, ws_origin.c, metrics.c.
 */
#ifndef SP_SERVE_STATE_H
#define SP_SERVE_STATE_H

#include "addr_limit.h"
#include "auth.h"
#include "core/sbuf.h"
#include "dbq.h"
#include "hub.h"
#include "metrics.h"
#include "pgconn_lws.h"
#include "query_params.h"
#include "serve_loop.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

struct serve_config {
    char *listen;           /* host:port */
    char *db;               /* libpq conninfo / URI ("" = PG* environment) */
    char *db_password_file; /* "" = none */
    char *web_root;         /* directory of the dashboard */
    char *allow_origin;     /* extra WebSocket origins, comma list or "*" */
    char *allowed_hosts;    /* Host values served, comma list of host[:port] ("" = the default, see serve_main.c) */
    char *tls_cert;         /* PEM certificate (chain) file: HTTPS on --listen; "" = plain HTTP */
    char *tls_key;          /* its PEM private key file */
    char *trusted_proxy;    /* the one peer address whose X-Forwarded-For/-Proto are believed; "" = none */
    char *log_level;
    char *event_loop; /* "uv" or "poll" (serve_loop.h) */
    long ring_size;
    long client_max_lag;
    long client_stall_ms;
    long client_hold_ms;
    long history_max;
    long max_clients;
    long query_timeout_ms;
    long http_timeout_s;
    long max_conns_per_addr;    /* open connections per TCP peer (not the --trusted-proxy) */
    long max_ws_per_addr;       /* WebSockets per client address (effective: at most max_clients / 2) */
    long max_requests_per_addr; /* API requests in flight per client address */
    long socket_sndbuf;         /* SO_SNDBUF of accepted sockets; 0 = the kernel's */
    long socket_rcvbuf;         /* SO_RCVBUF of accepted sockets; 0 = the kernel's */
    long client_close_ms;       /* a closing client that does not take its close frame is reset after this */
    long http_head_timeout_s;   /* a request head must be complete within this */
    long http_header_pool;      /* request heads parsed at once (lws header tables) */
    long db_pool;               /* connections for backfills and the API (query_conns) */
    long api_max_bytes;         /* largest /api/readings body */
    bool migrate;
    bool notify_rows;   /* take the rows a new_reading NOTIFY carries (db/009) with no fetch */
    long session_hours; /* a login's session lasts this long */
};

/* Feed state of the hub: what the LISTEN connection is doing for it. */
struct hub_feed {
    bool ready;                        /* floor known (max(id) read once); clients can start */
    bool fetching;                     /* a fetch query is queued or running */
    bool dirty;                        /* a NOTIFY came while fetching: fetch again */
    bool held;                         /* a fetch waits for live clients to drain the ring (flow control) */
    int64_t held_since;                /* monotonic ms the current hold began; 0 = no hold */
    lws_sorted_usec_list_t hold_timer; /* re-checks a held fetch */
};

/*
 * A live frame built for one topic filter ("" = every topic) (ws_client.c): rows (from, to] of
 * the ring when it ended at last_id. Clients at the same cursor with the same filter get these
 * bytes, so a reading costs one scan of the ring per filter in use, not per client.
 */
#define WS_FANOUT_SLOTS 8 /* filters remembered per pass; more in use than this cost a scan each */
struct ws_fanout_cache {
    bool valid;
    int64_t from, to, last_id;
    size_t rows;
    char filter[QP_TOPIC_MAX + 1];
    struct sbuf frame; /* LWS_PRE headroom */
};

/* Rate limit of the refusal log lines of one per-address limit (conn_limits.c). */
struct limit_log {
    int64_t last_ms;
    uint64_t suppressed;
};

struct serve {
    struct serve_config cfg;
    struct serve_loop loop; /* the event loop the context runs on (--event-loop) */
    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct pgc listen_conn;               /* LISTEN + the hub's fetches: the live path only */
    struct pgc query_conns[DBQ_POOL_MAX]; /* backfills and the REST API: cfg.db_pool of them, one query_q */
    struct dbq listen_q, query_q;
    struct hub_ring ring;
    struct hub_presence presence;
    struct hub_feed feed;
    lws_dll2_owner_t clients; /* struct ws_client, established WebSockets */
    int64_t live_min_cursor;  /* <= the cursor of every live client (ws_clients_room skips its scan above it) */
    struct serve_metrics m;
    struct sbuf scratch;                            /* LWS_PRE headroom; one frame or chunk at a time */
    lws_dll2_owner_t groups;                        /* live clients by topic filter (ws_group.h) */
    struct ws_fanout_cache fanout[WS_FANOUT_SLOTS]; /* live frames shared by clients of one filter */
    unsigned fanout_next;                           /* the slot a new filter takes next (round robin) */
    lws_sorted_usec_list_t ws_tick;                 /* ws_clients_tick: stalls, gaps and resets on a clock */
    char *allowed_hosts;                            /* effective --allowed-hosts (owned; made at start) */
    bool proxy_set;                                 /* --trusted-proxy given */
    uint8_t proxy_addr[16];                         /* its address, IPv4 as ::ffff:a.b.c.d */
    struct auth_state auth;                         /* sessions and tokens (auth.h) */
    struct addr_table addrs;                        /* per-address counts (conn_limits.h) */
    struct limit_log limit_log[ADDR_REFUSE_COUNT];
    int64_t accept_error_log_ms; /* when an accept error was last logged (accept_drain.c) */
    size_t
        api_held; /* bytes of API response bodies held now (http_api.c; at most API_HELD_RESPONSES x api_max_bytes) */
};

#endif
