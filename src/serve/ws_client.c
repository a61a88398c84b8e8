/* ws_client.c - WebSocket client: admission, race-free backfill, live tail from the ring, gap (see ws_client.h). */
#include "ws_client.h"

#include "auth.h"

#include "core/log.h"
#include "core/stringify.h"
#include "core/timeutil.h"
#include "core/topic.h"
#include "http_util.h"
#include "hub_feed.h"
#include "pgval.h"
#include "serve_state.h"
#include "ws_frame.h"
#include "ws_group.h"
#include "ws_origin.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define WS_PENDING_MAX (1u << 20) /* one page of WS_PAGE_ROWS rows fits easily */
#define WS_SCAN_MAX 4096          /* ring rows looked at per WRITEABLE (filtered clients) */

/* clang-format off */
/* The lowest id of the last $3 rows with id <= $1 (matching regex $2 unless NULL); NULL when there are none. */
static const char SQL_HISTORY_START[] =
    "SELECT min(id) FROM ("
    " SELECT id FROM readings"
    " WHERE id <= $1::int8 AND ($2::text IS NULL OR topic ~ $2::text)"
    " ORDER BY id DESC LIMIT $3::int) s";

/* One page of rows with $1 < id <= $2 (matching regex $3 unless NULL). */
static const char SQL_PAGE[] =
    "SELECT id, " SQL_TS_US("ts") ", topic, value FROM readings"
    " WHERE id > $1::int8 AND id <= $2::int8 AND ($3::text IS NULL OR topic ~ $3::text)"
    " ORDER BY id LIMIT " SP_STR(WS_PAGE_ROWS);
/* clang-format on */

static void ws_backfill_next(struct ws_client *c);

/* A live client enters the live tail: keep sv->live_min_cursor a lower bound of every live cursor. */
static void ws_live_min_note(struct serve *sv, int64_t cursor)
{
    if (cursor < sv->live_min_cursor)
        sv->live_min_cursor = cursor;
}

/* Stop serving c: send `pending` if it holds a frame, then close with status/reason. */
static void ws_begin_close(struct ws_client *c, enum lws_close_status status, const char *reason)
{
    c->state = WS_CLOSING;
    c->close_status = status;
    c->close_reason = reason;
    dbq_cancel_owner(&c->sv->query_q, c);
    c->since = time_mono_ms();
    lws_callback_on_writable(c->wsi);
}

static void ws_gap(struct ws_client *c)
{
    struct serve *sv = c->sv;
    sv->m.ws_gaps++;
    log_info("ws %s: too slow (cursor %lld, %zu rows behind, ring floor %lld): gap, closing", c->peer,
             (long long)c->cursor, hub_ring_lag(&sv->ring, c->cursor), (long long)sv->ring.floor);
    sbuf_reset(&c->pending);
    ws_frame_gap(&c->pending, c->cursor);
    c->pending_rows = 0;
    ws_begin_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too slow");
}

/*
 * Reset the connection now: linger 0 and a disconnect (connect to AF_UNSPEC, which on Linux
 * aborts a TCP socket with an RST and drops its queues), so the kernel frees what it still held
 * for a client that stopped reading, instead of lws waiting for it to take its close.
 */
static void ws_reset_socket(struct ws_client *c)
{
    int fd = (int)lws_get_socket_fd(c->wsi);
    if (fd >= 0) {
        struct linger lg = {1, 0};
        struct sockaddr sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_family = AF_UNSPEC;
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        (void)connect(fd, &sa, sizeof sa);
    }
}

