/* test_fw_dht22_pulses.c - DHT22 pulse trains (level widths in µs) to frames: bits, stuck lines, truncation, odd
 * widths. */
#include "unit.h"

#include "firmware/core/dht22.h"

#include <string.h>

/* A good train for temp_dc/humidity_dc with nominal widths. */
static size_t train_of(int32_t temp_dc, int32_t humidity_dc, uint16_t us[DHT22_TRAIN_MAX])
{
    uint8_t f[DHT22_FRAME_LEN];
    assert_int_equal(dht22_encode(temp_dc, humidity_dc, f), 0);
    return dht22_pulses_from_frame(f, us);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const int32_t temps[] = {-400, -101, -5, 0, 1, 215, 351, 800};
    static const int32_t hums[] = {0, 1, 255, 256, 453, 652, 1000};
    for (size_t t = 0; t < sizeof temps / sizeof temps[0]; t++)
        for (size_t h = 0; h < sizeof hums / sizeof hums[0]; h++) {
            uint16_t us[DHT22_TRAIN_MAX];
            size_t n = train_of(temps[t], hums[h], us);
            assert_int_equal(n, DHT22_TRAIN_MAX);
            struct dht22_reading r = {0, 0};
            assert_int_equal(dht22_decode_pulses(us, n, &r), DHT22_OK);
            assert_int_equal(r.temp_dc, temps[t]);
            assert_int_equal(r.humidity_dc, hums[h]);
            /* the closing low is optional */
            assert_int_equal(dht22_decode_pulses(us, DHT22_TRAIN_LEN, &r), DHT22_OK);
        }
}

static void test_datasheet_frame(void **state)
{
    (void)state;
    /* 0x028c 0x015f 0xee: 65.2 %RH, 35.1 °C, the datasheet's example, bit by bit */
    static const uint8_t want[5] = {0x02, 0x8c, 0x01, 0x5f, 0xee};
    uint16_t us[DHT22_TRAIN_MAX];
    us[0] = 20;
    us[1] = 78;
    us[2] = 84;
    for (int bit = 0; bit < 40; bit++) {
        us[3 + 2 * bit] = 54;
        us[4 + 2 * bit] = (want[bit / 8] & (0x80 >> (bit % 8))) ? 72 : 24;
    }
    us[83] = 49;
    uint8_t f[5];
    assert_int_equal(dht22_pulses_to_frame(us, DHT22_TRAIN_MAX, f), DHT22_FRAME_LEN);
    assert_memory_equal(f, want, 5);
    struct dht22_reading r;
    assert_int_equal(dht22_decode_pulses(us, DHT22_TRAIN_MAX, &r), DHT22_OK);
    assert_int_equal(r.temp_dc, 351);
    assert_int_equal(r.humidity_dc, 652);
}

static void test_bit_threshold(void **state)
{
    (void)state;
    /* every high width in the bit window decodes, < 50 µs as 0, from 50 µs as 1 */
    for (uint16_t w = DHT22_BIT_HIGH_MIN_US; w <= DHT22_BIT_HIGH_MAX_US; w++) {
        uint16_t us[DHT22_TRAIN_MAX];
        train_of(0, 0, us); /* all zero bits */
        us[4] = w;          /* bit 0: the top bit of the humidity */
        uint8_t f[5];
        assert_int_equal(dht22_pulses_to_frame(us, DHT22_TRAIN_MAX, f), DHT22_FRAME_LEN);
        assert_int_equal(f[0], w >= DHT22_BIT_ONE_US ? 0x80 : 0x00);
    }
    /* timing jitter that a timed GPIO read sees: 0 = 22..30 µs, 1 = 65..80 µs */
    uint16_t us[DHT22_TRAIN_MAX];
    size_t n = train_of(215, 453, us);
    for (size_t i = 0; i < DHT22_BITS; i++) {
        uint16_t *hi = &us[DHT22_TRAIN_BITS_AT + 2 * i + 1];
        *hi = *hi > 50 ? (uint16_t)(65 + i % 16) : (uint16_t)(22 + i % 9);
        us[DHT22_TRAIN_BITS_AT + 2 * i] = (uint16_t)(45 + i % 12);
    }
    struct dht22_reading r;
    assert_int_equal(dht22_decode_pulses(us, n, &r), DHT22_OK);
    assert_int_equal(r.temp_dc, 215);
    assert_int_equal(r.humidity_dc, 453);
}

