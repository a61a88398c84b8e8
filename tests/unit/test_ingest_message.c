/* test_ingest_message.c - classifying MQTT messages (readings, presence, rejects) and parsing --subscribe. */
#include "unit.h"

#include "ingest/message.h"
#include "ingest/mqtt_filters.h"

#include <string.h>

#define NOW 1795773600000000LL /* 2026-11-27T10:00:00Z */
#define DAY_US (86400LL * 1000000)
#define MIN_US (60LL * 1000000)

/* the ingest's defaults: --ts-past-days 30, --ts-future-minutes 10 */
static const struct msg_bounds BOUNDS = {.ts_past_us = 30 * DAY_US, .ts_future_us = 10 * MIN_US};

static void classify(const char *topic, const char *payload, bool retained, struct msg_result *r)
{
    msg_classify(topic, strlen(topic), payload, payload ? strlen(payload) : 0, retained, NOW, &BOUNDS, r);
}

static void test_readings(void **state)
{
    (void)state;
    struct msg_result r;
    classify("pico/temperature/dht22", "21.5", false, &r);
    assert_int_equal(r.kind, MSG_READING);
    assert_string_equal(r.reading.topic, "pico/temperature/dht22");
    assert_true(r.reading.value == 21.5);
    assert_int_equal(r.reading.ts_us, NOW); /* receive time */

    classify("pico/humidity/dht22", "{\"value\": 40, \"ts\": \"2026-11-27T09:00:00Z\"}", false, &r);
    assert_int_equal(r.kind, MSG_READING);
    assert_int_equal(r.reading.ts_us, NOW - 3600LL * 1000000);

    classify("pico/humidity/dht22", "{\"value\": 40, \"ts\": 1795773600.25}", false, &r);
    assert_int_equal(r.reading.ts_us, NOW + 250000);

    /* a replayed retained reading is not stored again */
    classify("pico/temperature/dht22", "21.5", true, &r);
    assert_int_equal(r.kind, MSG_RETAINED);

    /* the longest valid topic fits the reading's buffer */
    char topic[TOPIC_MAX + 1];
    memset(topic, 'a', TOPIC_MAX);
    topic[TOPIC_LEVEL_MAX] = topic[2 * TOPIC_LEVEL_MAX + 1] = '/';
    topic[TOPIC_MAX] = '\0';
    classify(topic, "1", false, &r);
    assert_int_equal(r.kind, MSG_READING);
    assert_string_equal(r.reading.topic, topic);
}

static void test_presence(void **state)
{
    (void)state;
    struct msg_result r;
    classify("pico/status", "online", true, &r); /* retained presence is the normal case */
    assert_int_equal(r.kind, MSG_PRESENCE);
    assert_string_equal(r.device, "pico");
    assert_true(r.online);
    classify("pico/status", "offline\n", false, &r);
    assert_int_equal(r.kind, MSG_PRESENCE);
    assert_false(r.online);
    static const char *bad[] = {"", "Online", "on", "online!", "1", "{\"online\":true}", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        classify("pico/status", bad[i], false, &r);
        assert_int_equal(r.kind, MSG_REJECT);
        assert_int_equal(r.cls, REJECT_STATUS);
        assert_non_null(r.reason);
    }
}

