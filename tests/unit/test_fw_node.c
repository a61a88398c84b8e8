/* test_fw_node.c - publish list, payload format, presence and schedule of a node; chip temperature (firmware/core). */
#include "unit.h"

#include "firmware/core/chiptemp.h"
#include "firmware/core/node.h"

#include <stdio.h>
#include <string.h>

static void test_format_tenths(void **state)
{
    (void)state;
    static const struct {
        int32_t tenths;
        const char *text;
    } cases[] = {
        {0, "0.0"}, /* decided: zero is "0.0", never "-0.0" */
        {5, "0.5"},
        {-5, "-0.5"},
        {9, "0.9"},
        {10, "1.0"},
        {-32, "-3.2"},
        {215, "21.5"},
        {-215, "-21.5"},
        {453, "45.3"},
        {1000, "100.0"},
        {-400, "-40.0"},
        {800, "80.0"},
        {-1, "-0.1"},
        {INT32_MAX, "214748364.7"},
        {INT32_MIN, "-214748364.8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[NODE_PAYLOAD_MAX];
        int n = node_format_tenths(cases[i].tenths, buf, sizeof buf);
        assert_string_equal(buf, cases[i].text);
        assert_int_equal(n, (int)strlen(cases[i].text));
    }
}

static void test_format_small_buffer(void **state)
{
    (void)state;
    char buf[8];
    memset(buf, 'x', sizeof buf);
    assert_int_equal(node_format_tenths(215, buf, 4), -1); /* "21.5" needs 5 bytes with the NUL */
    assert_int_equal(buf[0], 'x');
    assert_int_equal(node_format_tenths(215, buf, 5), 4);
    assert_string_equal(buf, "21.5");
    assert_int_equal(node_format_tenths(-5, buf, 4), -1);
    assert_int_equal(node_format_tenths(-5, buf, 5), 4);
    assert_int_equal(node_format_tenths(0, buf, 0), -1);
}

static void test_init(void **state)
{
    (void)state;
    struct node n;
    char id[NODE_DEVICE_MAX + 2];
    memset(id, 'd', sizeof id);
    id[NODE_DEVICE_MAX + 1] = '\0';
    assert_int_equal(node_init(&n, id, 5000, 0, 0), -1); /* 65 bytes */
    id[NODE_DEVICE_MAX] = '\0';
    assert_int_equal(node_init(&n, id, 5000, 0, 0), 0); /* 64 bytes fit every topic */
    struct node_msg out[NODE_MSGS_MAX];
    struct node_sample s = {.dht_status = DHT22_OK, .dht = {215, 453}, .chip_ok = true, .chip_dc = 271};
    assert_int_equal(node_readings(&n, &s, out), 3);
    assert_int_equal(strlen(out[2].topic), NODE_DEVICE_MAX + strlen("/temperature/internal"));
    assert_int_equal(node_init(&n, "", 5000, 0, 0), -1);
    assert_int_equal(node_init(&n, NULL, 5000, 0, 0), -1);
    assert_int_equal(node_init(&n, "pico", 1999, 0, 0), -1); /* faster than the DHT22 allows */
    assert_int_equal(node_init(&n, "pico", 2000, 0, 0), 0);
    assert_int_equal(node_init(&n, "pico", 5000, 3, 0), -1);
    assert_int_equal(node_init(&n, "pico", 5000, 2, 0), 0);
}

static void test_readings_good(void **state)
{
    (void)state;
    struct node n;
    assert_int_equal(node_init(&n, "pico", 5000, 1, 0), 0);
    struct node_sample s = {.dht_status = DHT22_OK, .dht = {-32, 453}, .chip_ok = true, .chip_dc = 271};
    struct node_msg out[NODE_MSGS_MAX];
    assert_int_equal(node_readings(&n, &s, out), 3);
    static const char *topics[] = {"pico/temperature/dht22", "pico/humidity/dht22", "pico/temperature/internal"};
    static const char *payloads[] = {"-3.2", "45.3", "27.1"};
    for (int i = 0; i < 3; i++) {
        assert_string_equal(out[i].topic, topics[i]);
        assert_string_equal(out[i].payload, payloads[i]);
        assert_int_equal(out[i].len, strlen(payloads[i]));
        assert_int_equal(out[i].qos, 1);
        assert_false(out[i].retain);
    }
    /* a reused value (too soon for a new read) is still the current value: sent */
    s.dht_status = DHT22_CACHED;
    assert_int_equal(node_readings(&n, &s, out), 3);
}

static void test_readings_failed(void **state)
{
    (void)state;
    struct node n;
    assert_int_equal(node_init(&n, "sim0001", 5000, 0, 0), 0);
    static const int failures[] = {DHT22_ERR_TIMEOUT, DHT22_ERR_TRUNCATED, DHT22_ERR_CHECKSUM, DHT22_ERR_RANGE,
                                   DHT22_ERR_TOO_SOON};
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
        struct node_sample s = {.dht_status = failures[i], .dht = {215, 453}, .chip_ok = true, .chip_dc = -5};
        struct node_msg out[NODE_MSGS_MAX];
        /* nothing for the DHT22; the chip temperature still goes out */
        assert_int_equal(node_readings(&n, &s, out), 1);
        assert_string_equal(out[0].topic, "sim0001/temperature/internal");
        assert_string_equal(out[0].payload, "-0.5");
        s.chip_ok = false;
        assert_int_equal(node_readings(&n, &s, out), 0);
    }
    struct node_sample s = {.dht_status = DHT22_OK, .dht = {0, 0}, .chip_ok = false};
    struct node_msg out[NODE_MSGS_MAX];
    assert_int_equal(node_readings(&n, &s, out), 2);
    assert_string_equal(out[0].payload, "0.0");
    assert_string_equal(out[1].payload, "0.0");
}