static void test_bad_widths(void **state)
{
    (void)state;
    static const struct {
        size_t at;
        uint16_t us;
        int want;
    } cases[] = {
        {1, DHT22_ACK_MIN_US - 1, DHT22_ERR_PULSE},      /* answer low too short */
        {1, DHT22_ACK_MAX_US + 1, DHT22_ERR_PULSE},      /* answer low too long */
        {2, DHT22_ACK_MIN_US - 1, DHT22_ERR_PULSE},      /* answer high too short */
        {2, 0, DHT22_ERR_PULSE},                         /* a glitch */
        {3, DHT22_BIT_LOW_MIN_US - 1, DHT22_ERR_PULSE},  /* bit 0's low */
        {3, DHT22_BIT_LOW_MAX_US + 1, DHT22_ERR_PULSE},  /* bit 0's low */
        {4, DHT22_BIT_HIGH_MIN_US - 1, DHT22_ERR_PULSE}, /* bit 0's high: a spike */
        {4, DHT22_BIT_HIGH_MAX_US + 1, DHT22_ERR_PULSE}, /* bit 0's high: neither 0 nor 1 */
        {81, 200, DHT22_ERR_PULSE},                      /* bit 39's low */
        {82, 150, DHT22_ERR_PULSE},                      /* bit 39's high */
        {0, 249, DHT22_FRAME_LEN},                       /* a slow answer is fine */
        {0, 0, DHT22_FRAME_LEN},                         /* so is one already under way */
        {1, DHT22_ACK_MIN_US, DHT22_FRAME_LEN},          /* window ends are inside */
        {2, DHT22_ACK_MAX_US, DHT22_FRAME_LEN},
        {83, 0, DHT22_FRAME_LEN},                      /* the closing low is not checked */
        {83, DHT22_LEVEL_TIMEOUT_US, DHT22_FRAME_LEN}, /* nor is the line after it */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t us[DHT22_TRAIN_MAX];
        size_t n = train_of(215, 453, us);
        us[cases[i].at] = cases[i].us;
        uint8_t f[5];
        assert_int_equal(dht22_pulses_to_frame(us, n, f), cases[i].want);
    }
}

static void test_stuck_line(void **state)
{
    (void)state;
    uint16_t us[DHT22_TRAIN_MAX];
    uint8_t f[5] = {1, 2, 3, 4, 5};
    struct dht22_reading r = {7, 7};

    /* nothing measured, or the line never left the pull-up: no answer */
    assert_int_equal(dht22_pulses_to_frame(NULL, 0, f), DHT22_ERR_TIMEOUT);
    assert_memory_equal(f, ((uint8_t[]){0, 0, 0, 0, 0}), 5);
    us[0] = DHT22_LEVEL_TIMEOUT_US;
    assert_int_equal(dht22_pulses_to_frame(us, 1, f), DHT22_ERR_TIMEOUT);
    us[0] = 0xffff;
    assert_int_equal(dht22_decode_pulses(us, 1, &r), DHT22_ERR_TIMEOUT);
    assert_int_equal(r.temp_dc, 7);

    /* the line was low already and stays low (shorted, no pull-up) */
    us[0] = 0;
    us[1] = DHT22_LEVEL_TIMEOUT_US;
    assert_int_equal(dht22_pulses_to_frame(us, 2, f), DHT22_ERR_BUS_LOW);

    /* held low in the middle of the frame: every low position */
    for (size_t bit = 0; bit < DHT22_BITS; bit++) {
        train_of(215, 453, us);
        us[DHT22_TRAIN_BITS_AT + 2 * bit] = DHT22_LEVEL_TIMEOUT_US;
        assert_int_equal(dht22_pulses_to_frame(us, DHT22_TRAIN_BITS_AT + 2 * bit + 1, f), DHT22_ERR_BUS_LOW);
    }
    /* held high after the answer started: the sensor stopped, the pull-up holds the line */
    train_of(215, 453, us);
    us[2] = DHT22_LEVEL_TIMEOUT_US;
    assert_int_equal(dht22_pulses_to_frame(us, 3, f), DHT22_ERR_TRUNCATED);
    train_of(215, 453, us);
    us[40] = DHT22_LEVEL_TIMEOUT_US; /* bit 18's high */
    assert_int_equal(dht22_pulses_to_frame(us, 41, f), DHT22_ERR_TRUNCATED);
    /* the bits before the fault are kept: the humidity bytes 0x01 0xc5 and 2 bits of byte 2 */
    assert_int_equal(f[0], 0x01);
    assert_int_equal(f[1], 0xc5);
    assert_int_equal(f[2], 0x00);
}

