/* test_serve_query_params.c - /ws and /api/readings query strings: defaults, limits, malformed and hostile input. */
#include "unit.h"

#include "serve/query_params.h"

#include <stdio.h>
#include <string.h>

#define NOW_US 1764237600000000LL /* 2025-11-27T10:00:00Z */

/* Split "a=1&b=2" into fragments as lws would (no decoding here: tests pass decoded text). */
static size_t split(const char *qs, char *buf, size_t buflen, const char **args)
{
    size_t n = 0;
    if (!*qs)
        return 0;
    snprintf(buf, buflen, "%s", qs);
    for (char *p = buf;; n++) {
        args[n] = p;
        char *amp = strchr(p, '&');
        if (!amp)
            return n + 1;
        *amp = '\0';
        p = amp + 1;
    }
}

static int ws(const char *qs, long history_max, struct qp_ws *out, char *err)
{
    char buf[1024];
    const char *args[32];
    size_t n = split(qs, buf, sizeof buf, args);
    return qp_parse_ws(args, n, history_max, out, err, 256);
}

static int rd(const char *qs, struct qp_readings *out, char *err)
{
    char buf[1024];
    const char *args[32];
    size_t n = split(qs, buf, sizeof buf, args);
    return qp_parse_readings(args, n, NOW_US, out, err, 256);
}

static void test_ws_defaults(void **state)
{
    (void)state;
    struct qp_ws p;
    char err[256];
    assert_int_equal(ws("", 10000, &p, err), 0);
    assert_int_equal(p.history, 100);
    assert_false(p.has_after);
    assert_string_equal(p.topic, "");
    /* a history_max below the default caps the default */
    assert_int_equal(ws("", 10, &p, err), 0);
    assert_int_equal(p.history, 10);
    /* empty values count as absent, stray '&' are ignored */
    assert_int_equal(ws("history=&topic=&&after=", 10000, &p, err), 0);
    assert_int_equal(p.history, 100);
    assert_false(p.has_after);
}

static void test_ws_valid(void **state)
{
    (void)state;
    struct qp_ws p;
    char err[256];
    assert_int_equal(ws("history=0", 10000, &p, err), 0);
    assert_int_equal(p.history, 0);
    /* a one-digit value above a one-digit bound (found by fuzz_query_params) */
    assert_int_equal(ws("history=7", 7, &p, err), 0);
    assert_int_equal(p.history, 7);
    assert_int_not_equal(ws("history=9", 7, &p, err), 0);
    assert_int_not_equal(ws("history=09", 7, &p, err), 0);
    assert_int_not_equal(ws("history=8", 7, &p, err), 0);
    assert_int_equal(ws("history=10000&after=0", 10000, &p, err), 0);
    assert_int_equal(p.history, 10000);
    assert_true(p.has_after);
    assert_int_equal(p.after, 0);
    assert_int_equal(ws("after=9223372036854775807", 10000, &p, err), 0);
    assert_int_equal(p.after, INT64_MAX);
    assert_int_equal(ws("topic=pico/#", 10000, &p, err), 0);
    assert_string_equal(p.topic, "pico/#");
    /* '+' arrives as ' ' from form decoding and is read back as '+' */
    assert_int_equal(ws("topic= /temperature/ ", 10000, &p, err), 0);
    assert_string_equal(p.topic, "+/temperature/+");
    assert_int_equal(ws("topic=+/humidity/dht22", 10000, &p, err), 0);
    assert_string_equal(p.topic, "+/humidity/dht22");
}

