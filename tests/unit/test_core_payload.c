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
        cmocka_unit_test(test_binary_and_size), cmocka_unit_test(test_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