/* Reset c's connection and have lws close it. */
static void ws_reset(struct ws_client *c)
{
    ws_reset_socket(c);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* Rows wait for this client and its socket has not been writable for --client-stall-ms. */
static bool ws_stalled(const struct ws_client *c, int64_t now)
{
    return c->waiting_since && now - c->waiting_since > c->sv->cfg.client_stall_ms;
}

/* The live client has been sent a gap: too far behind, and not reading. */
static bool ws_live_too_slow(const struct ws_client *c, int64_t now)
{
    const struct serve *sv = c->sv;
    return c->cursor < sv->ring.floor ||
           ((long)hub_ring_lag(&sv->ring, c->cursor) > sv->cfg.client_max_lag && ws_stalled(c, now));
}

/* The clock's look at one client (ws_clients_tick). */
static void ws_check(struct ws_client *c, int64_t now)
{
    struct serve *sv = c->sv;
    switch (c->state) {
    case WS_SEND:
        if (!c->since || now - c->since <= sv->cfg.client_stall_ms)
            return;
        /* it has not taken a backfill page for --client-stall-ms: a gap after what it was sent */
        sv->m.ws_backfill_stalled++;
        if (!c->history_written) {
            sbuf_reset(&c->pending);
            ws_begin_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too slow");
            return;
        }
        c->cursor = c->pending_from;
        ws_gap(c);
        return;
    case WS_LIVE:
        ws_group_sync(c);
        /* the same test as when rows arrive (ws_clients_new_rows), for when none do */
        if (ws_live_too_slow(c, now))
            ws_gap(c);
        return;
    case WS_CLOSING:
        if (!c->since || now - c->since <= sv->cfg.client_close_ms)
            return;
        c->since = 0;
        sv->m.ws_aborted++;
        log_info("ws %s: did not take its close within %ld ms: reset", c->peer, sv->cfg.client_close_ms);
        ws_reset(c);
        return;
    case WS_WAIT_HUB:
    case WS_QUERY:
        return;
    }
}

/* Send b as one text frame. 0 or -1. */
static int ws_write(struct ws_client *c, const struct sbuf *b)
{
    if (b->failed || !b->data) {
        c->sv->m.ws_send_failed++;
        return -1;
    }
    int n = lws_write(c->wsi, (unsigned char *)b->data, b->len, LWS_WRITE_TEXT);
    if (n < (int)b->len) {
        c->sv->m.ws_send_failed++;
        return -1;
    }
    c->sv->m.ws_messages++;
    return 0;
}

static void ws_query_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    struct ws_client *c = owner;
    struct serve *sv = c->sv;
    if (err) {
        sv->m.ws_db_closed++;
        log_warn("ws %s: backfill query failed: %s", c->peer, err);
        ws_begin_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "database unavailable");
        return;
    }
    if (c->start_query) {
        /* where the last `history` rows begin: page from just before it up to the snapshot */
        bool none = PQntuples(res) < 1 || PQgetisnull(res, 0, 0);
        c->cursor = none ? c->snapshot : pg_i64(res, 0, 0) - 1;
        ws_backfill_next(c);
        return;
    }
    struct ws_frame f;
    sbuf_reset(&c->pending);
    ws_frame_begin(&f, &c->pending, !c->history_sent);
    int n = PQntuples(res);
    int64_t last = c->cursor;
    c->pending_from = c->cursor;
    for (int i = 0; i < n; i++) {
        last = pg_i64(res, i, 0);
        ws_frame_next(&f);
        sbuf_json_row(&c->pending, last, pg_i64(res, i, 1), PQgetvalue(res, i, 2), pg_f64(res, i, 3));
    }
    c->history_sent = true;
    bool have = ws_frame_end(&f);
    if (c->pending.failed) {
        sv->m.ws_send_failed++;
        sbuf_reset(&c->pending);
        ws_begin_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "backfill too large");
        return;
    }
    /* a full page may have more behind it; otherwise everything up to the snapshot is covered */
    c->cursor = n == WS_PAGE_ROWS ? last : c->snapshot;
    c->pending_rows = (size_t)n;
    if (have) {
        c->state = WS_SEND;
        c->since = time_mono_ms();
        lws_callback_on_writable(c->wsi);
    } else
        ws_backfill_next(c);
}

