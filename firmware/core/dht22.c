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

const char *dht22_strerror(int status)
{
    switch (status) {
    case DHT22_OK:
        return "ok";
    case DHT22_CACHED:
        return "too soon, last values reused";
    case DHT22_ERR_TIMEOUT:
        return "no answer from the sensor";
    case DHT22_ERR_TRUNCATED:
        return "transfer shorter than 40 bits";
    case DHT22_ERR_CHECKSUM:
        return "checksum mismatch";
    case DHT22_ERR_RANGE:
        return "value outside the sensor's range";
    case DHT22_ERR_TOO_SOON:
        return "too soon after a failed read";
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
    if (n <= 0)
        d->last_status = DHT22_ERR_TIMEOUT;
    else
        d->last_status = dht22_decode(frame, n > DHT22_FRAME_LEN ? DHT22_FRAME_LEN : (size_t)n, &d->last);
    if (d->last_status == DHT22_OK)
        *out = d->last;
    return d->last_status;
}
