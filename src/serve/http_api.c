/* http_api.c - REST endpoints answered asynchronously from the query connection (see http_api.h). */
#include "http_api.h"

#include "auth.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "core/topic.h"
#include "http_history.h"
#include "http_util.h"
#include "pgval.h"
#include "serve_state.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define API_CHUNK 65536        /* body bytes per HTTP_WRITEABLE */
#define API_HELD_RESPONSES 4   /* API bodies held at once: at most this many times --api-max-bytes */
#define API_TIMEOUT_SLACK_S 10 /* beyond the statement timeout before lws gives up on us */

/* clang-format off */
/* Last reading of every topic: a loose index scan over readings_topic_ts_idx (one probe per topic). */
static const char SQL_TOPICS[] =
    "WITH RECURSIVE t(topic) AS ("
    " SELECT min(topic) FROM readings"
    " UNION ALL"
    " SELECT (SELECT min(r.topic) FROM readings r WHERE r.topic > t.topic) FROM t WHERE t.topic IS NOT NULL)"
    " SELECT l.topic, l.id, " SQL_TS_US("l.ts") ", l.value"
    " FROM t CROSS JOIN LATERAL ("
    "  SELECT r.topic, r.id, r.ts, r.value FROM readings r WHERE r.topic = t.topic"
    "  ORDER BY r.ts DESC, r.id DESC LIMIT 1) l"
    " ORDER BY l.topic";

static const char SQL_DEVICES[] =
    "SELECT device, online, " SQL_TS_US("updated_at") " FROM devices ORDER BY device";

/* $1 from, $2 to (timestamptz text), $3 topic regex or NULL, $4 limit */
static const char SQL_RAW[] =
    "SELECT id, " SQL_TS_US("ts") ", topic, value FROM readings"
    " WHERE ts >= $1::timestamptz AND ts < $2::timestamptz AND ($3::text IS NULL OR topic ~ $3::text)"
    " ORDER BY ts, id LIMIT $4::int";

/* as SQL_RAW, and $5 the bucket width (interval text) */
static const char SQL_BUCKETS[] =
    "SELECT " SQL_TS_US("b") ", topic, avg(value), min(value), max(value), count(*) FROM ("
    " SELECT date_bin($5::interval, ts, timestamptz '1970-01-01 00:00:00+00') AS b, topic, value FROM readings"
    " WHERE ts >= $1::timestamptz AND ts < $2::timestamptz AND ($3::text IS NULL OR topic ~ $3::text)) s"
    " GROUP BY b, topic ORDER BY b, topic LIMIT $4::int";

/*
 * Which rollups are kept: 't' or 'f' for readings_hourly (db/002_hourly_rollup.sql) and
 * readings_minutely (db/003_minute_rollup.sql), both off on TimescaleDB; and the rollups' mark
 * (db/011): the highest id of readings they hold now, which the query then passes as a hint.
 */
static const char SQL_ROLLUP_ON[] =
    "SELECT coalesce(bool_or(key = 'hourly_rollup' AND value = 'on'), false),"
    " coalesce(bool_or(key = 'minute_rollup' AND value = 'on'), false),"
    " (SELECT last_id FROM sensorpipe_rollup_mark)"
    " FROM sensorpipe_settings WHERE key IN ('hourly_rollup', 'minute_rollup')";

/*
 * Buckets of whole hours (bucket seconds a multiple of 3600) with the hourly rollup:
 * as SQL_BUCKETS, and $6, $7 the whole hours [whole_from, whole_to) of qp_rollup_split, $8 the mark.
 * The readings_hourly rows of those hours, plus the raw rows of [$1, $6) and [$7, $2)
 * (the partial first and last hour, read through the BRIN index on ts), grouped into
 * the buckets: the same rows as SQL_BUCKETS (avg = sum / n). Each partial part lies in
 * one hour, hence in the bucket of its start: no date_bin per raw row. Plus TAIL of [$6, $7).
 */
#define TOPIC_MATCH "($3::text IS NULL OR topic ~ $3::text)"
#define BIN(t) "date_bin($5::interval, " t ", timestamptz '1970-01-01 00:00:00+00')"
/*
 * The rows of [from, to) the rollups do not hold yet: those above the rollups' mark (db/011), read in
 * the same statement as the rollup rows, so with the same snapshot: the catch-up moves the mark and
 * adds to the rollups in one commit, and each row is counted once. `mark` is the mark as SQL_ROLLUP_ON
 * read it just before, never above the one this statement sees: it only lets the planner know the
 * rows are few (an index scan on id) where the subquery alone would be estimated as a third of them.
 */