/* Submit the query that finds where ?history=n starts (start), or the next page after cursor. */
static void ws_query(struct ws_client *c, bool start)
{
    struct serve *sv = c->sv;
    char regex[QP_REGEX_MAX], a[24], b[24];
    const char *re = NULL, *why = NULL;
    if (c->params.topic[0]) {
        if (topic_filter_to_regex(c->params.topic, regex, sizeof regex)) {
            ws_begin_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "bad topic filter");
            return;
        }
        re = regex;
    }
    const char *params[3];
    const char *sql;
    if (start) {
        snprintf(a, sizeof a, "%lld", (long long)c->snapshot);
        snprintf(b, sizeof b, "%ld", c->params.history);
        params[0] = a, params[1] = re, params[2] = b;
        sql = SQL_HISTORY_START;
    } else {
        snprintf(a, sizeof a, "%lld", (long long)c->cursor);
        snprintf(b, sizeof b, "%lld", (long long)c->snapshot);
        params[0] = a, params[1] = b, params[2] = re;
        sql = SQL_PAGE;
    }
    c->start_query = start;
    c->state = WS_QUERY;
    if (dbq_submit_opts(&sv->query_q, sql, 3, params, &(struct dbq_opts){.heavy = true}, ws_query_cb, c, NULL, &why)) {
        sv->m.ws_db_closed++;
        log_warn("ws %s: backfill query refused: %s", c->peer, why);
        ws_begin_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "database unavailable");
    }
}

/*
 * The ring holds the last `history` rows the client asked for (c->cursor is just below them):
 * the first page comes from it as the history frame, no query, and the rest from the live tail.
 */
static void ws_history_from_ring(struct ws_client *c)
{
    struct serve *sv = c->sv;
    c->pending_from = c->cursor;
    sbuf_reset(&c->pending);
    size_t n = ws_frame_ring(&c->pending, &sv->ring, &c->cursor, c->params.topic, WS_PAGE_ROWS, WS_SCAN_MAX, true);
    if (c->pending.failed) {
        sv->m.ws_send_failed++;
        sbuf_reset(&c->pending);
        ws_begin_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "backfill too large");
        return;
    }
    sv->m.ws_ring_histories++;
    c->history_sent = true;
    c->pending_rows = n;
    c->state = WS_SEND;
    c->since = time_mono_ms();
    lws_callback_on_writable(c->wsi);
}

/* Decide the next backfill step: first frame, another page, or the live tail. */
static void ws_backfill_next(struct ws_client *c)
{
    struct serve *sv = c->sv;
    if (!c->history_sent) {
        if (!c->start_query) {
            /* first step (after the start query, the cursor and snapshot stay as it found them) */
            c->snapshot = sv->ring.last_id;
            if (!c->params.has_after && c->params.history > 0) {
                if (ws_frame_history_cursor(&sv->ring, c->params.topic, (size_t)c->params.history, &c->cursor)) {
                    ws_history_from_ring(c);
                    return;
                }
                ws_query(c, true);
                return;
            }
            c->cursor = c->params.has_after ? c->params.after : c->snapshot;
        }
        if (c->cursor < c->snapshot) {
            ws_query(c, false);
            return;
        }
        /* nothing to fetch: an empty history frame, then live */
        struct ws_frame f;
        sbuf_reset(&c->pending);
        ws_frame_begin(&f, &c->pending, true);
        ws_frame_end(&f);
        c->history_sent = true;
        c->pending_rows = 0;
        c->pending_from = c->cursor;
        c->state = WS_SEND;
        c->since = time_mono_ms();
        lws_callback_on_writable(c->wsi);
        return;
    }
    if (c->cursor >= sv->ring.floor) {
        /* the ring holds everything after cursor: live from here */
        if (ws_group_join(sv, c)) {
            log_error("ws %s: out of memory for its filter's group", c->peer);
            ws_begin_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "server out of memory");
            return;
        }
        c->state = WS_LIVE;
        ws_live_min_note(sv, c->cursor);
        if (c->cursor < sv->ring.last_id || c->presence_seq < sv->presence.next_seq) {
            c->waiting_since = time_mono_ms();
            lws_callback_on_writable(c->wsi);
        }
        return;
    }
    c->snapshot = sv->ring.last_id;
    ws_query(c, false);
}

/* Send one presence frame if one is due. 1 sent, 0 none, -1 failed. */
static int ws_send_presence(struct ws_client *c)
{
    struct serve *sv = c->sv;
    uint64_t dropped;
    size_t len;
    const char *frame = hub_presence_get(&sv->presence, &c->presence_seq, &len, &dropped);
    sv->m.ws_presence_dropped += dropped;
    if (!frame)
        return 0;
    sbuf_reset(&sv->scratch);
    sbuf_append(&sv->scratch, frame, len);
    if (ws_write(c, &sv->scratch))
        return -1;
    c->presence_seq++;
    return 1;
}

