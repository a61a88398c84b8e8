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

/* A short static description of a dht22_status ("checksum mismatch"). */
const char *dht22_strerror(int status);

/*
 * Run one transfer on the wire: write up to DHT22_FRAME_LEN bytes into frame and
 * return how many complete bytes arrived; 0 or a negative value means the sensor
 * did not answer. ctx is the pointer given to dht22_init().
 */
typedef int (*dht22_bus_fn)(void *ctx, uint8_t frame[DHT22_FRAME_LEN]);

/*
 * One sensor. Times are milliseconds of a free-running 32-bit clock (the Pico's
 * to_ms_since_boot()); comparisons are wrap-safe.
 */
struct dht22 {
    dht22_bus_fn bus;
    void *bus_ctx;           /* borrowed; passed to bus */
    bool has_read;           /* a transfer has been started at least once */
    uint32_t last_read_ms;   /* start of the last transfer, good or bad */
    int last_status;         /* result of the last transfer */
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