#define TAIL(from, to, mark)                                                                                      \
    " SELECT " BIN("ts") ", topic, count(*), sum(value), min(value), max(value) FROM readings"                    \
    "  WHERE id > " mark "::int8 AND id > (SELECT last_id FROM sensorpipe_rollup_mark)"                           \
    "  AND ts >= " from " AND ts < " to " AND " TOPIC_MATCH " GROUP BY 1, topic"
static const char SQL_BUCKETS_ROLLUP[] =
    "SELECT " SQL_TS_US("b") ", topic, sum(s) / sum(n)::float8, min(lo), max(hi), sum(n)::int8 FROM ("
    " SELECT " BIN("bucket") " AS b, topic, n, sum AS s, min AS lo, max AS hi FROM readings_hourly"
    "  WHERE bucket >= $6::timestamptz AND bucket < $7::timestamptz AND " TOPIC_MATCH
    " UNION ALL"
    " SELECT " BIN("$1::timestamptz") ", topic, count(*), sum(value), min(value), max(value) FROM readings"
    "  WHERE ts >= $1::timestamptz AND ts < $6::timestamptz AND " TOPIC_MATCH " GROUP BY topic"
    " UNION ALL"
    " SELECT " BIN("$7::timestamptz") ", topic, count(*), sum(value), min(value), max(value) FROM readings"
    "  WHERE ts >= $7::timestamptz AND ts < $2::timestamptz AND " TOPIC_MATCH " GROUP BY topic"
    " UNION ALL" TAIL("$6::timestamptz", "$7::timestamptz", "$8") ") p"
    " GROUP BY b, topic ORDER BY b, topic LIMIT $4::int";

/*
 * As SQL_BUCKETS_ROLLUP with the minute rollup too; $6..$9 the parts of qp_rollup_split_minutes
 * (min_from, hour_from, hour_to, min_to): whole hours [$7, $8) from readings_hourly, whole
 * minutes [$6, $7) and [$8, $9) from readings_minutely, raw rows [$1, $6) and [$9, $2). Each
 * part but the whole hours lies in one hour, hence in the bucket of its start. Every range is
 * a plain parameter, so the planner estimates each from the statistics (no CASE: see
 * docs/BENCHMARKS.md, "The 24 h bucket query"). Plus TAIL of [$6, $9), $10 the mark.
 */
#define PART(table, from, to)                                                                                     \
    " SELECT " BIN(from) ", topic, sum(n), sum(sum), min(min), max(max) FROM " table                              \
    "  WHERE bucket >= " from " AND bucket < " to " AND " TOPIC_MATCH " GROUP BY topic"
#define RAW_PART(from, to)                                                                                        \
    " SELECT " BIN(from) ", topic, count(*), sum(value), min(value), max(value) FROM readings"                    \
    "  WHERE ts >= " from " AND ts < " to " AND " TOPIC_MATCH " GROUP BY topic"
static const char SQL_BUCKETS_MINUTES[] =
    "SELECT " SQL_TS_US("b") ", topic, sum(s) / sum(n)::float8, min(lo), max(hi), sum(n)::int8 FROM ("
    " SELECT " BIN("bucket") " AS b, topic, n, sum AS s, min AS lo, max AS hi FROM readings_hourly"
    "  WHERE bucket >= $7::timestamptz AND bucket < $8::timestamptz AND " TOPIC_MATCH
    " UNION ALL" PART("readings_minutely", "$6::timestamptz", "$7::timestamptz")
    " UNION ALL" PART("readings_minutely", "$8::timestamptz", "$9::timestamptz")
    " UNION ALL" RAW_PART("$1::timestamptz", "$6::timestamptz")
    " UNION ALL" RAW_PART("$9::timestamptz", "$2::timestamptz")
    " UNION ALL" TAIL("$6::timestamptz", "$9::timestamptz", "$10") ") p"
    " GROUP BY b, topic ORDER BY b, topic LIMIT $4::int";