/*
 * The live frame for c: the ring rows after its cursor that its topic filter
 * takes. Clients with the same filter at the same cursor get the same bytes, so
 * the frame is built once per filter into a slot of sv->fanout and reused (lws
 * only writes the WebSocket header into the LWS_PRE headroom, the same for
 * each); a client whose filter takes none of the new rows costs a string
 * compare. Returns the frame (NULL when there is nothing to send) and its row
 * count in *rows; c->cursor moves past the rows it covers. The key stays right
 * while the ring only grows at the end: the rows after a cursor >= floor never
 * change.
 */
static const struct sbuf *ws_live_frame(struct ws_client *c, size_t *rows)
{
    struct serve *sv = c->sv;
    const char *filter = c->params.topic;
    struct ws_fanout_cache *slot = NULL;
    for (int i = 0; i < WS_FANOUT_SLOTS; i++) {
        struct ws_fanout_cache *fc = &sv->fanout[i];
        if (!fc->valid || strcmp(fc->filter, filter))
            continue;
        if (fc->from == c->cursor && fc->last_id == sv->ring.last_id) {
            c->cursor = fc->to;
            *rows = fc->rows;
            return fc->rows ? &fc->frame : NULL;
        }
        slot = fc; /* this filter's stale frame: rebuilt in place */
        break;
    }
    if (!slot)
        slot = &sv->fanout[sv->fanout_next++ % WS_FANOUT_SLOTS];
    int64_t from = c->cursor;
    sbuf_reset(&slot->frame);
    slot->valid = false;
    size_t n = ws_frame_live(&slot->frame, &sv->ring, &c->cursor, filter, WS_FRAME_MAX_ROWS, WS_SCAN_MAX);
    if (slot->frame.failed)
        return &slot->frame; /* ws_write counts and refuses it */
    slot->valid = true;
    slot->from = from;
    slot->to = c->cursor;
    slot->last_id = sv->ring.last_id;
    slot->rows = n;
    snprintf(slot->filter, sizeof slot->filter, "%s", filter);
    *rows = n;
    return n ? &slot->frame : NULL;
}

/* c has rows or presence frames it has not been sent. */
static bool ws_live_behind(const struct ws_client *c)
{
    return c->cursor < c->sv->ring.last_id || c->presence_seq < c->sv->presence.next_seq;
}

/*
 * Send a live client what it is behind by: a due presence frame, else one
 * frame of ring rows. Called from WRITEABLE, and directly from
 * ws_clients_new_rows() when lws holds no unsent bytes for it (then a
 * write never lands behind a partial one). When more is left, or lws had to
 * buffer part of the frame, WRITEABLE is asked for. 0, or -1 when the send
 * failed (the caller closes).
 */
static int ws_live_send(struct ws_client *c)
{
    struct serve *sv = c->sv;
    c->waiting_since = 0;
    ws_group_sync(c);
    if (sv->feed.held)
        hub_feed_poke(sv); /* this client may have made room for the next page */
    if (c->cursor < sv->ring.floor) {
        /* the ring moved past this client: it cannot be served without a hole */
        ws_gap(c);
        return 0;
    }
    int p = ws_send_presence(c);
    if (p < 0)
        return -1;
    if (p == 0) {
        size_t n = 0;
        const struct sbuf *f = ws_live_frame(c, &n);
        if (f && ws_write(c, f))
            return -1;
        sv->m.ws_rows += n;
    }
    if (ws_live_behind(c) || lws_partial_buffered(c->wsi)) {
        c->waiting_since = time_mono_ms();
        lws_callback_on_writable(c->wsi);
    }
    return 0;
}