static void test_ws_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *qs;
        const char *needle; /* expected in the message */
    } cases[] = {
        {"history=-1", "history must be an integer between 0 and 10000"},
        {"history=10001", "between 0 and 10000"},
        {"history=1e3", "history must be"},
        {"history=12abc", "got '12abc'"},
        {"history= 5", "history must be"},
        {"history=99999999999999999999999", "history must be"},
        {"after=-5", "after must be a reading id"},
        {"after=abc", "after must be"},
        {"after=92233720368547758070", "after must be"},
        {"topic=pico/#/x", "topic must be an MQTT filter"},
        {"topic=pi+co", "topic must be an MQTT filter"},
        {"topic=a\tb", "got 'a?b'"},
        {"foo=1", "unknown parameter 'foo'"},
        {"history=1&history=2", "given more than once"},
        {"HISTORY=1", "unknown parameter"},
        {"historyhistoryhistoryhistoryhistory=1", "unknown parameter"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct qp_ws p;
        char err[256] = "";
        assert_int_equal(ws(cases[i].qs, 10000, &p, err), -1);
        if (!strstr(err, cases[i].needle))
            fail_msg("'%s': message '%s' lacks '%s'", cases[i].qs, err, cases[i].needle);
    }
}

static void test_ws_topic_too_long(void **state)
{
    (void)state;
    char qs[600] = "topic=";
    memset(qs + 6, 'a', 300);
    struct qp_ws p;
    char err[256];
    assert_int_equal(ws(qs, 10000, &p, err), -1);
    assert_non_null(strstr(err, "longer than"));
    /* QP_TOPIC_MAX bytes are fine */
    memset(qs + 6, 0, sizeof qs - 6);
    memset(qs + 6, 'a', QP_TOPIC_MAX);
    assert_int_equal(ws(qs, 10000, &p, err), 0);
    assert_int_equal(strlen(p.topic), QP_TOPIC_MAX);
}

static void test_time(void **state)
{
    (void)state;
    int64_t us;
    assert_int_equal(qp_parse_time("1764237600", &us), 0);
    assert_int_equal(us, NOW_US);
    assert_int_equal(qp_parse_time("1764237600.25", &us), 0);
    assert_int_equal(us, NOW_US + 250000);
    assert_int_equal(qp_parse_time("0", &us), 0);
    assert_int_equal(us, 0);
    assert_int_equal(qp_parse_time("2025-11-27T10:00:00Z", &us), 0);
    assert_int_equal(us, NOW_US);
    assert_int_equal(qp_parse_time("2025-11-27T11:00:00.5+01:00", &us), 0);
    assert_int_equal(us, NOW_US + 500000);
    static const char *const bad[] = {"",
                                      ".",
                                      "1.",
                                      ".5",
                                      "1.1234567",
                                      "17642376OO",
                                      "-1",
                                      "1e9",
                                      "2025-11-27",
                                      "2025-11-27T10:00:00",
                                      "2025-13-01T00:00:00Z",
                                      "253402300800",
                                      "99999999999999999999",
                                      "1 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (qp_parse_time(bad[i], &us) == 0)
            fail_msg("time '%s' accepted", bad[i]);
}

static void test_bucket(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        long seconds;
    } good[] = {{"1s", 1},
                {"30s", 30},
                {"5m", 300},
                {"1h", 3600},
                {"1d", 86400},
                {"366d", 366 * 86400L},
                {"31622400s", 31622400}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        long s = -1;
        assert_int_equal(qp_parse_bucket(good[i].s, &s), 0);
        assert_int_equal(s, good[i].seconds);
    }
    static const char *const bad[] = {"",    "s",    "0s",   "05m",       "-5m",         "5",   "5w",
                                      "5 m", "1.5h", "367d", "31622401s", "9999999999d", "5mm", "m5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long s;
        if (qp_parse_bucket(bad[i], &s) == 0)
            fail_msg("bucket '%s' accepted", bad[i]);
    }
}

#define H_US (3600LL * 1000000)

