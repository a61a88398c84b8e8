/* http_util.c - lws HTTP helpers: args, headers, small immediate responses (see http_util.h). */
#include "http_util.h"

#include <string.h>

int http_query_args(struct lws *wsi, char *buf, size_t buflen, const char **args, int maxargs)
{
    size_t used = 0;
    for (int n = 0;; n++) {
        /* 0 both for "no fragment n" and for an empty one; copying tells them apart */
        int len = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, n);
        if ((size_t)len + 1 > buflen - used)
            return -1;
        int got = lws_hdr_copy_fragment(wsi, buf + used, (int)(buflen - used), WSI_TOKEN_HTTP_URI_ARGS, n);
        if (got < 0)
            return n;
        if (n >= maxargs)
            return -1;
        args[n] = buf + used;
        used += (size_t)got + 1;
    }
}

const char *http_header(struct lws *wsi, enum lws_token_indexes tok, char *buf, size_t buflen)
{
    if (!lws_hdr_total_length(wsi, tok))
        return NULL;
    if (lws_hdr_copy(wsi, buf, (int)buflen, tok) < 0)
        return NULL;
    return buf;
}

bool http_is_head(struct lws *wsi)
{
    return lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
}

int http_version(struct lws *wsi)
{
    char v[16];
    if (!http_header(wsi, WSI_TOKEN_HTTP, v, sizeof v))
        return 0;
    return !strcmp(v, "HTTP/1.1") ? 11 : !strcmp(v, "HTTP/1.0") ? 10 : 0;
}

int http_send_now(struct lws *wsi, int status, const char *ctype, const char *body, size_t len, bool close)
{
    unsigned char buf[LWS_PRE + 4096];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    bool head = http_is_head(wsi);
    if (len > sizeof buf - LWS_PRE - 1024)
        return -1;
    if (lws_add_http_common_headers(wsi, (unsigned)status, ctype, len, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const unsigned char *)"no-store", 8, &p, end))
        return -1;
    if (close && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5, &p, end))
        return -1;
    if (status == HTTP_STATUS_METHOD_NOT_ALLOWED &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:", (const unsigned char *)"GET, HEAD", 9, &p,
                                    end))
        return -1;
    if (lws_finalize_http_header(wsi, &p, end))
        return -1;
    if (!head && len) {
        /* headers and body in one write */
        memcpy(p, body, len);
        p += len;
    }
    int n = lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL);
    return n < 0 ? -1 : 0;
}

void http_json_error(struct sbuf *b, const char *msg)
{
    sbuf_puts(b, "{\"error\":");
    sbuf_json_string(b, msg, strlen(msg));
    sbuf_puts(b, "}");
}

int http_send_json_error(struct sbuf *scratch, struct lws *wsi, int status, const char *msg)
{
    sbuf_reset(scratch);
    http_json_error(scratch, msg);
    if (scratch->failed)
        return -1;
    return http_send_now(wsi, status, "application/json", scratch->data, scratch->len, true);
}
