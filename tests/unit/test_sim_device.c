/* test_sim_device.c - a simulated device through the firmware core; device names; option checks. */
#include "unit.h"

#include "core/payload.h"
#include "core/topic.h"
#include "sim/device.h"
#include "sim/run.h"

#include <stdio.h>
#include <string.h>

/* A payload is an ASCII number with exactly one decimal, no "-0.0". */
static void assert_one_decimal(const char *p)
{
    size_t len = strlen(p);
    assert_true(len >= 3);
    assert_int_equal(p[len - 2], '.');
    for (size_t i = p[0] == '-'; i < len; i++)
        if (i != len - 2)
            assert_true(p[i] >= '0' && p[i] <= '9');
    assert_string_not_equal(p, "-0.0");
    struct payload_reading r;
    const char *reason;
    assert_int_equal(payload_parse(p, len, &r, &reason), 0);
}

static void test_names(void **state)
{
    (void)state;
    char id[NODE_DEVICE_MAX + 1];
    assert_int_equal(sim_device_name(id, sizeof id, "", 1, 0), 0);
    assert_string_equal(id, "pico");
    assert_int_equal(sim_device_name(id, sizeof id, NULL, 1, 0), 0);
    assert_string_equal(id, "pico");
    assert_int_equal(sim_device_name(id, sizeof id, "", 3, 0), 0);
    assert_string_equal(id, "sim0001");
    assert_int_equal(sim_device_name(id, sizeof id, "", 3, 2), 0);
    assert_string_equal(id, "sim0003");
    assert_int_equal(sim_device_name(id, sizeof id, "kitchen-", 1, 0), 0);
    assert_string_equal(id, "kitchen-0001");
    assert_int_equal(sim_device_name(id, sizeof id, "", 20000, 19999), 0);
    assert_string_equal(id, "sim20000");
    assert_int_equal(sim_device_name(id, 5, "", 1, 0), 0);
    assert_int_equal(sim_device_name(id, 4, "", 1, 0), -1);
    assert_int_equal(sim_device_name(id, 7, "", 2, 0), -1);
}

static void test_tenths(void **state)
{
    (void)state;
    char buf[NODE_PAYLOAD_MAX];
    assert_int_equal(sim_tenths(-0.04), 0);
    node_format_tenths(sim_tenths(-0.04), buf, sizeof buf);
    assert_string_equal(buf, "0.0");
    assert_int_equal(sim_tenths(-0.25), -3); /* halves away from zero */
    assert_int_equal(sim_tenths(0.25), 3);
    assert_int_equal(sim_tenths(21.54), 215);
    assert_int_equal(sim_tenths(-3.16), -32);
}

static void test_cycle_good(void **state)
{
    (void)state;
    struct sim_device d;
    assert_int_equal(sim_device_init(&d, "pico", 5000, 0, 0, 0.0, 1, 0), 0);
    for (uint32_t i = 0; i < 200; i++) {
        struct node_msg out[NODE_MSGS_MAX];
        size_t n = sim_device_cycle(&d, i * 5000, 1795779600.0 + i * 5.0, out);
        assert_int_equal(n, 3);
        assert_string_equal(out[0].topic, "pico/temperature/dht22");
        assert_string_equal(out[1].topic, "pico/humidity/dht22");
        assert_string_equal(out[2].topic, "pico/temperature/internal");
        for (size_t k = 0; k < n; k++) {
            enum topic_kind kind;
            struct topic_parts parts;
            assert_int_equal(topic_parse(out[k].topic, strlen(out[k].topic), &kind, &parts), TOPIC_OK);
            assert_int_equal(kind, TOPIC_READING);
            assert_one_decimal(out[k].payload);
        }
        assert_int_equal(d.dht.last_status, DHT22_OK); /* the values went through dht22_decode */
    }
    assert_int_equal(d.failed_reads, 0);
    assert_int_equal(d.cycles, 200);
}

static void test_cycle_all_fail(void **state)
{
    (void)state;
    struct sim_device d;
    assert_int_equal(sim_device_init(&d, "sim0001", 2000, 0, 0, 1.0, 5, 0), 0);
    int seen[8] = {0};
    for (uint32_t i = 0; i < 300; i++) {
        struct node_msg out[NODE_MSGS_MAX];
        size_t n = sim_device_cycle(&d, i * 2000, 1000.0 + i * 2.0, out);
        assert_int_equal(n, 1); /* only the chip temperature */
        assert_string_equal(out[0].topic, "sim0001/temperature/internal");
        int st = d.dht.last_status;
        assert_true(st == DHT22_ERR_TIMEOUT || st == DHT22_ERR_TRUNCATED || st == DHT22_ERR_CHECKSUM);
        seen[-st]++;
    }
    assert_int_equal(d.failed_reads, 300);
    /* every way a transfer can fail shows up */
    assert_true(seen[-DHT22_ERR_TIMEOUT] > 50);
    assert_true(seen[-DHT22_ERR_TRUNCATED] > 50);
    assert_true(seen[-DHT22_ERR_CHECKSUM] > 50);
}

