/* dht22.c - DHT22 frame decode/encode and the 2 s read gate (see dht22.h). */
#include "dht22.h"

static uint8_t dht22_checksum(const uint8_t *frame)
{
    return (uint8_t)(frame[0] + frame[1] + frame[2] + frame[3]);
}

int dht22_decode(const uint8_t *frame, size_t len, struct dht22_reading *out)
{
    if (!frame || len < DHT22_FRAME_LEN)
        return DHT22_ERR_TRUNCATED;
    if (dht22_checksum(frame) != frame[4])
        return DHT22_ERR_CHECKSUM;
    int32_t humidity = (int32_t)((uint32_t)frame[0] << 8 | frame[1]);
    int32_t temp = (int32_t)((uint32_t)(frame[2] & 0x7f) << 8 | frame[3]);
    if (frame[2] & 0x80)
        temp = -temp;
    if (humidity < DHT22_HUMIDITY_MIN_DC || humidity > DHT22_HUMIDITY_MAX_DC || temp < DHT22_TEMP_MIN_DC ||
        temp > DHT22_TEMP_MAX_DC)
        return DHT22_ERR_RANGE;
    out->temp_dc = (int16_t)temp;
    out->humidity_dc = (int16_t)humidity;
    return DHT22_OK;
}

int dht22_encode(int32_t temp_dc, int32_t humidity_dc, uint8_t frame[DHT22_FRAME_LEN])
{
    if (humidity_dc < 0 || humidity_dc > 0xffff || temp_dc < -0x7fff || temp_dc > 0x7fff)
        return -1;
    uint32_t magnitude = (uint32_t)(temp_dc < 0 ? -temp_dc : temp_dc);
    frame[0] = (uint8_t)((uint32_t)humidity_dc >> 8);
    frame[1] = (uint8_t)((uint32_t)humidity_dc & 0xff);
    frame[2] = (uint8_t)((magnitude >> 8) | (temp_dc < 0 ? 0x80u : 0u));
    frame[3] = (uint8_t)(magnitude & 0xff);
    frame[4] = dht22_checksum(frame);
    return 0;
}

/* One level of the train: DHT22_OK when its width lies in [min, max], else what a stuck or odd level means. */
static int dht22_level(uint16_t us, bool low, uint32_t min, uint32_t max, int high_timeout)
{
    if (us >= DHT22_LEVEL_TIMEOUT_US)
        return low ? DHT22_ERR_BUS_LOW : high_timeout;
    return us < min || us > max ? DHT22_ERR_PULSE : DHT22_OK;
}

