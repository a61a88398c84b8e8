/* http_history.c - GET /api/rejects and GET /api/presence for the dashboard's device page (see http_history.h). */
#include "http_history.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "history_params.h"
#include "http_util.h"
#include "pgval.h"
#include "serve_state.h"

#include <stdio.h>
#include <string.h>

#define HISTORY_PAYLOAD_SHOWN 1024 /* payload bytes returned per reject (the ingest keeps at most this many) */

/* clang-format off */
/* $1 device or NULL (every device), $2 limit. A topic's device is its first level (docs/INTERFACES.md, Topics). */
static const char SQL_REJECTS_LIST[] =
    "SELECT id, " SQL_TS_US("received_at") ", topic, reason, length(payload),"
    " substring(payload FROM 1 FOR 1024) FROM rejects"
    " WHERE $1::text IS NULL OR split_part(topic, '/', 1) = $1::text"
    " ORDER BY id DESC LIMIT $2::int";

/* $1 device, $2 from, $3 to, $4 limit: the last change before from (the state at from), then the changes in [from, to). */
static const char SQL_PRESENCE[] =
    "(SELECT 0, online, " SQL_TS_US("ts") " FROM presence_history"
    "  WHERE device = $1::text AND ts < $2::timestamptz ORDER BY ts DESC, id DESC LIMIT 1)"
    " UNION ALL"
    " (SELECT 1, online, " SQL_TS_US("ts") " FROM presence_history"
    "  WHERE device = $1::text AND ts >= $2::timestamptz AND ts < $3::timestamptz ORDER BY ts, id LIMIT $4::int)";
/* clang-format on */

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* A bytea column in PostgreSQL's hex text form ("\x6869") as a JSON string (invalid UTF-8 as U+FFFD). */
static void put_bytea_text(struct sbuf *b, const char *hex)
{
    char raw[HISTORY_PAYLOAD_SHOWN];
    size_t n = 0;
    if (hex[0] == '\\' && hex[1] == 'x')
        for (const char *p = hex + 2; p[0] && p[1] && n < sizeof raw; p += 2) {
            int hi = hexval(p[0]), lo = hexval(p[1]);
            if (hi < 0 || lo < 0)
                break;
            raw[n++] = (char)(hi << 4 | lo);
        }
    sbuf_json_string(b, raw, n);
}

static void history_reply(struct api_req *r)
{
    if (r->body.failed) {
        sbuf_reset(&r->body);
        r->body.failed = false;
        api_error(r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "response too large");
        return;
    }
    api_reply(r, HTTP_STATUS_OK, "application/json");
}

static void rejects_list_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    struct api_req *r = owner;
    if (err) {
        api_db_error(r, res, err);
        return;
    }
    struct sbuf *b = &r->body;
    sbuf_puts(b, "{\"rows\":[");
    for (int i = 0, n = PQntuples(res); i < n; i++) {
        const char *topic = PQgetvalue(res, i, 2), *reason = PQgetvalue(res, i, 3);
        sbuf_printf(b, "%s{\"id\":%lld,\"ts\":", i ? "," : "", (long long)pg_i64(res, i, 0));
        api_json_ts(b, pg_i64(res, i, 1));
        sbuf_puts(b, ",\"topic\":");
        sbuf_json_string(b, topic, strlen(topic));
        sbuf_puts(b, ",\"reason\":");
        sbuf_json_string(b, reason, strlen(reason));
        sbuf_puts(b, ",\"payload\":");
        put_bytea_text(b, PQgetvalue(res, i, 5));
        sbuf_printf(b, ",\"bytes\":%lld}", (long long)pg_i64(res, i, 4));
    }
    sbuf_puts(b, "]}");
    history_reply(r);
}

static void presence_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    struct api_req *r = owner;
    if (err) {
        api_db_error(r, res, err);
        return;
    }
    struct sbuf *b = &r->body;
    int n = PQntuples(res), i = 0;
    sbuf_puts(b, "{\"before\":");
    if (n > 0 && *PQgetvalue(res, 0, 0) == '0') {
        sbuf_puts(b, *PQgetvalue(res, 0, 1) == 't' ? "{\"online\":true,\"ts\":" : "{\"online\":false,\"ts\":");
        api_json_ts(b, pg_i64(res, 0, 2));
        sbuf_puts(b, "}");
        i = 1;
    } else
        sbuf_puts(b, "null");
    sbuf_puts(b, ",\"changes\":[");
    for (int first = i; i < n; i++) {
        sbuf_puts(b, i > first ? "," : "");
        sbuf_puts(b, *PQgetvalue(res, i, 1) == 't' ? "{\"online\":true,\"ts\":" : "{\"online\":false,\"ts\":");
        api_json_ts(b, pg_i64(res, i, 2));
        sbuf_puts(b, "}");
    }
    sbuf_puts(b, "]}");
    history_reply(r);
}

static void history_submit(struct api_req *r, const char *sql, int n, const char *const *params, dbq_cb cb)
{
    const char *why;
    if (dbq_submit(&r->sv->query_q, sql, n, params, cb, r, NULL, &why))
        api_error(r, HTTP_STATUS_SERVICE_UNAVAILABLE, why);
}

static void api_rejects_list(struct api_req *r, const char *const *args, int nargs)
{
    char msg[384], limit[16];
    struct hp_rejects q;
    if (hp_parse_rejects(args, (size_t)nargs, &q, msg, sizeof msg)) {
        api_error(r, HTTP_STATUS_BAD_REQUEST, msg);
        return;
    }
    snprintf(limit, sizeof limit, "%ld", q.limit);
    const char *params[2] = {q.device[0] ? q.device : NULL, limit};
    history_submit(r, SQL_REJECTS_LIST, 2, params, rejects_list_cb);
}

static void api_presence(struct api_req *r, const char *const *args, int nargs)
{
    char msg[384], limit[16], from[TIME_RFC3339_LEN + 1], to[TIME_RFC3339_LEN + 1];
    struct hp_presence q;
    if (hp_parse_presence(args, (size_t)nargs, time_now_us(), &q, msg, sizeof msg)) {
        api_error(r, HTTP_STATUS_BAD_REQUEST, msg);
        return;
    }
    snprintf(limit, sizeof limit, "%ld", q.limit);
    time_format_rfc3339(q.from_us, from);
    time_format_rfc3339(q.to_us, to);
    const char *params[4] = {q.device, from, to, limit};
    history_submit(r, SQL_PRESENCE, 4, params, presence_cb);
}

bool history_http(struct api_req *r, const char *uri)
{
    bool rejects = !strcmp(uri, "/api/rejects");
    if (!rejects && strcmp(uri, "/api/presence"))
        return false;
    char argbuf[2048];
    const char *args[HTTP_MAX_ARGS];
    int n = http_query_args(r->wsi, argbuf, sizeof argbuf, args, HTTP_MAX_ARGS);
    if (n < 0)
        api_error(r, HTTP_STATUS_BAD_REQUEST, "too many or too long parameters");
    else if (rejects)
        api_rejects_list(r, args, n);
    else
        api_presence(r, args, n);
    return true;
}
