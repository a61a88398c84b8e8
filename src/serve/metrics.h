/*
 * metrics.h - counters of `sensorpipe serve` and their Prometheus text form.
 *
 * Every refusal and every drop has a counter here: bad input is rejected
 * with a reason and counted. docs/INTERFACES.md lists every metric. Counters
 * only grow; gauges are read from the live state when /metrics is rendered.
 */
#ifndef SP_SERVE_METRICS_H
#define SP_SERVE_METRICS_H

#include "core/sbuf.h"

#include <stdbool.h>
#include <stdint.h>

/* HTTP status codes counted one by one; anything else lands in "other". */
#define METRICS_HTTP_CODES 15
extern const int metrics_http_codes[METRICS_HTTP_CODES];

enum ws_reject {
    WS_REJECT_ORIGIN,      /* Origin not allowed (403) */
    WS_REJECT_BAD_REQUEST, /* bad ?history/?after/?topic (400) */
    WS_REJECT_PATH,        /* upgrade on a path other than /ws (404) */
    WS_REJECT_FULL,        /* --max-clients reached (503) */
    WS_REJECT_UPGRADE,     /* an upgrade to something else than websocket (400) */
    WS_REJECT_HANDSHAKE,   /* not HTTP/1.1, no Sec-WebSocket-Key, Sec-WebSocket-Version not 13 (400) */
    WS_REJECT_HOST,        /* Host not in --allowed-hosts (421) */
    WS_REJECT_ADDR,        /* --max-ws-per-addr reached (429), or the address table is full (503) */
    WS_REJECT_COUNT
};

/* HTTP requests and connections refused, by reason (sensorpipe_http_refused_total{reason}). */
enum http_refusal {
    HTTP_REFUSE_MALFORMED, /* closed before a complete request head: libwebsockets refused what came (403 or hung up) */
    HTTP_REFUSE_TIMEOUT,   /* no complete request head within --http-timeout-s (slow or idle client) */
    HTTP_REFUSE_VERSION,   /* not HTTP/1.0 or HTTP/1.1 (505) */
    HTTP_REFUSE_BODY,      /* GET/HEAD with a body, bad Content-Length, Transfer-Encoding (413 / 400) */
    HTTP_REFUSE_METHOD,    /* a method other than GET and HEAD (405) */
    HTTP_REFUSE_BAD_REQUEST, /* bad API query parameters (400) */
    HTTP_REFUSE_HOST,        /* Host not in --allowed-hosts (421) */
    HTTP_REFUSE_TOO_LARGE,   /* an /api/readings answer over --api-max-bytes (413) */
    HTTP_REFUSE_BUSY,        /* API response bodies held reached their budget (503) */
    HTTP_REFUSE_PIPELINED,   /* a request sent before the answer to the one before it (400) */
    HTTP_REFUSE_COUNT
};

/* WebSocket clients closed for what they sent (sensorpipe_ws_rx_refused_total{reason}); see ws_rx.h. */
enum ws_rx_refusal {
    WS_RX_REFUSE_TOO_LARGE, /* 1009 */
    WS_RX_REFUSE_BINARY,    /* 1003 */
    WS_RX_REFUSE_BAD_UTF8,  /* 1007 */
    WS_RX_REFUSE_COUNT
};

/* Refusals of the per-address limits (sensorpipe_addr_refused_total{limit}); see conn_limits.h. */
enum addr_refusal {
    ADDR_REFUSE_CONNECTIONS, /* --max-conns-per-addr: closed at accept */
    ADDR_REFUSE_WEBSOCKETS,  /* --max-ws-per-addr (429) */
    ADDR_REFUSE_REQUESTS,    /* --max-requests-per-addr (429) */
    ADDR_REFUSE_TABLE_FULL,  /* a new address while the table tracks CONN_ADDRS_MAX (closed, or 503) */
    ADDR_REFUSE_COUNT
};

/* Logins (POST /login) by result (sensorpipe_logins_total{result}); see auth.h. */
enum auth_login_result {
    AUTH_LOGIN_OK,
    AUTH_LOGIN_BAD_PASSWORD, /* wrong password or no such user (not told apart) */
    AUTH_LOGIN_THROTTLED,    /* too many failures from the address or for the user, or too many logins at once (429) */
    AUTH_LOGIN_BAD_REQUEST,  /* no name or password, bad body, foreign Origin */
    AUTH_LOGIN_UNAVAILABLE,  /* the database did not answer (503) */
    AUTH_LOGIN_COUNT
};

