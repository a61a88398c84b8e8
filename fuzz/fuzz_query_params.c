/*
 * fuzz_query_params.c - libFuzzer target: the /ws and /api/readings query parsers (src/serve/query_params.c).
 *
 * Input: two bytes of history_max (0..100000), then a query string split on '&' into the
 * fragments libwebsockets would hand over (already percent-decoded, so any byte but NUL).
 * Whatever is accepted must be what the rest of serve relies on: history within bounds, a
 * topic filter that is valid and converts to a regex in QP_REGEX_MAX bytes, from < to, limit
 * and bucket in range; times that parse must format and parse back equal; refusals carry a
 * reason that fits the error buffer, however small; the rollup split of an accepted range
 * covers it exactly with whole hours and two short edges, and the minute split with whole
 * hours, whole minutes and two edges shorter than a minute; the minute-only split of minute-multiple
 * buckets whole minutes and two edges shorter than a minute.
 */
/* fuzz-max-len: 4096 (query strings past QP_TOPIC_MAX and every numeric bound) */
#include "core/timeutil.h"
#include "core/topic.h"
#include "fuzz_args.h"
#include "serve/query_params.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 32
#define NOW_US 1764237600000000LL /* 2025-11-27T10:00:00Z */
#define EPOCH_MAX_US (253402300800LL * 1000000)

static void check_topic(const char *topic)
{
    char re[QP_REGEX_MAX];
    if (!topic[0])
        return;
    if (strlen(topic) > QP_TOPIC_MAX || !topic_filter_valid(topic))
        abort();
    if (topic_filter_to_regex(topic, re, sizeof re) != 0)
        abort(); /* ws_client.c / http_api.c count on this */
}

static void check_err(const char *err, size_t len)
{
    if (!len)
        return;
    if (!memchr(err, '\0', len) || (len > 1 && !err[0]))
        abort(); /* a refusal always has a reason, NUL-terminated inside the buffer */
}

static void check_time(const char *s)
{
    int64_t us, again;
    if (qp_parse_time(s, &us) != 0)
        return;
    if (us < 0 || us >= EPOCH_MAX_US)
        return; /* RFC 3339 offsets may step outside what the formatter prints */
    char out[TIME_RFC3339_LEN + 1];
    time_format_rfc3339(us, out);
    if (qp_parse_time(out, &again) != 0 || again != us)
        abort();
}

static void check_bucket(const char *s)
{
    long secs;
    if (qp_parse_bucket(s, &secs) == 0 && (secs < 1 || secs > QP_BUCKET_MAX_S))
        abort();
}

static int64_t unit_floor(int64_t us, int64_t unit)
{
    int64_t f = us / unit * unit;
    return f > us ? f - unit : f;
}

static int64_t hour_floor(int64_t us)
{
    return unit_floor(us, 3600LL * 1000000);
}

/*
 * The minute split of the same range: five parts in order covering [from, to); the whole
 * hours those of qp_rollup_split when there are any; minute parts on minutes and each
 * within one hour; raw parts each within one minute and shorter than a minute.
 */
static void check_minute_split(const struct qp_readings *r, int64_t wf, int64_t wt)
{
    const int64_t minute = 60LL * 1000000;
    struct qp_split s;
    if (!qp_rollup_split_minutes(r, &s))
        abort();
    if (!(r->from_us <= s.min_from && s.min_from <= s.hour_from && s.hour_from <= s.hour_to && s.hour_to <= s.min_to &&
          s.min_to <= r->to_us))
        abort();
    if (s.hour_from < s.hour_to && (s.hour_from != wf || s.hour_to != wt))
        abort();
    if (wf < wt && (s.hour_from != wf || s.hour_to != wt))
        abort(); /* whole hours must all come from the hourly rollup */
    if (s.min_from < s.hour_from &&
        (s.min_from % minute || s.hour_from % minute || hour_floor(s.hour_from - 1) != hour_floor(s.min_from)))
        abort();
    if (s.hour_to < s.min_to &&
        (s.hour_to % minute || s.min_to % minute || hour_floor(s.min_to - 1) != hour_floor(s.hour_to)))
        abort();
    if (s.min_from - r->from_us >= minute || r->to_us - s.min_to >= minute)
        abort(); /* a raw part holds a whole minute */
    if (r->from_us < s.min_from && unit_floor(s.min_from - 1, minute) != unit_floor(r->from_us, minute))
        abort();
    if (s.min_to < r->to_us && unit_floor(r->to_us - 1, minute) != unit_floor(s.min_to, minute))
        abort();
}