static void test_cycle_fail_rate(void **state)
{
    (void)state;
    struct sim_device d;
    assert_int_equal(sim_device_init(&d, "pico", 2000, 0, 0, 0.02, 11, 0), 0);
    size_t msgs = 0;
    for (uint32_t i = 0; i < 20000; i++) {
        struct node_msg out[NODE_MSGS_MAX];
        msgs += sim_device_cycle(&d, i * 2000, 1000.0 + i * 2.0, out);
    }
    assert_true(d.failed_reads > 300 && d.failed_reads < 500);
    assert_int_equal(msgs, 3 * 20000 - 2 * d.failed_reads);
}

static void test_cycle_gate(void **state)
{
    (void)state;
    struct sim_device d;
    assert_int_equal(sim_device_init(&d, "pico", 2000, 0, 0, 0.0, 1, 0), 0);
    struct node_msg a[NODE_MSGS_MAX], b[NODE_MSGS_MAX];
    assert_int_equal(sim_device_cycle(&d, 10000, 1000.0, a), 3);
    /* 1 s later the DHT22 may not be read again: its last values are reused */
    assert_int_equal(sim_device_cycle(&d, 11000, 1001.0, b), 3);
    assert_int_equal(d.dht.last_status, DHT22_OK);
    assert_string_equal(a[0].payload, b[0].payload);
    assert_string_equal(a[1].payload, b[1].payload);
}

static void run_device(uint64_t seed, char *text, size_t textlen)
{
    struct sim_device d;
    assert_int_equal(sim_device_init(&d, "sim0002", 5000, 0, 0, 0.1, seed, 1), 0);
    size_t used = 0;
    text[0] = '\0';
    for (uint32_t i = 0; i < 50; i++) {
        struct node_msg out[NODE_MSGS_MAX];
        size_t n = sim_device_cycle(&d, i * 5000, 1795779600.0 + i * 5.0, out);
        for (size_t k = 0; k < n; k++)
            used += (size_t)snprintf(text + used, textlen - used, "%s=%s;", out[k].topic, out[k].payload);
        assert_true(used < textlen);
    }
}