static void test_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *topic, *payload;
        enum reject_class cls;
        const char *reason_has;
    } cases[] = {
        {"a/b/c/d", "1", REJECT_TOPIC, "<device>/<metric>/<sensor>"},
        {"a/b", "1", REJECT_TOPIC, "<device>/<metric>/<sensor>"},
        {"a", "1", REJECT_TOPIC, "<device>/<metric>/<sensor>"},
        {"a//c", "1", REJECT_TOPIC, "empty level"},
        {"/b/c", "1", REJECT_TOPIC, "empty level"},
        {"a/b/", "1", REJECT_TOPIC, "empty level"},
        {"a b/c/d", "1", REJECT_TOPIC, "printable ASCII"},
        {"caf\xc3\xa9/t/s", "1", REJECT_TOPIC, "printable ASCII"},
        {"bad\xff/t/s", "1", REJECT_TOPIC, "printable ASCII"},
        {"", "1", REJECT_TOPIC, "empty"},
        {"a/b/c", "abc", REJECT_PAYLOAD, "not a number"},
        {"a/b/c", "nan", REJECT_PAYLOAD, ""},
        {"a/b/c", "inf", REJECT_PAYLOAD, ""},
        {"a/b/c", "1e999", REJECT_PAYLOAD, "finite"},
        {"a/b/c", "", REJECT_PAYLOAD, "empty"},
        {"a/b/c", NULL, REJECT_PAYLOAD, "empty"},
        {"a/b/c", "{\"ts\": \"2026-11-27T10:00:00Z\"}", REJECT_PAYLOAD, "value"},
        {"a/b/c", "{\"value\": 1, \"ts\": \"yesterday\"}", REJECT_PAYLOAD, "RFC 3339"},
        {"a/b/c", "{\"value\": 1", REJECT_PAYLOAD, "JSON"},
        {"a/b/c", "{\"value\": 1, \"ts\": \"2026-11-27T10:00", REJECT_PAYLOAD, "JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct msg_result r;
        classify(cases[i].topic, cases[i].payload, false, &r);
        if (r.kind != MSG_REJECT || r.cls != cases[i].cls)
            fail_msg("case %zu (%s, %s): kind %d class %d", i, cases[i].topic, cases[i].payload, r.kind, r.cls);
        if (!strstr(r.reason, cases[i].reason_has))
            fail_msg("case %zu: reason '%s' lacks '%s'", i, r.reason, cases[i].reason_has);
    }
    /* a refused message stays refused when retained */
    struct msg_result r;
    classify("a/b/c/d", "1", true, &r);
    assert_int_equal(r.kind, MSG_REJECT);
}

static void test_payload_bounds(void **state)
{
    (void)state;
    struct msg_result r;
    static char big[2048];
    memset(big, '1', sizeof big);
    msg_classify("a/b/c", 5, big, sizeof big, false, NOW, &BOUNDS, &r);
    assert_int_equal(r.kind, MSG_REJECT);
    assert_int_equal(r.cls, REJECT_PAYLOAD);
    assert_string_equal(r.reason, "payload too large");
    /* embedded NUL and truncated JSON: read only len bytes */
    msg_classify("a/b/c", 5,
                 "12\0"
                 "3",
                 4, false, NOW, &BOUNDS, &r);
    assert_int_equal(r.kind, MSG_REJECT);
    msg_classify("a/b/c", 5, "{\"value\": 12}", 5, false, NOW, &BOUNDS, &r);
    assert_int_equal(r.kind, MSG_REJECT);
    msg_classify("a/b/c", 5, "21.5garbage", 4, false, NOW, &BOUNDS, &r);
    assert_int_equal(r.kind, MSG_READING);
    assert_true(r.reading.value == 21.5);
    /* a topic given with a length shorter than the string */
    msg_classify("a/b/c/d", 5, "1", 1, false, NOW, &BOUNDS, &r);
    assert_int_equal(r.kind, MSG_READING);
    assert_string_equal(r.reading.topic, "a/b/c");
    /* huge status payload */
    msg_classify("pico/status", 11, big, sizeof big, false, NOW, &BOUNDS, &r);
    assert_int_equal(r.cls, REJECT_STATUS);
}