/*
 * Buckets of whole minutes that are not whole hours (qp_minute_split), with the minute rollup:
 * the readings_minutely rows of [$6, $7) grouped into the buckets, plus the raw rows of
 * [$1, $6) and [$7, $2), each within one minute, hence in the bucket of its start. The same
 * rows as SQL_BUCKETS; a 24 h view of 2-minute buckets reads no raw row but two partial minutes
 * (and TAIL of [$6, $7), $8 the mark).
 */
static const char SQL_BUCKETS_MINUTELY[] =
    "SELECT " SQL_TS_US("b") ", topic, sum(s) / sum(n)::float8, min(lo), max(hi), sum(n)::int8 FROM ("
    " SELECT " BIN("bucket") " AS b, topic, n, sum AS s, min AS lo, max AS hi FROM readings_minutely"
    "  WHERE bucket >= $6::timestamptz AND bucket < $7::timestamptz AND " TOPIC_MATCH
    " UNION ALL" RAW_PART("$1::timestamptz", "$6::timestamptz")
    " UNION ALL" RAW_PART("$7::timestamptz", "$2::timestamptz")
    " UNION ALL" TAIL("$6::timestamptz", "$7::timestamptz", "$8") ") p"
    " GROUP BY b, topic ORDER BY b, topic LIMIT $4::int";

static const char SQL_REJECTS[] = "SELECT count(*) FROM rejects";
/* clang-format on */

/* ---- response plumbing ---- */

/* Keep sv->api_held the sum of the memory of every request's body (its capacity). */
static void api_account(struct api_req *r)
{
    r->sv->api_held = r->sv->api_held - r->held + r->body.cap;
    r->held = r->body.cap;
}

/* Let the body's memory go (an error answer follows). */
static void api_body_drop(struct api_req *r)
{
    sbuf_free(&r->body);
    sbuf_init(&r->body, 0, (size_t)r->sv->cfg.api_max_bytes);
    api_account(r);
}

void api_reply(struct api_req *r, int status, const char *ctype)
{
    api_account(r);
    r->status = status;
    r->ctype = ctype;
    r->ready = true;
    metrics_count_http(&r->sv->m, status);
    lws_callback_on_writable(r->wsi);
}

void api_error(struct api_req *r, int status, const char *msg)
{
    sbuf_reset(&r->body);
    http_json_error(&r->body, msg);
    if (status == HTTP_STATUS_BAD_REQUEST)
        r->sv->m.http_refused[HTTP_REFUSE_BAD_REQUEST]++;
    api_reply(r, status, "application/json");
}

/* A query failed: 503 when the connection is gone, 500 when the database refused it. */
void api_db_error(struct api_req *r, const PGresult *res, const char *err)
{
    char msg[300];
    if (!res) {
        snprintf(msg, sizeof msg, "database unavailable: %s", err);
        api_error(r, HTTP_STATUS_SERVICE_UNAVAILABLE, msg);
        return;
    }
    size_t n = strcspn(err, "\n");
    snprintf(msg, sizeof msg, "database query failed: %.*s", (int)(n > 250 ? 250 : n), err);
    log_warn("api: %s", msg);
    api_body_drop(r);
    api_error(r, HTTP_STATUS_INTERNAL_SERVER_ERROR, msg);
}

/* The answer would be over --api-max-bytes: 413, counted. */
static void api_too_large(struct api_req *r)
{
    char msg[160];
    api_body_drop(r);
    r->sv->m.http_refused[HTTP_REFUSE_TOO_LARGE]++;
    snprintf(msg, sizeof msg, "response too large (over %ld bytes): narrow the time range or lower limit",
             r->sv->cfg.api_max_bytes);
    api_error(r, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, msg);
}

/* The body outgrew --api-max-bytes (or memory): say so instead. */
static bool api_body_ok(struct api_req *r)
{
    if (!r->body.failed)
        return true;
    api_too_large(r);
    return false;
}

static int api_submit(struct api_req *r, const char *sql, int n, const char *const *params, dbq_cb cb)
{
    const char *why;
    if (dbq_submit(&r->sv->query_q, sql, n, params, cb, r, NULL, &why)) {
        api_error(r, HTTP_STATUS_SERVICE_UNAVAILABLE, why);
        return -1;
    }
    return 0;
}