int ws_writeable(struct ws_client *c)
{
    if (!c->linked)
        return 0;
    switch (c->state) {
    case WS_SEND:
        if (ws_write(c, &c->pending))
            return -1;
        c->sv->m.ws_rows += c->pending_rows;
        c->history_written = true;
        sbuf_free(&c->pending);
        ws_backfill_next(c);
        return 0;
    case WS_LIVE:
        return ws_live_send(c);
    case WS_CLOSING:
        if (c->pending.len) {
            if (ws_write(c, &c->pending))
                return -1;
            sbuf_free(&c->pending);
            lws_callback_on_writable(c->wsi);
            return 0;
        }
        /*
         * Not by returning -1: lws 4.1.6 on its libuv loop, built with _DEBUG as Debian's
         * is, closes a connection twice when a callback returns -1 (a "repeat test" after
         * the first close), and the second close hangs up before the close frame the first
         * queued. A synchronous close from here takes lws' polite path once: it queues the
         * frame, sends it on the next POLLOUT and waits for the peer's. c is freed (CLOSED
         * has run) when lws_set_timeout returns.
         */
        lws_close_reason(c->wsi, c->close_status, (unsigned char *)c->close_reason, strlen(c->close_reason));
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        return 0;
    case WS_WAIT_HUB:
    case WS_QUERY:
        return 0;
    }
    return 0;
}

int ws_receive(struct ws_client *c, const void *in, size_t len)
{
    static const struct {
        enum ws_rx_refusal metric;
        enum lws_close_status status;
        const char *reason;
    } refusals[] = {
        [WS_RX_TOO_LARGE] = {WS_RX_REFUSE_TOO_LARGE, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large"},
        [WS_RX_BINARY] = {WS_RX_REFUSE_BINARY, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "binary messages not accepted"},
        [WS_RX_BAD_UTF8] = {WS_RX_REFUSE_BAD_UTF8, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "text message is not UTF-8"},
    };
    if (!c->linked || c->state == WS_CLOSING)
        return 0; /* closing: whatever else it sends is read and dropped */
    bool final = lws_is_final_fragment(c->wsi) && lws_remaining_packet_payload(c->wsi) == 0;
    uint64_t before = c->rx.messages;
    enum ws_rx_verdict v = ws_rx_chunk(&c->rx, in, len, lws_frame_is_binary(c->wsi), final, WS_RX_MAX);
    c->sv->m.ws_rx_messages += c->rx.messages - before;
    if (v == WS_RX_OK)
        return 0;
    struct serve *sv = c->sv;
    sv->m.ws_rx_refused[refusals[v].metric]++;
    log_info("ws %s: %s: closing (%d)", c->peer, refusals[v].reason, (int)refusals[v].status);
    /*
     * Close from WRITEABLE, not by returning -1 here: lws 4.1 drops the rest of
     * the read buffer when RECEIVE fails, loses the frame boundaries, and then
     * hangs up without the close frame when the client's next frames arrive.
     */
    sbuf_reset(&c->pending);
    c->pending_rows = 0;
    ws_begin_close(c, refusals[v].status, refusals[v].reason);
    return 0;
}

void ws_peer_closing(struct ws_client *c)
{
    if (!c->linked || c->state == WS_CLOSING)
        return;
    /* lws answers the close itself; nothing more may be written, directly or on WRITEABLE */
    c->state = WS_CLOSING;
    c->close_status = LWS_CLOSE_STATUS_NORMAL;
    c->close_reason = "";
    sbuf_reset(&c->pending);
    dbq_cancel_owner(&c->sv->query_q, c);
    c->since = 0; /* lws finishes this close itself */
}

/* Refuse an upgrade with an HTTP status and a JSON reason. Returns 1 (refusal written) or -1. */
static int ws_refuse(struct serve *sv, struct lws *wsi, int status, enum ws_reject kind, const char *msg)
{
    char peer[48] = "?";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    sv->m.ws_rejected[kind]++;
    metrics_count_http(&sv->m, status);
    log_info("ws upgrade from %s refused (%d): %s", peer, status, msg);
    if (http_send_json_error(&sv->scratch, wsi, status, msg))
        return -1;
    return 1;
}

int ws_confirm_upgrade(struct serve *sv, struct lws *wsi, const char *upgrade)
{
    char uri[16], origin_buf[512], argbuf[2048], msg[384], ver[16];
    const char *args[HTTP_MAX_ARGS];
    if (!upgrade || strcasecmp(upgrade, "websocket"))
        return ws_refuse(sv, wsi, HTTP_STATUS_BAD_REQUEST, WS_REJECT_UPGRADE, "only WebSocket upgrades are served");
    const char *path = http_header(wsi, WSI_TOKEN_GET_URI, uri, sizeof uri);
    if (!path || strcmp(path, "/ws"))
        return ws_refuse(sv, wsi, HTTP_STATUS_NOT_FOUND, WS_REJECT_PATH, "the WebSocket endpoint is /ws");
    /* RFC 6455 4.2.1; libwebsockets would upgrade some of these or hang up without a word */
    const char *version = http_header(wsi, WSI_TOKEN_VERSION, ver, sizeof ver);
    if (http_version(wsi) != 11 || !lws_hdr_total_length(wsi, WSI_TOKEN_KEY) || !version || strcmp(version, "13"))
        return ws_refuse(sv, wsi, HTTP_STATUS_BAD_REQUEST, WS_REJECT_HANDSHAKE,
                         "a WebSocket handshake is HTTP/1.1 with Sec-WebSocket-Key and Sec-WebSocket-Version: 13");
    /* a present but unreadable (too long) Origin must not count as absent */
    const char *origin = NULL;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN)) {
        origin = http_header(wsi, WSI_TOKEN_ORIGIN, origin_buf, sizeof origin_buf);
        if (!origin)
            origin = "";
    }
    /* the Host header was checked already (http_check_host); the Origin must name an allowed host itself */
    if (!ws_origin_allowed(origin, sv->allowed_hosts, sv->cfg.allow_origin)) {
        snprintf(msg, sizeof msg, "origin '%.200s' is not allowed (see --allow-origin)", origin);
        return ws_refuse(sv, wsi, HTTP_STATUS_FORBIDDEN, WS_REJECT_ORIGIN, msg);
    }
    int a = auth_ws(sv, wsi); /* a session cookie or a Bearer token (auth.h) */
    if (a)
        return a;
    if ((long)sv->clients.count >= sv->cfg.max_clients)
        return ws_refuse(sv, wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, WS_REJECT_FULL,
                         "too many WebSocket clients, try again later");
    uint8_t key[16];
    int st;
    if (conn_limits_client(sv, wsi, key) == 0 &&
        (st = conn_limits_take(sv, key, ADDR_WS, false, NULL, msg, sizeof msg)))
        return ws_refuse(sv, wsi, st, WS_REJECT_ADDR, msg);
    int n = http_query_args(wsi, argbuf, sizeof argbuf, args, HTTP_MAX_ARGS);
    if (n < 0)
        return ws_refuse(sv, wsi, HTTP_STATUS_BAD_REQUEST, WS_REJECT_BAD_REQUEST, "too many or too long parameters");
    struct qp_ws p;
    if (qp_parse_ws(args, (size_t)n, sv->cfg.history_max, &p, msg, sizeof msg))
        return ws_refuse(sv, wsi, HTTP_STATUS_BAD_REQUEST, WS_REJECT_BAD_REQUEST, msg);
    return 0;
}

