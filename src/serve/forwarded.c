/* forwarded.c - X-Forwarded-For / X-Forwarded-Proto parsers (see forwarded.h). */
#include "forwarded.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

/* The rightmost comma-separated entry of s, trimmed: *len bytes at the returned pointer. */
static const char *last_entry(const char *s, size_t *len)
{
    const char *comma = strrchr(s, ',');
    const char *e = comma ? comma + 1 : s;
    size_t n = strlen(e);
    while (n && isspace((unsigned char)*e))
        e++, n--;
    while (n && isspace((unsigned char)e[n - 1]))
        n--;
    *len = n;
    return e;
}

int fwd_addr_parse(const char *s, uint8_t out[16])
{
    struct in_addr v4;
    if (inet_pton(AF_INET, s, &v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &v4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, s, out) == 1 ? 0 : -1;
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

int fwd_for_last(const char *xff, char out[FWD_ADDR_MAX])
{
    size_t n;
    char a[FWD_ADDR_MAX];
    uint8_t bin[16];
    if (!xff)
        return -1;
    const char *e = last_entry(xff, &n);
    if (n && e[0] == '[') {
        const char *close = memchr(e, ']', n);
        if (!close)
            return -1;
        size_t rest = n - (size_t)(close - e) - 1;
        if (rest && (close[1] != ':' || !all_digits(close + 2, rest - 1)))
            return -1;
        e++;
        n = (size_t)(close - e);
    } else if (n && n < sizeof a) {
        /* "a.b.c.d:port": one colon (a bare IPv6 address has at least two) */
        const char *colon = memchr(e, ':', n);
        if (colon && !memchr(colon + 1, ':', n - (size_t)(colon - e) - 1)) {
            if (!all_digits(colon + 1, n - (size_t)(colon - e) - 1))
                return -1;
            n = (size_t)(colon - e);
        }
    }
    if (n == 0 || n >= sizeof a)
        return -1;
    memcpy(a, e, n);
    a[n] = '\0';
    if (fwd_addr_parse(a, bin))
        return -1;
    /* canonical text: a mapped IPv4 address as IPv4 */
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(bin, mapped, 12))
        return inet_ntop(AF_INET, bin + 12, out, FWD_ADDR_MAX) ? 0 : -1;
    return inet_ntop(AF_INET6, bin, out, FWD_ADDR_MAX) ? 0 : -1;
}

int fwd_proto_https(const char *proto)
{
    size_t n;
    if (!proto)
        return -1;
    const char *e = last_entry(proto, &n);
    if (n == 5 && !strncasecmp(e, "https", 5))
        return 1;
    if (n == 4 && !strncasecmp(e, "http", 4))
        return 0;
    return -1;
}