/* A heavy query whose rows come one at a time to row (see dbq.h), then cb. */
static int api_submit_rows(struct api_req *r, const char *sql, int n, const char *const *params, dbq_row_cb row,
                           dbq_cb cb)
{
    const char *why;
    const struct dbq_opts opts = {.heavy = true, .row = row};
    if (dbq_submit_opts(&r->sv->query_q, sql, n, params, &opts, cb, r, NULL, &why)) {
        api_error(r, HTTP_STATUS_SERVICE_UNAVAILABLE, why);
        return -1;
    }
    return 0;
}

/* ---- value writers ---- */

static void put_ts(struct sbuf *b, int64_t us)
{
    char ts[TIME_RFC3339_LEN + 1];
    time_format_rfc3339(us, ts);
    sbuf_append(b, ts, TIME_RFC3339_LEN);
}

void api_json_ts(struct sbuf *b, int64_t us)
{
    sbuf_append(b, "\"", 1);
    put_ts(b, us);
    sbuf_append(b, "\"", 1);
}

static void put_csv_double(struct sbuf *b, double v)
{
    if (isfinite(v))
        sbuf_json_double(b, v);
}

/*
 * A float8 column as PostgreSQL wrote it ("21.5", "2.4933333333333334", "1e-07"): that
 * text already round-trips (extra_float_digits >= 1, the default) and is a valid JSON
 * number, so it is copied instead of parsed and printed again (which cost more than the
 * query for a few thousand buckets). NaN and +-Infinity become null in JSON, empty in CSV.
 */
static void put_pg_double(struct sbuf *b, const PGresult *res, int row, int col, bool csv)
{
    const char *t = PQgetvalue(res, row, col);
    const char *d = t[0] == '-' ? t + 1 : t;
    if (*d >= '0' && *d <= '9')
        sbuf_puts(b, t);
    else if (!csv)
        sbuf_append(b, "null", 4);
}

/* ---- /api/topics ---- */

static void devices_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    struct api_req *r = owner;
    if (err) {
        api_db_error(r, res, err);
        return;
    }
    struct sbuf *b = &r->body;
    sbuf_puts(b, "],\"devices\":[");
    for (int i = 0, n = PQntuples(res); i < n; i++) {
        const char *dev = PQgetvalue(res, i, 0);
        sbuf_puts(b, i ? ",{\"device\":" : "{\"device\":");
        sbuf_json_string(b, dev, strlen(dev));
        sbuf_puts(b, *PQgetvalue(res, i, 1) == 't' ? ",\"online\":true,\"ts\":" : ",\"online\":false,\"ts\":");
        api_json_ts(b, pg_i64(res, i, 2));
        sbuf_puts(b, "}");
    }
    sbuf_puts(b, "]}");
    if (api_body_ok(r))
        api_reply(r, HTTP_STATUS_OK, "application/json");
}

static void put_level(struct sbuf *b, const char *key, const char *v, bool ok)
{
    sbuf_puts(b, key);
    if (ok)
        sbuf_json_string(b, v, strlen(v));
    else
        sbuf_puts(b, "null");
}

static void topics_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    struct api_req *r = owner;
    if (err) {
        api_db_error(r, res, err);
        return;
    }
    struct sbuf *b = &r->body;
    sbuf_puts(b, "{\"topics\":[");
    for (int i = 0, n = PQntuples(res); i < n; i++) {
        const char *topic = PQgetvalue(res, i, 0);
        struct topic_parts parts;
        enum topic_kind kind;
        bool ok = topic_parse(topic, strlen(topic), &kind, &parts) == TOPIC_OK && kind == TOPIC_READING;
        sbuf_puts(b, i ? ",{\"topic\":" : "{\"topic\":");
        sbuf_json_string(b, topic, strlen(topic));
        put_level(b, ",\"device\":", parts.device, ok);
        put_level(b, ",\"metric\":", parts.metric, ok);
        put_level(b, ",\"sensor\":", parts.sensor, ok);
        sbuf_puts(b, ",\"value\":");
        sbuf_json_double(b, pg_f64(res, i, 3));
        sbuf_puts(b, ",\"ts\":");
        api_json_ts(b, pg_i64(res, i, 2));
        sbuf_printf(b, ",\"id\":%lld}", (long long)pg_i64(res, i, 1));
    }
    if (!api_body_ok(r))
        return;
    api_submit(r, SQL_DEVICES, 0, NULL, devices_cb);
}

