/* test_serve_ws_rx.c - what a WebSocket client may send: UTF-8 checks split anywhere, size across fragments, binary. */
#include "unit.h"

#include "serve/ws_rx.h"

#include <string.h>

struct utf8_case {
    const char *bytes;
    size_t len; /* 0: strlen */
    bool valid;
};

static bool check_whole(const char *s, size_t n)
{
    struct utf8_check u;
    utf8_check_init(&u);
    return utf8_check_feed(&u, (const uint8_t *)s, n) && utf8_check_complete(&u);
}

/* Every split into two chunks gives the whole-buffer answer. */
static bool check_split(const char *s, size_t n, size_t at)
{
    struct utf8_check u;
    utf8_check_init(&u);
    return utf8_check_feed(&u, (const uint8_t *)s, at) && utf8_check_feed(&u, (const uint8_t *)s + at, n - at) &&
           utf8_check_complete(&u);
}

static void test_utf8_table(void **state)
{
    (void)state;
    static const struct utf8_case cases[] = {
        {"", 0, true},
        {"plain ascii {\"x\":1}", 0, true},
        {"\x01\x1f\x7f", 0, true},     /* controls are valid UTF-8 */
        {"\0", 1, true},               /* so is NUL */
        {"caf\xc3\xa9", 0, true},      /* é */
        {"\xe6\xb8\xa9", 0, true},     /* 温 */
        {"\xf0\x9f\x8c\xa1", 0, true}, /* 🌡 (4 bytes) */
        {"\xef\xbb\xbf", 0, true},     /* BOM */
        {"\xed\x9f\xbf", 0, true},     /* U+D7FF, last before the surrogates */
        {"\xee\x80\x80", 0, true},     /* U+E000, first after them */
        {"\xf4\x8f\xbf\xbf", 0, true}, /* U+10FFFF */
        {"\xe2\x80\xa8", 0, true},     /* U+2028 */
        {"\xff", 0, false},            /* never in UTF-8 */
        {"\xfe\xff", 0, false},
        {"\x80", 0, false}, /* lone continuation */
        {"a\xbfz", 0, false},
        {"\xc0\xaf", 0, false},             /* overlong '/' */
        {"\xc1\xbf", 0, false},             /* overlong */
        {"\xe0\x80\xaf", 0, false},         /* overlong 3-byte */
        {"\xe0\x9f\xbf", 0, false},         /* overlong 3-byte, top */
        {"\xf0\x80\x80\xaf", 0, false},     /* overlong 4-byte */
        {"\xf0\x8f\xbf\xbf", 0, false},     /* overlong 4-byte, top */
        {"\xed\xa0\x80", 0, false},         /* U+D800 surrogate */
        {"\xed\xbf\xbf", 0, false},         /* U+DFFF surrogate */
        {"\xf4\x90\x80\x80", 0, false},     /* U+110000 */
        {"\xf5\x80\x80\x80", 0, false},     /* lead byte past U+10FFFF */
        {"\xc3", 0, false},                 /* truncated 2-byte */
        {"\xe6\xb8", 0, false},             /* truncated 3-byte */
        {"\xf0\x9f\x8c", 0, false},         /* truncated 4-byte */
        {"\xc3(", 0, false},                /* lead then ASCII */
        {"\xe6\xb8\xa9\xe6", 0, false},     /* good then truncated */
        {"\xf0\x9f\x8c\xa1\xa1", 0, false}, /* one continuation too many */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = cases[i].bytes;
        size_t n = cases[i].len ? cases[i].len : strlen(s);
        if (check_whole(s, n) != cases[i].valid)
            fail_msg("case %zu: whole buffer should be %s", i, cases[i].valid ? "valid" : "invalid");
        for (size_t at = 0; at <= n; at++)
            if (check_split(s, n, at) != cases[i].valid)
                fail_msg("case %zu: split at %zu disagrees", i, at);
    }
}

