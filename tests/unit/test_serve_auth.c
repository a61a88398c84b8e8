/* test_serve_auth.c - logins: the Cookie, Authorization and login-body parsers, credentials, scrypt, the throttle,
 * auth_may. */
#include "unit.h"

#include "core/pwhash.h"
#include "serve/auth.h"
#include "serve/auth_parse.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct cookie_case {
    const char *hdr, *want; /* want NULL: absent */
};

static void test_cookie_table(void **state)
{
    (void)state;
    static const struct cookie_case cases[] = {
        {"sp_session=abc", "abc"},
        {"a=1; sp_session=abc; b=2", "abc"},
        {"a=1;sp_session=abc", "abc"},
        {"  sp_session = abc  ", "abc"},
        {"sp_session=\"abc\"", "abc"},
        {"sp_session=", ""},
        {"sp_session=one; sp_session=two", "one"},
        {"xsp_session=abc", NULL},
        {"sp_sessionx=abc", NULL},
        {"sp_session", NULL},
        {"", NULL},
        {";;;", NULL},
        {"a=sp_session=abc", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *v;
        size_t n;
        bool found = auth_cookie_find(cases[i].hdr, strlen(cases[i].hdr), AUTH_COOKIE, &v, &n);
        assert_int_equal(found, cases[i].want != NULL);
        if (found) {
            assert_int_equal(n, strlen(cases[i].want));
            assert_memory_equal(v, cases[i].want, n);
        }
    }
}

static void test_bearer_table(void **state)
{
    (void)state;
    static const struct cookie_case cases[] = {
        {"Bearer abc.def", "abc.def"},
        {"bearer  abc ", "abc"},
        {"BEARER\tabc", "abc"},
        {"Bearer", NULL},
        {"Bearer ", NULL},
        {"Bearerabc", NULL},
        {"Basic abc", NULL},
        {"Bearer a b", NULL},
        {"Bearer a\x01", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *t;
        size_t n;
        bool found = auth_bearer(cases[i].hdr, strlen(cases[i].hdr), &t, &n);
        assert_int_equal(found, cases[i].want != NULL);
        if (found) {
            assert_int_equal(n, strlen(cases[i].want));
            assert_memory_equal(t, cases[i].want, n);
        }
    }
}

struct login_case {
    const char *body;
    bool json;
    const char *name, *password; /* NULL: refused */
};

static void test_login_table(void **state)
{
    (void)state;
    static const struct login_case cases[] = {
        {"name=alice&password=secret", false, "alice", "secret"},
        {"password=p%40ss+w&name=a.b-c_d", false, "a.b-c_d", "p@ss w"},
        {"name=alice&password=x&name=bob", false, "alice", "x"},
        {"name=alice", false, NULL, NULL},
        {"name=alice&password=", false, NULL, NULL},
        {"name=al%20ice&password=x", false, NULL, NULL}, /* not a user name */
        {"name=alice&password=%00", false, NULL, NULL},
        {"name=alice&password=%4", false, NULL, NULL},
        {"name=alice&password=%zz", false, NULL, NULL},
        {"", false, NULL, NULL},
        {"{\"name\":\"alice\",\"password\":\"s\\\"x\"}", true, "alice", "s\"x"},
        {"{\"name\":\"alice\"}", true, NULL, NULL},
        {"{\"name\":1,\"password\":\"x\"}", true, NULL, NULL},
        {"[1]", true, NULL, NULL},
        {"not json", true, NULL, NULL},
        {"{\"name\":\"x\",\"password\":\"\\u0000\"}", true, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[AUTH_NAME_MAX + 1], pw[AUTH_PASSWORD_MAX + 1];
        const char *err;
        int rc = auth_login_parse(cases[i].body, strlen(cases[i].body), cases[i].json, name, pw, &err);
        if (!cases[i].name) {
            assert_int_equal(rc, -1);
            assert_non_null(err);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_string_equal(name, cases[i].name);
        assert_string_equal(pw, cases[i].password);
    }
    /* a name of 65 characters */
    char body[128] = "name=";
    memset(body + 5, 'a', 65);
    strcpy(body + 70, "&password=x");
    char name[AUTH_NAME_MAX + 1], pw[AUTH_PASSWORD_MAX + 1];
    const char *err;
    assert_int_equal(auth_login_parse(body, strlen(body), false, name, pw, &err), -1);
}

static void test_credentials(void **state)
{
    (void)state;
    char tok[CRED_LEN + 1], id[CRED_ID_LEN + 1];
    uint8_t sha[CRED_SHA_LEN], again[CRED_SHA_LEN];
    assert_int_equal(cred_new(tok, sha), 0);
    assert_int_equal(strlen(tok), CRED_LEN);
    assert_true(cred_split(tok, CRED_LEN, id, again));
    assert_memory_equal(id, tok, CRED_ID_LEN);
    assert_true(cred_sha_equal(sha, again));
    /* shape: truncated, upper case, a wrong separator, trailing junk */
    assert_false(cred_split(tok, CRED_LEN - 1, id, again));
    char bad[CRED_LEN + 2];
    memcpy(bad, tok, CRED_LEN + 1);
    bad[CRED_ID_LEN] = '-';
    assert_false(cred_split(bad, CRED_LEN, id, again));
    memcpy(bad, tok, CRED_LEN + 1);
    bad[CRED_LEN - 1] = 'G';
    assert_false(cred_split(bad, CRED_LEN, id, again));
    /* another secret, another hash */
    memcpy(bad, tok, CRED_LEN + 1);
    bad[CRED_LEN - 1] = bad[CRED_LEN - 1] == 'a' ? 'b' : 'a';
    assert_true(cred_split(bad, CRED_LEN, id, again));
    assert_false(cred_sha_equal(sha, again));
}

static void test_pwhash(void **state)
{
    (void)state;
    char h1[PWHASH_MAX], h2[PWHASH_MAX];
    assert_int_equal(pwhash_make("hunter2hunter2", 14, h1), 0);
    assert_int_equal(pwhash_make("hunter2hunter2", 14, h2), 0);
    assert_string_not_equal(h1, h2); /* salted */
    assert_true(pwhash_verify("hunter2hunter2", 14, h1));
    assert_false(pwhash_verify("hunter2hunter3", 14, h1));
    assert_false(pwhash_verify("hunter2hunter2", 13, h1));
    assert_false(pwhash_verify("hunter2hunter2", 14, NULL));
    assert_false(pwhash_verify("x", 1, "plain"));
    h1[strlen(h1) - 1] = h1[strlen(h1) - 1] == '0' ? '1' : '0';
    assert_false(pwhash_verify("hunter2hunter2", 14, h1));
    assert_false(pwhash_verify("hunter2hunter2", 14, "scrypt$30$8$1$00$00")); /* out of bounds: refused */
}

static void test_throttle(void **state)
{
    (void)state;
    struct auth_throttle *t = calloc(1, sizeof *t);
    assert_non_null(t);
    int64_t now = 1000000;
    for (int i = 0; i < AUTH_FREE_FAILS - 1; i++) {
        assert_true(auth_throttle_allowed(t, 42, now));
        auth_throttle_failed(t, 42, now);
    }
    assert_true(auth_throttle_allowed(t, 42, now));
    auth_throttle_failed(t, 42, now); /* the 5th: locked for 1 s */
    assert_false(auth_throttle_allowed(t, 42, now));
    assert_false(auth_throttle_allowed(t, 42, now + 999));
    assert_true(auth_throttle_allowed(t, 42, now + 1000));
    assert_true(auth_throttle_allowed(t, 43, now)); /* another key */
    auth_throttle_failed(t, 42, now + 1000);        /* the 6th: 2 s */
    assert_false(auth_throttle_allowed(t, 42, now + 2999));
    assert_true(auth_throttle_allowed(t, 42, now + 3000));
    for (int i = 0; i < 40; i++)
        auth_throttle_failed(t, 42, now + 3000);
    assert_false(auth_throttle_allowed(t, 42, now + 3000 + AUTH_LOCK_MAX_MS - 1)); /* capped, no overflow */
    assert_true(auth_throttle_allowed(t, 42, now + 3000 + AUTH_LOCK_MAX_MS));
    auth_throttle_passed(t, 42); /* a good login forgets */
    assert_true(auth_throttle_allowed(t, 42, now + 3000));
    /* bounded: many keys evict the least recent, never grow */
    for (uint64_t k = 1; k < 100000; k++)
        auth_throttle_failed(t, k, now + (int64_t)k);
    free(t);
}

static void test_auth_may(void **state)
{
    (void)state;
    struct auth_who full = {.session = false, .read_only = false}, ro = {.session = false, .read_only = true},
                    session = {.session = true, .read_only = false};
    assert_true(auth_may(&full, AUTH_READ));
    assert_true(auth_may(&full, AUTH_WRITE));
    assert_true(auth_may(&ro, AUTH_READ));
    assert_false(auth_may(&ro, AUTH_WRITE));
    assert_true(auth_may(&session, AUTH_WRITE));
    assert_false(auth_may(NULL, AUTH_READ));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cookie_table), cmocka_unit_test(test_bearer_table), cmocka_unit_test(test_login_table),
        cmocka_unit_test(test_credentials),  cmocka_unit_test(test_pwhash),       cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_auth_may),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
