/* test_ingest_copy.c - COPY binary format byte for byte, and the text escaping of refused topics (sbuf_text_escaped).
 */
#include "unit.h"

#include "core/sbuf.h"
#include "ingest/copy_format.h"

#include <stdint.h>
#include <string.h>

/* Compare b with want[0..n), showing the first differing byte. */
static void assert_bytes(const struct sbuf *b, const unsigned char *want, size_t n)
{
    if (b->len != n)
        fail_msg("got %zu bytes, want %zu", b->len, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)b->data[i] != want[i])
            fail_msg("byte %zu: got 0x%02x, want 0x%02x", i, (unsigned char)b->data[i], want[i]);
}

static void test_copy_header_and_trailer(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 0, 1024);
    assert_true(copy_binary_header(&b));
    static const unsigned char header[] = {'P',  'G',  'C',  'O', 'P',           'Y', 0x0a, 0xff,
                                           0x0d, 0x0a, 0x00, /* signature */
                                           0,    0,    0,    0,   /* flags */ 0, 0,   0,    0 /* extension length */};
    assert_bytes(&b, header, sizeof header);
    sbuf_reset(&b);
    assert_true(copy_binary_trailer(&b));
    static const unsigned char trailer[] = {0xff, 0xff};
    assert_bytes(&b, trailer, sizeof trailer);
    sbuf_free(&b);
}

static void test_copy_row_bytes(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 0, 1024);
    /* 2000-01-01T00:00:01.5Z: 1,500,000 us after the PostgreSQL epoch; 21.5 = 0x4035800000000000 */
    assert_true(copy_binary_row(&b, COPY_PG_EPOCH_US + 1500000, "a/b/c", 5, 21.5));
    static const unsigned char want[] = {
        0x00, 0x03,                                          /* 3 fields */
        0x00, 0x00, 0x00, 0x08,                              /* ts: 8 bytes */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x16, 0xe3, 0x60,      /* 1500000 */
        0x00, 0x00, 0x00, 0x05, 'a',  '/',  'b',  '/',  'c', /* topic */
        0x00, 0x00, 0x00, 0x08,                              /* value: 8 bytes */
        0x40, 0x35, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,      /* 21.5 */
    };
    assert_bytes(&b, want, sizeof want);
    sbuf_free(&b);
}

/* The ts and value fields of one row (topic "t/t/t"), decoded from the bytes. */
static void row_fields(int64_t ts_us, double value, uint64_t *pg_ts, uint64_t *bits)
{
    struct sbuf b;
    sbuf_init(&b, 0, 1024);
    assert_true(copy_binary_row(&b, ts_us, "t/t/t", 5, value));
    assert_int_equal(b.len, 30 + 5);
    const unsigned char *p = (const unsigned char *)b.data;
    *pg_ts = *bits = 0;
    for (int i = 0; i < 8; i++) {
        *pg_ts = *pg_ts << 8 | p[6 + i];
        *bits = *bits << 8 | p[2 + 4 + 8 + 4 + 5 + 4 + i];
    }
    sbuf_free(&b);
}

static void test_copy_row_values(void **state)
{
    (void)state;
    static const struct {
        int64_t ts_us;
        double value;
        int64_t want_ts;
        uint64_t want_bits;
    } cases[] = {
        {0, 0.0, -COPY_PG_EPOCH_US, 0},                           /* Unix epoch, +0 */
        {COPY_PG_EPOCH_US, -0.0, 0, 0x8000000000000000ull},       /* PostgreSQL epoch, -0 */
        {-1, -1.0, -COPY_PG_EPOCH_US - 1, 0xbff0000000000000ull}, /* before 1970, negative */
        {1795773600500001LL, 0.1, 1795773600500001LL - COPY_PG_EPOCH_US, 0x3fb999999999999aull},
        {-62135596800000000LL, 1e300, -62135596800000000LL - COPY_PG_EPOCH_US, 0x7e37e43c8800759cull}, /* 0001-01-01 */
        {253402300799999999LL, -273.15, 253402300799999999LL - COPY_PG_EPOCH_US, 0xc071126666666666ull}, /* 9999 */
        {0, 5e-324, -COPY_PG_EPOCH_US, 1}, /* smallest subnormal */
        /* no timestamptz: a value PostgreSQL refuses, never its -infinity (INT64_MIN) */
        {INT64_MIN, 1, INT64_MIN + 1, 0x3ff0000000000000ull},
        {INT64_MIN + COPY_PG_EPOCH_US, 1, INT64_MIN + 1, 0x3ff0000000000000ull},
        {INT64_MAX, 1, INT64_MAX - COPY_PG_EPOCH_US, 0x3ff0000000000000ull},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t pg_ts, bits;
        row_fields(cases[i].ts_us, cases[i].value, &pg_ts, &bits);
        if ((int64_t)pg_ts != cases[i].want_ts || bits != cases[i].want_bits)
            fail_msg("case %zu: ts %lld bits %016llx, want %lld %016llx", i, (long long)(int64_t)pg_ts,
                     (unsigned long long)bits, (long long)cases[i].want_ts, (unsigned long long)cases[i].want_bits);
    }
}