static void test_rollup_split(void **state)
{
    (void)state;
    /* NOW_US is on an hour. rollup false: raw rows only (outputs untouched). The partial
     * parts [from, whole_from) and [whole_to, to) must each lie within one hour. */
    static const struct {
        long bucket_s;
        int64_t from, to;
        bool rollup;
        int64_t whole_from, whole_to;
    } cases[] = {
        {3600, NOW_US - 24 * H_US, NOW_US, true, NOW_US - 24 * H_US, NOW_US},              /* aligned: all whole */
        {3600, NOW_US - 24 * H_US + 1, NOW_US + 5, true, NOW_US - 23 * H_US, NOW_US},      /* partial both ends */
        {86400, NOW_US - 90 * 60000000LL, NOW_US - 1, true, NOW_US - H_US, NOW_US - H_US}, /* two partial hours */
        {7200, NOW_US + 60000000LL, NOW_US + 120000000LL, true, NOW_US + 120000000LL, NOW_US + 120000000LL}, /* 1 h */
        {3600, NOW_US + 1, NOW_US + H_US, true, NOW_US + H_US, NOW_US + H_US}, /* up to the end of the hour */
        {3600, NOW_US - H_US / 2, NOW_US + H_US, true, NOW_US, NOW_US + H_US},
        {3600, -H_US - 1, 1, true, -H_US, 0},            /* before 1970 */
        {1800, NOW_US - 24 * H_US, NOW_US, false, 0, 0}, /* sub-hour */
        {5400, NOW_US - 24 * H_US, NOW_US, false, 0, 0}, /* 1.5 h */
        {0, NOW_US - 24 * H_US, NOW_US, false, 0, 0},    /* raw rows */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct qp_readings q = {.from_us = cases[i].from, .to_us = cases[i].to, .bucket_s = cases[i].bucket_s};
        int64_t wf = 0, wt = 0;
        if (qp_rollup_split(&q, &wf, &wt) != cases[i].rollup)
            fail_msg("case %zu: rollup %d expected", i, cases[i].rollup);
        if (wf != cases[i].whole_from || wt != cases[i].whole_to)
            fail_msg("case %zu: whole hours [%lld, %lld), expected [%lld, %lld)", i, (long long)wf, (long long)wt,
                     (long long)cases[i].whole_from, (long long)cases[i].whole_to);
    }
}

#define M_US (60LL * 1000000)

static int64_t floor_to(int64_t us, int64_t unit)
{
    return (us / unit - (us % unit < 0)) * unit;
}

/* The five parts of a minute split are in order, cover [from, to), and each lies where it must. */
static void check_split_minutes(const struct qp_readings *q, const struct qp_split *s, const char *what)
{
    int64_t wf = 0, wt = 0;
    assert_true(qp_rollup_split(q, &wf, &wt));
    if (!(q->from_us <= s->min_from && s->min_from <= s->hour_from && s->hour_from <= s->hour_to &&
          s->hour_to <= s->min_to && s->min_to <= q->to_us))
        fail_msg("%s: parts out of order", what);
    if (s->hour_from < s->hour_to && (s->hour_from != wf || s->hour_to != wt))
        fail_msg("%s: whole hours differ from qp_rollup_split", what);
    if (s->hour_from < s->hour_to && (s->hour_from % H_US || s->hour_to % H_US))
        fail_msg("%s: whole hours not on hours", what);
    /* raw parts within one minute, minute parts on minutes and within one hour */
    if (q->from_us < s->min_from && floor_to(s->min_from - 1, M_US) != floor_to(q->from_us, M_US))
        fail_msg("%s: first raw part spans minutes", what);
    if (s->min_to < q->to_us && floor_to(q->to_us - 1, M_US) != floor_to(s->min_to, M_US))
        fail_msg("%s: last raw part spans minutes", what);
    if (s->min_from < s->hour_from &&
        (s->min_from % M_US || s->hour_from % M_US || floor_to(s->hour_from - 1, H_US) != floor_to(s->min_from, H_US)))
        fail_msg("%s: first minute part [%lld, %lld) not whole minutes of one hour", what, (long long)s->min_from,
                 (long long)s->hour_from);
    if (s->hour_to < s->min_to &&
        (s->hour_to % M_US || s->min_to % M_US || floor_to(s->min_to - 1, H_US) != floor_to(s->hour_to, H_US)))
        fail_msg("%s: last minute part [%lld, %lld) not whole minutes of one hour", what, (long long)s->hour_to,
                 (long long)s->min_to);
    /* as few raw rows as possible: a raw part never holds a whole minute */
    if (s->min_from - q->from_us >= M_US || q->to_us - s->min_to >= M_US)
        fail_msg("%s: a raw part holds a whole minute", what);
}

