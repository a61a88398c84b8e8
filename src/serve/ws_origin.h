/*
 * ws_origin.h - where may a request come from? Host against --allowed-hosts, and a browser's
 * WebSocket Origin against --allowed-hosts and --allow-origin (pure, no I/O).
 *
 * Host (every request): "host[:port]" must equal an entry of the allowed-hosts list, a comma
 * list of host[:port] (IPv6 in brackets); a missing port, in the header or in an entry, is the
 * default port of the request's scheme (80 for http, 443 for https). This closes DNS
 * rebinding: a page of evil.example whose name now points at us sends Host: evil.example.
 *
 * Origin (WebSocket upgrades): a browser sends the page's origin ("http://host:port");
 * anything else (curl, scripts, the ws npm client) usually sends none. Allowed: no Origin
 * header; an Origin whose host and port equal an allowed-hosts entry (a missing port is the
 * origin scheme's default); or an Origin on the allow list. The Host header plays no part (it
 * is the attacker's to choose). The allow list is comma-separated; "*" allows every origin; an
 * entry with "://" must equal the origin (scheme, host and port; case-insensitive, default
 * ports implied), an entry without it ("dash.example:3000") names host[:port] of any scheme;
 * "null" admits the Origin "null".
 */
#ifndef SP_SERVE_WS_ORIGIN_H
#define SP_SERVE_WS_ORIGIN_H

#include <stdbool.h>

/* origin may be NULL (header absent); hosts and allow may be NULL or "". */
bool ws_origin_allowed(const char *origin, const char *hosts, const char *allow);
/* host may be NULL (header absent: allowed, not a browser); defport 80 or 443 by the request's scheme. */
bool ws_host_allowed(const char *host, const char *hosts, int defport);
/* 0 when hosts is a non-empty comma list of host[:port] entries (no "*", no scheme), else -1. */
int ws_hosts_check(const char *hosts);
/* True when the comma list has a "*" entry. */
bool ws_allow_has_star(const char *allow);

#endif
