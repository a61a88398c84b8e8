/* query_params.c - validation of the /ws and /api/readings query strings (see query_params.h). */
#include "query_params.h"

#include "core/timeutil.h"
#include "core/topic.h"

#include <stdio.h>
#include <string.h>

/* Epoch seconds accepted: 1970-01-01 .. 9999-12-31 (what time_format_rfc3339 can print). */
#define QP_EPOCH_MAX_S 253402300799LL

/* One name=value fragment split in place into a name (copied) and a value pointer. */
struct qp_arg {
    char name[32];
    const char *value;
};

static void qp_split(const char *frag, struct qp_arg *a)
{
    const char *eq = strchr(frag, '=');
    size_t n = eq ? (size_t)(eq - frag) : strlen(frag);
    if (n >= sizeof a->name)
        n = sizeof a->name - 1; /* long names cannot match a known one; still reported as unknown */
    memcpy(a->name, frag, n);
    a->name[n] = '\0';
    a->value = eq ? eq + 1 : "";
}

const char *qp_echo(const char *v, char *buf, size_t len)
{
    size_t i = 0;
    for (; v[i] && i + 1 < len; i++)
        buf[i] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
    buf[i] = '\0';
    if (v[i] && len > 4)
        memcpy(buf + len - 4, "...", 4);
    return buf;
}

int qp_parse_uint(const char *s, long long max, long long *out)
{
    if (!*s)
        return -1;
    long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        int digit = *p - '0';
        if (v > max / 10 || v * 10 > max - digit)
            return -1; /* v * 10 cannot overflow once v <= max / 10 */
        v = v * 10 + digit;
    }
    *out = v;
    return 0;
}

int qp_parse_time(const char *s, int64_t *us)
{
    size_t len = strlen(s);
    if (len == 0)
        return -1;
    if (strchr(s, '-') || strchr(s, ':'))
        return time_parse_rfc3339(s, len, us);
    /* epoch seconds, optional fraction of up to 6 digits */
    const char *dot = strchr(s, '.');
    char whole[24];
    size_t wl = dot ? (size_t)(dot - s) : len;
    if (wl == 0 || wl >= sizeof whole)
        return -1;
    memcpy(whole, s, wl);
    whole[wl] = '\0';
    long long secs;
    if (qp_parse_uint(whole, QP_EPOCH_MAX_S, &secs))
        return -1;
    int64_t frac = 0;
    if (dot) {
        const char *f = dot + 1;
        size_t fl = strlen(f);
        if (fl == 0 || fl > 6)
            return -1;
        int64_t scale = 100000;
        for (size_t i = 0; i < fl; i++, scale /= 10) {
            if (f[i] < '0' || f[i] > '9')
                return -1;
            frac += (f[i] - '0') * scale;
        }
    }
    *us = (int64_t)secs * 1000000 + frac;
    return 0;
}

int qp_parse_bucket(const char *s, long *seconds)
{
    size_t len = strlen(s);
    if (len < 2 || len > 9 || s[0] == '0')
        return -1;
    long unit;
    switch (s[len - 1]) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    default:
        return -1;
    }
    char num[16];
    memcpy(num, s, len - 1);
    num[len - 1] = '\0';
    long long n;
    if (qp_parse_uint(num, QP_BUCKET_MAX_S, &n) || n * unit > QP_BUCKET_MAX_S)
        return -1;
    *seconds = (long)(n * unit);
    return 0;
}

/* Copy a topic filter (' ' read as '+') into out and validate it. */
static int qp_topic(const char *v, char *out, char *err, size_t errlen)
{
    char echo[72];
    size_t len = strlen(v);
    if (len > QP_TOPIC_MAX) {
        snprintf(err, errlen, "topic filter longer than %d bytes", QP_TOPIC_MAX);
        return -1;
    }
    for (size_t i = 0; i <= len; i++)
        out[i] = v[i] == ' ' ? '+' : v[i];
    if (!topic_filter_valid(out)) {
        snprintf(err, errlen,
                 "topic must be an MQTT filter such as pico/temperature/dht22, +/humidity/+ or pico/#, got '%s'",
                 qp_echo(v, echo, sizeof echo));
        return -1;
    }
    return 0;
}

