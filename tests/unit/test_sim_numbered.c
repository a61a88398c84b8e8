/* test_sim_numbered.c - `sim --numbered`: the message of reading n, the numbering of a run, option checks. */
#include "unit.h"

#include "core/payload.h"
#include "core/topic.h"
#include "sim/numbered.h"
#include "sim/run.h"

#include <stdio.h>
#include <string.h>

/* The message parses as the ingest parses it: a reading topic and exactly the value n. */
static void assert_reading(const struct node_msg *m, const char *topic, const char *payload, double value)
{
    assert_string_equal(m->topic, topic);
    assert_string_equal(m->payload, payload);
    assert_int_equal(m->len, strlen(payload));
    assert_false(m->retain);
    enum topic_kind kind;
    struct topic_parts parts;
    assert_int_equal(topic_parse(m->topic, strlen(m->topic), &kind, &parts), TOPIC_OK);
    assert_int_equal(kind, TOPIC_READING);
    struct payload_reading r;
    const char *reason = NULL;
    assert_int_equal(payload_parse(m->payload, m->len, &r, &reason), 0);
    assert_true(r.value == value);
}

static void test_msg(void **state)
{
    (void)state;
    static const struct {
        uint64_t n;
        const char *payload;
        double value;
    } cases[] = {
        {1, "1", 1.0},
        {9, "9", 9.0},
        {10, "10", 10.0},
        {3000, "3000", 3000.0},
        {4294967296ULL, "4294967296", 4294967296.0},
        {SIM_NUMBER_MAX, "999999999999999", 999999999999999.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct node_msg m;
        assert_int_equal(sim_numbered_msg(&m, "fa-0001", cases[i].n, 1), 0);
        assert_int_equal(m.qos, 1);
        assert_reading(&m, "fa-0001/seq/n", cases[i].payload, cases[i].value);
    }
    struct node_msg m;
    assert_int_equal(sim_numbered_msg(&m, "pico", 42, 0), 0);
    assert_int_equal(m.qos, 0);
    assert_reading(&m, "pico/seq/n", "42", 42.0);
    /* out of range */
    assert_int_equal(sim_numbered_msg(&m, "pico", 0, 1), -1);
    assert_int_equal(sim_numbered_msg(&m, "pico", SIM_NUMBER_MAX + 1, 1), -1);
    assert_int_equal(sim_numbered_msg(&m, "pico", UINT64_MAX, 1), -1);
    /* the longest device id still fits; a longer one is refused, not truncated */
    char id[NODE_TOPIC_MAX + 8];
    memset(id, 'd', NODE_DEVICE_MAX);
    id[NODE_DEVICE_MAX] = '\0';
    assert_int_equal(sim_numbered_msg(&m, id, 7, 1), 0);
    assert_int_equal(strlen(m.topic), NODE_DEVICE_MAX + strlen("/seq/n"));
    memset(id, 'd', sizeof id - 1);
    id[NODE_TOPIC_MAX - strlen("/seq/n")] = '\0'; /* topic + NUL is one byte too long */
    assert_int_equal(sim_numbered_msg(&m, id, 7, 1), -1);
}

/* A run numbers its readings start, start + 1, ... by their 0-based index; no number twice, none skipped. */
static void test_at(void **state)
{
    (void)state;
    assert_int_equal(sim_numbered_at(1, 0), 1);
    assert_int_equal(sim_numbered_at(1, 2999), 3000);
    assert_int_equal(sim_numbered_at(1001, 0), 1001);
    assert_int_equal(sim_numbered_at(1001, 1999), 3000);
    uint64_t prev = 0;
    for (uint64_t k = 0; k < 10000; k++) {
        uint64_t n = sim_numbered_at(5, k);
        assert_int_equal(n, prev ? prev + 1 : 5);
        prev = n;
    }
    /* the last representable number, and nothing past it */
    assert_int_equal(sim_numbered_at(SIM_NUMBER_MAX, 0), SIM_NUMBER_MAX);
    assert_int_equal(sim_numbered_at(SIM_NUMBER_MAX, 1), 0);
    assert_int_equal(sim_numbered_at(SIM_NUMBER_MAX - 9, 9), SIM_NUMBER_MAX);
    assert_int_equal(sim_numbered_at(SIM_NUMBER_MAX - 9, 10), 0);
    assert_int_equal(sim_numbered_at(1, UINT64_MAX), 0);
    assert_int_equal(sim_numbered_at(0, 0), 0); /* numbers start at 1 */
    assert_int_equal(sim_numbered_at(SIM_NUMBER_MAX + 1, 0), 0);
}

static struct sim_config numbered_config(void)
{
    struct sim_config c = {
        .mqtt_host = "127.0.0.1",
        .mqtt_port = 1883,
        .devices = 1,
        .device_prefix = "",
        .interval_s = 5,
        .rate = 1000,
        .count = 3000,
        .qos = 1,
        .fail_rate = 0.02,
        .seed = 1,
        .numbered = true,
        .start = 1,
    };
    return c;
}

static void test_config_check(void **state)
{
    (void)state;
    char err[256];
    struct sim_config c = numbered_config();
    assert_int_equal(sim_config_check(&c, err, sizeof err), 0);
    c.count = 0; /* until stopped */
    assert_int_equal(sim_config_check(&c, err, sizeof err), 0);

    c = numbered_config();
    c.rate = 0; /* interval mode has no numbers */
    assert_int_equal(sim_config_check(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "--numbered needs load mode (--rate)"));

    c = numbered_config();
    c.start = 0;
    assert_int_equal(sim_config_check(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "--numbered"));

    /* every number of the run must be representable */
    c = numbered_config();
    c.start = SIM_NUMBER_MAX - 2999;
    assert_int_equal(sim_config_check(&c, err, sizeof err), 0);
    c.start++;
    assert_int_equal(sim_config_check(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "999999999999999"));

    /* without --numbered, --start is not looked at */
    c = numbered_config();
    c.numbered = false;
    c.start = 0;
    c.rate = 0;
    assert_int_equal(sim_config_check(&c, err, sizeof err), 0);

    /* the longest device ids still make a valid seq topic */
    char longp[80];
    memset(longp, 'p', sizeof longp);
    longp[60] = '\0';
    c = numbered_config();
    c.device_prefix = longp;
    assert_int_equal(sim_config_check(&c, err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg),
        cmocka_unit_test(test_at),
        cmocka_unit_test(test_config_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