int ws_filter(struct serve *sv, struct lws *wsi, struct ws_client *c)
{
    char argbuf[2048], msg[384];
    const char *args[HTTP_MAX_ARGS];
    /* ws_confirm_upgrade checked these already; the session memory is new since then */
    int n = http_query_args(wsi, argbuf, sizeof argbuf, args, HTTP_MAX_ARGS);
    if (n < 0 || qp_parse_ws(args, (size_t)n, sv->cfg.history_max, &c->params, msg, sizeof msg))
        return 1;
    auth_ws_id(sv, wsi, c->auth_id, sizeof c->auth_id);
    /* counted under this address once established (ws_established); checked already in ws_confirm_upgrade */
    if (conn_limits_client(sv, wsi, c->hold.key))
        memset(c->hold.key, 0, sizeof c->hold.key);
    return 0;
}

void ws_client_end(struct ws_client *c, const char *reason)
{
    if (c->state != WS_CLOSING)
        ws_begin_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, reason);
}

int ws_established(struct serve *sv, struct lws *wsi, struct ws_client *c)
{
    char msg[160];
    c->wsi = wsi;
    c->sv = sv;
    uint8_t key[16];
    memcpy(key, c->hold.key, sizeof key);
    if (conn_limits_take(sv, key, ADDR_WS, true, &c->hold, msg, sizeof msg)) {
        /* another upgrade from the address got in between its check and now */
        sv->m.ws_rejected[WS_REJECT_ADDR]++;
        return -1;
    }
    sbuf_init(&c->pending, LWS_PRE, WS_PENDING_MAX);
    if (lws_get_peer_simple(wsi, c->peer, sizeof c->peer) == NULL)
        snprintf(c->peer, sizeof c->peer, "?");
    c->presence_seq = sv->presence.next_seq;
    lws_dll2_add_tail(&c->node, &sv->clients);
    c->linked = true;
    sv->m.ws_connections++;
    if (c->params.has_after)
        log_info("ws %s: connected (after=%lld topic=%s)", c->peer, (long long)c->params.after,
                 c->params.topic[0] ? c->params.topic : "#");
    else
        log_info("ws %s: connected (history=%ld topic=%s)", c->peer, c->params.history,
                 c->params.topic[0] ? c->params.topic : "#");
    if (!sv->feed.ready) {
        c->state = WS_WAIT_HUB;
        return 0;
    }
    ws_backfill_next(c);
    return 0;
}

