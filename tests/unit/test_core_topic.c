/* test_core_topic.c - topic parsing, MQTT filter matching and filter-to-regex, with malformed input. */
#include "unit.h"

#include "core/topic.h"

#include <string.h>

static int parse(const char *t, enum topic_kind *kind, struct topic_parts *p)
{
    return topic_parse(t, strlen(t), kind, p);
}

static void test_reading_topic(void **state)
{
    (void)state;
    enum topic_kind kind;
    struct topic_parts p;
    assert_int_equal(parse("pico/temperature/dht22", &kind, &p), TOPIC_OK);
    assert_int_equal(kind, TOPIC_READING);
    assert_string_equal(p.device, "pico");
    assert_string_equal(p.metric, "temperature");
    assert_string_equal(p.sensor, "dht22");
}

static void test_status_topic(void **state)
{
    (void)state;
    enum topic_kind kind;
    struct topic_parts p;
    assert_int_equal(parse("pico/status", &kind, &p), TOPIC_OK);
    assert_int_equal(kind, TOPIC_STATUS);
    assert_string_equal(p.device, "pico");
}

static void test_bad_topics(void **state)
{
    (void)state;
    static const struct {
        const char *topic;
        int err;
    } cases[] = {
        {"", TOPIC_ERR_EMPTY},
        {"pico", TOPIC_ERR_LEVELS},
        {"pico/temperature", TOPIC_ERR_LEVELS},
        {"a/b/c/d", TOPIC_ERR_LEVELS},
        {"/b/c", TOPIC_ERR_EMPTY_LEVEL},
        {"a//c", TOPIC_ERR_EMPTY_LEVEL},
        {"a/b/", TOPIC_ERR_EMPTY_LEVEL},
        {"a/b c/d", TOPIC_ERR_CHAR},
        {"a/+/c", TOPIC_ERR_CHAR},
        {"a/#/c", TOPIC_ERR_CHAR},
        {"a/b/\x01", TOPIC_ERR_CHAR},
        {"a/b/\xc3\xa9", TOPIC_ERR_CHAR},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/b/c", TOPIC_ERR_TOO_LONG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum topic_kind kind;
        struct topic_parts p;
        int rc = parse(cases[i].topic, &kind, &p);
        if (rc != cases[i].err)
            fail_msg("topic '%s': got %d want %d", cases[i].topic, rc, cases[i].err);
        assert_non_null(topic_strerror(rc));
    }
}

static void test_not_nul_terminated(void **state)
{
    (void)state;
    /* only the first len bytes count */
    const char buf[] = "a/b/cXXXX";
    enum topic_kind kind;
    struct topic_parts p;
    assert_int_equal(topic_parse(buf, 5, &kind, &p), TOPIC_OK);
    assert_string_equal(p.sensor, "c");
    /* truncated inside a level */
    assert_int_equal(topic_parse(buf, 4, &kind, &p), TOPIC_ERR_EMPTY_LEVEL);
    /* an embedded NUL is a bad character */
    assert_int_equal(topic_parse("a/b\0c/d", 7, &kind, &p), TOPIC_ERR_CHAR);
}

static void test_filter_matching(void **state)
{
    (void)state;
    static const struct {
        const char *filter, *topic;
        bool match;
    } cases[] = {
        {"#", "pico/temperature/dht22", true},
        {"pico/#", "pico/temperature/dht22", true},
        {"pico/#", "pico", true},
        {"pico/#", "picoz/a/b", false},
        {"+/temperature/+", "pico/temperature/dht22", true},
        {"+/temperature/+", "pico/humidity/dht22", false},
        {"pico/temperature/dht22", "pico/temperature/dht22", true},
        {"pico/temperature/dht22", "pico/temperature/dht2", false},
        {"pico/temperature/dht2", "pico/temperature/dht22", false},
        {"+/+/+", "a/b/c", true},
        {"+/+/+", "a/b", false},
        {"+/+", "a/b/c", false},
        {"a/+/c", "a//c", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_true(topic_filter_valid(cases[i].filter));
        if (topic_matches(cases[i].filter, cases[i].topic) != cases[i].match)
            fail_msg("filter '%s' topic '%s': want %d", cases[i].filter, cases[i].topic, cases[i].match);
    }
}

static void test_filter_validity(void **state)
{
    (void)state;
    assert_false(topic_filter_valid(""));
    assert_false(topic_filter_valid("a/#/b"));
    assert_false(topic_filter_valid("a+/b"));
    assert_false(topic_filter_valid("a/b#"));
    assert_false(topic_filter_valid("a b"));
    assert_true(topic_filter_valid("+"));
    assert_true(topic_filter_valid("a/+/#"));
}

static void test_filter_regex(void **state)
{
    (void)state;
    char re[256];
    assert_int_equal(topic_filter_to_regex("pico/+/dht22", re, sizeof re), 0);
    assert_string_equal(re, "^pico/[^/]*/dht22$");
    assert_int_equal(topic_filter_to_regex("pico/#", re, sizeof re), 0);
    assert_string_equal(re, "^pico(/.*)?$");
    assert_int_equal(topic_filter_to_regex("#", re, sizeof re), 0);
    assert_string_equal(re, "^.*$");
    assert_int_equal(topic_filter_to_regex("a.b/(x)/$", re, sizeof re), 0);
    assert_string_equal(re, "^a\\.b/\\(x\\)/\\$$");
    assert_int_equal(topic_filter_to_regex("a/#/b", re, sizeof re), -1);
    assert_int_equal(topic_filter_to_regex("pico/+/dht22", re, 8), -1); /* too small */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reading_topic),   cmocka_unit_test(test_status_topic),
        cmocka_unit_test(test_bad_topics),      cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_filter_matching), cmocka_unit_test(test_filter_validity),
        cmocka_unit_test(test_filter_regex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