/* Mark name as seen; error when seen before. names is a NULL-terminated list, seen parallel to it. */
static int qp_lookup(const char *const *names, bool *seen, const char *name, char *err, size_t errlen)
{
    char echo[40];
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], name) != 0)
            continue;
        if (seen[i]) {
            snprintf(err, errlen, "parameter '%s' given more than once", name);
            return -1;
        }
        seen[i] = true;
        return i;
    }
    char list[128] = "";
    for (int i = 0; names[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
    snprintf(err, errlen, "unknown parameter '%s' (known: %s)", qp_echo(name, echo, sizeof echo), list);
    return -1;
}

int qp_arg(const char *frag, const char *const *names, bool *seen, const char **value, char *err, size_t errlen)
{
    struct qp_arg a;
    qp_split(frag, &a);
    *value = a.value;
    return qp_lookup(names, seen, a.name, err, errlen);
}

int qp_parse_ws(const char *const *args, size_t nargs, long history_max, struct qp_ws *out, char *err, size_t errlen)
{
    static const char *const names[] = {"history", "after", "topic", NULL};
    bool seen[3] = {false, false, false};
    char echo[72];
    memset(out, 0, sizeof *out);
    out->history = QP_HISTORY_DEFAULT < history_max ? QP_HISTORY_DEFAULT : history_max;
    for (size_t i = 0; i < nargs; i++) {
        struct qp_arg a;
        if (!*args[i])
            continue; /* "a=1&&b=2", a trailing '&' */
        qp_split(args[i], &a);
        int k = qp_lookup(names, seen, a.name, err, errlen);
        if (k < 0)
            return -1;
        if (!*a.value)
            continue;
        long long v;
        switch (k) {
        case 0:
            if (qp_parse_uint(a.value, history_max, &v)) {
                snprintf(err, errlen, "history must be an integer between 0 and %ld, got '%s'", history_max,
                         qp_echo(a.value, echo, sizeof echo));
                return -1;
            }
            out->history = (long)v;
            break;
        case 1:
            if (qp_parse_uint(a.value, INT64_MAX, &v)) {
                snprintf(err, errlen, "after must be a reading id (an integer >= 0), got '%s'",
                         qp_echo(a.value, echo, sizeof echo));
                return -1;
            }
            out->has_after = true;
            out->after = v;
            break;
        case 2:
            if (qp_topic(a.value, out->topic, err, errlen))
                return -1;
            break;
        }
    }
    return 0;
}

int qp_parse_readings(const char *const *args, size_t nargs, int64_t now_us, struct qp_readings *out, char *err,
                      size_t errlen)
{
    static const char *const names[] = {"topic", "from", "to", "bucket", "limit", NULL};
    bool seen[5] = {false, false, false, false, false};
    bool has_from = false, has_to = false;
    char echo[72];
    memset(out, 0, sizeof *out);
    out->limit = QP_LIMIT_DEFAULT;
    for (size_t i = 0; i < nargs; i++) {
        struct qp_arg a;
        if (!*args[i])
            continue; /* "a=1&&b=2", a trailing '&' */
        qp_split(args[i], &a);
        int k = qp_lookup(names, seen, a.name, err, errlen);
        if (k < 0)
            return -1;
        if (!*a.value)
            continue;
        long long v;
        switch (k) {
        case 0:
            if (qp_topic(a.value, out->topic, err, errlen))
                return -1;
            break;
        case 1:
        case 2:
            if (qp_parse_time(a.value, k == 1 ? &out->from_us : &out->to_us)) {
                snprintf(err, errlen, "%s must be an RFC 3339 time (2026-11-27T10:00:00Z) or epoch seconds, got '%s'",
                         k == 1 ? "from" : "to", qp_echo(a.value, echo, sizeof echo));
                return -1;
            }
            *(k == 1 ? &has_from : &has_to) = true;
            break;
        case 3:
            if (qp_parse_bucket(a.value, &out->bucket_s)) {
                snprintf(err, errlen,
                         "bucket must be a positive number followed by s, m, h or d (30s, 5m, 1h, 1d; at most "
                         "366d), got '%s'",
                         qp_echo(a.value, echo, sizeof echo));
                return -1;
            }
            break;
        case 4:
            if (qp_parse_uint(a.value, QP_LIMIT_MAX, &v) || v < 1) {
                snprintf(err, errlen, "limit must be an integer between 1 and %d, got '%s'", QP_LIMIT_MAX,
                         qp_echo(a.value, echo, sizeof echo));
                return -1;
            }
            out->limit = (long)v;
            break;
        }
    }
    if (!has_to)
        out->to_us = now_us;
    if (!has_from)
        out->from_us = out->to_us - QP_RANGE_DEFAULT_US;
    if (out->from_us >= out->to_us) {
        snprintf(err, errlen, "from must be earlier than to");
        return -1;
    }
    return 0;
}

/* Start of the hour holding us (rounds down for times before 1970 too). */
static int64_t qp_hour_floor(int64_t us)
{
    int64_t q = us / (3600LL * 1000000);
    if (us % (3600LL * 1000000) < 0)
        q--;
    return q * (3600LL * 1000000);
}

/* Start of the minute holding us (rounds down for times before 1970 too). */
static int64_t qp_minute_floor(int64_t us)
{
    int64_t q = us / (60LL * 1000000);
    if (us % (60LL * 1000000) < 0)
        q--;
    return q * (60LL * 1000000);
}

/* The first minute boundary at or after us, at most limit (limit is on a minute or is to). */
static int64_t qp_minute_ceil(int64_t us, int64_t limit)
{
    int64_t m = qp_minute_floor(us);
    if (m < us)
        m += 60LL * 1000000;
    return m < limit ? m : limit;
}

bool qp_rollup_split_minutes(const struct qp_readings *q, struct qp_split *s)
{
    int64_t hf, ht;
    if (!qp_rollup_split(q, &hf, &ht))
        return false;
    if (hf < ht || (hf > q->from_us && hf < q->to_us)) {
        /* an hour boundary inside the range: minutes up to it, and after it to the minute of to */
        s->min_from = qp_minute_ceil(q->from_us, hf);
        s->hour_from = hf;
        s->hour_to = ht;
        int64_t m = qp_minute_floor(q->to_us);
        s->min_to = m > ht ? m : ht;
        return true;
    }
    /* from and to in one hour (or to on the hour after from's): no hour boundary strictly
       inside; whole minutes [min_from, min_to) of that hour, all put in the first part */
    int64_t mf = qp_minute_ceil(q->from_us, q->to_us);
    int64_t mt = qp_minute_floor(q->to_us);
    if (mt < mf)
        mt = mf; /* inside one minute: all of it is raw rows [from, to) */
    s->min_from = mf;
    s->hour_from = s->hour_to = s->min_to = mt;
    return true;
}

bool qp_rollup_split(const struct qp_readings *q, int64_t *whole_from, int64_t *whole_to)
{
    const int64_t hour = 3600LL * 1000000;
    if (q->bucket_s <= 0 || q->bucket_s % 3600)
        return false;
    int64_t lo = qp_hour_floor(q->from_us);
    if (lo < q->from_us)
        lo += hour;
    if (lo > q->to_us)
        lo = q->to_us; /* from and to in one hour: all of it is the first part */
    int64_t hi = qp_hour_floor(q->to_us);
    if (hi < lo)
        hi = lo;
    *whole_from = lo;
    *whole_to = hi;
    return true;
}

bool qp_minute_split(const struct qp_readings *q, int64_t *whole_from, int64_t *whole_to)
{
    if (q->bucket_s <= 0 || q->bucket_s % 60 || q->bucket_s % 3600 == 0)
        return false;
    int64_t lo = qp_minute_ceil(q->from_us, q->to_us);
    int64_t hi = qp_minute_floor(q->to_us);
    if (hi < lo)
        hi = lo; /* from and to in one minute: all of it is the first part */
    *whole_from = lo;
    *whole_to = hi;
    return true;
}
