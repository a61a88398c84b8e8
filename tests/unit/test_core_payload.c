/* test_core_payload.c - reading payloads: ASCII numbers, JSON objects, and everything malformed. */
#include "unit.h"

#include "core/payload.h"

#include <string.h>

static int parse(const char *s, struct payload_reading *r, const char **reason)
{
    return payload_parse(s, strlen(s), r, reason);
}

static void test_ascii(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        double want;
    } cases[] = {{"21.5", 21.5}, {"-3.2", -3.2}, {" 42 \n", 42}, {"+1e2", 100}, {".5", 0.5}, {"5.", 5}, {"0", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct payload_reading r;
        const char *reason = NULL;
        if (parse(cases[i].in, &r, &reason) != 0)
            fail_msg("'%s' refused: %s", cases[i].in, reason);
        assert_true(r.value == cases[i].want);
        assert_false(r.has_ts);
    }
}

static void test_json(void **state)
{
    (void)state;
    struct payload_reading r;
    const char *reason = NULL;
    assert_int_equal(parse("{\"value\": 21.5}", &r, &reason), 0);
    assert_true(r.value == 21.5);
    assert_false(r.has_ts);
    assert_int_equal(parse("{\"value\": 21.5, \"ts\": \"2026-11-27T10:00:00Z\"}", &r, &reason), 0);
    assert_true(r.has_ts);
    assert_int_equal(r.ts_us, 1795773600LL * 1000000);
    assert_int_equal(parse("{\"value\": 1, \"ts\": 1795773600.5}", &r, &reason), 0);
    assert_int_equal(r.ts_us, 1795773600500000LL);
    assert_int_equal(parse("{\"ts\": null, \"value\": -0.25, \"extra\": [1,2]}", &r, &reason), 0);
    assert_true(r.value == -0.25);
}

static void test_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "   ",
        "abc",
        "21.5C",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "1e999",
        "0x10",
        "1,5",
        "--1",
        "1e",
        "e5",
        ".",
        "{",
        "{}",
        "[1]",
        "{\"value\": \"21.5\"}",
        "{\"value\": null}",
        "{\"value\": 1, \"ts\": \"yesterday\"}",
        "{\"value\": 1, \"ts\": true}",
        "{\"value\": 1, \"ts\": 1e20}",
        "{\"value\": 1e999}",
        "{\"value\": 1",
        "{\"value\": 1, \"ts\": \"2026-02-30T00:00:00Z\"}",
        "123456789012345678901234567890123456789012345678901234567890123456789",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct payload_reading r;
        const char *reason = NULL;
        if (parse(bad[i], &r, &reason) == 0)
            fail_msg("'%s' accepted as %g", bad[i], r.value);
        assert_non_null(reason);
    }
}

static void test_binary_and_size(void **state)
{
    (void)state;
    struct payload_reading r;
    const char *reason = NULL;
    assert_int_equal(payload_parse("21\0.5", 5, &r, &reason), -1);
    assert_string_equal(reason, "payload contains a NUL byte");
    static char big[PAYLOAD_MAX + 2];
    memset(big, '1', sizeof big);
    assert_int_equal(payload_parse(big, sizeof big, &r, &reason), -1);
    assert_string_equal(reason, "payload too large");
    /* truncated: only the first len bytes count */
    assert_int_equal(payload_parse("21.5", 2, &r, &reason), 0);
    assert_true(r.value == 21);
    assert_int_equal(payload_parse("{\"value\": 2}", 5, &r, &reason), -1);
    assert_int_equal(payload_parse("\xff\xfe", 2, &r, &reason), -1);
}

/* +-PAYLOAD_VALUE_MAX is in, in both forms; the next double past it, or anything larger, is out. */
static void test_value_bound(void **state)
{
    (void)state;
    static const char *ok[] = {"1e15", "-1e15", "1000000000000000", "{\"value\": -1e15}", "999999999999999.9"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct payload_reading r;
        const char *reason = NULL;
        if (parse(ok[i], &r, &reason) != 0)
            fail_msg("'%s' refused: %s", ok[i], reason);
        assert_true(r.value >= -PAYLOAD_VALUE_MAX && r.value <= PAYLOAD_VALUE_MAX);
    }
    static const char *bad[] = {
        "1.0000000000000002e15", "-1e16", "1e160", "{\"value\": 1e300}", "{\"value\": -1.7976931348623157e308}",
        "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct payload_reading r;
        const char *reason = NULL;
        if (parse(bad[i], &r, &reason) == 0)
            fail_msg("'%s' accepted as %g", bad[i], r.value);
        assert_string_equal(reason, "value out of range: more than 1e15 in magnitude");
    }
}

static void test_ts_window(void **state)
{
    (void)state;
    const int64_t now = 1795773600000000LL, past = 30LL * 86400 * 1000000, future = 600LL * 1000000;
    const char *reason = NULL;
    assert_int_equal(payload_check_ts(now, now, past, future, &reason), 0);
    assert_int_equal(payload_check_ts(now - past, now, past, future, &reason), 0);
    assert_int_equal(payload_check_ts(now + future, now, past, future, &reason), 0);
    assert_int_equal(payload_check_ts(now - past - 1, now, past, future, &reason), -1);
    assert_non_null(strstr(reason, "past"));
    assert_int_equal(payload_check_ts(now + future + 1, now, past, future, &reason), -1);
    assert_non_null(strstr(reason, "future"));
    /* the ends of the range: no overflow in the comparison */
    assert_int_equal(payload_check_ts(INT64_MIN, now, past, future, &reason), -1);
    assert_int_equal(payload_check_ts(INT64_MAX, now, past, future, &reason), -1);
    assert_int_equal(payload_check_ts(INT64_MIN, INT64_MAX, INT64_MAX, 0, &reason), -1);
    assert_int_equal(payload_check_ts(0, 0, 0, 0, &reason), 0);
}

static void test_status(void **state)
{
    (void)state;
    assert_int_equal(payload_parse_status("online", 6), 1);
    assert_int_equal(payload_parse_status("offline\n", 8), 0);
    assert_int_equal(payload_parse_status("Online", 6), -1);
    assert_int_equal(payload_parse_status("", 0), -1);
    assert_int_equal(payload_parse_status("onlinex", 7), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii),           cmocka_unit_test(test_json),   cmocka_unit_test(test_refused),
        cmocka_unit_test(test_binary_and_size), cmocka_unit_test(test_status), cmocka_unit_test(test_value_bound),
        cmocka_unit_test(test_ts_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
