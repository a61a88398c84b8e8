/* test_core_config.c - option tables: precedence flags > environment > defaults, bounds, bad input. */
#include "unit.h"

#include "core/config.h"
#include "firmware/core/backoff.h"

#include <string.h>

static const char *fake_env_names[4];
static const char *fake_env_values[4];

static const char *fake_getenv(const char *name)
{
    for (int i = 0; i < 4 && fake_env_names[i]; i++)
        if (!strcmp(fake_env_names[i], name))
            return fake_env_values[i];
    return NULL;
}

static char *host;
static char *db;
static long port;
static bool flag;
static double rate;
static const struct cfg_opt opts[] = {
    {"mqtt-host", CFG_STR, &host, "127.0.0.1", 0, 0, NULL, "broker host", false},
    {"mqtt-port", CFG_INT, &port, "1883", 1, 65535, NULL, "broker port", false},
    {"db", CFG_STR, &db, "", 0, 0, "DATABASE_URL", "database", false},
    {"clean", CFG_BOOL, &flag, "true", 0, 0, NULL, "clean session", false},
    {"rate", CFG_DOUBLE, &rate, "0", 0, 1e6, NULL, "rate", false},
    {0},
};

static int parse(int argc, char **argv)
{
    char err[256];
    int rc = cfg_parse(opts, argc, argv, fake_getenv, err, sizeof err);
    return rc;
}

static void reset_env(void)
{
    memset(fake_env_names, 0, sizeof fake_env_names);
}

static void test_defaults(void **state)
{
    (void)state;
    reset_env();
    char *argv[] = {"x", NULL};
    assert_int_equal(parse(1, argv), CFG_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 1883);
    assert_true(flag);
    assert_string_equal(db, "");
    cfg_free(opts);
}

static void test_precedence(void **state)
{
    (void)state;
    reset_env();
    fake_env_names[0] = "SENSORPIPE_MQTT_PORT";
    fake_env_values[0] = "1884";
    fake_env_names[1] = "DATABASE_URL";
    fake_env_values[1] = "postgres://u:secret@h/db";
    char *argv1[] = {"x", NULL};
    assert_int_equal(parse(1, argv1), CFG_OK);
    assert_int_equal(port, 1884);
    assert_string_equal(db, "postgres://u:secret@h/db");
    cfg_free(opts);
    char *argv2[] = {"x", "--mqtt-port", "1885", "--db=host=x", "--no-clean", "--rate", "2.5", NULL};
    assert_int_equal(parse(7, argv2), CFG_OK);
    assert_int_equal(port, 1885);
    assert_string_equal(db, "host=x");
    assert_false(flag);
    assert_true(rate == 2.5);
    cfg_free(opts);
}

static void test_errors(void **state)
{
    (void)state;
    reset_env();
    char *bad[][3] = {
        {"x", "--mqtt-port", "0"}, {"x", "--mqtt-port", "65536"}, {"x", "--mqtt-port", "12ab"},
        {"x", "--nope", "1"},      {"x", "positional", NULL},     {"x", "--clean=maybe", NULL},
        {"x", "--rate", "nan"},    {"x", "--mqtt-port", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int argc = bad[i][2] ? 3 : 2;
        char err[256] = "";
        if (cfg_parse(opts, argc, bad[i], fake_getenv, err, sizeof err) != CFG_ERROR)
            fail_msg("case %zu accepted", i);
        assert_true(strlen(err) > 0);
        cfg_free(opts);
    }
    fake_env_names[0] = "SENSORPIPE_MQTT_PORT";
    fake_env_values[0] = "x";
    char *argv[] = {"x", NULL};
    assert_int_equal(parse(1, argv), CFG_ERROR);
    cfg_free(opts);
    reset_env();
    char *help[] = {"x", "--help", NULL};
    assert_int_equal(parse(2, help), CFG_HELP);
    cfg_free(opts);
}

static void test_hostport_and_mask(void **state)
{
    (void)state;
    char h[64];
    int p;
    assert_int_equal(cfg_split_hostport("127.0.0.1:8000", h, sizeof h, &p), 0);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(p, 8000);
    assert_int_equal(cfg_split_hostport("[::1]:80", h, sizeof h, &p), 0);
    assert_string_equal(h, "::1");
    assert_int_equal(cfg_split_hostport("nohost", h, sizeof h, &p), -1);
    assert_int_equal(cfg_split_hostport(":80", h, sizeof h, &p), -1);
    assert_int_equal(cfg_split_hostport("h:99999", h, sizeof h, &p), -1);
    assert_int_equal(cfg_split_hostport("h:", h, sizeof h, &p), -1);
    char out[128];
    cfg_mask_dsn("postgres://u:secret@h/db", out, sizeof out);
    assert_string_equal(out, "postgres://u:***@h/db");
    cfg_mask_dsn("host=h password=secret dbname=x", out, sizeof out);
    assert_string_equal(out, "host=h password=*** dbname=x");
    /* found by fuzz_config: spaces, quoting, repeats and URI query parameters all hide the password */
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"host=h password = 'a b\\' c' dbname=x", "host=h password = *** dbname=x"},
        {"host=h password=x password=y", "host=h password=*** password=***"},
        {"postgresql://h/db?password=secret&sslmode=require", "postgresql://h/db?password=***&sslmode=require"},
        {"postgresql://h/db?pass%77ord=s", "postgresql://h/db?pass%77ord=***"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cfg_mask_dsn(cases[i].in, out, sizeof out);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("mask '%s': got '%s' want '%s'", cases[i].in, out, cases[i].want);
    }
}

static void test_backoff(void **state)
{
    (void)state;
    struct backoff b;
    backoff_init(&b, 100, 1000, 42);
    uint32_t prev_cap = 100;
    for (int i = 0; i < 10; i++) {
        uint32_t d = backoff_next_ms(&b);
        uint32_t cap = prev_cap;
        assert_true(d >= cap / 2 && d <= cap);
        prev_cap = cap * 2 > 1000 ? 1000 : cap * 2;
    }
    backoff_reset(&b);
    assert_true(backoff_next_ms(&b) <= 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),          cmocka_unit_test(test_precedence), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_hostport_and_mask), cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