/* ---- /api/readings ---- */

/* The start of the body, before the first row. */
static void readings_open(struct api_req *r)
{
    if (r->csv)
        sbuf_puts(&r->body, r->q.bucket_s > 0 ? "ts,topic,avg,min,max,count\r\n" : "id,ts,topic,value\r\n");
    else
        sbuf_puts(&r->body, "{\"rows\":[");
}

/* Row i of res into b; first: no separator before it. */
static void readings_put(struct api_req *r, struct sbuf *b, const PGresult *res, int i, bool first)
{
    if (r->q.bucket_s > 0) {
        const char *topic = PQgetvalue(res, i, 1);
        if (r->csv) {
            put_ts(b, pg_i64(res, i, 0));
            sbuf_append(b, ",", 1);
            sbuf_csv_field(b, topic);
            for (int c = 2; c <= 4; c++) {
                sbuf_append(b, ",", 1);
                put_pg_double(b, res, i, c, true);
            }
            sbuf_printf(b, ",%lld\r\n", (long long)pg_i64(res, i, 5));
        } else {
            sbuf_puts(b, first ? "{\"ts\":" : ",{\"ts\":");
            api_json_ts(b, pg_i64(res, i, 0));
            sbuf_puts(b, ",\"topic\":");
            sbuf_json_string(b, topic, strlen(topic));
            sbuf_puts(b, ",\"avg\":");
            put_pg_double(b, res, i, 2, false);
            sbuf_puts(b, ",\"min\":");
            put_pg_double(b, res, i, 3, false);
            sbuf_puts(b, ",\"max\":");
            put_pg_double(b, res, i, 4, false);
            sbuf_printf(b, ",\"count\":%lld}", (long long)pg_i64(res, i, 5));
        }
    } else if (r->csv) {
        sbuf_printf(b, "%lld,", (long long)pg_i64(res, i, 0));
        put_ts(b, pg_i64(res, i, 1));
        sbuf_append(b, ",", 1);
        sbuf_csv_field(b, PQgetvalue(res, i, 2));
        sbuf_append(b, ",", 1);
        put_csv_double(b, pg_f64(res, i, 3));
        sbuf_append(b, "\r\n", 2);
    } else {
        if (!first)
            sbuf_append(b, ",", 1);
        sbuf_json_row(b, pg_i64(res, i, 0), pg_i64(res, i, 1), PQgetvalue(res, i, 2), pg_f64(res, i, 3));
    }
}

/*
 * One row of the /api/readings query (single-row mode): rendered at once, so the result is never
 * held whole. Stops the query (413) past --api-max-bytes, or (503) when the bodies of all API
 * answers held would pass API_HELD_RESPONSES x --api-max-bytes.
 */
static int readings_row(void *owner, void *arg, const PGresult *row)
{
    (void)arg;
    struct api_req *r = owner;
    struct serve *sv = r->sv;
    if (!r->rows)
        readings_open(r);
    readings_put(r, &r->body, row, 0, r->rows == 0);
    r->rows++;
    api_account(r);
    if (r->body.failed) {
        api_too_large(r);
        return 1;
    }
    if (sv->api_held > (size_t)API_HELD_RESPONSES * (size_t)sv->cfg.api_max_bytes) {
        api_body_drop(r);
        sv->m.http_refused[HTTP_REFUSE_BUSY]++;
        api_error(r, HTTP_STATUS_SERVICE_UNAVAILABLE, "too many large API answers in progress: retry later");
        return 1;
    }
    return 0;
}

static void readings_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    struct api_req *r = owner;
    if (err) {
        api_db_error(r, res, err);
        return;
    }
    /* rows came one by one to readings_row; res is the empty closing result */
    if (!r->rows)
        readings_open(r);
    if (!r->csv)
        sbuf_puts(&r->body, "]}");
    if (api_body_ok(r))
        api_reply(r, HTTP_STATUS_OK, r->csv ? "text/csv; charset=utf-8" : "application/json");
}

/*
 * Submit the /api/readings query for r->q (validated): buckets of whole hours from the rollups
 * kept (hourly_on, minute_on) and the rows above their mark (SQL_ROLLUP_ON's), otherwise from raw rows.
 */
