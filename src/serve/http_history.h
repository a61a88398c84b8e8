/*
 * http_history.h - the device page's routes (docs/INTERFACES.md):
 *   GET /api/rejects?device=&limit=           a device's rejected payloads, newest first
 *   GET /api/presence?device=&from=&to=&limit= a device's presence changes in [from, to),
 *                                              with the state it was in at from
 * Authenticated like every /api route (auth_filter runs before). The body is built into
 * r->body as http_api.c does, from one query on the query connection.
 */
#ifndef SP_SERVE_HTTP_HISTORY_H
#define SP_SERVE_HTTP_HISTORY_H

#include "http_api.h"

#include <stdbool.h>

/* Answer uri if it is one of the routes above (true), else leave r alone (false). */
bool history_http(struct api_req *r, const char *uri);

#endif