/* Bytes the kernel still holds to send on c's socket (unsent or unacknowledged); 0 when unknown. */
static int ws_outq(struct ws_client *c)
{
    int n = 0, fd = (int)lws_get_socket_fd(c->wsi);
    if (fd < 0 || ioctl(fd, SIOCOUTQ, &n))
        return 0;
    return n;
}

void ws_closed(struct ws_client *c)
{
    if (c->linked && c->state == WS_CLOSING && c->since && ws_outq(c) > 0) {
        /*
         * Our close (gap, error) was written but the client has not taken all of it: the kernel
         * delivers it if the client reads on, and drops the connection (and what it holds) if it
         * takes nothing for --client-close-ms, rather than keep an orphaned socket for minutes.
         */
        unsigned int ms = (unsigned int)c->sv->cfg.client_close_ms;
        int fd = (int)lws_get_socket_fd(c->wsi);
        if (fd >= 0)
            (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
    }
    ws_group_leave(c);
    if (c->linked) {
        lws_dll2_remove(&c->node);
        c->linked = false;
        dbq_cancel_owner(&c->sv->query_q, c);
        log_info("ws %s: closed (cursor %lld)", c->peer, (long long)c->cursor);
    }
    if (c->sv)
        conn_limits_give(c->sv, ADDR_WS, &c->hold);
    sbuf_free(&c->pending);
}

/*
 * The loops over all clients below never unlink one: ws_gap() and
 * ws_begin_close() only mark it, lws closes it later, and dbq never calls
 * back from inside dbq_submit().
 */
static struct ws_client *ws_of(struct lws_dll2 *d)
{
    return lws_container_of(d, struct ws_client, node);
}

void ws_clients_hub_ready(struct serve *sv)
{
    for (struct lws_dll2 *d = lws_dll2_get_head(&sv->clients); d; d = d->next) {
        struct ws_client *c = ws_of(d);
        if (c->state == WS_WAIT_HUB)
            ws_backfill_next(c);
    }
}

/* Send c its share of new rows (ws_clients_new_rows). */
static void ws_new_rows_to(struct ws_client *c, int64_t now)
{
    struct serve *sv = c->sv;
    if (c->cursor >= sv->ring.last_id)
        return;
    if (ws_live_too_slow(c, now)) {
        ws_gap(c);
        return;
    }
    if (lws_partial_buffered(c->wsi)) {
        /* lws still holds part of an earlier frame: WRITEABLE sends the rest first */
        if (!c->waiting_since)
            c->waiting_since = now;
        lws_callback_on_writable(c->wsi);
    } else if (ws_live_send(c)) {
        /* the send failed (counted): nothing more for it; lws closes it soon (this loop must not unlink it) */
        c->state = WS_CLOSING;
        c->close_status = LWS_CLOSE_STATUS_ABNORMAL_CLOSE;
        c->close_reason = "";
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

/*
 * Rows were appended to the ring: each filter in use is asked once whether it takes any
 * of them (ws_group.c); only the clients of the groups that do are visited.
 */
void ws_clients_new_rows(struct serve *sv)
{
    int64_t now = time_mono_ms();
    int64_t min_cursor = INT64_MAX;
    for (struct lws_dll2 *gd = lws_dll2_get_head(&sv->groups); gd; gd = gd->next) {
        struct ws_group *g = lws_container_of(gd, struct ws_group, node);
        int64_t matched_last = g->matched_last, seen_to = g->seen_to;
        if (ws_group_takes_new_rows(g, &sv->ring)) {
            g->min_cursor = INT64_MAX;
            for (struct lws_dll2 *d = lws_dll2_get_head(&g->clients); d; d = d->next) {
                struct ws_client *c = lws_container_of(d, struct ws_client, group_node);
                if (c->state != WS_LIVE)
                    continue;
                /* past the rows skipped before this batch (the marks have moved on since) */
                ws_group_sync_to(c, matched_last, seen_to);
                ws_new_rows_to(c, now);
                if (c->state == WS_LIVE && c->cursor < g->min_cursor)
                    g->min_cursor = c->cursor;
            }
        }
        if (g->min_cursor < min_cursor)
            min_cursor = g->min_cursor;
    }
    sv->live_min_cursor = min_cursor;
}

bool ws_clients_room(struct serve *sv, size_t rows)
{
    /* no live cursor is below the bound, and a lag only shrinks as the cursor grows: nothing to look at */
    if (hub_ring_lag(&sv->ring, sv->live_min_cursor) + rows <= sv->ring.cap)
        return true;
    int64_t now = time_mono_ms();
    /* a hold delays every client: it lasts while the ones holding it take data, and not too long */
    bool hold_too_long = sv->feed.held_since && now - sv->feed.held_since > sv->cfg.client_stall_ms;
    bool room = true;
    int64_t min_cursor = INT64_MAX;
    for (struct lws_dll2 *d = lws_dll2_get_head(&sv->groups); d; d = d->next)
        lws_container_of(d, struct ws_group, node)->min_cursor = INT64_MAX;
    for (struct lws_dll2 *d = lws_dll2_get_head(&sv->clients); d; d = d->next) {
        struct ws_client *c = ws_of(d);
        if (c->state != WS_LIVE)
            continue;
        ws_group_sync(c);
        if (hub_ring_lag(&sv->ring, c->cursor) + rows > sv->ring.cap) {
            if (hold_too_long || (c->waiting_since && now - c->waiting_since > sv->cfg.client_hold_ms)) {
                ws_gap(c);
                continue;
            }
            room = false;
        }
        if (c->cursor < min_cursor)
            min_cursor = c->cursor;
        if (c->group && c->cursor < c->group->min_cursor)
            c->group->min_cursor = c->cursor;
    }
    sv->live_min_cursor = min_cursor;
    return room;
}

static long ws_tick_ms(const struct serve *sv)
{
    long ms =
        (sv->cfg.client_stall_ms < sv->cfg.client_close_ms ? sv->cfg.client_stall_ms : sv->cfg.client_close_ms) / 4;
    return ms < 20 ? 20 : ms > 250 ? 250 : ms;
}

static void ws_clients_tick(lws_sorted_usec_list_t *sul)
{
    struct serve *sv = lws_container_of(sul, struct serve, ws_tick);
    int64_t now = time_mono_ms();
    for (struct lws_dll2 *d = lws_dll2_get_head(&sv->clients); d; d = d->next)
        ws_check(ws_of(d), now);
    lws_sul_schedule(sv->ctx, 0, &sv->ws_tick, ws_clients_tick, (lws_usec_t)ws_tick_ms(sv) * LWS_US_PER_MS);
}

void ws_clients_timer_start(struct serve *sv)
{
    lws_sul_schedule(sv->ctx, 0, &sv->ws_tick, ws_clients_tick, (lws_usec_t)ws_tick_ms(sv) * LWS_US_PER_MS);
}

void ws_clients_timer_stop(struct serve *sv)
{
    lws_sul_cancel(&sv->ws_tick);
}

void ws_clients_presence(struct serve *sv)
{
    for (struct lws_dll2 *d = lws_dll2_get_head(&sv->clients); d; d = d->next) {
        struct ws_client *c = ws_of(d);
        if (c->state == WS_LIVE)
            lws_callback_on_writable(c->wsi);
    }
}
