/* test_core_sbuf.c - the capped buffer and its JSON/CSV writers, including invalid UTF-8. */
#include "unit.h"

#include "core/sbuf.h"

#include <math.h>
#include <string.h>

static void test_cap(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 16, 10);
    assert_true(sbuf_puts(&b, "12345"));
    assert_true(sbuf_puts(&b, "67890"));
    assert_false(sbuf_puts(&b, "x"));
    assert_true(b.failed);
    assert_false(sbuf_puts(&b, "")); /* sticky */
    assert_int_equal(b.len, 10);
    sbuf_reset(&b);
    assert_true(sbuf_printf(&b, "%d", 42));
    assert_string_equal(b.data, "42");
    sbuf_free(&b);
}

static void test_printf_long(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 0, 1 << 20);
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_true(sbuf_printf(&b, "<%s>", big));
    assert_int_equal(b.len, sizeof big + 1);
    sbuf_free(&b);
}

static void test_json_string(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 0, 1024);
    sbuf_json_string(&b, "a\"b\\c\n\x01", 7);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    sbuf_reset(&b);
    sbuf_json_string(&b, "caf\xc3\xa9", 5); /* valid UTF-8 passes through */
    assert_string_equal(b.data, "\"caf\xc3\xa9\"");
    sbuf_reset(&b);
    sbuf_json_string(&b, "x\xff\xc3", 3); /* invalid and truncated sequences */
    assert_string_equal(b.data, "\"x\\ufffd\\ufffd\"");
    sbuf_reset(&b);
    sbuf_json_string(&b, "\xed\xa0\x80", 3); /* UTF-16 surrogate encoded in UTF-8 */
    assert_string_equal(b.data, "\"\\ufffd\\ufffd\\ufffd\"");
    sbuf_free(&b);
}

static void test_json_row(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 0, 1024);
    sbuf_json_row(&b, 123, 1795773600LL * 1000000 + 123456, "pico/temperature/dht22", 21.5);
    assert_string_equal(b.data, "{\"id\":123,\"ts\":\"2026-11-27T10:00:00.123456+00:00\","
                                "\"topic\":\"pico/temperature/dht22\",\"value\":21.5}");
    sbuf_reset(&b);
    sbuf_json_double(&b, 0.1);
    assert_string_equal(b.data, "0.1");
    sbuf_reset(&b);
    sbuf_json_double(&b, NAN);
    assert_string_equal(b.data, "null");
    sbuf_reset(&b);
    sbuf_json_double(&b, 1.0 / 3.0);
    assert_string_equal(b.data, "0.33333333333333331");
    sbuf_free(&b);
}

static void test_csv(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 0, 1024);
    sbuf_csv_field(&b, "plain");
    sbuf_puts(&b, ",");
    sbuf_csv_field(&b, "a,\"b\"");
    assert_string_equal(b.data, "plain,\"a,\"\"b\"\"\"");
    sbuf_free(&b);
}

/* CSV injection: a text cell a spreadsheet would run as a formula gets a ' and quotes */
static void test_csv_formula(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\""},
        {"+1+1", "\"'+1+1\""},
        {"-2+3", "\"'-2+3\""},
        {"@SUM(A1)", "\"'@SUM(A1)\""},
        {"\tx", "\"'\tx\""},
        {"\rx", "\"'\rx\""},
        {"=", "\"'=\""},
        {"a=b", "a=b"}, /* only the first byte matters */
        {"kitchen/t/d", "kitchen/t/d"},
        {"", ""},
        {"'quoted", "'quoted"},
        {" =x", " =x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sbuf b;
        sbuf_init(&b, 0, 1024);
        sbuf_csv_field(&b, cases[i].in);
        assert_string_equal(b.data, cases[i].out);
        sbuf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap),      cmocka_unit_test(test_printf_long), cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_json_row), cmocka_unit_test(test_csv),         cmocka_unit_test(test_csv_formula),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
