/* http_peer.c - peer address, TLS, trusted proxy headers, the Host check (see http_peer.h). */
#include "http_peer.h"

#include "core/log.h"
#include "http_util.h"
#include "metrics.h"
#include "serve_state.h"
#include "ws_origin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define HTTP_STATUS_MISDIRECTED 421

int http_fd_peer(int fd, uint8_t out[16])
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl))
        return -1;
    if (ss.ss_family == AF_INET) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        return 0;
    }
    if (ss.ss_family == AF_INET6) {
        memcpy(out, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

/* The TCP peer of wsi as 16 bytes. 0 or -1. */
static int peer_bytes(struct lws *wsi, uint8_t out[16])
{
    return http_fd_peer((int)lws_get_socket_fd(wsi), out);
}

static void bytes_text(const uint8_t b[16], char *buf, size_t len)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(b, mapped, 12) ? !inet_ntop(AF_INET, b + 12, buf, (socklen_t)len)
                               : !inet_ntop(AF_INET6, b, buf, (socklen_t)len))
        snprintf(buf, len, "?");
}

bool http_peer_is_proxy(const struct serve *sv, struct lws *wsi)
{
    uint8_t b[16];
    return sv->proxy_set && peer_bytes(wsi, b) == 0 && !memcmp(b, sv->proxy_addr, 16);
}

bool http_request_https(const struct serve *sv, struct lws *wsi)
{
    char v[64];
    if (lws_is_ssl(wsi))
        return true;
    if (!http_peer_is_proxy(sv, wsi))
        return false;
    static const char name[] = "x-forwarded-proto:";
    int n = lws_hdr_custom_copy(wsi, v, (int)sizeof v, name, (int)sizeof name - 1);
    return n > 0 && fwd_proto_https(v) == 1;
}

const char *http_client_addr(const struct serve *sv, struct lws *wsi, char *buf, size_t len)
{
    char xff[1024], a[FWD_ADDR_MAX];
    uint8_t b[16];
    if (peer_bytes(wsi, b)) {
        snprintf(buf, len, "?");
        return buf;
    }
    if (sv->proxy_set && !memcmp(b, sv->proxy_addr, 16) &&
        fwd_for_last(http_header(wsi, WSI_TOKEN_X_FORWARDED_FOR, xff, sizeof xff), a) == 0) {
        snprintf(buf, len, "%s", a);
        return buf;
    }
    bytes_text(b, buf, len);
    return buf;
}

int http_client_bytes(const struct serve *sv, struct lws *wsi, uint8_t out[16])
{
    char xff[1024], a[FWD_ADDR_MAX];
    if (peer_bytes(wsi, out))
        return -1;
    if (sv->proxy_set && !memcmp(out, sv->proxy_addr, 16) &&
        fwd_for_last(http_header(wsi, WSI_TOKEN_X_FORWARDED_FOR, xff, sizeof xff), a) == 0)
        fwd_addr_parse(a, out); /* fwd_for_last gave a valid address */
    return 0;
}

void http_addr_text(const uint8_t b[16], char *buf, size_t len)
{
    bytes_text(b, buf, len);
}

int http_check_host(struct serve *sv, struct lws *wsi, bool upgrade)
{
    char hbuf[300], peer[HTTP_PEER_ADDR_MAX], msg[400];
    /* a present but unreadable (too long) Host must not count as absent */
    const char *host = NULL;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HOST)) {
        host = http_header(wsi, WSI_TOKEN_HOST, hbuf, sizeof hbuf);
        if (!host)
            host = "";
    }
    if (ws_host_allowed(host, sv->allowed_hosts, http_request_https(sv, wsi) ? 443 : 80))
        return 0;
    if (upgrade)
        sv->m.ws_rejected[WS_REJECT_HOST]++;
    else
        sv->m.http_refused[HTTP_REFUSE_HOST]++;
    metrics_count_http(&sv->m, HTTP_STATUS_MISDIRECTED);
    snprintf(msg, sizeof msg, "host '%.200s' is not served here (see --allowed-hosts)", host);
    log_info("http %s: request refused (421): %s", http_client_addr(sv, wsi, peer, sizeof peer), msg);
    http_send_json_error(&sv->scratch, wsi, HTTP_STATUS_MISDIRECTED, msg);
    return 1;
}