static void readings_submit(struct api_req *r, bool hourly_on, bool minute_on, const char *mark)
{
    char from[TIME_RFC3339_LEN + 1], to[TIME_RFC3339_LEN + 1], limit[16], bucket[32], regex[QP_REGEX_MAX];
    char wf[TIME_RFC3339_LEN + 1], wt[TIME_RFC3339_LEN + 1];
    time_format_rfc3339(r->q.from_us, from);
    time_format_rfc3339(r->q.to_us, to);
    snprintf(limit, sizeof limit, "%ld", r->q.limit);
    snprintf(bucket, sizeof bucket, "%ld seconds", r->q.bucket_s);
    const char *re = NULL;
    if (r->q.topic[0]) {
        if (topic_filter_to_regex(r->q.topic, regex, sizeof regex)) {
            api_error(r, HTTP_STATUS_BAD_REQUEST, "topic filter too long");
            return;
        }
        re = regex;
    }
    char mf[TIME_RFC3339_LEN + 1], mt[TIME_RFC3339_LEN + 1];
    struct qp_split sp;
    if (hourly_on && minute_on && qp_rollup_split_minutes(&r->q, &sp)) {
        time_format_rfc3339(sp.min_from, mf);
        time_format_rfc3339(sp.hour_from, wf);
        time_format_rfc3339(sp.hour_to, wt);
        time_format_rfc3339(sp.min_to, mt);
        const char *mparams[10] = {from, to, re, limit, bucket, mf, wf, wt, mt, mark};
        api_submit_rows(r, SQL_BUCKETS_MINUTES, 10, mparams, readings_row, readings_cb);
        return;
    }
    const char *params[8] = {from, to, re, limit, bucket, wf, wt, mark};
    int64_t whole_from, whole_to;
    if (minute_on && qp_minute_split(&r->q, &whole_from, &whole_to)) {
        time_format_rfc3339(whole_from, wf);
        time_format_rfc3339(whole_to, wt);
        api_submit_rows(r, SQL_BUCKETS_MINUTELY, 8, params, readings_row, readings_cb);
        return;
    }
    if (hourly_on && qp_rollup_split(&r->q, &whole_from, &whole_to)) {
        time_format_rfc3339(whole_from, wf);
        time_format_rfc3339(whole_to, wt);
        api_submit_rows(r, SQL_BUCKETS_ROLLUP, 8, params, readings_row, readings_cb);
        return;
    }
    api_submit_rows(r, r->q.bucket_s ? SQL_BUCKETS : SQL_RAW, r->q.bucket_s ? 5 : 4, params, readings_row, readings_cb);
}

/* The answer of SQL_ROLLUP_ON: now the query itself. */
static void rollup_on_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    struct api_req *r = owner;
    if (err) {
        api_db_error(r, res, err);
        return;
    }
    bool one = PQntuples(res) == 1 && PQnfields(res) == 3 && !PQgetisnull(res, 0, 2);
    readings_submit(r, one && *PQgetvalue(res, 0, 0) == 't', one && *PQgetvalue(res, 0, 1) == 't',
                    one ? PQgetvalue(res, 0, 2) : "0");
}

static void api_readings(struct api_req *r, bool csv_path)
{
    char argbuf[2048], msg[384];
    const char *args[HTTP_MAX_ARGS];
    int n = http_query_args(r->wsi, argbuf, sizeof argbuf, args, HTTP_MAX_ARGS);
    if (n < 0) {
        api_error(r, HTTP_STATUS_BAD_REQUEST, "too many or too long parameters");
        return;
    }
    if (qp_parse_readings(args, (size_t)n, time_now_us(), &r->q, msg, sizeof msg)) {
        api_error(r, HTTP_STATUS_BAD_REQUEST, msg);
        return;
    }
    char accept[256];
    const char *acc = http_header(r->wsi, WSI_TOKEN_HTTP_ACCEPT, accept, sizeof accept);
    r->csv = csv_path || (acc && strstr(acc, "text/csv"));

    int64_t whole_from, whole_to;
    if (qp_rollup_split(&r->q, &whole_from, &whole_to) || qp_minute_split(&r->q, &whole_from, &whole_to))
        api_submit(r, SQL_ROLLUP_ON, 0, NULL, rollup_on_cb); /* is the rollup kept here? then the query */
    else
        readings_submit(r, false, false, "0");
}

/* ---- /healthz and /metrics ---- */

