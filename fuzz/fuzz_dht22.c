/*
 * fuzz_dht22.c - libFuzzer target: the DHT22 decoders of firmware/core/dht22.c.
 *
 * Input byte 0 picks the mode:
 *   even: a pulse train, one byte per level = its width in µs (0..255, so
 *         timeouts at 250+ and every window edge are reachable), for
 *         dht22_pulses_to_frame() / dht22_decode_pulses() and dht22_read()
 *   odd:  raw frame bytes for dht22_decode(), and the frame -> pulses -> frame
 *         and encode -> decode round trips
 */
/* fuzz-max-len: 4096 (pulse trains far longer than the 83 levels of one DHT22 frame) */
#include "firmware/core/dht22.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_LEVELS_MAX 128

struct fuzz_bus {
    const uint16_t *us;
    size_t n;
};

static int fuzz_bus_read(void *ctx, uint8_t frame[DHT22_FRAME_LEN])
{
    const struct fuzz_bus *b = ctx;
    return dht22_pulses_to_frame(b->us, b->n, frame);
}

static void fuzz_check_reading(const struct dht22_reading *r)
{
    if (r->temp_dc < DHT22_TEMP_MIN_DC || r->temp_dc > DHT22_TEMP_MAX_DC || r->humidity_dc < DHT22_HUMIDITY_MIN_DC ||
        r->humidity_dc > DHT22_HUMIDITY_MAX_DC)
        abort(); /* decode promised the sensor's range */
}

static void fuzz_pulses(const uint8_t *data, size_t size)
{
    uint16_t us[FUZZ_LEVELS_MAX];
    size_t n = size < FUZZ_LEVELS_MAX ? size : FUZZ_LEVELS_MAX;
    for (size_t i = 0; i < n; i++)
        us[i] = data[i];
    uint8_t frame[DHT22_FRAME_LEN];
    int rc = dht22_pulses_to_frame(n ? us : NULL, n, frame);
    switch (rc) {
    case DHT22_FRAME_LEN: {
        /* a whole frame: the nominal train of that frame decodes to the same bytes */
        uint16_t again[DHT22_TRAIN_MAX];
        uint8_t back[DHT22_FRAME_LEN];
        if (dht22_pulses_from_frame(frame, again) != DHT22_TRAIN_MAX ||
            dht22_pulses_to_frame(again, DHT22_TRAIN_MAX, back) != DHT22_FRAME_LEN ||
            memcmp(frame, back, sizeof frame) != 0)
            abort();
        if (n < DHT22_TRAIN_LEN)
            abort(); /* 40 bits need 83 levels */
        break;
    }
    case DHT22_ERR_TIMEOUT:
    case DHT22_ERR_BUS_LOW:
    case DHT22_ERR_TRUNCATED:
    case DHT22_ERR_PULSE:
        break;
    default:
        abort(); /* checksum and range are decode's, and nothing else is documented */
    }
    struct dht22_reading r = {-1000, -1000};
    int st = dht22_decode_pulses(n ? us : NULL, n, &r);
    if (st == DHT22_OK)
        fuzz_check_reading(&r);
    else if (r.temp_dc != -1000 || r.humidity_dc != -1000)
        abort(); /* *out untouched on error */
    if ((rc < 0 && st != rc) || (rc == DHT22_FRAME_LEN && st > 0))
        abort();

    /* the same train through the read path a port uses */
    struct fuzz_bus bus = {us, n};
    struct dht22 d;
    dht22_init(&d, fuzz_bus_read, &bus);
    struct dht22_reading rr;
    if (dht22_read(&d, 0, &rr) != st)
        abort();
    if (dht22_read(&d, 1000, &rr) != (st == DHT22_OK ? DHT22_CACHED : DHT22_ERR_TOO_SOON))
        abort();
    if (!dht22_strerror(st))
        abort();
}

static void fuzz_frame(const uint8_t *data, size_t size)
{
    struct dht22_reading r = {-1000, -1000};
    int st = dht22_decode(data, size, &r);
    if (st == DHT22_OK) {
        fuzz_check_reading(&r);
        /* what decodes, encodes back to the same frame, except a negative zero */
        uint8_t f[DHT22_FRAME_LEN];
        if (dht22_encode(r.temp_dc, r.humidity_dc, f) != 0)
            abort();
        if (memcmp(f, data, DHT22_FRAME_LEN) != 0 && !(data[2] == 0x80 && data[3] == 0x00))
            abort();
    } else if (st != DHT22_ERR_TRUNCATED && st != DHT22_ERR_CHECKSUM && st != DHT22_ERR_RANGE) {
        abort();
    }
    if (size >= DHT22_FRAME_LEN) {
        uint16_t us[DHT22_TRAIN_MAX];
        uint8_t back[DHT22_FRAME_LEN];
        dht22_pulses_from_frame(data, us);
        if (dht22_pulses_to_frame(us, DHT22_TRAIN_MAX, back) != DHT22_FRAME_LEN ||
            memcmp(back, data, DHT22_FRAME_LEN) != 0)
            abort();
        struct dht22_reading p;
        if (dht22_decode_pulses(us, DHT22_TRAIN_MAX, &p) != st)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        fuzz_frame(data + 1, size - 1);
    else
        fuzz_pulses(data + 1, size - 1);
    return 0;
}
