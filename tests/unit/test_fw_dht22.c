/* test_fw_dht22.c - DHT22 frame decode/encode and the 2 s read gate (firmware/core/dht22). */
#include "unit.h"

#include "firmware/core/dht22.h"

#include <string.h>

static void frame_of(uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3, uint8_t f[5])
{
    f[0] = b0;
    f[1] = b1;
    f[2] = b2;
    f[3] = b3;
    f[4] = (uint8_t)(b0 + b1 + b2 + b3);
}

static void test_decode_good(void **state)
{
    (void)state;
    static const struct {
        uint8_t b[4];
        int temp, hum;
    } cases[] = {
        {{0x02, 0x8c, 0x01, 0x5f}, 351, 652},   /* the datasheet's example: 65.2 %, 35.1 °C */
        {{0x01, 0xc5, 0x00, 0xd7}, 215, 453},   /* 45.3 %, 21.5 °C */
        {{0x02, 0x8c, 0x80, 0x65}, -101, 652},  /* sign bit: -10.1 °C */
        {{0x00, 0x00, 0x80, 0x05}, -5, 0},      /* -0.5 °C, 0 % */
        {{0x03, 0xe8, 0x81, 0x90}, -400, 1000}, /* range ends: -40.0 °C, 100.0 % */
        {{0x03, 0xe8, 0x03, 0x20}, 800, 1000},  /* 80.0 °C */
        {{0x01, 0x00, 0x80, 0x00}, 0, 256},     /* negative zero decodes as 0 */
        {{0x00, 0x00, 0x00, 0x00}, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t f[5];
        frame_of(cases[i].b[0], cases[i].b[1], cases[i].b[2], cases[i].b[3], f);
        struct dht22_reading r = {-1, -1};
        assert_int_equal(dht22_decode(f, sizeof f, &r), DHT22_OK);
        assert_int_equal(r.temp_dc, cases[i].temp);
        assert_int_equal(r.humidity_dc, cases[i].hum);
    }
}

static void test_decode_checksum(void **state)
{
    (void)state;
    uint8_t good[5];
    frame_of(0x01, 0xc5, 0x00, 0xd7, good);
    /* every single flipped bit, data or checksum, is caught */
    for (int bit = 0; bit < 40; bit++) {
        uint8_t f[5];
        memcpy(f, good, sizeof f);
        f[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
        struct dht22_reading r = {7, 7};
        assert_int_equal(dht22_decode(f, sizeof f, &r), DHT22_ERR_CHECKSUM);
        assert_int_equal(r.temp_dc, 7); /* untouched on error */
    }
    uint8_t zero_sum[5] = {0x01, 0xc5, 0x00, 0xd7, 0x00};
    struct dht22_reading r;
    assert_int_equal(dht22_decode(zero_sum, 5, &r), DHT22_ERR_CHECKSUM);
}

static void test_decode_range(void **state)
{
    (void)state;
    static const uint8_t cases[][4] = {
        {0x03, 0xe9, 0x00, 0xd7}, /* 100.1 % */
        {0xff, 0xff, 0x00, 0xd7}, /* 6553.5 % */
        {0x01, 0xc5, 0x81, 0x91}, /* -40.1 °C */
        {0x01, 0xc5, 0x03, 0x21}, /* 80.1 °C */
        {0x01, 0xc5, 0x7f, 0xff}, /* 3276.7 °C */
        {0x01, 0xc5, 0xff, 0xff}, /* -3276.7 °C */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t f[5];
        frame_of(cases[i][0], cases[i][1], cases[i][2], cases[i][3], f);
        struct dht22_reading r = {7, 7};
        assert_int_equal(dht22_decode(f, sizeof f, &r), DHT22_ERR_RANGE);
        assert_int_equal(r.humidity_dc, 7);
    }
}

static void test_decode_truncated(void **state)
{
    (void)state;
    uint8_t f[5];
    frame_of(0x01, 0xc5, 0x00, 0xd7, f);
    struct dht22_reading r;
    for (size_t len = 0; len < 5; len++)
        assert_int_equal(dht22_decode(f, len, &r), DHT22_ERR_TRUNCATED);
    assert_int_equal(dht22_decode(NULL, 5, &r), DHT22_ERR_TRUNCATED);
    /* extra bytes after the frame are ignored */
    uint8_t longer[6] = {f[0], f[1], f[2], f[3], f[4], 0xaa};
    assert_int_equal(dht22_decode(longer, sizeof longer, &r), DHT22_OK);
}

static void test_encode_round_trip(void **state)
{
    (void)state;
    static const int hums[] = {0, 1, 255, 256, 453, 999, 1000};
    for (int t = DHT22_TEMP_MIN_DC; t <= DHT22_TEMP_MAX_DC; t++)
        for (size_t h = 0; h < sizeof hums / sizeof hums[0]; h++) {
            uint8_t f[5];
            assert_int_equal(dht22_encode(t, hums[h], f), 0);
            struct dht22_reading r;
            assert_int_equal(dht22_decode(f, sizeof f, &r), DHT22_OK);
            assert_int_equal(r.temp_dc, t);
            assert_int_equal(r.humidity_dc, hums[h]);
        }
    uint8_t f[5];
    assert_int_equal(dht22_encode(-101, 652, f), 0);
    assert_memory_equal(f, ((uint8_t[]){0x02, 0x8c, 0x80, 0x65, 0x73}), 5);
}

static void test_encode_limits(void **state)
{
    (void)state;
    uint8_t f[5];
    struct dht22_reading r;
    /* the format carries values the sensor cannot measure; decode refuses them */
    assert_int_equal(dht22_encode(801, 500, f), 0);
    assert_int_equal(dht22_decode(f, 5, &r), DHT22_ERR_RANGE);
    assert_int_equal(dht22_encode(0, 1001, f), 0);
    assert_int_equal(dht22_decode(f, 5, &r), DHT22_ERR_RANGE);
    assert_int_equal(dht22_encode(-32767, 65535, f), 0);
    /* values the format cannot carry */
    assert_int_equal(dht22_encode(-32768, 0, f), -1);
    assert_int_equal(dht22_encode(32768, 0, f), -1);
    assert_int_equal(dht22_encode(0, -1, f), -1);
    assert_int_equal(dht22_encode(0, 65536, f), -1);
}

/* A scripted bus: answers with the next frame/length and counts transfers. */
struct fake_bus {
    uint8_t frame[5];
    int len;
    int calls;
};

static int fake_bus_read(void *ctx, uint8_t frame[DHT22_FRAME_LEN])
{
    struct fake_bus *b = ctx;
    b->calls++;
    memcpy(frame, b->frame, sizeof b->frame);
    return b->len;
}

static void test_read_gate(void **state)
{
    (void)state;
    struct fake_bus bus = {.len = 5};
    struct dht22 d;
    dht22_init(&d, fake_bus_read, &bus);
    struct dht22_reading r;
    dht22_encode(215, 453, bus.frame);
    assert_true(dht22_ready(&d, 12345));
    assert_int_equal(dht22_read(&d, 1000, &r), DHT22_OK);
    assert_int_equal(r.temp_dc, 215);
    assert_int_equal(bus.calls, 1);

    /* within 2 s: no transfer, the last values */
    dht22_encode(-30, 900, bus.frame);
    assert_false(dht22_ready(&d, 2999));
    r.temp_dc = 0;
    assert_int_equal(dht22_read(&d, 2999, &r), DHT22_CACHED);
    assert_int_equal(r.temp_dc, 215);
    assert_int_equal(r.humidity_dc, 453);
    assert_int_equal(bus.calls, 1);

    /* exactly 2 s later: a new transfer */
    assert_int_equal(dht22_read(&d, 3000, &r), DHT22_OK);
    assert_int_equal(r.temp_dc, -30);
    assert_int_equal(bus.calls, 2);
}

static void test_read_gate_wraps(void **state)
{
    (void)state;
    struct fake_bus bus = {.len = 5};
    dht22_encode(100, 100, bus.frame);
    struct dht22 d;
    dht22_init(&d, fake_bus_read, &bus);
    struct dht22_reading r;
    assert_int_equal(dht22_read(&d, 0xfffffc18u, &r), DHT22_OK);     /* 1 s before the 32-bit clock wraps */
    assert_int_equal(dht22_read(&d, 0x000003e7u, &r), DHT22_CACHED); /* 1.999 s later */
    assert_int_equal(dht22_read(&d, 0x000003e8u, &r), DHT22_OK);     /* 2 s later */
    assert_int_equal(bus.calls, 2);
}

static void test_read_failures(void **state)
{
    (void)state;
    struct fake_bus bus = {.len = 0};
    struct dht22 d;
    dht22_init(&d, fake_bus_read, &bus);
    struct dht22_reading r = {7, 7};
    assert_int_equal(dht22_read(&d, 0, &r), DHT22_ERR_TIMEOUT);
    assert_int_equal(r.temp_dc, 7);
    /* a failed transfer also starts the 2 s wait, and leaves nothing to reuse */
    assert_int_equal(dht22_read(&d, 1000, &r), DHT22_ERR_TOO_SOON);
    assert_int_equal(bus.calls, 1);

    bus.len = -1;
    assert_int_equal(dht22_read(&d, 2000, &r), DHT22_ERR_TIMEOUT);
    bus.len = 3;
    dht22_encode(215, 453, bus.frame);
    assert_int_equal(dht22_read(&d, 4000, &r), DHT22_ERR_TRUNCATED);
    bus.len = 5;
    bus.frame[4] ^= 1;
    assert_int_equal(dht22_read(&d, 6000, &r), DHT22_ERR_CHECKSUM);
    dht22_encode(900, 453, bus.frame);
    assert_int_equal(dht22_read(&d, 8000, &r), DHT22_ERR_RANGE);
    assert_int_equal(r.temp_dc, 7);

    /* a good read, then a bad one: too soon after the bad one gives no stale values */
    dht22_encode(215, 453, bus.frame);
    assert_int_equal(dht22_read(&d, 10000, &r), DHT22_OK);
    bus.len = 0;
    assert_int_equal(dht22_read(&d, 12000, &r), DHT22_ERR_TIMEOUT);
    assert_int_equal(dht22_read(&d, 13000, &r), DHT22_ERR_TOO_SOON);
    /* a bus claiming more than 5 bytes is read as 5 */
    bus.len = 40;
    assert_int_equal(dht22_read(&d, 14000, &r), DHT22_OK);
    assert_int_equal(bus.calls, 8);
}

static void test_strerror(void **state)
{
    (void)state;
    for (int s = DHT22_ERR_PULSE; s <= 2; s++)
        assert_non_null(dht22_strerror(s));
    assert_string_equal(dht22_strerror(DHT22_ERR_CHECKSUM), "checksum mismatch");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_good),       cmocka_unit_test(test_decode_checksum),
        cmocka_unit_test(test_decode_range),      cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_encode_round_trip), cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_read_gate),         cmocka_unit_test(test_read_gate_wraps),
        cmocka_unit_test(test_read_failures),     cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