static void api_healthz(struct api_req *r)
{
    /* open to anyone: says only ok or unavailable */
    bool up = pgc_up(&r->sv->listen_conn) && dbq_up(&r->sv->query_q) && auth_ready(r->sv);
    sbuf_puts(&r->body, up ? "{\"status\":\"ok\"}" : "{\"status\":\"unavailable\"}");
    api_reply(r, up ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE, "application/json");
}

static void metrics_finish(struct api_req *r, const PGresult *res)
{
    struct serve *sv = r->sv;
    struct metrics_gauges g = {
        .ws_clients = (long)sv->clients.count,
        .ring_capacity = (long)sv->ring.cap,
        .ring_rows = (long)sv->ring.count,
        .ring_last_id = sv->ring.last_id,
        .ring_floor = sv->ring.floor,
        .db_up = {pgc_up(&sv->listen_conn), dbq_up(&sv->query_q)},
        .db_queue = {(long)sv->listen_q.queued, (long)sv->query_q.queued},
        .db_pool_size = sv->query_q.nslots,
        .db_pool_up = dbq_count_up(&sv->query_q),
        .db_pool_busy = dbq_count_busy(&sv->query_q),
        .api_held_bytes = (long)sv->api_held,
        .have_rejects = res && PQntuples(res) == 1,
        .rejects = res && PQntuples(res) == 1 ? (long long)pg_i64(res, 0, 0) : 0,
        .auth_credentials = (long)sv->auth.n,
        .addrs_tracked = (long)sv->addrs.used,
    };
    /* count this response before rendering, so it shows up in itself */
    r->ready = true;
    metrics_count_http(&sv->m, HTTP_STATUS_OK);
    metrics_render(&r->body, &sv->m, &g);
    api_account(r);
    r->status = HTTP_STATUS_OK;
    r->ctype = "text/plain; version=0.0.4; charset=utf-8";
    lws_callback_on_writable(r->wsi);
}

static void rejects_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    metrics_finish(owner, err ? NULL : res);
}

static void api_metrics(struct api_req *r)
{
    const char *why;
    if (dbq_submit(&r->sv->query_q, SQL_REJECTS, 0, NULL, rejects_cb, r, NULL, &why))
        metrics_finish(r, NULL); /* the rest is still worth reporting */
}

/* ---- lws entry points ---- */

/* Refuse a request before it is served: status, a JSON reason, the connection closed. Returns 1. */
static int api_refuse(struct serve *sv, struct lws *wsi, int status, enum http_refusal why, const char *msg)
{
    char peer[48] = "?";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    sv->m.http_refused[why]++;
    metrics_count_http(&sv->m, status);
    log_info("http %s: request refused (%d): %s", peer, status, msg);
    http_send_json_error(&sv->scratch, wsi, status, msg);
    return 1;
}

int api_refuse_pipelined(struct serve *sv, struct lws *wsi, struct api_req *r)
{
    api_closed(r); /* its answer is not sent: the connection closes after the 400 */
    return api_refuse(sv, wsi, HTTP_STATUS_BAD_REQUEST, HTTP_REFUSE_PIPELINED,
                      "pipelined requests are not supported: wait for each response before the next request");
}

int api_filter(struct serve *sv, struct lws *wsi)
{
    char *uri, cl[32];
    int len;
    int meth = lws_http_get_uri_and_method(wsi, &uri, &len);
    /* POST /login and /logout carry a small form (auth.c) */
    bool post = meth == LWSHUMETH_POST && uri && (!strcmp(uri, "/login") || !strcmp(uri, "/logout"));
    if (meth != LWSHUMETH_GET && meth != LWSHUMETH_HEAD && !post)
        return api_refuse(sv, wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, HTTP_REFUSE_METHOD,
                          "method not allowed: only GET and HEAD");
    if (!http_version(wsi))
        return api_refuse(sv, wsi, HTTP_STATUS_HTTP_VERSION_NOT_SUPPORTED, HTTP_REFUSE_VERSION,
                          "HTTP version not supported: HTTP/1.0 and HTTP/1.1 only");
    /* nothing here reads a body; one announced would sit unread on the connection */
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING))
        return api_refuse(sv, wsi, HTTP_STATUS_BAD_REQUEST, HTTP_REFUSE_BODY,
                          "GET and HEAD requests take no body (Transfer-Encoding)");
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH)) {
        const char *v = http_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof cl);
        if (!v || !*v || strspn(v, "0123456789") != strlen(v))
            return api_refuse(sv, wsi, HTTP_STATUS_BAD_REQUEST, HTTP_REFUSE_BODY,
                              "Content-Length must be a decimal number");
        if (post ? strlen(v) > 5 || atol(v) > AUTH_BODY_MAX : strspn(v, "0") != strlen(v))
            return api_refuse(sv, wsi, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, HTTP_REFUSE_BODY,
                              "GET and HEAD requests take no body");
    }
    return uri ? auth_filter(sv, wsi, uri) : 0;
}