/* Requests refused for their credentials (sensorpipe_auth_refused_total{reason}), 401 unless said. */
enum auth_refusal {
    AUTH_REFUSE_NONE,        /* no credentials */
    AUTH_REFUSE_BAD,         /* unknown, malformed, revoked or wrong */
    AUTH_REFUSE_EXPIRED,     /* a session past its expiry */
    AUTH_REFUSE_UNAVAILABLE, /* credentials could not be checked: not loaded from the database lately (503) */
    AUTH_REFUSE_COUNT
};

struct serve_metrics {
    uint64_t ws_connections; /* WebSocket clients accepted */
    uint64_t ws_rejected[WS_REJECT_COUNT];
    uint64_t ws_messages;    /* frames sent */
    uint64_t ws_rows;        /* rows sent (history, backfill and live) */
    uint64_t ws_gaps;        /* clients sent a gap and closed */
    uint64_t ws_db_closed;   /* clients closed because their backfill query failed */
    uint64_t ws_rx_messages; /* messages clients sent (ignored) */
    uint64_t ws_rx_refused[WS_RX_REFUSE_COUNT];
    uint64_t ws_presence_dropped; /* presence messages a slow client lost (drop-oldest) */
    uint64_t ws_send_failed;      /* frames that could not be built or written (client closed) */
    uint64_t ws_aborted;          /* closing clients that did not take their close within --client-close-ms (reset) */
    uint64_t ws_backfill_stalled; /* clients that took no backfill page for --client-stall-ms (gap, closed) */
    uint64_t ws_ring_histories;   /* ?history=n backfills served from the ring, without a query */
    uint64_t addr_refused[ADDR_REFUSE_COUNT];
    uint64_t http_by_code[METRICS_HTTP_CODES + 1];
    uint64_t http_connections; /* TCP connections accepted on --listen */
    uint64_t accept_drained;   /* connections accepted by accept_drain.c after a refusal at accept */
    uint64_t accept_errors;    /* accept errors other than an empty queue, and socket options refused */
    uint64_t http_refused[HTTP_REFUSE_COUNT];
    uint64_t notifies_reading;  /* NOTIFY new_reading received */
    uint64_t notifies_presence; /* NOTIFY device_presence received */
    uint64_t notifies_bad;      /* presence payloads that were not a JSON object (dropped) */
    uint64_t hub_fetches;       /* fetch queries run by the hub */
    uint64_t hub_holds;         /* fetches held back for a lagging client (flow control) */
    uint64_t hub_held_ms;       /* total time fetches were held */
    uint64_t rows_fetched;      /* rows the hub appended to the ring */
    uint64_t rows_skipped;      /* rows the hub could not keep (out of order, oversized) */
    /* rows appended straight from a NOTIFY payload (no fetch), counted in rows_fetched too */
    uint64_t rows_notified;
    /* new_reading payloads not understood (a fetch read the rows instead) */
    uint64_t notifies_reading_bad;
    uint64_t db_reconnects[2]; /* [0] listen connection, [1] query connection */
    uint64_t db_query_errors;  /* queries that failed (SQL error or connection lost) */
    uint64_t db_queue_full;    /* queries refused because the queue was full or the db down */
    uint64_t db_cancelled;     /* running queries cancelled on the server (their client left, or too large) */
    uint64_t logins[AUTH_LOGIN_COUNT];
    uint64_t auth_refused[AUTH_REFUSE_COUNT];
    uint64_t auth_reloads; /* credentials (re)loaded from the database */
};

/* Values read from the live state for one rendering. */
struct metrics_gauges {
    long ws_clients;
    long ring_capacity, ring_rows;
    int64_t ring_last_id, ring_floor;
    bool db_up[2]; /* listen, query */
    long db_queue[2];
    long db_pool_size, db_pool_up, db_pool_busy; /* the query connections */
    long api_held_bytes;                         /* API response bodies held */
    bool have_rejects;                           /* the rejects count query answered */
    long long rejects;                           /* SELECT count(*) FROM rejects */
    long auth_credentials;                       /* live sessions and tokens held (auth.c) */
    long addrs_tracked;                          /* addresses in the per-address table */
};

void metrics_count_http(struct serve_metrics *m, int status);
/* Append the Prometheus text exposition (version 0.0.4) to b. */
void metrics_render(struct sbuf *b, const struct serve_metrics *m, const struct metrics_gauges *g);

#endif
