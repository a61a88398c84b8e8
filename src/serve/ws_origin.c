/* ws_origin.c - Host against --allowed-hosts, Origin against --allowed-hosts and --allow-origin (see ws_origin.h). */
#include "ws_origin.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

struct hostport {
    char host[256]; /* lower case; IPv6 keeps its brackets */
    int port;       /* 0 = not given */
};

/* Parse "host[:port]" or "[v6]:port" from s[0..len). 0 or -1. */
static int parse_hostport(const char *s, size_t len, struct hostport *hp)
{
    size_t hl = len;
    const char *portp = NULL;
    if (len == 0)
        return -1;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return -1;
        hl = (size_t)(close - s) + 1;
        if (hl < len) {
            if (s[hl] != ':')
                return -1;
            portp = s + hl + 1;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon) {
            hl = (size_t)(colon - s);
            portp = colon + 1;
        }
    }
    if (hl == 0 || hl >= sizeof hp->host)
        return -1;
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '@')
            return -1;
        hp->host[i] = (char)tolower(c);
    }
    hp->host[hl] = '\0';
    hp->port = 0;
    if (portp) {
        size_t pl = len - (size_t)(portp - s);
        if (pl == 0 || pl > 5)
            return -1;
        int p = 0;
        for (size_t i = 0; i < pl; i++) {
            if (!isdigit((unsigned char)portp[i]))
                return -1;
            p = p * 10 + (portp[i] - '0');
        }
        if (p < 1 || p > 65535)
            return -1;
        hp->port = p;
    }
    return 0;
}

/* "scheme://host[:port]" (a trailing '/' tolerated); default_port gets 80 or 443. 0 or -1. */
static int parse_origin(const char *o, size_t len, struct hostport *hp, int *default_port)
{
    if (len >= 7 && !strncasecmp(o, "http://", 7)) {
        *default_port = 80;
        o += 7, len -= 7;
    } else if (len >= 8 && !strncasecmp(o, "https://", 8)) {
        *default_port = 443;
        o += 8, len -= 8;
    } else
        return -1;
    if (len && o[len - 1] == '/')
        len--;
    if (memchr(o, '/', len))
        return -1;
    if (parse_hostport(o, len, hp))
        return -1;
    if (!hp->port)
        hp->port = *default_port;
    return 0;
}

static bool same(const struct hostport *a, const struct hostport *b)
{
    return a->port == b->port && !strcmp(a->host, b->host);
}

/* Does one trimmed allow-list entry s[0..len) admit the parsed origin o? */
static bool entry_allows(const char *s, size_t len, const struct hostport *o, int defport)
{
    struct hostport e;
    int edef;
    if (memmem(s, len, "://", 3)) {
        if (parse_origin(s, len, &e, &edef))
            return false;
        return edef == defport && same(&e, o);
    }
    if (parse_hostport(s, len, &e))
        return false;
    if (!e.port)
        e.port = defport;
    return same(&e, o);
}

/* The next item of a comma list at *p, spaces around it dropped (len may be 0); *p moves past it. */
static const char *list_item(const char **p, size_t *len)
{
    const char *e = *p, *comma = strchr(e, ',');
    size_t n = comma ? (size_t)(comma - e) : strlen(e);
    *p = comma ? comma + 1 : e + n;
    while (n && isspace((unsigned char)*e))
        e++, n--;
    while (n && isspace((unsigned char)e[n - 1]))
        n--;
    *len = n;
    return e;
}

/* Does the comma list admit o (an entry without "://" is host[:port], a missing port defport)? "*" and "null" only when
 * special is true (the --allow-origin list); origin is the raw header for "null". */
static bool list_allows(const char *list, const char *origin, bool parsed, const struct hostport *o, int defport,
                        bool special)
{
    for (const char *p = list; p && *p;) {
        size_t len;
        const char *e = list_item(&p, &len);
        if (special && len == 1 && *e == '*')
            return true;
        if (special && len == 4 && !strncasecmp(e, "null", 4)) {
            if (origin && !strcasecmp(origin, "null"))
                return true;
            continue;
        }
        if (parsed && len && (special || !memmem(e, len, "://", 3)) && entry_allows(e, len, o, defport))
            return true;
    }
    return false;
}

bool ws_origin_allowed(const char *origin, const char *hosts, const char *allow)
{
    if (!origin)
        return true;
    struct hostport o = {0};
    int defport = 0;
    bool parsed = parse_origin(origin, strlen(origin), &o, &defport) == 0;
    return list_allows(hosts, origin, parsed, &o, defport, false) ||
           list_allows(allow, origin, parsed, &o, defport, true);
}

bool ws_host_allowed(const char *host, const char *hosts, int defport)
{
    struct hostport h;
    if (!host)
        return true;
    if (parse_hostport(host, strlen(host), &h))
        return false;
    if (!h.port)
        h.port = defport;
    return list_allows(hosts, NULL, true, &h, defport, false);
}

int ws_hosts_check(const char *hosts)
{
    int n = 0;
    for (const char *p = hosts; p && *p;) {
        size_t len;
        const char *e = list_item(&p, &len);
        struct hostport hp;
        if (!len)
            continue;
        if (memmem(e, len, "://", 3) || memchr(e, '*', len) || parse_hostport(e, len, &hp))
            return -1;
        n++;
    }
    return n ? 0 : -1;
}

bool ws_allow_has_star(const char *allow)
{
    for (const char *p = allow; p && *p;) {
        size_t len;
        const char *e = list_item(&p, &len);
        if (len == 1 && *e == '*')
            return true;
    }
    return false;
}
