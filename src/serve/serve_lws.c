/* serve_lws.c - lws context, mounts and callback dispatch (see serve_lws.h). */
#include "serve_lws.h"

#include "core/log.h"
#include "accept_drain.h"
#include "auth.h"
#include "conn_limits.h"
#include "http_api.h"
#include "http_peer.h"
#include "metrics.h"
#include "pgconn_lws.h"
#include "serve_state.h"
#include "ws_client.h"

#include <stdint.h>
#include <string.h>

#define SERVE_PROTOCOL "sensorpipe"
#define SERVE_HTTP_HEADER_MAX 8192 /* a request head larger than this is dropped by lws */

/*
 * Per-connection memory, zeroed by lws and re-made whenever the connection is
 * bound to a protocol again (each HTTP request on a callback mount, the
 * WebSocket upgrade). `kind` says which half of the union is in use.
 */
enum session_kind { SESSION_NONE = 0, SESSION_HTTP, SESSION_WS };
struct session {
    enum session_kind kind;
    union {
        struct api_req http;
        struct ws_client ws;
    } u;
};

static int serve_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

/*
 * Connections libwebsockets drops on its own. A request head that is
 * malformed (lws answers 403 or hangs up), over SERVE_HTTP_HEADER_MAX, or not
 * complete within the head deadline (--http-head-timeout-s) never reaches a callback with a reason. So every accepted
 * connection carries (conn_limits.h) the time it was accepted and whether a complete request head was seen; when a
 * connection that never got that far is destroyed, it is counted as timed out (it lived to the deadline) or malformed
 * (it died sooner: refused by lws, or the client gave up). pg sockets (another protocol) carry none.
 */
static bool ours(struct lws *wsi)
{
    const struct lws_protocols *p = lws_get_protocol(wsi);
    return p && p->callback == serve_callback;
}

static int serve_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct serve *sv = lws_context_user(lws_get_context(wsi));
    struct session *s = user;
    switch (reason) {
    /* connections */
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        /* wsi is the listening socket; in is the accepted fd. Nonzero: lws closes it, and takes no more
         * connections this loop pass, so take the rest of the queue now (accept_drain.h) */
        if (!conn_limits_accept(sv, (int)(lws_intptr_t)in))
            return 0;
        accept_drain(sv, wsi);
        return 1;
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        conn_limits_instantiated(sv, wsi);
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        if (ours(wsi))
            conn_limits_destroyed(sv, wsi);
        break;

    /* HTTP */
    case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
        conn_limits_request_seen(wsi);
        if (s && s->kind == SESSION_HTTP && s->u.http.active)
            return api_refuse_pipelined(sv, wsi, &s->u.http);
        if (http_check_host(sv, wsi, false))
            return 1;
        return api_filter(sv, wsi);
    case LWS_CALLBACK_HTTP:
        if (!s)
            return -1;
        s->kind = SESSION_HTTP;
        return api_http(sv, wsi, &s->u.http, in);
    case LWS_CALLBACK_HTTP_BODY:
        return s && s->kind == SESSION_HTTP ? auth_body(&s->u.http, in, len) : -1;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return s && s->kind == SESSION_HTTP ? auth_body_done(&s->u.http) : -1;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return s && s->kind == SESSION_HTTP ? api_writeable(&s->u.http) : 0;
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        /* a static file went out: ready the connection for its next request */
        metrics_count_http(&sv->m, HTTP_STATUS_OK);
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (s && s->kind == SESSION_HTTP)
            api_closed(&s->u.http);
        break;

    /* WebSocket */
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        conn_limits_request_seen(wsi);
        if (http_check_host(sv, wsi, true))
            return 1;
        return ws_confirm_upgrade(sv, wsi, in);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (!s)
            return 1;
        s->kind = SESSION_WS;
        return ws_filter(sv, wsi, &s->u.ws);
    case LWS_CALLBACK_ESTABLISHED:
        return s && s->kind == SESSION_WS ? ws_established(sv, wsi, &s->u.ws) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return s && s->kind == SESSION_WS ? ws_writeable(&s->u.ws) : 0;
    case LWS_CALLBACK_RECEIVE:
        return s && s->kind == SESSION_WS ? ws_receive(&s->u.ws, in, len) : -1;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (s && s->kind == SESSION_WS)
            ws_peer_closing(&s->u.ws);
        break;
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
        if (s && s->kind == SESSION_WS)
            ws_closed(&s->u.ws);
        break;

    default:
        break;
    }
    return 0;
}