static void test_rollup_split_minutes(void **state)
{
    (void)state;
    const int64_t S = 1000000;
    static const struct {
        long bucket_s;
        int64_t from, to;
        bool rollup;
        int64_t min_from, hour_from, hour_to, min_to;
    } cases[] = {
        /* aligned on hours: all whole hours */
        {3600, NOW_US - 24 * H_US, NOW_US, true, NOW_US - 24 * H_US, NOW_US - 24 * H_US, NOW_US, NOW_US},
        /* the bench's question: partial minute, 59 minutes, 23 h, minutes to to's minute, partial minute */
        {3600, NOW_US - 24 * H_US + 30 * S, NOW_US + 90 * S, true, NOW_US - 24 * H_US + M_US, NOW_US - 23 * H_US,
         NOW_US, NOW_US + M_US},
        /* 1 us edges: one raw microsecond on each side of the whole hours */
        {3600, NOW_US - 1, NOW_US + H_US + 1, true, NOW_US, NOW_US, NOW_US + H_US, NOW_US + H_US},
        /* on minutes, not on hours: no raw rows */
        {7200, NOW_US - 5 * M_US, NOW_US + H_US + 7 * M_US, true, NOW_US - 5 * M_US, NOW_US, NOW_US + H_US,
         NOW_US + H_US + 7 * M_US},
        /* two partial hours, no whole one: minutes on each side of the hour boundary */
        {3600, NOW_US - 50 * M_US - 1, NOW_US + 20 * M_US + 1, true, NOW_US - 50 * M_US, NOW_US, NOW_US,
         NOW_US + 20 * M_US},
        /* inside one hour, spanning minutes: one minute part */
        {3600, NOW_US + 10 * M_US + 5, NOW_US + 50 * M_US + 7, true, NOW_US + 11 * M_US, NOW_US + 50 * M_US,
         NOW_US + 50 * M_US, NOW_US + 50 * M_US},
        /* inside one hour, from on the hour */
        {3600, NOW_US, NOW_US + 30 * M_US, true, NOW_US, NOW_US + 30 * M_US, NOW_US + 30 * M_US, NOW_US + 30 * M_US},
        /* inside one hour, to on the next hour */
        {3600, NOW_US + 10 * M_US, NOW_US + H_US, true, NOW_US + 10 * M_US, NOW_US + H_US, NOW_US + H_US,
         NOW_US + H_US},
        /* inside one minute: raw rows only */
        {3600, NOW_US + 10 * S, NOW_US + 50 * S, true, NOW_US + 50 * S, NOW_US + 50 * S, NOW_US + 50 * S,
         NOW_US + 50 * S},
        /* up to the end of a minute: raw rows only */
        {3600, NOW_US + 10 * S, NOW_US + M_US, true, NOW_US + M_US, NOW_US + M_US, NOW_US + M_US, NOW_US + M_US},
        /* across one minute boundary, no whole minute */
        {3600, NOW_US + 10 * S, NOW_US + M_US + 10 * S, true, NOW_US + M_US, NOW_US + M_US, NOW_US + M_US,
         NOW_US + M_US},
        /* one microsecond */
        {86400, NOW_US - 1, NOW_US, true, NOW_US, NOW_US, NOW_US, NOW_US},
        /* before 1970 */
        {3600, -H_US - M_US - 1, M_US + 1, true, -H_US - M_US, -H_US, 0, M_US},
        {1800, NOW_US - 24 * H_US, NOW_US, false, 0, 0, 0, 0}, /* sub-hour */
        {0, NOW_US - 24 * H_US, NOW_US, false, 0, 0, 0, 0},    /* raw rows */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct qp_readings q = {.from_us = cases[i].from, .to_us = cases[i].to, .bucket_s = cases[i].bucket_s};
        struct qp_split sp = {0, 0, 0, 0};
        char what[32];
        snprintf(what, sizeof what, "case %zu", i);
        if (qp_rollup_split_minutes(&q, &sp) != cases[i].rollup)
            fail_msg("%s: rollup %d expected", what, cases[i].rollup);
        if (sp.min_from != cases[i].min_from || sp.hour_from != cases[i].hour_from || sp.hour_to != cases[i].hour_to ||
            sp.min_to != cases[i].min_to)
            fail_msg("%s: got %lld %lld %lld %lld", what, (long long)sp.min_from, (long long)sp.hour_from,
                     (long long)sp.hour_to, (long long)sp.min_to);
        if (cases[i].rollup)
            check_split_minutes(&q, &sp, what);
    }
    /* every pair of edges near hour and minute boundaries */
    static const int64_t offs[] = {
        0,        1,    30 * 1000000LL, M_US - 1,        M_US,     M_US + 1,     30 * M_US,      H_US - M_US,
        H_US - 1, H_US, H_US + 1,       H_US + M_US + 3, 2 * H_US, 3 * H_US - 1, 3 * H_US + M_US};
    size_t n = sizeof offs / sizeof offs[0];
    for (size_t a = 0; a < n; a++) {
        for (size_t b = 0; b < n; b++) {
            for (int64_t base = -H_US; base <= NOW_US; base += NOW_US + H_US) {
                struct qp_readings q = {.from_us = base + offs[a], .to_us = base + offs[b] + 1, .bucket_s = 3600};
                if (q.from_us >= q.to_us)
                    continue;
                struct qp_split sp;
                char what[64];
                snprintf(what, sizeof what, "from +%lld to +%lld", (long long)offs[a], (long long)offs[b] + 1);
                assert_true(qp_rollup_split_minutes(&q, &sp));
                check_split_minutes(&q, &sp, what);
            }
        }
    }
}