static void test_status(void **state)
{
    (void)state;
    struct node n;
    assert_int_equal(node_init(&n, "pico", 5000, 0, 0), 0);
    struct node_msg m;
    node_status(&n, true, &m);
    assert_string_equal(m.topic, "pico/status");
    assert_string_equal(m.payload, "online");
    assert_int_equal(m.len, 6);
    assert_int_equal(m.qos, 1);
    assert_true(m.retain);
    node_status(&n, false, &m);
    assert_string_equal(m.topic, "pico/status");
    assert_string_equal(m.payload, "offline");
    assert_int_equal(m.len, 7);
    assert_int_equal(m.qos, 1);
    assert_true(m.retain);
}

static void test_schedule(void **state)
{
    (void)state;
    struct node n;
    assert_int_equal(node_init(&n, "pico", 5000, 0, 1000), 0);
    assert_false(node_due(&n, 999));
    assert_int_equal(node_wait_ms(&n, 400), 600);
    assert_true(node_due(&n, 1000));
    assert_int_equal(node_wait_ms(&n, 1000), 0);
    /* run 30 ms late: the next cycle keeps the 5 s grid (no drift) */
    node_advance(&n, 1030);
    assert_int_equal(n.next_ms, 6000);
    assert_false(node_due(&n, 5999));
    assert_true(node_due(&n, 6000));
    /* more than a whole interval missed: one interval from now, no catch-up burst */
    node_advance(&n, 17500);
    assert_int_equal(n.next_ms, 22500);
    /* across the wrap of the 32-bit clock */
    assert_int_equal(node_init(&n, "pico", 5000, 0, 0xfffff000u), 0);
    assert_true(node_due(&n, 0x00000010u));
    node_advance(&n, 0xfffff000u);
    assert_int_equal(n.next_ms, 0xfffff000u + 5000u);
    assert_false(node_due(&n, 0x00000010u));
    assert_int_equal(node_wait_ms(&n, 0x00000010u), 5000u - 0x1000u - 0x10u);
}

static void test_chiptemp(void **state)
{
    (void)state;
    /* 0.706 V at 27 °C: raw 876 is 0.70576 V, 27.14 °C */
    assert_int_equal(chiptemp_dc_from_raw(876), 271);
    assert_int_equal(chiptemp_raw_from_dc(270), 876);
    /* one ADC step is about 0.47 °C, and warmer reads lower */
    assert_true(chiptemp_dc_from_raw(875) - chiptemp_dc_from_raw(876) >= 4);
    assert_true(chiptemp_dc_from_raw(875) - chiptemp_dc_from_raw(876) <= 5);
    for (int32_t dc = -400; dc <= 1000; dc++) {
        int32_t back = chiptemp_dc_from_raw(chiptemp_raw_from_dc(dc));
        assert_true(back - dc <= 3 && dc - back <= 3);
    }
    assert_int_equal(chiptemp_raw_from_dc(-100000), CHIPTEMP_RAW_MAX);
    assert_int_equal(chiptemp_raw_from_dc(100000), 0);
    assert_int_equal(chiptemp_dc_from_raw(0x1000 | 876), 271); /* only 12 bits count */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_tenths),
        cmocka_unit_test(test_format_small_buffer),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_readings_good),
        cmocka_unit_test(test_readings_failed),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_chiptemp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
