/* conn_limits.c - per-address limits on lws connections, WebSockets and requests (see conn_limits.h). */
#include "conn_limits.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "http_peer.h"
#include "metrics.h"
#include "serve_state.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define HTTP_STATUS_TOO_MANY 429
#define LIMIT_LOG_MS 1000 /* at most one refusal line per limit this often */

struct conn_info {
    int64_t accepted_ms;
    bool seen;    /* a complete request head arrived */
    bool counted; /* counted under key (ADDR_CONN) */
    uint8_t key[16];
};

int conn_limits_init(struct serve *sv)
{
    uint64_t seed;
    if (RAND_bytes((unsigned char *)&seed, sizeof seed) != 1)
        seed = (uint64_t)time_now_us();
    return addr_table_init(&sv->addrs, CONN_ADDRS_MAX, seed);
}

void conn_limits_free(struct serve *sv)
{
    addr_table_free(&sv->addrs);
}

/* Count a refusal; log it unless another of the same limit was logged less than LIMIT_LOG_MS ago. */
static void refused(struct serve *sv, enum addr_refusal why, const uint8_t key[16], const char *what)
{
    char a[HTTP_PEER_ADDR_MAX];
    sv->m.addr_refused[why]++;
    int64_t now = time_mono_ms();
    struct limit_log *l = &sv->limit_log[why];
    if (l->last_ms && now - l->last_ms < LIMIT_LOG_MS) {
        l->suppressed++;
        return;
    }
    http_addr_text(key, a, sizeof a);
    log_warn("%s from %s refused: %s (%llu more refusals of this kind not logged)", what, a,
             why == ADDR_REFUSE_TABLE_FULL ? "too many client addresses at once" : "over its per-address limit",
             (unsigned long long)l->suppressed);
    l->last_ms = now;
    l->suppressed = 0;
}

/* Set one socket buffer size; 0 leaves the kernel's (auto-tuned) default. */
static void set_buf(int fd, int opt, long size, const char *name)
{
    int v = (int)size;
    if (size > 0 && setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v))
        log_debug("setsockopt(%s, %ld) failed", name, size);
}

int conn_limits_accept(struct serve *sv, int fd)
{
    uint8_t b[16], key[16];
    set_buf(fd, SO_SNDBUF, sv->cfg.socket_sndbuf, "SO_SNDBUF");
    set_buf(fd, SO_RCVBUF, sv->cfg.socket_rcvbuf, "SO_RCVBUF");
    if (http_fd_peer(fd, b))
        return 0;
    if (sv->proxy_set && !memcmp(b, sv->proxy_addr, 16))
        return 0; /* the trusted proxy carries everyone's connections */
    addr_key(b, key);
    enum addr_verdict v = addr_check(&sv->addrs, key, ADDR_CONN, (uint32_t)sv->cfg.max_conns_per_addr);
    if (v == ADDR_OK)
        return 0;
    refused(sv, v == ADDR_FULL ? ADDR_REFUSE_TABLE_FULL : ADDR_REFUSE_CONNECTIONS, key, "connection");
    return 1;
}

void conn_limits_instantiated(struct serve *sv, struct lws *wsi)
{
    uint8_t b[16];
    sv->m.http_connections++;
    struct conn_info *ci = calloc(1, sizeof *ci);
    if (!ci) {
        log_warn("out of memory for a new connection: closing it");
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    ci->accepted_ms = time_mono_ms();
    lws_set_opaque_user_data(wsi, ci);
    if (http_fd_peer((int)lws_get_socket_fd(wsi), b) || (sv->proxy_set && !memcmp(b, sv->proxy_addr, 16)))
        return;
    addr_key(b, ci->key);
    /* conn_limits_accept checked it in this same loop turn; over the limit only if the table changed since */
    enum addr_verdict v = addr_acquire(&sv->addrs, ci->key, ADDR_CONN, (uint32_t)sv->cfg.max_conns_per_addr);
    if (v == ADDR_OK) {
        ci->counted = true;
        return;
    }
    refused(sv, v == ADDR_FULL ? ADDR_REFUSE_TABLE_FULL : ADDR_REFUSE_CONNECTIONS, ci->key, "connection");
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void conn_limits_request_seen(struct lws *wsi)
{
    struct conn_info *ci = lws_get_opaque_user_data(wsi);
    if (ci)
        ci->seen = true;
}

void conn_limits_destroyed(struct serve *sv, struct lws *wsi)
{
    struct conn_info *ci = lws_get_opaque_user_data(wsi);
    if (!ci)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    if (ci->counted)
        addr_release(&sv->addrs, ci->key, ADDR_CONN);
    if (!ci->seen) {
        int64_t age = time_mono_ms() - ci->accepted_ms;
        /* lws times out on whole seconds; a little slack for the loop */
        bool timed_out = age >= conn_head_timeout_s(sv) * 1000 - 200;
        sv->m.http_refused[timed_out ? HTTP_REFUSE_TIMEOUT : HTTP_REFUSE_MALFORMED]++;
        log_debug("http: connection closed after %lld ms without a complete request head (%s)", (long long)age,
                  timed_out ? "timed out" : "malformed or abandoned");
    }
    free(ci);
}

int conn_limits_client(const struct serve *sv, struct lws *wsi, uint8_t key[16])
{
    uint8_t b[16];
    if (http_client_bytes(sv, wsi, b))
        return -1;
    addr_key(b, key);
    return 0;
}

int conn_limits_take(struct serve *sv, const uint8_t key[16], enum addr_kind kind, bool take, struct addr_hold *h,
                     char *msg, size_t msglen)
{
    bool ws = kind == ADDR_WS;
    uint32_t limit = (uint32_t)(ws ? sv->cfg.max_ws_per_addr : sv->cfg.max_requests_per_addr);
    enum addr_verdict v = take ? addr_acquire(&sv->addrs, key, kind, limit) : addr_check(&sv->addrs, key, kind, limit);
    if (v == ADDR_OK) {
        if (take) {
            memcpy(h->key, key, 16);
            h->counted = true;
        }
        return 0;
    }
    if (v == ADDR_FULL) {
        refused(sv, ADDR_REFUSE_TABLE_FULL, key, ws ? "WebSocket" : "request");
        snprintf(msg, msglen, "too many client addresses at once, try again later");
        return HTTP_STATUS_SERVICE_UNAVAILABLE;
    }
    refused(sv, ws ? ADDR_REFUSE_WEBSOCKETS : ADDR_REFUSE_REQUESTS, key, ws ? "WebSocket" : "request");
    snprintf(msg, msglen, "too many %s from this address (at most %u; see %s)",
             ws ? "WebSocket clients" : "requests in flight", limit,
             ws ? "--max-ws-per-addr" : "--max-requests-per-addr");
    return HTTP_STATUS_TOO_MANY;
}

void conn_limits_give(struct serve *sv, enum addr_kind kind, struct addr_hold *h)
{
    if (!h->counted)
        return;
    addr_release(&sv->addrs, h->key, kind);
    h->counted = false;
}

long conn_head_timeout_s(const struct serve *sv)
{
    return sv->cfg.http_head_timeout_s < sv->cfg.http_timeout_s ? sv->cfg.http_head_timeout_s : sv->cfg.http_timeout_s;
}