static void test_readings_defaults(void **state)
{
    (void)state;
    struct qp_readings q;
    char err[256];
    assert_int_equal(rd("", &q, err), 0);
    assert_int_equal(q.to_us, NOW_US);
    assert_int_equal(q.from_us, NOW_US - 3600LL * 1000000);
    assert_int_equal(q.bucket_s, 0);
    assert_int_equal(q.limit, QP_LIMIT_DEFAULT);
    assert_string_equal(q.topic, "");
    /* only to: from is one hour before it */
    assert_int_equal(rd("to=1764230000", &q, err), 0);
    assert_int_equal(q.to_us, 1764230000LL * 1000000);
    assert_int_equal(q.from_us, (1764230000LL - 3600) * 1000000);
}

static void test_readings_valid(void **state)
{
    (void)state;
    struct qp_readings q;
    char err[256];
    assert_int_equal(rd("topic=pico/+/dht22&from=2025-11-27T00:00:00Z&to=1764237600&bucket=5m&limit=100000", &q, err),
                     0);
    assert_string_equal(q.topic, "pico/+/dht22");
    assert_int_equal(q.from_us, NOW_US - 10 * 3600LL * 1000000);
    assert_int_equal(q.to_us, NOW_US);
    assert_int_equal(q.bucket_s, 300);
    assert_int_equal(q.limit, 100000);
    assert_int_equal(rd("limit=1", &q, err), 0);
    assert_int_equal(q.limit, 1);
}