/*
 * Per-connection buffers. lws allocates rx_buffer_size (+ LWS_PRE) for every
 * WebSocket when it is established; clients send nothing but control frames
 * (<= 125 bytes), so it is small: a larger message arrives in pieces and is
 * refused at WS_RX_MAX by ws_rx.c exactly as before. Without tx_packet_size,
 * lws would also cut every write to rx_buffer_size bytes and copy the rest to
 * a buffer for later, so sends get their own bound.
 */
#define SERVE_WS_RX_CHUNK 256
#define SERVE_TX_PACKET (64u << 10)

static const struct lws_protocols serve_protocols[] = {
    /* first: the default for HTTP and for WebSocket upgrades without a subprotocol */
    {SERVE_PROTOCOL, serve_callback, sizeof(struct session), SERVE_WS_RX_CHUNK, 0, NULL, SERVE_TX_PACKET},
    {PGC_PROTOCOL, pgc_lws_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws knows html, js, css, png, ico, svg, json, txt, woff...; a few more a dashboard may use */
static const struct lws_protocol_vhost_options mime_map = {NULL, NULL, ".map", "application/json"};
static const struct lws_protocol_vhost_options mime_mjs = {&mime_map, NULL, ".mjs", "text/javascript"};
static const struct lws_protocol_vhost_options mime_webmanifest = {&mime_mjs, NULL, ".webmanifest",
                                                                   "application/manifest+json"};
static const struct lws_protocol_vhost_options mime_csv = {&mime_webmanifest, NULL, ".csv", "text/csv"};

/*
 * Sent with every response lws starts with a status line (files, API, errors, lws' own
 * 404/403): no script or style but our own files, no framing, no MIME sniffing, no Referer.
 * connect-src 'self' admits the page's own ws:/wss: origin (CSP level 3).
 */
static const struct lws_protocol_vhost_options hdr_referrer = {NULL, NULL, "referrer-policy:", "no-referrer"};
static const struct lws_protocol_vhost_options hdr_frame = {&hdr_referrer, NULL, "x-frame-options:", "DENY"};
static const struct lws_protocol_vhost_options hdr_nosniff = {&hdr_frame, NULL, "x-content-type-options:", "nosniff"};
static const struct lws_protocol_vhost_options hdr_csp = {
    &hdr_nosniff, NULL, "content-security-policy:",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"};

static struct lws_http_mount mounts[6];

static void serve_mounts(struct serve *sv)
{
    static const char *const callback_points[] = {"/api", "/healthz", "/metrics", "/login", "/logout"};
    memset(mounts, 0, sizeof mounts);
    for (int i = 0; i < 5; i++) {
        mounts[i].mount_next = &mounts[i + 1];
        mounts[i].mountpoint = callback_points[i];
        mounts[i].mountpoint_len = (unsigned char)strlen(callback_points[i]);
        mounts[i].origin = SERVE_PROTOCOL;
        mounts[i].origin_protocol = LWSMPRO_CALLBACK;
    }
    /* lws folds "/../" and "%2e%2e" in the path before it gets here, so no path leaves web_root */
    mounts[5].mountpoint = "/";
    mounts[5].mountpoint_len = 1;
    mounts[5].origin = sv->cfg.web_root;
    mounts[5].def = "index.html";
    mounts[5].origin_protocol = LWSMPRO_FILE;
    mounts[5].extra_mimetypes = &mime_csv;
}

static void serve_lws_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    enum log_level l = level & LLL_ERR ? LOG_ERROR : level & LLL_WARN ? LOG_WARN : LOG_DEBUG;
    log_msg(l, "lws: %.*s", (int)n, line);
}

void serve_lws_log_init(int level)
{
    int mask = LLL_ERR | LLL_WARN;
    if (level >= LOG_DEBUG)
        mask |= LLL_NOTICE;
    lws_set_log_level(mask, serve_lws_emit);
}

int serve_lws_start(struct serve *sv, const char *host, int port)
{
    serve_mounts(sv);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = port;
    /* lws binds an address or an interface name; "" / wildcards mean every interface */
    if (!strcmp(host, "localhost"))
        host = "127.0.0.1";
    info.iface = (!*host || !strcmp(host, "*") || !strcmp(host, "0.0.0.0") || !strcmp(host, "::")) ? NULL : host;
    /* an IPv4 address on lws's dual-stack socket is not honoured (it binds [::]):
     * use an IPv4 socket so "127.0.0.1" really means loopback only */
    if (info.iface && strchr(info.iface, '.') && !strchr(info.iface, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.protocols = serve_protocols;
    info.mounts = &mounts[0];
    info.vhost_name = "default";
    info.user = sv;
    info.server_string = "sensorpipe";
    info.headers = &hdr_csp;
    if (*sv->cfg.tls_cert) {
        /* HTTPS: TLS 1.2 and later only; plain HTTP to this port is refused (no ALLOW_NON_SSL_ON_SSL_PORT) */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = sv->cfg.tls_cert;
        info.ssl_private_key_filepath = sv->cfg.tls_key;
        info.ssl_options_set = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
        /* HTTP/1.1 only, as over plain HTTP: no h2 (the request checks and the WebSocket upgrade are HTTP/1.x) */
        info.alpn = "http/1.1";
    }
    /*
     * Slow-loris: lws gives each connection a header table (ah) from a pool when
     * it is accepted and closes it when the request head is not complete
     * timeout_secs_ah_idle later, however it trickles in. A connection waiting
     * for a free ah, and one being sent a file, times out after timeout_secs.
     * The pool (--http-header-pool) bounds the connections being parsed at once
     * (an ah is ~9 KB, allocated while in use); beyond it new connections wait
     * for one, and so does /healthz: 1,500 slow-loris sockets against a pool of
     * 1,024 held /healthz for 2.4-6 s (head deadline 3-10 s), a pool of 4,096
     * answered it in ~70 ms (p50; docs/SECURITY.md). Per-address connection
     * limits keep one address from filling it.
     */
    info.timeout_secs = (unsigned)sv->cfg.http_timeout_s;
    info.timeout_secs_ah_idle = (unsigned)conn_head_timeout_s(sv);
    info.ka_time = SERVE_KA_TIME_S; /* TCP keepalive finds dead WebSocket peers */
    info.ka_probes = SERVE_KA_PROBES;
    info.ka_interval = SERVE_KA_INTERVAL_S;
    info.max_http_header_data = SERVE_HTTP_HEADER_MAX;
    info.max_http_header_pool = (unsigned short)sv->cfg.http_header_pool;
    info.pt_serv_buf_size = 16384;
    info.pcontext = &sv->ctx; /* lws clears it once the context is wholly destroyed (serve_loop_destroy) */
    serve_loop_context_info(&sv->loop, &info);
    sv->ctx = lws_create_context(&info);
    if (!sv->ctx) {
        log_error("cannot listen on %s:%d (address in use or not local?%s)", host, port,
                  *sv->cfg.tls_cert ? " or the TLS certificate and key do not load or do not match" : "");
        return -1;
    }
    sv->vh = lws_get_vhost_by_name(sv->ctx, "default");
    if (!sv->vh) {
        log_error("libwebsockets made no vhost");
        return -1;
    }
    return 0;
}
