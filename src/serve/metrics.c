/* metrics.c - Prometheus text rendering of the serve counters (see metrics.h). */
#include "metrics.h"

const int metrics_http_codes[METRICS_HTTP_CODES] = {200, 303, 304, 400, 401, 403, 404, 405,
                                                    413, 415, 421, 429, 500, 503, 505};

static const char *const ws_reject_names[WS_REJECT_COUNT] = {"origin",  "bad_request", "path", "full",
                                                             "upgrade", "handshake",   "host", "addr_limit"};
static const char *const addr_refusal_names[ADDR_REFUSE_COUNT] = {"connections", "websockets", "requests",
                                                                  "table_full"};
static const char *const http_refusal_names[HTTP_REFUSE_COUNT] = {"malformed", "header_timeout", "version", "body",
                                                                  "method",    "bad_request",    "host",    "too_large",
                                                                  "busy",      "pipelined"};
static const char *const ws_rx_refusal_names[WS_RX_REFUSE_COUNT] = {"too_large", "binary", "bad_utf8"};
static const char *const login_names[AUTH_LOGIN_COUNT] = {"ok", "bad_password", "throttled", "bad_request",
                                                          "unavailable"};
static const char *const auth_refusal_names[AUTH_REFUSE_COUNT] = {"no_credentials", "bad_credentials", "expired",
                                                                  "unavailable"};
static const char *const conn_names[2] = {"listen", "query"};

void metrics_count_http(struct serve_metrics *m, int status)
{
    for (int i = 0; i < METRICS_HTTP_CODES; i++)
        if (metrics_http_codes[i] == status) {
            m->http_by_code[i]++;
            return;
        }
    m->http_by_code[METRICS_HTTP_CODES]++;
}

static void head(struct sbuf *b, const char *name, const char *type, const char *help)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter with one sample per reason: name{reason="<reasons[i]>"} values[i]. */
static void by_reason(struct sbuf *b, const char *name, const char *help, const char *const *reasons,
                      const uint64_t *values, int n)
{
    head(b, name, "counter", help);
    for (int i = 0; i < n; i++)
        sbuf_printf(b, "%s{reason=\"%s\"} %llu\n", name, reasons[i], (unsigned long long)values[i]);
}

static void one(struct sbuf *b, const char *name, const char *type, const char *help, long long v)
{
    head(b, name, type, help);
    sbuf_printf(b, "%s %lld\n", name, v);
}

#define COUNTER(name, help, v) one(b, "sensorpipe_" name, "counter", help, (long long)(v))
#define GAUGE(name, help, v) one(b, "sensorpipe_" name, "gauge", help, (long long)(v))

