/*
 * ws_origin.h - may a browser page from this Origin open our WebSocket? (pure, no I/O)
 *
 * A browser sends the page's origin ("http://host:port") with every WebSocket
 * upgrade; anything else (curl, scripts, the ws npm client) usually sends none.
 * Allowed: no Origin header; an Origin whose host and port equal the Host
 * header's (a missing port is the scheme's default: 80 for http, 443 for
 * https, for both headers); or an Origin on the allow list. The list is
 * comma-separated; "*" allows every origin; an entry with "://" must equal the
 * origin (scheme, host and port; case-insensitive, default ports implied), an
 * entry without it ("dash.example:3000") names host[:port] of any scheme.
 */
#ifndef SP_SERVE_WS_ORIGIN_H
#define SP_SERVE_WS_ORIGIN_H

#include <stdbool.h>

/* origin and host may be NULL (header absent); allow may be NULL or "". */
bool ws_origin_allowed(const char *origin, const char *host, const char *allow);

#endif
