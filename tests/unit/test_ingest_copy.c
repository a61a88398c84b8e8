/* test_ingest_copy.c - COPY text escaping and rows, and the text escaping of refused topics (sbuf_text_escaped). */
#include "unit.h"

#include "core/sbuf.h"
#include "ingest/copy_format.h"

#include <string.h>

static void test_copy_field_escapes(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"plain/topic", 11, "plain/topic"},
        {"", 0, ""},
        {"a\tb", 3, "a\\tb"},
        {"a\nb", 3, "a\\nb"},
        {"a\rb", 3, "a\\rb"},
        {"back\\slash", 10, "back\\\\slash"},
        {"\\", 1, "\\\\"},
        {"\\.", 2, "\\\\."}, /* would end the data if unescaped at a line start */
        {"\b\f\v", 3, "\\b\\f\\v"},
        {"\t\t\n", 3, "\\t\\t\\n"},
        {"caf\xc3\xa9", 5, "caf\xc3\xa9"}, /* UTF-8 passes through */
        {"end\\", 4, "end\\\\"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sbuf b;
        sbuf_init(&b, 0, 1024);
        assert_true(copy_text_field(&b, cases[i].in, cases[i].len));
        assert_non_null(b.data);
        if (strcmp(b.data, cases[i].want) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, b.data, cases[i].want);
        sbuf_free(&b);
    }
}

static void test_copy_row(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 0, 1024);
    /* 2026-11-27T10:00:00.5Z */
    assert_true(copy_reading_row(&b, 1795773600LL * 1000000 + 500000, "pico/temperature/dht22", 21.5));
    assert_string_equal(b.data, "2026-11-27T10:00:00.500000+00:00\tpico/temperature/dht22\t21.5\n");
    sbuf_reset(&b);
    assert_true(copy_reading_row(&b, 0, "a\tb/c\nd/e\\f", -0.1));
    assert_string_equal(b.data, "1970-01-01T00:00:00.000000+00:00\ta\\tb/c\\nd/e\\\\f\t-0.1\n");
    sbuf_reset(&b);
    /* values keep full precision */
    assert_true(copy_reading_row(&b, 0, "t/t/t", 0.1 + 0.2));
    assert_non_null(strstr(b.data, "\t0.30000000000000004\n"));
    sbuf_free(&b);
}

static void test_copy_row_cap(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 0, 20); /* too small for a row: fails, never overflows */
    assert_false(copy_reading_row(&b, 0, "pico/temperature/dht22", 1));
    assert_true(b.failed);
    assert_true(b.len <= 20);
    sbuf_free(&b);
}

static void test_text_escaped(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"a/b/c", 5, "a/b/c"},
        {"caf\xc3\xa9/x", 7, "caf\xc3\xa9/x"},          /* valid UTF-8 kept */
        {"bad\xff/x", 6, "bad\\xff/x"},                 /* invalid byte */
        {"\xc3", 1, "\\xc3"},                           /* truncated sequence */
        {"\xc3(", 2, "\\xc3("},                         /* bad continuation */
        {"\xc0\xaf", 2, "\\xc0\\xaf"},                  /* overlong */
        {"\xed\xa0\x80", 3, "\\xed\\xa0\\x80"},         /* surrogate */
        {"\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80"}, /* beyond U+10FFFF */
        {"a\nb\x7f", 4, "a\\x0ab\\x7f"},                /* controls */
        {"nul\0x", 5, "nul\\x00x"},
        {"back\\slash", 10, "back\\\\slash"},           /* so escapes read back unambiguously */
        {"\xf0\x9f\x8c\xa1", 4, "\xf0\x9f\x8c\xa1"},     /* 4-byte sequence */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sbuf b;
        sbuf_init(&b, 0, 1024);
        assert_true(sbuf_text_escaped(&b, cases[i].in, cases[i].len));
        if (strcmp(b.data, cases[i].want) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, b.data, cases[i].want);
        sbuf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_field_escapes),
        cmocka_unit_test(test_copy_row),
        cmocka_unit_test(test_copy_row_cap),
        cmocka_unit_test(test_text_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