static void test_truncated(void **state)
{
    (void)state;
    uint16_t us[DHT22_TRAIN_MAX];
    size_t full = train_of(215, 453, us);
    uint8_t f[5];
    struct dht22_reading r = {7, 7};
    for (size_t n = 1; n < DHT22_TRAIN_LEN; n++) {
        assert_int_equal(dht22_pulses_to_frame(us, n, f), DHT22_ERR_TRUNCATED);
        assert_int_equal(dht22_decode_pulses(us, n, &r), DHT22_ERR_TRUNCATED);
    }
    assert_int_equal(r.temp_dc, 7);
    assert_int_equal(dht22_pulses_to_frame(us, DHT22_TRAIN_LEN, f), DHT22_FRAME_LEN);
    assert_int_equal(dht22_pulses_to_frame(us, full, f), DHT22_FRAME_LEN);
    /* the first fault wins: an odd width before the end of a short train */
    us[10] = 5;
    assert_int_equal(dht22_pulses_to_frame(us, 20, f), DHT22_ERR_PULSE);
}

static void test_checksum_and_range_after_pulses(void **state)
{
    (void)state;
    uint16_t us[DHT22_TRAIN_MAX];
    size_t n = train_of(215, 453, us);
    struct dht22_reading r;
    /* a 0 read as a 1: the frame is whole, the checksum catches it */
    for (size_t bit = 0; bit < DHT22_BITS; bit++) {
        uint16_t keep = us[DHT22_TRAIN_BITS_AT + 2 * bit + 1];
        us[DHT22_TRAIN_BITS_AT + 2 * bit + 1] = keep > 50 ? 27 : 70;
        assert_int_equal(dht22_decode_pulses(us, n, &r), DHT22_ERR_CHECKSUM);
        us[DHT22_TRAIN_BITS_AT + 2 * bit + 1] = keep;
    }
    n = train_of(801, 453, us);
    assert_int_equal(dht22_decode_pulses(us, n, &r), DHT22_ERR_RANGE);
    n = train_of(-400, 1000, us);
    assert_int_equal(dht22_decode_pulses(us, n, &r), DHT22_OK);
    assert_int_equal(r.temp_dc, -400);
}

/* A port's bus function that decodes a recorded train, as firmware/pico does. */
struct train_bus {
    uint16_t us[DHT22_TRAIN_MAX];
    size_t n;
};

static int train_bus_read(void *ctx, uint8_t frame[DHT22_FRAME_LEN])
{
    struct train_bus *b = ctx;
    return dht22_pulses_to_frame(b->us, b->n, frame);
}

static void test_read_through_pulses(void **state)
{
    (void)state;
    struct train_bus bus;
    struct dht22 d;
    dht22_init(&d, train_bus_read, &bus);
    struct dht22_reading r = {7, 7};

    bus.n = train_of(-32, 881, bus.us);
    assert_int_equal(dht22_read(&d, 0, &r), DHT22_OK);
    assert_int_equal(r.temp_dc, -32);
    assert_int_equal(r.humidity_dc, 881);

    /* the port's findings come through dht22_read as they are */
    bus.us[0] = 0;
    bus.us[1] = DHT22_LEVEL_TIMEOUT_US;
    bus.n = 2;
    assert_int_equal(dht22_read(&d, 2000, &r), DHT22_ERR_BUS_LOW);
    assert_string_equal(dht22_strerror(DHT22_ERR_BUS_LOW), "data line held low");
    bus.n = train_of(215, 453, bus.us);
    bus.us[30] = 3;
    assert_int_equal(dht22_read(&d, 4000, &r), DHT22_ERR_PULSE);
    assert_string_equal(dht22_strerror(DHT22_ERR_PULSE), "pulse width out of range");
    bus.n = 50;
    bus.us[30] = 27;
    assert_int_equal(dht22_read(&d, 6000, &r), DHT22_ERR_TRUNCATED);
    bus.us[0] = DHT22_LEVEL_TIMEOUT_US;
    assert_int_equal(dht22_read(&d, 8000, &r), DHT22_ERR_TIMEOUT);
    assert_int_equal(dht22_read(&d, 9000, &r), DHT22_ERR_TOO_SOON);
    assert_int_equal(r.temp_dc, -32); /* untouched by the failures */
    bus.n = train_of(215, 453, bus.us);
    assert_int_equal(dht22_read(&d, 10000, &r), DHT22_OK);
    assert_int_equal(r.temp_dc, 215);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_datasheet_frame),
        cmocka_unit_test(test_bit_threshold),
        cmocka_unit_test(test_bad_widths),
        cmocka_unit_test(test_stuck_line),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_checksum_and_range_after_pulses),
        cmocka_unit_test(test_read_through_pulses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
