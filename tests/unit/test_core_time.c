/* test_core_time.c - RFC 3339 parsing and formatting, with malformed and truncated input. */
#include "unit.h"

#include "core/timeutil.h"

#include <string.h>

static int parse(const char *s, int64_t *us)
{
    return time_parse_rfc3339(s, strlen(s), us);
}

static void test_parse_good(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t want;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2026-11-27T10:00:00Z", 1795773600LL * 1000000},
        {"2026-11-27t10:00:00z", 1795773600LL * 1000000},
        {"2026-11-27 10:00:00Z", 1795773600LL * 1000000},
        {"2026-11-27T11:00:00+01:00", 1795773600LL * 1000000},
        {"2026-11-27T09:30:00-00:30", 1795773600LL * 1000000},
        {"2026-11-27T10:00:00.123456Z", 1795773600LL * 1000000 + 123456},
        {"2026-11-27T10:00:00.1Z", 1795773600LL * 1000000 + 100000},
        {"2026-11-27T10:00:00.1234569Z", 1795773600LL * 1000000 + 123456},
        {"1969-12-31T23:59:59Z", -1000000},
        {"2024-02-29T00:00:00Z", 1709164800LL * 1000000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t us = 0;
        if (parse(cases[i].in, &us) != 0)
            fail_msg("'%s' refused", cases[i].in);
        if (us != cases[i].want)
            fail_msg("'%s': got %lld want %lld", cases[i].in, (long long)us, (long long)cases[i].want);
    }
}

static void test_parse_bad(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "2026",
        "2026-11-27",
        "2026-11-27T10:00:00",
        "2026-11-27T10:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2026-11-27T24:00:00Z",
        "2026-11-27T10:60:00Z",
        "2026-11-27X10:00:00Z",
        "2026-11-27T10:00:00.Z",
        "2026-11-27T10:00:00+0100",
        "2026-11-27T10:00:00+01:00x",
        "2026-11-27T10:00:00ZZ",
        "abcd-11-27T10:00:00Z",
        "2026-11-27T10:00:00+24:00",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us;
        if (parse(bad[i], &us) == 0)
            fail_msg("'%s' accepted", bad[i]);
    }
    /* truncated copies of a good stamp are all refused */
    const char *good = "2026-11-27T10:00:00.5+01:00";
    for (size_t n = 0; n < strlen(good); n++) {
        int64_t us;
        if (time_parse_rfc3339(good, n, &us) == 0)
            fail_msg("prefix of length %zu accepted", n);
    }
}

static void test_format(void **state)
{
    (void)state;
    char out[TIME_RFC3339_LEN + 1];
    time_format_rfc3339(1795773600LL * 1000000 + 123456, out);
    assert_string_equal(out, "2026-11-27T10:00:00.123456+00:00");
    time_format_rfc3339(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000+00:00");
    time_format_rfc3339(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999999+00:00");
    /* round trip */
    int64_t us;
    assert_int_equal(time_parse_rfc3339(out, strlen(out), &us), 0);
    assert_int_equal(us, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
