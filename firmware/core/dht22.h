/*
 * dht22.h - the DHT22 (AM2302) temperature and humidity sensor: frame decode,
 * frame encode, and the 2 s gate between reads.
 *
 * Portable C11 with only the C standard library: the Pico W port and the host
 * simulator (`sensorpipe sim`) build this same file. The port supplies a bus
 * function that runs one transfer on the wire; the simulator supplies one that
 * hands back a frame made with dht22_encode(), so simulated values go through
 * the real decode path.
 *
 * One read is 40 bits, most significant first, here as 5 bytes:
 *   [0..1] relative humidity in tenths of a percent, big-endian (sensor range 0..1000)
 *   [2..3] temperature in tenths of a degree Celsius, big-endian; bit 15 is the
 *          sign, bits 0..14 the magnitude (sensor range -400..800)
 *   [4]    checksum: the low 8 bits of the sum of bytes 0..3
 * The sensor allows one read every 2 s; reading sooner returns stale or bad data.
 *
 * On the wire (one data line, pulled up to 3.3 V) the host pulls the line low for
 * at least 1 ms and lets go; the sensor answers 80 µs low, 80 µs high, then sends
 * each bit as 50 µs low followed by a high whose width is the bit (26..28 µs = 0,
 * 70 µs = 1), and ends with 50 µs low. dht22_pulses_to_frame() turns the level
 * widths a port measured into the 5 bytes; dht22_pulses_from_frame() makes the
 * widths a sensor would send, for the simulator and the tests.
 */
#ifndef FW_DHT22_H
#define FW_DHT22_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT22_FRAME_LEN 5
#define DHT22_MIN_INTERVAL_MS 2000u

#define DHT22_HUMIDITY_MIN_DC 0
#define DHT22_HUMIDITY_MAX_DC 1000
#define DHT22_TEMP_MIN_DC (-400)
#define DHT22_TEMP_MAX_DC 800

enum dht22_status {
    DHT22_OK = 0,
    DHT22_CACHED = 1,         /* too soon after the last read, which was good: *out holds its values */
    DHT22_ERR_TIMEOUT = -1,   /* the sensor did not answer */
    DHT22_ERR_TRUNCATED = -2, /* the transfer stopped before 40 bits */
    DHT22_ERR_CHECKSUM = -3,  /* byte 4 is not the sum of bytes 0..3 */
    DHT22_ERR_RANGE = -4,     /* checksum good, values outside what the sensor can measure */
    DHT22_ERR_TOO_SOON = -5,  /* too soon after the last read, which failed: nothing to reuse */
    DHT22_ERR_BUS_LOW = -6,   /* the data line stayed low: shorted, no pull-up, or a hung sensor */
    DHT22_ERR_PULSE = -7,     /* a level of the transfer was too short or too long for the protocol */
};

/* A decoded read, in tenths: 215 = 21.5 °C, 453 = 45.3 %RH. */
struct dht22_reading {
    int16_t temp_dc;
    int16_t humidity_dc;
};

/*
 * Decode frame[0..len). Returns DHT22_OK and fills *out, or DHT22_ERR_TRUNCATED
 * (len < 5), DHT22_ERR_CHECKSUM or DHT22_ERR_RANGE and leaves *out alone.
 * A negative zero temperature (0x8000) decodes as 0.
 */
int dht22_decode(const uint8_t *frame, size_t len, struct dht22_reading *out);

/*
 * Encode tenths into a frame as the sensor sends it, checksum included. Any
 * value the wire format can carry is accepted (humidity 0..65535, temperature
 * -32767..32767), also values out of the sensor's range, so tests can make
 * them. Returns 0, or -1 when the value does not fit the format.
 */
int dht22_encode(int32_t temp_dc, int32_t humidity_dc, uint8_t frame[DHT22_FRAME_LEN]);

/*
 * The transfer as a timed read of the data line sees it: a pulse train, the width
 * in µs of every level from the moment the host releases the line.
 *   us[0]          high  the pull-up, until the sensor answers (20..200 µs)
 *   us[1], us[2]   low, high  the sensor's answer (80 µs each)
 *   us[3 + 2i]     low   before bit i (50 µs)
 *   us[4 + 2i]     high  bit i, most significant first: < 50 µs is 0 (26..28), else 1 (70)
 *   us[83]         low   end of the frame (50 µs); optional, as is anything after it
 * A level that lasts DHT22_LEVEL_TIMEOUT_US or longer is recorded as that value
 * and ends the train: the line was held there.
 */