void metrics_render(struct sbuf *b, const struct serve_metrics *m, const struct metrics_gauges *g)
{
    GAUGE("ws_clients", "WebSocket clients connected now.", g->ws_clients);
    COUNTER("ws_connections_total", "WebSocket clients accepted.", m->ws_connections);
    by_reason(b, "sensorpipe_ws_rejected_total", "WebSocket upgrades refused, by reason.", ws_reject_names,
              m->ws_rejected, WS_REJECT_COUNT);
    COUNTER("ws_messages_sent_total", "WebSocket frames sent.", m->ws_messages);
    COUNTER("ws_rows_sent_total", "Readings sent over WebSocket (history, backfill and live).", m->ws_rows);
    COUNTER("ws_gaps_total", "Clients too slow to keep up: sent a gap and closed.", m->ws_gaps);
    COUNTER("ws_db_closed_total", "Clients closed because their backfill query failed.", m->ws_db_closed);
    COUNTER("ws_rx_messages_total", "Messages received from clients (ignored).", m->ws_rx_messages);
    by_reason(b, "sensorpipe_ws_rx_refused_total",
              "WebSocket clients closed for what they sent: too_large 1009, binary 1003, bad_utf8 1007.",
              ws_rx_refusal_names, m->ws_rx_refused, WS_RX_REFUSE_COUNT);
    COUNTER("ws_presence_dropped_total", "Presence messages a slow client lost (oldest dropped).",
            m->ws_presence_dropped);
    COUNTER("ws_send_failed_total", "Frames that could not be built or written.", m->ws_send_failed);
    COUNTER("ws_aborted_total", "Closing clients that did not take their close frame in time (connection reset).",
            m->ws_aborted);
    COUNTER("ws_backfill_stalled_total", "Clients that took no backfill page for --client-stall-ms (gap, closed).",
            m->ws_backfill_stalled);
    COUNTER("ws_ring_histories_total", "History backfills served from the ring of recent readings, without a query.",
            m->ws_ring_histories);
    head(b, "sensorpipe_addr_refused_total", "counter",
         "Connections, WebSockets and requests refused by the per-address limits, by limit.");
    for (int i = 0; i < ADDR_REFUSE_COUNT; i++)
        sbuf_printf(b, "sensorpipe_addr_refused_total{limit=\"%s\"} %llu\n", addr_refusal_names[i],
                    (unsigned long long)m->addr_refused[i]);
    GAUGE("addrs_tracked", "Client addresses holding connections, WebSockets or requests now.", g->addrs_tracked);

    head(b, "sensorpipe_http_requests_total", "counter", "HTTP responses by status code.");
    for (int i = 0; i <= METRICS_HTTP_CODES; i++) {
        if (i < METRICS_HTTP_CODES)
            sbuf_printf(b, "sensorpipe_http_requests_total{code=\"%d\"} %llu\n", metrics_http_codes[i],
                        (unsigned long long)m->http_by_code[i]);
        else
            sbuf_printf(b, "sensorpipe_http_requests_total{code=\"other\"} %llu\n",
                        (unsigned long long)m->http_by_code[i]);
    }
    COUNTER("http_connections_total", "TCP connections accepted.", m->http_connections);
    COUNTER("accept_drained_total",
            "Connections serve accepted from the listen queue itself after refusing one at accept (accept_drain.h).",
            m->accept_drained);
    COUNTER("accept_errors_total", "Accept errors on the listen socket other than an empty queue.", m->accept_errors);
    by_reason(b, "sensorpipe_http_refused_total",
              "HTTP requests and connections refused, by reason (malformed and header_timeout: closed before a "
              "complete request head).",
              http_refusal_names, m->http_refused, HTTP_REFUSE_COUNT);

    head(b, "sensorpipe_notifies_total", "counter", "NOTIFY messages received, by channel.");
    sbuf_printf(b, "sensorpipe_notifies_total{channel=\"new_reading\"} %llu\n",
                (unsigned long long)m->notifies_reading);
    sbuf_printf(b, "sensorpipe_notifies_total{channel=\"device_presence\"} %llu\n",
                (unsigned long long)m->notifies_presence);
    COUNTER("notifies_bad_total", "Presence payloads that were not a JSON object (dropped).", m->notifies_bad);
    COUNTER("hub_fetches_total", "Queries the hub ran to read new rows.", m->hub_fetches);
    COUNTER("hub_holds_total", "Fetches held back until lagging clients drained the ring.", m->hub_holds);
    COUNTER("hub_held_milliseconds_total", "Time fetches were held back, in all.", m->hub_held_ms);
    COUNTER("rows_fetched_total", "Rows the hub read into its ring.", m->rows_fetched);
    COUNTER("rows_skipped_total", "Rows the hub could not keep (out of order or oversized).", m->rows_skipped);
    COUNTER("rows_notified_total", "Rows of rows_fetched_total the NOTIFY itself carried (no query).",
            m->rows_notified);
    COUNTER("notifies_reading_bad_total", "new_reading payloads not understood (a fetch read the rows instead).",
            m->notifies_reading_bad);

    head(b, "sensorpipe_db_up", "gauge", "1 when the database connection is ready.");
    for (int i = 0; i < 2; i++)
        sbuf_printf(b, "sensorpipe_db_up{conn=\"%s\"} %d\n", conn_names[i], g->db_up[i] ? 1 : 0);
    head(b, "sensorpipe_db_reconnects_total", "counter", "Database connections lost and retried.");
    for (int i = 0; i < 2; i++)
        sbuf_printf(b, "sensorpipe_db_reconnects_total{conn=\"%s\"} %llu\n", conn_names[i],
                    (unsigned long long)m->db_reconnects[i]);
    head(b, "sensorpipe_db_queue", "gauge", "Queries waiting or running on each connection.");
    for (int i = 0; i < 2; i++)
        sbuf_printf(b, "sensorpipe_db_queue{conn=\"%s\"} %ld\n", conn_names[i], g->db_queue[i]);
    COUNTER("db_query_errors_total", "Queries that failed.", m->db_query_errors);
    COUNTER("db_queue_refused_total", "Queries refused: queue full or database down.", m->db_queue_full);
    COUNTER("db_cancelled_total", "Running queries cancelled on the server (client gone or answer too large).",
            m->db_cancelled);
    GAUGE("db_pool_size", "Query connections (--db-pool).", g->db_pool_size);
    GAUGE("db_pool_up", "Query connections ready now.", g->db_pool_up);
    GAUGE("db_pool_busy", "Query connections running a query now.", g->db_pool_busy);
    GAUGE("api_held_bytes", "Bytes of API response bodies held in memory now.", g->api_held_bytes);

    GAUGE("ring_size", "Capacity of the ring of recent readings.", g->ring_capacity);
    GAUGE("ring_rows", "Readings in the ring now.", g->ring_rows);
    GAUGE("ring_last_id", "Newest reading id seen.", g->ring_last_id);
    GAUGE("ring_floor_id", "The ring holds every reading above this id.", g->ring_floor);
    head(b, "sensorpipe_logins_total", "counter", "Logins (POST /login), by result.");
    for (int i = 0; i < AUTH_LOGIN_COUNT; i++)
        sbuf_printf(b, "sensorpipe_logins_total{result=\"%s\"} %llu\n", login_names[i],
                    (unsigned long long)m->logins[i]);
    by_reason(b, "sensorpipe_auth_refused_total",
              "Requests refused for their credentials (401; unavailable: 503), by reason.", auth_refusal_names,
              m->auth_refused, AUTH_REFUSE_COUNT);
    COUNTER("auth_reloads_total", "Sessions and tokens (re)loaded from the database.", m->auth_reloads);
    GAUGE("auth_credentials", "Live sessions and API tokens held for checking.", g->auth_credentials);
    if (g->have_rejects)
        one(b, "sensorpipe_rejects_total", "counter", "Payloads the ingest refused (rows in table rejects).",
            g->rejects);
}