/* The value bound and the ts window: the refusal and the success at each edge. */
static void test_value_and_ts_bounds(void **state)
{
    (void)state;
    static const struct {
        const char *payload;
        bool ok;
        double value;
        int64_t ts_us;
        const char *reason_has;
    } cases[] = {
        {"1e15", true, 1e15, NOW, NULL},
        {"-1e15", true, -1e15, NOW, NULL},
        {"{\"value\": 1e15}", true, 1e15, NOW, NULL},
        {"1000000000000000.1", false, 0, 0, "out of range"}, /* rounds to the next double above 1e15 */
        {"1.0000000000000002e15", false, 0, 0, "out of range"},
        {"-1e16", false, 0, 0, "out of range"},
        {"1e160", false, 0, 0, "out of range"},
        {"{\"value\": 1e160}", false, 0, 0, "out of range"},
        {"{\"value\": -1.7976931348623157e308}", false, 0, 0, "out of range"},
        /* 30 days back: the edge is in; a microsecond more is out */
        {"{\"value\": 1, \"ts\": \"2026-10-28T10:00:00Z\"}", true, 1, NOW - 30 * DAY_US, NULL},
        {"{\"value\": 1, \"ts\": \"2026-10-28T09:59:59.999999Z\"}", false, 0, 0, "too far in the past"},
        {"{\"value\": 1, \"ts\": \"0001-01-01T00:00:00Z\"}", false, 0, 0, "too far in the past"},
        {"{\"value\": 1, \"ts\": 0}", false, 0, 0, "too far in the past"},
        /* 10 minutes ahead: in; a microsecond more, eight days or the year 9999: out */
        {"{\"value\": 1, \"ts\": \"2026-11-27T10:10:00Z\"}", true, 1, NOW + 10 * MIN_US, NULL},
        {"{\"value\": 1, \"ts\": 1795774200.000001}", false, 0, 0, "too far in the future"},
        {"{\"value\": 1, \"ts\": \"2026-12-05T10:00:00Z\"}", false, 0, 0, "too far in the future"},
        {"{\"value\": 1, \"ts\": \"9999-12-31T23:59:59.999999Z\"}", false, 0, 0, "too far in the future"},
        {"{\"value\": 1, \"ts\": 253402300799}", false, 0, 0, "too far in the future"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct msg_result r;
        classify("a/b/c", cases[i].payload, false, &r);
        if (cases[i].ok) {
            if (r.kind != MSG_READING)
                fail_msg("case %zu (%s) refused: %s", i, cases[i].payload, r.reason);
            assert_true(r.reading.value == cases[i].value);
            assert_int_equal(r.reading.ts_us, cases[i].ts_us);
        } else {
            if (r.kind != MSG_REJECT || r.cls != REJECT_PAYLOAD)
                fail_msg("case %zu (%s): kind %d class %d", i, cases[i].payload, r.kind, r.cls);
            if (!strstr(r.reason, cases[i].reason_has))
                fail_msg("case %zu: reason '%s' lacks '%s'", i, r.reason, cases[i].reason_has);
        }
    }
    /* other windows: none at all ahead, a day back */
    const struct msg_bounds tight = {.ts_past_us = DAY_US, .ts_future_us = 0};
    struct msg_result r;
    const char *p = "{\"value\": 1, \"ts\": \"2026-11-27T10:00:00.000001Z\"}";
    msg_classify("a/b/c", 5, p, strlen(p), false, NOW, &tight, &r);
    assert_int_equal(r.kind, MSG_REJECT);
    p = "{\"value\": 1, \"ts\": \"2026-11-26T10:00:00Z\"}";
    msg_classify("a/b/c", 5, p, strlen(p), false, NOW, &tight, &r);
    assert_int_equal(r.kind, MSG_READING);
}

static void test_filters(void **state)
{
    (void)state;
    char **f;
    int n;
    char err[256];
    assert_int_equal(mqtt_filters_parse("+/+/+,+/status", &f, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(f[0], "+/+/+");
    assert_string_equal(f[1], "+/status");
    mqtt_filters_free(f, n);

    assert_int_equal(mqtt_filters_parse(" $share/ingest/+/+/+ , $share/ingest/+/status,#", &f, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(f[0], "$share/ingest/+/+/+");
    assert_string_equal(f[2], "#");
    mqtt_filters_free(f, n);

    static const char *bad[] = {"",          ",",        "+/+/+,",      "a/#/b",     "a+/b",       "$share/",
                                "$share//a", "$share/g", "$share/g+/a", "$share/g/", "$share/g/a#"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (mqtt_filters_parse(bad[i], &f, &n, err, sizeof err) == 0)
            fail_msg("'%s' accepted", bad[i]);
        assert_true(err[0] != '\0');
    }
    /* too many */
    char many[40 * 4] = "";
    for (int i = 0; i < 40; i++)
        strcat(many, i ? ",a/b" : "a/b");
    assert_int_equal(mqtt_filters_parse(many, &f, &n, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readings),
        cmocka_unit_test(test_presence),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_payload_bounds),
        cmocka_unit_test(test_value_and_ts_bounds),
        cmocka_unit_test(test_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
