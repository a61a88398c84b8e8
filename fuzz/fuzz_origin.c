/*
 * fuzz_origin.c - libFuzzer target: WebSocket Origin against --allowed-hosts and --allow-origin, and
 * the Host header against --allowed-hosts (src/serve/ws_origin.c).
 *
 * Input: "origin\nhost\nallow"; a missing part is an absent header (NULL). "host" is used both
 * as a Host header and as an --allowed-hosts list. Beyond memory safety the checks are the
 * rules of ws_origin.h that hold for any input:
 *   - no Origin header is always allowed;
 *   - the allow list only widens: what passes with no list passes with any list, and adding
 *     an entry never refuses what passed before; "*" allows everything;
 *   - case does not matter (scheme and host compare case-insensitively);
 *   - a Host written as an allow-list entry admits the same origins as the Host check
 *     (an entry without "://" is host[:port] of any scheme, like Host; one with it is a
 *     whole origin, so such a Host is left out of this check);
 *   - Host: an absent header is allowed; the list only widens; case does not matter; a Host
 *     is allowed by a list exactly when the browser origin "http://" (port 80) or "https://"
 *     (port 443) + that Host is, by the same list as allowed hosts (one parser, one rule);
 *     ws_hosts_check accepts no list with "*" or "://".
 */
/* fuzz-max-len: 4096 (Origin and Host values far past any real header) */
#include "serve/ws_origin.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PART_MAX 1024

static bool allowed(const char *origin, const char *host, const char *allow)
{
    bool a = ws_origin_allowed(origin, host, allow);
    if (a != ws_origin_allowed(origin, host, allow))
        abort(); /* pure: same answer twice */
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 3 * PART_MAX)
        return 0;
    char buf[3 * PART_MAX + 1];
    memcpy(buf, data, size);
    buf[size] = '\0';
    if (memchr(buf, '\0', size))
        return 0; /* headers are C strings */
    char *parts[3] = {buf, NULL, NULL};
    for (int i = 1; i < 3 && parts[i - 1]; i++) {
        char *nl = strchr(parts[i - 1], '\n');
        if (nl) {
            *nl = '\0';
            parts[i] = nl + 1;
        }
    }
    const char *origin = parts[0], *host = parts[1], *allow = parts[2];

    bool base = allowed(origin, host, allow);
    if (!allowed(NULL, host, allow) || !allowed(origin, host, "*"))
        abort();
    if (allowed(origin, host, NULL) && !base)
        abort(); /* a list never refuses what the Host check lets through */

    char more[3 * PART_MAX + 32];
    snprintf(more, sizeof more, "%s,http://extra.example:1", allow ? allow : "");
    if (base && !allowed(origin, host, more))
        abort();

    char upper[PART_MAX + 1];
    size_t ol = strlen(origin);
    if (ol <= PART_MAX) {
        for (size_t i = 0; i <= ol; i++)
            upper[i] = (char)toupper((unsigned char)origin[i]);
        if (allowed(upper, host, allow) != base)
            abort();
    }

    /* the Host header against the list "allow" used as --allowed-hosts */
    const char *h = host ? host : "";
    bool hok = ws_host_allowed(h, allow, 80);
    if (!ws_host_allowed(NULL, allow, 80) || hok != ws_host_allowed(h, allow, 80))
        abort();
    if (hok && !ws_host_allowed(h, more, 80))
        abort();
    if (strlen(h) < PART_MAX && !strchr(h, '/')) { /* an Origin may end in '/', a Host may not */
        char built[PART_MAX + 16], hu[PART_MAX + 1];
        snprintf(built, sizeof built, "http://%s", h);
        if (hok != ws_origin_allowed(built, allow, NULL))
            abort();
        snprintf(built, sizeof built, "https://%s", h);
        if (ws_host_allowed(h, allow, 443) != ws_origin_allowed(built, allow, NULL))
            abort();
        for (size_t i = 0, n = strlen(h); i <= n; i++)
            hu[i] = (char)toupper((unsigned char)h[i]);
        if (ws_host_allowed(hu, allow, 80) != hok)
            abort();
    }
    if (allow && ws_hosts_check(allow) == 0 && (strchr(allow, '*') || strstr(allow, "://")))
        abort();

    /* Host "h[:p]" versus the allow entry "h[:p]", for a browser origin built on it */
    if (host && *host && strlen(host) < PART_MAX && !strpbrk(host, ", \t\r\n\v\f") && !strstr(host, "://") &&
        strcmp(host, "*") && strcasecmp(host, "null")) {
        char built[PART_MAX + 16];
        snprintf(built, sizeof built, "%s%s", (data[0] & 1) ? "https://" : "http://", host);
        if (allowed(built, host, NULL) != allowed(built, NULL, host))
            abort();
        if (allowed(origin, host, NULL) != allowed(origin, NULL, host))
            abort();
    }
    return 0;
}
