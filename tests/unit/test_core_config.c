/*
 * test_core_config.c - option tables: precedence flags > environment > config file > defaults,
 * bounds, bad input; the config file's sections and errors.
 */
#include "unit.h"

#include "core/config.h"
#include "firmware/core/backoff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    {"clean-session", CFG_BOOL, &flag, "true", 0, 0, NULL, "clean session", false},
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
    char *argv2[] = {"x", "--mqtt-port", "1885", "--db=host=x", "--no-clean-session", "--rate", "2.5", NULL};
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
        {"x", "--nope", "1"},      {"x", "positional", NULL},     {"x", "--clean-session=maybe", NULL},
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

/* A config file with this text; returns its path (static buffer), removed by unlink_conf(). */
static char conf_path[64];
static const char *write_conf(const char *text)
{
    snprintf(conf_path, sizeof conf_path, "/tmp/sp-unit-conf-XXXXXX");
    int fd = mkstemp(conf_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return conf_path;
}

static void unlink_conf(void)
{
    unlink(conf_path);
}

/* Apply text as the config file of subcommand section; returns the result, err filled. */
static int apply(const char *section, const char *text, char *err, size_t errlen)
{
    char *argv[] = {(char *)section, NULL};
    reset_env();
    assert_int_equal(parse(1, argv), CFG_OK); /* defaults */
    err[0] = '\0';
    return cfg_file_apply(opts, section, text, strlen(text), "f.conf", err, errlen);
}

static void test_file_precedence(void **state)
{
    (void)state;
    const char *path;
    /* the file alone, by --config */
    path = write_conf("# for every command\n"
                      "mqtt-port = 1884\n"
                      "mqtt-host=  broker.lan  \r\n"
                      "listen = 0.0.0.0:80\n"
                      "[ingest]\n"
                      "mqtt-port = 1890\n"
                      "clean-session = false\n"
                      "db = host=/x dbname=a#b\n"
                      "[serve]\n"
                      "listen = 127.0.0.1:1\n"
                      "[sim]\n"
                      "mqtt-port = 7\n");
    reset_env();
    char *a1[] = {"ingest", "--config", (char *)path, NULL};
    assert_int_equal(parse(3, a1), CFG_OK);
    assert_int_equal(port, 1890); /* the section beats the lines for all */
    assert_string_equal(host, "broker.lan");
    assert_false(flag);
    assert_string_equal(db, "host=/x dbname=a#b");
    cfg_free(opts);
    /* another command reads the lines for all, not [ingest] */
    char *a2[] = {"migrate", "--config=", NULL};
    a2[1] = malloc(strlen(path) + 10);
    sprintf(a2[1], "--config=%s", path);
    assert_int_equal(parse(2, a2), CFG_OK);
    assert_int_equal(port, 1884);
    assert_true(flag);
    cfg_free(opts);
    free(a2[1]);
    /* SENSORPIPE_CONFIG names the file; the environment beats it, a flag beats both */
    fake_env_names[0] = "SENSORPIPE_CONFIG";
    fake_env_values[0] = path;
    char *a3[] = {"ingest", NULL};
    assert_int_equal(parse(1, a3), CFG_OK);
    assert_int_equal(port, 1890);
    cfg_free(opts);
    fake_env_names[1] = "SENSORPIPE_MQTT_PORT";
    fake_env_values[1] = "2000";
    assert_int_equal(parse(1, a3), CFG_OK);
    assert_int_equal(port, 2000);
    assert_false(flag); /* still the file's */
    cfg_free(opts);
    char *a4[] = {"ingest", "--mqtt-port", "3000", "--clean-session", NULL};
    assert_int_equal(parse(4, a4), CFG_OK);
    assert_int_equal(port, 3000);
    assert_true(flag);
    cfg_free(opts);
    /* --config on the command line beats SENSORPIPE_CONFIG; a missing file is an error */
    char *a5[] = {"ingest", "--config", "/nonexistent/sp.conf", NULL};
    assert_int_equal(parse(3, a5), CFG_ERROR);
    cfg_free(opts);
    char *a6[] = {"ingest", "--config", NULL};
    assert_int_equal(parse(2, a6), CFG_ERROR);
    cfg_free(opts);
    /* a value that happens to be "--config" is a value, not the option */
    char *a7[] = {"ingest", "--db", "--config", NULL};
    reset_env();
    assert_int_equal(parse(3, a7), CFG_OK);
    assert_string_equal(db, "--config");
    cfg_free(opts);
    unlink_conf();
}

static void test_file_errors(void **state)
{
    (void)state;
    static const struct {
        const char *section, *text, *want; /* want: a piece of the error */
    } bad[] = {
        {"ingest", "bogus = 1\n", "f.conf:1: no command has a setting 'bogus'"},
        {"ingest", "\n\n[ingest]\nlisten = x\n", "f.conf:4: sensorpipe ingest has no setting 'listen'"},
        {"ingest", "[serve]\nbogus = 1\n", "sensorpipe serve has no setting 'bogus'"},
        {"ingest", "[serve]\nmqtt-port = 1\n", "sensorpipe serve has no setting 'mqtt-port'"},
        {"ingest", "[nope]\n", "[nope] names no command"},
        {"ingest", "[ingest\n", "a header is [command]"},
        {"ingest", "[\n", "a header is [command]"},
        {"ingest", "mqtt-port\n", "expected name = value"},
        {"ingest", " = 5\n", "no name before '='"},
        {"ingest", "config = other.conf\n", "cannot name another"},
        {"ingest", "mqtt-port = 1\nmqtt-port = 2\n", "'mqtt-port' is set twice"},
        {"ingest", "[ingest]\nmqtt-port = 1\n[ingest]\nmqtt-port = 2\n", "set twice"},
        {"ingest", "mqtt-port = 0\n", "f.conf:1: --mqtt-port must be between"},
        {"ingest", "mqtt-port = x\n", "expects a number"},
        {"ingest", "clean-session = maybe\n", "expects true or false"},
        {"ingest", "no-clean-session = 1\n", "no command has a setting 'no-clean-session'"},
        {"ingest", "mqtt-port = 1\0\n", "a NUL byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256];
        size_t len = strlen(bad[i].text);
        if (strstr(bad[i].want, "NUL"))
            len = strlen(bad[i].text) + 2; /* past the embedded NUL */
        char *argv[] = {(char *)bad[i].section, NULL};
        reset_env();
        assert_int_equal(parse(1, argv), CFG_OK);
        err[0] = '\0';
        int rc = cfg_file_apply(opts, bad[i].section, bad[i].text, len, "f.conf", err, sizeof err);
        if (rc != CFG_ERROR || !strstr(err, bad[i].want))
            fail_msg("case %zu: rc %d, err '%s', want '%s'", i, rc, err, bad[i].want);
        cfg_free(opts);
    }
    /* accepted: comments, blank lines, another command's names before any header and under its header,
       an empty value, a line set once for all and once in the section, no newline at the end */
    static const char *const good[] = {
        "# c\n; c\n\n   \n",
        "listen = x\nweb-root = w\n[serve]\nlisten = y\n",
        "db =\n",
        "mqtt-port = 1\n[ingest]\nmqtt-port = 2",
        "[sim]\ndevices = 3\n[device]\nrotate = true\n",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char err[256];
        if (apply("ingest", good[i], err, sizeof err) != CFG_OK)
            fail_msg("good case %zu refused: %s", i, err);
        cfg_free(opts);
    }
    char err[256];
    assert_int_equal(apply("ingest", "mqtt-port = 1\n[ingest]\nmqtt-port = 2", err, sizeof err), CFG_OK);
    assert_int_equal(port, 2);
    cfg_free(opts);
    /* an error in the file stops cfg_parse before --help */
    const char *path = write_conf("bogus = 1\n");
    char *argv[] = {"ingest", "--config", (char *)path, "--help", NULL};
    reset_env();
    assert_int_equal(parse(4, argv), CFG_ERROR);
    cfg_free(opts);
    unlink_conf();
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
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_errors),      cmocka_unit_test(test_hostport_and_mask),
        cmocka_unit_test(test_backoff),     cmocka_unit_test(test_file_precedence),
        cmocka_unit_test(test_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