static void test_copy_row_topic_verbatim(void **state)
{
    (void)state;
    /* binary text fields need no escaping: tabs, newlines and backslashes go as they are */
    struct sbuf b;
    sbuf_init(&b, 0, 1024);
    assert_true(copy_binary_row(&b, 0, "a\tb/c\nd/e\\f", 11, 1));
    assert_int_equal(b.len, 30 + 11);
    assert_memory_equal(b.data + 18, "a\tb/c\nd/e\\f", 11);
    sbuf_free(&b);
}

static void test_copy_row_cap(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 0, 20); /* too small for a row: fails, never overflows */
    assert_false(copy_binary_row(&b, 0, "pico/temperature/dht22", 22, 1));
    assert_true(b.failed);
    assert_true(b.len <= 20);
    assert_false(copy_binary_trailer(&b)); /* sticky */
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
        {"caf\xc3\xa9/x", 7, "caf\xc3\xa9/x"},           /* valid UTF-8 kept */
        {"bad\xff/x", 6, "bad\\xff/x"},                  /* invalid byte */
        {"\xc3", 1, "\\xc3"},                            /* truncated sequence */
        {"\xc3(", 2, "\\xc3("},                          /* bad continuation */
        {"\xc0\xaf", 2, "\\xc0\\xaf"},                   /* overlong */
        {"\xed\xa0\x80", 3, "\\xed\\xa0\\x80"},          /* surrogate */
        {"\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80"}, /* beyond U+10FFFF */
        {"a\nb\x7f", 4, "a\\x0ab\\x7f"},                 /* controls */
        {"nul\0x", 5, "nul\\x00x"},
        {"back\\slash", 10, "back\\\\slash"},        /* so escapes read back unambiguously */
        {"\xf0\x9f\x8c\xa1", 4, "\xf0\x9f\x8c\xa1"}, /* 4-byte sequence */
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

/* The binary array parameters of the small-batch INSERT: header, then length-prefixed elements. */
static void test_copy_arrays(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 0, 4096);
    assert_true(copy_array_begin(&b, COPY_OID_TIMESTAMPTZ, 2));
    assert_true(copy_array_ts(&b, COPY_PG_EPOCH_US + 1500000));
    assert_true(copy_array_ts(&b, COPY_PG_EPOCH_US - 1));
    static const unsigned char ts[] = {0, 0, 0, 1, 0,    0,    0,    0,    0,    0,    0x04, 0xa0,
                                       0, 0, 0, 2, 0,    0,    0,    1,                             /* header */
                                       0, 0, 0, 8, 0,    0,    0,    0,    0,    0x16, 0xe3, 0x60,  /* 1.5 s */
                                       0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; /* -1 µs */
    assert_int_equal(b.len, sizeof ts);
    assert_memory_equal(b.data, ts, sizeof ts);
    sbuf_reset(&b);
    assert_true(copy_array_begin(&b, COPY_OID_TEXT, 1));
    assert_true(copy_array_text(&b, "a/b/c", 5));
    static const unsigned char text[] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0,   0,   25,  0,   0,  0,
                                         1, 0, 0, 0, 1, 0, 0, 0, 5, 'a', '/', 'b', '/', 'c'};
    assert_int_equal(b.len, sizeof text);
    assert_memory_equal(b.data, text, sizeof text);
    sbuf_reset(&b);
    assert_true(copy_array_begin(&b, COPY_OID_FLOAT8, 1));
    assert_true(copy_array_f64(&b, 21.5));
    static const unsigned char f8[] = {0, 0, 0, 1, 0, 0, 0, 0, 0,    0,    0x02, 0xbd, 0, 0, 0, 1,
                                       0, 0, 0, 1, 0, 0, 0, 8, 0x40, 0x35, 0x80, 0,    0, 0, 0, 0};
    assert_int_equal(b.len, sizeof f8);
    assert_memory_equal(b.data, f8, sizeof f8);
    sbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_header_and_trailer),
        cmocka_unit_test(test_copy_row_bytes),
        cmocka_unit_test(test_copy_row_values),
        cmocka_unit_test(test_copy_row_topic_verbatim),
        cmocka_unit_test(test_copy_row_cap),
        cmocka_unit_test(test_copy_arrays),
        cmocka_unit_test(test_text_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