/*
 * The rollup split of an accepted range: [from, whole_from) within the hour of from,
 * [whole_from, whole_to) whole hours (empty when the range holds none), [whole_to, to)
 * within the hour of to.
 */
static void check_rollup_split(const struct qp_readings *r)
{
    const int64_t hour = 3600LL * 1000000;
    int64_t wf = INT64_MIN, wt = INT64_MIN;
    if (!qp_rollup_split(r, &wf, &wt))
        return;
    if (wf < r->from_us || wt > r->to_us || wf > wt)
        abort();
    if (wf < wt && (wf % hour != 0 || wt % hour != 0))
        abort();
    if (wf > hour_floor(r->from_us) + hour)
        abort(); /* the first raw part would span more than the hour of from */
    if (wt < r->to_us && wt < hour_floor(r->to_us))
        abort(); /* the last raw part would span more than the hour of to */
    check_minute_split(r, wf, wt);
}

/* The minute split of minute-multiple buckets: whole minutes inside the range, raw edges within one minute each. */
static void check_minute_only_split(const struct qp_readings *r)
{
    const int64_t minute = 60LL * 1000000;
    int64_t wf = INT64_MIN, wt = INT64_MIN;
    if (!qp_minute_split(r, &wf, &wt))
        return;
    if (r->bucket_s % 60 || r->bucket_s % 3600 == 0)
        abort();
    if (wf < r->from_us || wt > r->to_us || wf > wt)
        abort();
    if (wf < wt && (wf % minute || wt % minute))
        abort();
    if (wf - r->from_us >= minute || (wf < wt && r->to_us - wt >= minute))
        abort(); /* a raw part holds a whole minute */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 4096)
        return 0;
    long history_max = (long)(((unsigned)data[0] << 8 | data[1]) * 100000u / 65535u);
    char buf[4097];
    memcpy(buf, data + 2, size - 2);
    buf[size - 2] = '\0';
    const char *args[MAX_ARGS];
    size_t n = fuzz_split_args(buf, args, MAX_ARGS);

    char err[384];
    struct qp_ws w;
    if (qp_parse_ws(args, n, history_max, &w, err, sizeof err) == 0) {
        if (w.history < 0 || w.history > history_max || (w.has_after && w.after < 0))
            abort();
        check_topic(w.topic);
    } else
        check_err(err, sizeof err);

    struct qp_readings r;
    if (qp_parse_readings(args, n, NOW_US, &r, err, sizeof err) == 0) {
        if (r.from_us >= r.to_us || r.limit < 1 || r.limit > QP_LIMIT_MAX || r.bucket_s < 0 ||
            r.bucket_s > QP_BUCKET_MAX_S)
            abort();
        check_topic(r.topic);
        check_rollup_split(&r);
        check_minute_only_split(&r);
    } else
        check_err(err, sizeof err);

    /* the same with a tiny error buffer: never written past */
    size_t small = (size_t)(data[0] % 8);
    char *tiny = malloc(small ? small : 1);
    if (qp_parse_ws(args, n, history_max, &w, tiny, small) != 0)
        check_err(tiny, small);
    if (qp_parse_readings(args, n, NOW_US, &r, tiny, small) != 0)
        check_err(tiny, small);
    free(tiny);

    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(args[i], '=');
        const char *v = eq ? eq + 1 : args[i];
        check_time(v);
        check_bucket(v);
    }
    return 0;
}