static void test_rx_text_ignored(void **state)
{
    (void)state;
    struct ws_rx rx;
    memset(&rx, 0, sizeof rx); /* zeroed memory is a valid start */
    assert_int_equal(ws_rx_chunk(&rx, "ping", 4, false, true, 4096), WS_RX_OK);
    assert_int_equal(ws_rx_chunk(&rx, "", 0, false, true, 4096), WS_RX_OK);
    /* one message in three fragments, a character split between two of them */
    assert_int_equal(ws_rx_chunk(&rx, "caf\xc3", 4, false, false, 4096), WS_RX_OK);
    assert_int_equal(ws_rx_chunk(&rx, "\xa9 ", 2, false, false, 4096), WS_RX_OK);
    assert_int_equal(ws_rx_chunk(&rx, "ok", 2, false, true, 4096), WS_RX_OK);
    assert_int_equal(rx.messages, 3);
    assert_false(rx.in_msg);
}

static void test_rx_size(void **state)
{
    (void)state;
    static char big[5000];
    memset(big, 'x', sizeof big);
    struct ws_rx rx;
    ws_rx_init(&rx);
    /* exactly the limit is fine, in one chunk or many */
    assert_int_equal(ws_rx_chunk(&rx, big, 4096, false, true, 4096), WS_RX_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ws_rx_chunk(&rx, big, 1024, false, i == 3, 4096), WS_RX_OK);
    assert_int_equal(rx.messages, 2);
    /* one byte more, in one frame */
    assert_int_equal(ws_rx_chunk(&rx, big, 4097, false, true, 4096), WS_RX_TOO_LARGE);
    /* ... or over fragments that are each small */
    ws_rx_init(&rx);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ws_rx_chunk(&rx, big, 1024, false, false, 4096), WS_RX_OK);
    assert_int_equal(ws_rx_chunk(&rx, big, 1, false, false, 4096), WS_RX_TOO_LARGE);
    /* a huge length does not wrap around */
    ws_rx_init(&rx);
    assert_int_equal(ws_rx_chunk(&rx, big, 10, false, false, 4096), WS_RX_OK);
    assert_int_equal(ws_rx_chunk(&rx, big, SIZE_MAX - 5, false, true, 4096), WS_RX_TOO_LARGE);
}

static void test_rx_binary_and_utf8(void **state)
{
    (void)state;
    struct ws_rx rx;
    ws_rx_init(&rx);
    assert_int_equal(ws_rx_chunk(&rx, "\x01\x02", 2, true, true, 4096), WS_RX_BINARY);
    ws_rx_init(&rx);
    assert_int_equal(ws_rx_chunk(&rx, "", 0, true, true, 4096), WS_RX_BINARY); /* even empty */
    ws_rx_init(&rx);
    assert_int_equal(ws_rx_chunk(&rx, "ok \xff", 4, false, true, 4096), WS_RX_BAD_UTF8);
    /* a message that ends inside a character */
    ws_rx_init(&rx);
    assert_int_equal(ws_rx_chunk(&rx, "ok \xe6\xb8", 5, false, false, 4096), WS_RX_OK);
    assert_int_equal(ws_rx_chunk(&rx, "", 0, false, true, 4096), WS_RX_BAD_UTF8);
    /* a character never carries over from one message to the next */
    ws_rx_init(&rx);
    assert_int_equal(ws_rx_chunk(&rx, "\xe6", 1, false, false, 4096), WS_RX_OK);
    assert_int_equal(ws_rx_chunk(&rx, "\xb8\xa9", 2, false, true, 4096), WS_RX_OK);
    assert_int_equal(ws_rx_chunk(&rx, "\xb8", 1, false, true, 4096), WS_RX_BAD_UTF8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_table),
        cmocka_unit_test(test_rx_text_ignored),
        cmocka_unit_test(test_rx_size),
        cmocka_unit_test(test_rx_binary_and_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
