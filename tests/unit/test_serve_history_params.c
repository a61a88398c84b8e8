/* test_serve_history_params.c - /api/rejects and /api/presence query strings: defaults, limits, bad input. */
#include "unit.h"

#include "serve/history_params.h"

#include <stdio.h>
#include <string.h>

#define NOW_US 1764237600000000LL /* 2025-11-27T10:00:00Z */

/* Split "a=1&b=2" into fragments as lws would (tests pass decoded text). */
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

static int rj(const char *qs, struct hp_rejects *out, char *err)
{
    char buf[1024];
    const char *args[32];
    return hp_parse_rejects(args, split(qs, buf, sizeof buf, args), out, err, 256);
}

static int pr(const char *qs, struct hp_presence *out, char *err)
{
    char buf[1024];
    const char *args[32];
    return hp_parse_presence(args, split(qs, buf, sizeof buf, args), NOW_US, out, err, 256);
}

static void test_rejects(void **state)
{
    (void)state;
    struct hp_rejects q;
    char err[256];
    assert_int_equal(rj("", &q, err), 0);
    assert_string_equal(q.device, "");
    assert_int_equal(q.limit, HP_REJECTS_DEFAULT);
    assert_int_equal(rj("device=pico-7&limit=1000&&", &q, err), 0);
    assert_string_equal(q.device, "pico-7");
    assert_int_equal(q.limit, 1000);
    assert_int_equal(rj("device=&limit=", &q, err), 0); /* empty counts as absent */
    assert_string_equal(q.device, "");

    assert_int_equal(rj("limit=1001", &q, err), -1);
    assert_non_null(strstr(err, "limit must be an integer between 1 and 1000"));
    assert_int_equal(rj("limit=0", &q, err), -1);
    assert_int_equal(rj("limit=-1", &q, err), -1);
    assert_int_equal(rj("limit=99999999999999999999", &q, err), -1);
    assert_int_equal(rj("device=a/b", &q, err), -1);
    assert_non_null(strstr(err, "device must be a device name"));
    assert_int_equal(rj("device=+", &q, err), -1);
    assert_int_equal(rj("device=#", &q, err), -1);
    assert_int_equal(rj("device=a b", &q, err), -1);
    assert_int_equal(rj("device=\x01", &q, err), -1);
    assert_non_null(strstr(err, "got '?'"));
    char longdev[100] = "device=";
    memset(longdev + 7, 'd', 65);
    assert_int_equal(rj(longdev, &q, err), -1);
    longdev[7 + 64] = '\0';
    assert_int_equal(rj(longdev, &q, err), 0); /* 64 bytes: the longest topic level */
    assert_int_equal(rj("device=a&device=b", &q, err), -1);
    assert_string_equal(err, "parameter 'device' given more than once");
    assert_int_equal(rj("devices=a", &q, err), -1);
    assert_string_equal(err, "unknown parameter 'devices' (known: device, limit)");
    assert_int_equal(rj("device", &q, err), 0); /* no '=': an empty value */
}

static void test_presence(void **state)
{
    (void)state;
    struct hp_presence q;
    char err[256];
    assert_int_equal(pr("", &q, err), -1);
    assert_string_equal(err, "device is required");
    assert_int_equal(pr("device=pico", &q, err), 0);
    assert_int_equal(q.to_us, NOW_US);
    assert_int_equal(q.from_us, NOW_US - HP_RANGE_DEFAULT_US);
    assert_int_equal(q.limit, HP_PRESENCE_DEFAULT);
    assert_int_equal(pr("device=pico&from=2025-11-27T09:00:00Z&to=1764237600.5&limit=10000", &q, err), 0);
    assert_int_equal(q.from_us, NOW_US - 3600LL * 1000000);
    assert_int_equal(q.to_us, NOW_US + 500000);
    assert_int_equal(q.limit, 10000);
    assert_int_equal(pr("device=pico&from=2025-11-27T10:00:00Z", &q, err), -1); /* from == to (now) */
    assert_string_equal(err, "from must be earlier than to");
    assert_int_equal(pr("device=pico&to=yesterday", &q, err), -1);
    assert_non_null(strstr(err, "to must be an RFC 3339 time"));
    assert_int_equal(pr("device=pico&limit=10001", &q, err), -1);
    assert_int_equal(pr("device=pico&bucket=1h", &q, err), -1);
    assert_non_null(strstr(err, "known: device, from, to, limit"));
}

static void test_small_error_buffer(void **state)
{
    (void)state;
    char buf[64];
    const char *args[4];
    struct hp_rejects q;
    char err[4] = {'x', 'x', 'x', 'x'};
    size_t n = split("limit=0", buf, sizeof buf, args);
    assert_int_equal(hp_parse_rejects(args, n, &q, err, 3), -1);
    assert_int_equal(err[2], '\0');
    assert_int_equal(err[3], 'x'); /* never written past errlen */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_presence),
        cmocka_unit_test(test_small_error_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
