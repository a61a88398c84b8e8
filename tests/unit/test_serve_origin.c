/*
 * test_serve_origin.c - where requests come from: the Host header against --allowed-hosts, a WebSocket
 * Origin against --allowed-hosts and --allow-origin (default ports, lists, malformed headers), and the
 * X-Forwarded-For / X-Forwarded-Proto parsers of --trusted-proxy.
 */
#include "unit.h"

#include "serve/forwarded.h"
#include "serve/ws_origin.h"

#include <stdbool.h>
#include <string.h>

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
        /* the second argument is the allowed-hosts list: any entry admits; the Host header plays no part */
        {"http://localhost:8000", "127.0.0.1:8000,localhost:8000", NULL, true},
        {"http://evil.example", "127.0.0.1:8000,localhost:8000", NULL, false},
        {"http://evil.example:8000", "127.0.0.1:8000, localhost:8000", NULL, false},
        {"https://dash.example", "dash.example", NULL, true},
        {"http://dash.example", "x.example:1,dash.example", NULL, true},
        {"null", "null", NULL, false},                         /* "null" only from --allow-origin */
        {"http://a.example", "*", NULL, false},                /* "*" only from --allow-origin */
        {"http://a.example", "http://a.example", NULL, false}, /* no scheme in allowed hosts */
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

struct host_case {
    const char *host, *hosts;
    int defport;
    bool allowed;
};

static void test_host_table(void **state)
{
    (void)state;
    static const struct host_case cases[] = {
        {NULL, "127.0.0.1:8000", 80, true}, /* no Host header (HTTP/1.0, not a browser) */
        {"127.0.0.1:8000", "127.0.0.1:8000,localhost:8000", 80, true},
        {"LOCALHOST:8000", "127.0.0.1:8000,localhost:8000", 80, true},
        {"[::1]:8000", "localhost:8000,[::1]:8000", 80, true},
        {"dash.example", "dash.example", 443, true},
        {"dash.example:443", "dash.example", 443, true},
        {"dash.example", "dash.example:443", 443, true},
        {"dash.example:8443", "dash.example", 443, false},
        {"dash.example", "dash.example:443", 80, false},
        /* DNS rebinding: the attacker's name, any port */
        {"evil.example:8000", "127.0.0.1:8000,localhost:8000", 80, false},
        {"evil.example", "127.0.0.1:8000,localhost:8000", 80, false},
        {"127.0.0.1:8001", "127.0.0.1:8000", 80, false},
        {"127.0.0.1.evil.example:8000", "127.0.0.1:8000", 80, false},
        /* malformed */
        {"", "127.0.0.1:8000", 80, false},
        {"127.0.0.1:8000/x", "127.0.0.1:8000", 80, false},
        {"user@127.0.0.1:8000", "127.0.0.1:8000", 80, false},
        {"127.0.0.1:", "127.0.0.1:8000", 80, false},
        {"127.0.0.1 :8000", "127.0.0.1:8000", 80, false},
        {"[::1", "[::1]:8000", 80, false},
        {"127.0.0.1:8000", "", 80, false},
        {"127.0.0.1:8000", NULL, 80, false},
        {"x", "*", 80, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct host_case *c = &cases[i];
        if (ws_host_allowed(c->host, c->hosts, c->defport) != c->allowed)
            fail_msg("host '%s' hosts '%s' port %d: expected %s", c->host ? c->host : "(none)",
                     c->hosts ? c->hosts : "(none)", c->defport, c->allowed ? "allowed" : "refused");
    }
    assert_int_equal(ws_hosts_check("localhost:8000,127.0.0.1:8000,[::1]:8000"), 0);
    assert_int_equal(ws_hosts_check(" dash.example , x.example:1 "), 0);
    assert_int_equal(ws_hosts_check(""), -1);
    assert_int_equal(ws_hosts_check(",,"), -1);
    assert_int_equal(ws_hosts_check("*"), -1);
    assert_int_equal(ws_hosts_check("https://dash.example"), -1);
    assert_int_equal(ws_hosts_check("dash.example:99999"), -1);
    assert_true(ws_allow_has_star("a.example, * "));
    assert_false(ws_allow_has_star("a.example,**"));
    assert_false(ws_allow_has_star(NULL));
}

static void test_forwarded(void **state)
{
    (void)state;
    static const struct {
        const char *xff, *addr; /* addr NULL: refused */
    } cases[] = {
        {"203.0.113.7", "203.0.113.7"},
        {"10.0.0.1, 203.0.113.7", "203.0.113.7"}, /* the rightmost: what the proxy saw */
        {"203.0.113.7,10.0.0.1", "10.0.0.1"},
        {"  198.51.100.2  ", "198.51.100.2"},
        {"198.51.100.2:5555", "198.51.100.2"},
        {"2001:db8::1", "2001:db8::1"},
        {"[2001:DB8::1]:443", "2001:db8::1"},
        {"[2001:db8::1]", "2001:db8::1"},
        {"::ffff:192.0.2.1", "192.0.2.1"},
        {"", NULL},
        {"1.2.3.4,", NULL},
        {"unknown", NULL},
        {"1.2.3.4, evil", NULL},
        {"1.2.3", NULL},
        {"1.2.3.4:", NULL},
        {"1.2.3.4:x", NULL},
        {"[2001:db8::1", NULL},
        {"[2001:db8::1]x", NULL},
        {"[1.2.3.4]:99", "1.2.3.4"},
        {"2001:db8::1:80:80:80:80:80:80", NULL},
        {NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[FWD_ADDR_MAX];
        int rc = fwd_for_last(cases[i].xff, out);
        if (cases[i].addr ? rc != 0 || strcmp(out, cases[i].addr) : rc != -1)
            fail_msg("xff '%s': expected %s, got %d '%s'", cases[i].xff ? cases[i].xff : "(none)",
                     cases[i].addr ? cases[i].addr : "refused", rc, rc ? "" : out);
    }
    assert_int_equal(fwd_proto_https("https"), 1);
    assert_int_equal(fwd_proto_https("HTTPS"), 1);
    assert_int_equal(fwd_proto_https("http, https"), 1);
    assert_int_equal(fwd_proto_https("https, http"), 0);
    assert_int_equal(fwd_proto_https(" http "), 0);
    assert_int_equal(fwd_proto_https("wss"), -1);
    assert_int_equal(fwd_proto_https(""), -1);
    assert_int_equal(fwd_proto_https(NULL), -1);
    uint8_t a[16], b[16];
    assert_int_equal(fwd_addr_parse("127.0.0.1", a), 0);
    assert_int_equal(fwd_addr_parse("::ffff:127.0.0.1", b), 0);
    assert_memory_equal(a, b, 16);
    assert_int_equal(fwd_addr_parse("localhost", a), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin_table),
        cmocka_unit_test(test_origin_long),
        cmocka_unit_test(test_host_table),
        cmocka_unit_test(test_forwarded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