static void test_seed_replays(void **state)
{
    (void)state;
    static char a[16384], b[16384], c[16384];
    run_device(1234, a, sizeof a);
    run_device(1234, b, sizeof b);
    run_device(1235, c, sizeof c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
}

/* sim_device_cycle() is sim_device_sample() + node_readings(): the two paths give the same values. */
static void test_sample_is_cycle(void **state)
{
    (void)state;
    struct sim_device a, b;
    assert_int_equal(sim_device_init(&a, "pico", 2000, 0, 0, 0.3, 99, 0), 0);
    assert_int_equal(sim_device_init(&b, "pico", 2000, 0, 0, 0.3, 99, 0), 0);
    for (uint32_t i = 0; i < 100; i++) {
        struct node_msg x[NODE_MSGS_MAX], y[NODE_MSGS_MAX];
        size_t n = sim_device_cycle(&a, i * 2000, 1000.0 + i * 2.0, x);
        struct node_sample s;
        sim_device_sample(&b, i * 2000, 1000.0 + i * 2.0, &s);
        assert_int_equal(node_readings(&b.node, &s, y), n);
        for (size_t k = 0; k < n; k++) {
            assert_string_equal(x[k].topic, y[k].topic);
            assert_string_equal(x[k].payload, y[k].payload);
        }
    }
    assert_int_equal(a.failed_reads, b.failed_reads);
    assert_int_equal(a.cycles, 100);
}

/* Boot, then a reset: what the board keeps in RAM starts again; the room and the counters go on. */
static void test_boot_restart(void **state)
{
    (void)state;
    struct sim_device d;
    assert_int_equal(sim_device_init(&d, "sim0007", 5000, 1, 3000, 0.0, 42, 6), 0);
    struct conn_config cfg = sim_device_conn_config(120000);
    assert_false(cfg.wifi);
    assert_int_equal(cfg.stuck_ms, 120000);
    sim_device_boot(&d, &cfg, 1000);
    assert_int_equal(d.conn.state, CONN_BROKER_CONNECTING); /* no Wi-Fi stage */
    assert_ptr_equal(d.conn.node, &d.node);
    struct conn_actions a;
    conn_step(&d.conn, 1000, &a);
    assert_true(a.todo & CONN_DO_BROKER_CONNECT);
    conn_broker_up(&d.conn, 1100);
    conn_step(&d.conn, 1100, &a);
    assert_int_equal(a.n, 1); /* "online" */
    assert_string_equal(a.msgs[0].topic, "sim0007/status");
    /* a cycle at 3000 runs through conn; the DHT22 gate closes for 2 s */
    conn_step(&d.conn, 3000, &a);
    assert_true(a.todo & CONN_DO_SAMPLE);
    struct node_sample s;
    sim_device_sample(&d, 3000, 1000.0, &s);
    conn_sampled(&d.conn, &s, 3000, &a);
    assert_int_equal(a.n, 3);
    assert_int_equal(a.msgs[0].qos, 1);
    assert_false(dht22_ready(&d.dht, 3500));
    uint32_t seed = d.conn_seed;
    uint64_t cycles = d.cycles;

    sim_device_restart(&d, 3500);
    assert_int_equal(d.resets, 1);
    assert_string_equal(d.node.device, "sim0007");
    assert_int_equal(d.node.interval_ms, 5000);
    assert_int_equal(d.node.qos, 1);
    assert_true(node_due(&d.node, 3500)); /* first cycle at once, as after power-on */
    assert_true(dht22_ready(&d.dht, 3500));
    assert_int_equal(d.conn.state, CONN_BROKER_CONNECTING);
    assert_int_equal(d.conn.session, 0);
    assert_int_equal(d.conn.stats.broker_connects, 0);
    assert_int_equal(d.conn.progress_ms, 3500);
    assert_int_equal(d.conn.cfg.stuck_ms, 120000);
    assert_true(d.conn_seed != seed); /* a reboot jitters differently */
    assert_int_equal(d.cycles, cycles);
    conn_step(&d.conn, 3500, &a);
    assert_true(a.todo & CONN_DO_BROKER_CONNECT);

    /* the run ends: no more cycles, also after a reset */
    conn_broker_up(&d.conn, 3600);
    sim_device_stop_cycles(&d);
    conn_step(&d.conn, 3600, &a);
    assert_false(a.todo & CONN_DO_SAMPLE);
    assert_true(a.wake_ms != 3600); /* no busy loop on the due cycle */
    sim_device_restart(&d, 4000);
    conn_broker_up(&d.conn, 4000);
    conn_step(&d.conn, 4000, &a);
    conn_step(&d.conn, 4000, &a);
    assert_false(a.todo & CONN_DO_SAMPLE);
}

static struct sim_config good_config(void)
{
    struct sim_config c = {
        .mqtt_host = "127.0.0.1",
        .mqtt_port = 1883,
        .devices = 1,
        .device_prefix = "",
        .interval_s = 5,
        .qos = 0,
        .fail_rate = 0.02,
        .seed = 1,
    };
    return c;
}

static void test_config_check(void **state)
{
    (void)state;
    char err[256];
    struct sim_config c = good_config();
    assert_int_equal(sim_config_check(&c, err, sizeof err), 0);
    c.interval_s = 2;
    assert_int_equal(sim_config_check(&c, err, sizeof err), 0);
    c.interval_s = 1.999;
    assert_int_equal(sim_config_check(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "--interval must be at least 2 seconds"));
    assert_non_null(strstr(err, "DHT22"));
    c.interval_s = 0;
    assert_int_equal(sim_config_check(&c, err, sizeof err), -1);

    static const char *bad_prefixes[] = {"a/b", "a+", "#", "sp ace", "\x01"};
    for (size_t i = 0; i < sizeof bad_prefixes / sizeof bad_prefixes[0]; i++) {
        c = good_config();
        c.device_prefix = bad_prefixes[i];
        assert_int_equal(sim_config_check(&c, err, sizeof err), -1);
        assert_non_null(strstr(err, "--device-prefix"));
    }
    c = good_config();
    char longp[80];
    memset(longp, 'p', sizeof longp);
    longp[60] = '\0'; /* 60 + 4 digits = 64: fits */
    c.device_prefix = longp;
    assert_int_equal(sim_config_check(&c, err, sizeof err), 0);
    longp[60] = 'p';
    longp[61] = '\0';
    assert_int_equal(sim_config_check(&c, err, sizeof err), -1);
    longp[60] = '\0';
    c.devices = 10000; /* sim10000 style ids are one digit longer */
    assert_int_equal(sim_config_check(&c, err, sizeof err), -1);
}

static void test_window(void **state)
{
    (void)state;
    assert_int_equal(sim_window(1, 0), 4096);
    assert_int_equal(sim_window(100000, 0), 64);
    assert_int_equal(sim_window(1, 1), 1000);
    assert_int_equal(sim_window(100000, 2), 16);
    assert_int_equal(sim_window(1000, 0), 262);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),           cmocka_unit_test(test_tenths),
        cmocka_unit_test(test_cycle_good),      cmocka_unit_test(test_cycle_all_fail),
        cmocka_unit_test(test_cycle_fail_rate), cmocka_unit_test(test_cycle_gate),
        cmocka_unit_test(test_seed_replays),    cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_window),          cmocka_unit_test(test_sample_is_cycle),
        cmocka_unit_test(test_boot_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