static void test_readings_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *qs;
        const char *needle;
    } cases[] = {
        {"bucket=7x", "bucket must be a positive number followed by s, m, h or d"},
        {"bucket=0s", "bucket must be"},
        {"from=yesterday", "from must be an RFC 3339 time"},
        {"to=2025-11-27", "to must be an RFC 3339 time"},
        {"from=1764237600&to=1764237600", "from must be earlier than to"},
        {"from=1764237601&to=1764237600", "from must be earlier than to"},
        {"limit=0", "limit must be an integer between 1 and 100000"},
        {"limit=100001", "limit must be"},
        {"limit=-3", "limit must be"},
        {"limit=ten", "got 'ten'"},
        {"topic=#/a", "topic must be an MQTT filter"},
        {"history=5", "unknown parameter 'history' (known: topic, from, to, bucket, limit)"},
        {"csv", "unknown parameter 'csv'"},
        {"=5", "unknown parameter ''"},
        {"topic=a/b&topic=c/d", "given more than once"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct qp_readings q;
        char err[256] = "";
        assert_int_equal(rd(cases[i].qs, &q, err), -1);
        if (!strstr(err, cases[i].needle))
            fail_msg("'%s': message '%s' lacks '%s'", cases[i].qs, err, cases[i].needle);
    }
}

static void test_small_error_buffer(void **state)
{
    (void)state;
    /* a tiny err buffer truncates, never overflows (ASan checks) */
    const char *args[] = {"limit=zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"};
    struct qp_readings q;
    char err[8];
    assert_int_equal(qp_parse_readings(args, 1, NOW_US, &q, err, sizeof err), -1);
    assert_int_equal(strlen(err), sizeof err - 1);
}

/* Buckets of whole minutes that are not hours: whole minutes from the minute rollup, raw edges. */
static void test_minute_split(void **state)
{
    (void)state;
    const int64_t m = 60LL * 1000000;
    struct qp_readings q = {.from_us = NOW_US + 30 * 1000000, .to_us = NOW_US + 10 * m + 1, .bucket_s = 120};
    int64_t wf = -1, wt = -1;
    assert_true(qp_minute_split(&q, &wf, &wt));
    assert_int_equal(wf, NOW_US + m); /* the first whole minute */
    assert_int_equal(wt, NOW_US + 10 * m);
    q.bucket_s = 3600; /* whole hours: qp_rollup_split's */
    assert_false(qp_minute_split(&q, &wf, &wt));
    q.bucket_s = 45; /* not whole minutes: raw rows */
    assert_false(qp_minute_split(&q, &wf, &wt));
    q.bucket_s = 0;
    assert_false(qp_minute_split(&q, &wf, &wt));
    /* inside one minute: no whole minute, all of it the first raw part */
    q = (struct qp_readings){.from_us = NOW_US + 10 * 1000000, .to_us = NOW_US + 50 * 1000000, .bucket_s = 300};
    assert_true(qp_minute_split(&q, &wf, &wt));
    assert_int_equal(wf, q.to_us);
    assert_int_equal(wt, q.to_us);
    /* aligned: all whole minutes */
    q = (struct qp_readings){.from_us = NOW_US, .to_us = NOW_US + 86400LL * 1000000, .bucket_s = 120};
    assert_true(qp_minute_split(&q, &wf, &wt));
    assert_int_equal(wf, q.from_us);
    assert_int_equal(wt, q.to_us);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_defaults),
        cmocka_unit_test(test_ws_valid),
        cmocka_unit_test(test_ws_invalid),
        cmocka_unit_test(test_ws_topic_too_long),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_rollup_split),
        cmocka_unit_test(test_rollup_split_minutes),
        cmocka_unit_test(test_minute_split),
        cmocka_unit_test(test_readings_defaults),
        cmocka_unit_test(test_readings_valid),
        cmocka_unit_test(test_readings_invalid),
        cmocka_unit_test(test_small_error_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
