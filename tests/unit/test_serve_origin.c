/* test_serve_origin.c - WebSocket Origin check: same host, default ports, allow list, malformed headers. */
#include "unit.h"

#include "serve/ws_origin.h"

#include <stdbool.h>

struct origin_case {
    const char *origin, *host, *allow;
    bool allowed;
};

static void test_origin_table(void **state)
{
    (void)state;
    static const struct origin_case cases[] = {
        /* no Origin header: not a browser */
        {NULL, "127.0.0.1:8000", NULL, true},
        {NULL, NULL, NULL, true},
        /* same host and port */
        {"http://127.0.0.1:8000", "127.0.0.1:8000", NULL, true},
        {"http://LOCALHOST:8000", "localhost:8000", "", true},
        {"http://pi.local", "pi.local", NULL, true},
        {"http://pi.local:80", "pi.local", NULL, true},
        {"http://pi.local", "pi.local:80", NULL, true},
        {"https://dash.example", "dash.example", NULL, true}, /* TLS proxy in front, Host passed on */
        {"http://[::1]:8000", "[::1]:8000", NULL, true},
        {"http://127.0.0.1:8000/", "127.0.0.1:8000", NULL, true},
        /* different host or port */
        {"http://127.0.0.1:8001", "127.0.0.1:8000", NULL, false},
        {"http://evil.example", "127.0.0.1:8000", NULL, false},
        {"http://localhost:8000", "127.0.0.1:8000", NULL, false},
        {"https://pi.local", "pi.local:80", NULL, false},
        {"http://pi.local.evil.example", "pi.local", NULL, false},
        {"http://127.0.0.1:8000", NULL, NULL, false},
        /* malformed origins never pass the host check */
        {"", "127.0.0.1:8000", NULL, false},
        {"null", "127.0.0.1:8000", NULL, false},
        {"127.0.0.1:8000", "127.0.0.1:8000", NULL, false},
        {"ftp://127.0.0.1:8000", "127.0.0.1:8000", NULL, false},
        {"http://127.0.0.1:8000/path", "127.0.0.1:8000", NULL, false},
        {"http://user@127.0.0.1:8000", "127.0.0.1:8000", NULL, false},
        {"http://127.0.0.1:99999", "127.0.0.1:99999", NULL, false},
        {"http://127.0.0.1:", "127.0.0.1:", NULL, false},
        {"http://[::1", "[::1", NULL, false},
        {"http://", "", NULL, false},
        /* allow list */
        {"http://evil.example", "127.0.0.1:8000", "*", true},
        {"null", "127.0.0.1:8000", "*", true},
        {"null", "127.0.0.1:8000", "null", true},
        {"garbage", "127.0.0.1:8000", "*", true},
        {"http://dash.example:3000", "127.0.0.1:8000", "http://dash.example:3000", true},
        {"http://dash.example:3000", "127.0.0.1:8000", "https://dash.example:3000", false},
        {"http://dash.example:3000", "127.0.0.1:8000", "dash.example:3000", true},
        {"https://dash.example", "127.0.0.1:8000", "dash.example", true},
        {"https://dash.example", "127.0.0.1:8000", "dash.example:443", true},
        {"https://dash.example", "127.0.0.1:8000", "dash.example:80", false},
        {"http://b.example", "127.0.0.1:8000", "a.example, b.example ,c.example", true},
        {"http://d.example", "127.0.0.1:8000", "a.example,b.example,,", false},
        {"http://D.EXAMPLE", "127.0.0.1:8000", "http://d.example", true},
        {"http://dash.example:3000", "127.0.0.1:8000", " * ", true},
        {"http://x.example", "127.0.0.1:8000", "http://x.example/path", false},
        {"http://x.example", "127.0.0.1:8000", ",,,", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct origin_case *c = &cases[i];
        if (ws_origin_allowed(c->origin, c->host, c->allow) != c->allowed)
            fail_msg("origin '%s' host '%s' allow '%s': expected %s", c->origin ? c->origin : "(none)",
                     c->host ? c->host : "(none)", c->allow ? c->allow : "(none)", c->allowed ? "allowed" : "refused");
    }
}

static void test_origin_long(void **state)
{
    (void)state;
    char origin[1200] = "http://";
    for (size_t i = 7; i < sizeof origin - 1; i++)
        origin[i] = 'a';
    origin[sizeof origin - 1] = '\0';
    assert_false(ws_origin_allowed(origin, origin + 7, NULL));
    assert_true(ws_origin_allowed(origin, "x", "*"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin_table),
        cmocka_unit_test(test_origin_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