int api_http(struct serve *sv, struct lws *wsi, struct api_req *r, const char *uri)
{
    if (r->active)
        api_closed(r); /* a new request on a kept-alive connection */
    memset(r, 0, sizeof *r);
    r->active = true;
    r->sv = sv;
    r->wsi = wsi;
    r->head = http_is_head(wsi);
    sbuf_init(&r->body, 0, (size_t)sv->cfg.api_max_bytes);
    char *post_uri;
    int post_len;
    if (lws_http_get_uri_and_method(wsi, &post_uri, &post_len) == LWSHUMETH_POST && post_uri)
        uri = post_uri; /* lws passes "" for a POST */
    uint8_t key[16];
    char lim[160];
    int st =
        conn_limits_client(sv, wsi, key) ? 0 : conn_limits_take(sv, key, ADDR_REQ, true, &r->hold, lim, sizeof lim);
    if (st)
        api_error(r, st, lim); /* over --max-requests-per-addr (429) or the address table is full (503) */
    else if (!strcmp(uri, "/healthz"))
        api_healthz(r);
    else if (!strcmp(uri, "/metrics"))
        api_metrics(r);
    else if (!strcmp(uri, "/api/topics"))
        api_submit(r, SQL_TOPICS, 0, NULL, topics_cb);
    else if (!strcmp(uri, "/api/readings") || !strcmp(uri, "/api/readings.csv"))
        api_readings(r, uri[13] == '.');
    else if (!strcmp(uri, "/login") || !strcmp(uri, "/logout"))
        auth_http(r, uri);
    else if (history_http(r, uri))
        ; /* /api/rejects, /api/presence (http_history.c) */
    else
        api_error(r, HTTP_STATUS_NOT_FOUND, "not found");
    if (!r->ready)
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)(sv->cfg.query_timeout_ms / 1000) + API_TIMEOUT_SLACK_S);
    return 0;
}

int api_writeable(struct api_req *r)
{
    if (!r->active || !r->ready)
        return 0;
    struct lws *wsi = r->wsi;
    struct serve *sv = r->sv;
    /* a client must take each piece within --http-timeout-s: one that stops reading lets its body go then */
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)sv->cfg.http_timeout_s);
    if (!r->headers_sent) {
        unsigned char buf[LWS_PRE + 1024];
        unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
        if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->ctype, r->body.len, &p, end) ||
            lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const unsigned char *)"no-store", 8, &p,
                                         end) ||
            (r->location &&
             lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_LOCATION, (const unsigned char *)r->location,
                                          (int)strlen(r->location), &p, end)) ||
            (r->set_cookie[0] &&
             lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_SET_COOKIE, (const unsigned char *)r->set_cookie,
                                          (int)strlen(r->set_cookie), &p, end)) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        r->headers_sent = true;
        if (!r->head && r->body.len) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    } else {
        size_t chunk = r->body.len - r->sent;
        if (chunk > API_CHUNK)
            chunk = API_CHUNK;
        /* lws wants LWS_PRE bytes of headroom before what it writes */
        sbuf_reset(&sv->scratch);
        if (!sbuf_append(&sv->scratch, r->body.data + r->sent, chunk))
            return -1;
        bool last = r->sent + chunk == r->body.len;
        if (lws_write(wsi, (unsigned char *)sv->scratch.data, chunk, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
            return -1;
        r->sent += chunk;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    api_closed(r);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void api_closed(struct api_req *r)
{
    if (!r->active)
        return;
    dbq_cancel_owner(&r->sv->query_q, r);
    conn_limits_give(r->sv, ADDR_REQ, &r->hold);
    auth_req_free(r);
    sbuf_free(&r->body);
    api_account(r);
    r->active = false;
}