int dht22_pulses_to_frame(const uint16_t *us, size_t n, uint8_t frame[DHT22_FRAME_LEN])
{
    for (size_t i = 0; i < DHT22_FRAME_LEN; i++)
        frame[i] = 0;
    if (n == 0 || !us)
        return DHT22_ERR_TIMEOUT;
    /* us[0]: the pull-up before the answer; any width short of the timeout will do */
    if (us[0] >= DHT22_LEVEL_TIMEOUT_US)
        return DHT22_ERR_TIMEOUT;
    for (size_t i = 1; i < DHT22_TRAIN_BITS_AT; i++) {
        if (i >= n)
            return DHT22_ERR_TRUNCATED;
        bool low = i == 1;
        int rc = dht22_level(us[i], low, DHT22_ACK_MIN_US, DHT22_ACK_MAX_US, DHT22_ERR_TRUNCATED);
        if (rc != DHT22_OK)
            return rc;
    }
    for (size_t bit = 0; bit < DHT22_BITS; bit++) {
        size_t at = DHT22_TRAIN_BITS_AT + 2 * bit;
        if (at >= n)
            return DHT22_ERR_TRUNCATED;
        int rc = dht22_level(us[at], true, DHT22_BIT_LOW_MIN_US, DHT22_BIT_LOW_MAX_US, DHT22_ERR_TRUNCATED);
        if (rc != DHT22_OK)
            return rc;
        if (at + 1 >= n)
            return DHT22_ERR_TRUNCATED;
        rc = dht22_level(us[at + 1], false, DHT22_BIT_HIGH_MIN_US, DHT22_BIT_HIGH_MAX_US, DHT22_ERR_TRUNCATED);
        if (rc != DHT22_OK)
            return rc;
        if (us[at + 1] >= DHT22_BIT_ONE_US)
            frame[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
    }
    return DHT22_FRAME_LEN;
}

int dht22_decode_pulses(const uint16_t *us, size_t n, struct dht22_reading *out)
{
    uint8_t frame[DHT22_FRAME_LEN];
    int rc = dht22_pulses_to_frame(us, n, frame);
    return rc < 0 ? rc : dht22_decode(frame, DHT22_FRAME_LEN, out);
}

size_t dht22_pulses_from_frame(const uint8_t frame[DHT22_FRAME_LEN], uint16_t us[DHT22_TRAIN_MAX])
{
    us[0] = 30;
    us[1] = 80;
    us[2] = 80;
    for (size_t bit = 0; bit < DHT22_BITS; bit++) {
        us[DHT22_TRAIN_BITS_AT + 2 * bit] = 50;
        us[DHT22_TRAIN_BITS_AT + 2 * bit + 1] = (frame[bit / 8] & (0x80u >> (bit % 8))) ? 70 : 27;
    }
    us[DHT22_TRAIN_LEN] = 50;
    return DHT22_TRAIN_MAX;
}

const char *dht22_strerror(int status)
{
    switch (status) {
    case DHT22_OK:
        return "ok";
    case DHT22_CACHED:
        return "too soon, last values reused";
    case DHT22_ERR_TIMEOUT:
        return "no answer from the sensor (line stays high)";
    case DHT22_ERR_TRUNCATED:
        return "transfer shorter than 40 bits";
    case DHT22_ERR_CHECKSUM:
        return "checksum mismatch";
    case DHT22_ERR_RANGE:
        return "value outside the sensor's range";
    case DHT22_ERR_TOO_SOON:
        return "too soon after a failed read";
    case DHT22_ERR_BUS_LOW:
        return "data line held low";
    case DHT22_ERR_PULSE:
        return "pulse width out of range";
    }
    return "unknown status";
}

void dht22_init(struct dht22 *d, dht22_bus_fn bus, void *bus_ctx)
{
    d->bus = bus;
    d->bus_ctx = bus_ctx;
    d->has_read = false;
    d->last_read_ms = 0;
    d->last_status = DHT22_ERR_TIMEOUT;
    d->last.temp_dc = 0;
    d->last.humidity_dc = 0;
}

bool dht22_ready(const struct dht22 *d, uint32_t now_ms)
{
    return !d->has_read || (uint32_t)(now_ms - d->last_read_ms) >= DHT22_MIN_INTERVAL_MS;
}

int dht22_read(struct dht22 *d, uint32_t now_ms, struct dht22_reading *out)
{
    if (!dht22_ready(d, now_ms)) {
        if (d->last_status != DHT22_OK)
            return DHT22_ERR_TOO_SOON;
        *out = d->last;
        return DHT22_CACHED;
    }
    uint8_t frame[DHT22_FRAME_LEN] = {0};
    int n = d->bus(d->bus_ctx, frame);
    d->has_read = true;
    d->last_read_ms = now_ms;
    if (n == DHT22_ERR_TRUNCATED || n == DHT22_ERR_CHECKSUM || n == DHT22_ERR_RANGE || n == DHT22_ERR_BUS_LOW ||
        n == DHT22_ERR_PULSE)
        d->last_status = n; /* what the port's decoder found on the wire */
    else if (n <= 0)
        d->last_status = DHT22_ERR_TIMEOUT;
    else
        d->last_status = dht22_decode(frame, n > DHT22_FRAME_LEN ? DHT22_FRAME_LEN : (size_t)n, &d->last);
    if (d->last_status == DHT22_OK)
        *out = d->last;
    return d->last_status;
}