#define DHT22_BITS 40
#define DHT22_TRAIN_BITS_AT 3                                  /* index of the low before bit 0 */
#define DHT22_TRAIN_LEN (DHT22_TRAIN_BITS_AT + 2 * DHT22_BITS) /* 83 levels: up to the high of bit 39 */
#define DHT22_TRAIN_MAX (DHT22_TRAIN_LEN + 1)                  /* 84 with the closing low */
#define DHT22_LEVEL_TIMEOUT_US 250u /* a level this long is a stuck line (the longest valid one is 200 µs) */
#define DHT22_ACK_MIN_US 40u        /* the answer's low and high, nominally 80 µs */
#define DHT22_ACK_MAX_US 130u
#define DHT22_BIT_LOW_MIN_US 25u /* the low before a bit, nominally 50 µs */
#define DHT22_BIT_LOW_MAX_US 100u
#define DHT22_BIT_HIGH_MIN_US 10u /* the high of a bit: 26..28 µs = 0, 70 µs = 1 */
#define DHT22_BIT_HIGH_MAX_US 110u
#define DHT22_BIT_ONE_US 50u /* threshold: a high at least this long is a 1 */

/*
 * Turn the pulse train us[0..n) into a frame. Checks the levels in the order they
 * came and reports the first fault:
 *   DHT22_ERR_TIMEOUT    n == 0, or us[0] timed out: no answer, the line stayed high
 *   DHT22_ERR_BUS_LOW    a low level timed out: the line is held low
 *   DHT22_ERR_TRUNCATED  the train ends, or a high after the answer times out (the
 *                        sensor stopped and the pull-up holds the line), before bit 39
 *   DHT22_ERR_PULSE      a level outside its window (DHT22_ACK_*, DHT22_BIT_*)
 * Returns DHT22_FRAME_LEN with frame[] filled, or one of these errors (frame[]
 * then holds the bits decoded so far, the rest 0). Checksum and range are
 * dht22_decode()'s job. us may be NULL when n is 0.
 */
int dht22_pulses_to_frame(const uint16_t *us, size_t n, uint8_t frame[DHT22_FRAME_LEN]);

/* dht22_pulses_to_frame() then dht22_decode(): DHT22_OK with *out filled, or an error (*out untouched). */
int dht22_decode_pulses(const uint16_t *us, size_t n, struct dht22_reading *out);

/*
 * The pulse train a sensor sends for frame, with nominal widths (Tgo 30 µs,
 * answer 80/80, bit low 50, bit high 27 or 70, closing low 50): fills
 * us[0..DHT22_TRAIN_MAX) and returns DHT22_TRAIN_MAX. For the simulator and tests.
 */
size_t dht22_pulses_from_frame(const uint8_t frame[DHT22_FRAME_LEN], uint16_t us[DHT22_TRAIN_MAX]);

/* A short static description of a dht22_status ("checksum mismatch"). */
const char *dht22_strerror(int status);

/*
 * Run one transfer on the wire: write up to DHT22_FRAME_LEN bytes into frame and
 * return how many complete bytes arrived (0: the sensor did not answer), or a
 * negative dht22_status saying what went wrong on the wire (a port that times the
 * levels returns what dht22_pulses_to_frame() found; any other negative value
 * counts as DHT22_ERR_TIMEOUT). ctx is the pointer given to dht22_init().
 */
typedef int (*dht22_bus_fn)(void *ctx, uint8_t frame[DHT22_FRAME_LEN]);

/*
 * One sensor. Times are milliseconds of a free-running 32-bit clock (the Pico's
 * to_ms_since_boot()); comparisons are wrap-safe.
 */
struct dht22 {
    dht22_bus_fn bus;
    void *bus_ctx;             /* borrowed; passed to bus */
    bool has_read;             /* a transfer has been started at least once */
    uint32_t last_read_ms;     /* start of the last transfer, good or bad */
    int last_status;           /* result of the last transfer */
    struct dht22_reading last; /* values of the last transfer when last_status == DHT22_OK */
};

/* Prepare a sensor on the given bus; no transfer is made. */
void dht22_init(struct dht22 *d, dht22_bus_fn bus, void *bus_ctx);

/* True when a transfer may start at now_ms (2 s since the last one, or none yet). */
bool dht22_ready(const struct dht22 *d, uint32_t now_ms);

/*
 * Read the sensor at now_ms. When ready, runs one transfer and returns its
 * status (DHT22_OK with *out filled, or an error). When too soon, runs no
 * transfer and returns DHT22_CACHED with the last values in *out if the last
 * transfer was good, else DHT22_ERR_TOO_SOON.
 */
int dht22_read(struct dht22 *d, uint32_t now_ms, struct dht22_reading *out);

#endif
