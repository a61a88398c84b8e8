/* mqtt_encode.c - CONNECT, SUBSCRIBE, PUBACK, PINGREQ and DISCONNECT as bytes (see mqtt_encode.h). */
#include "mqtt_encode.h"

#include "mqtt_frame.h"

#include <string.h>

const uint8_t mqtt_pingreq[MQTT_PINGREQ_LEN] = {MQTT_PINGREQ << 4, 0};
const uint8_t mqtt_disconnect[MQTT_DISCONNECT_LEN] = {MQTT_DISCONNECT << 4, 0};

#define MQTT_STRING_MAX 65535

/* A writer that counts what would not fit instead of writing past cap. */
struct mqtt_out {
    uint8_t *p;
    size_t cap;
    size_t len;
};

static void put(struct mqtt_out *o, const void *src, size_t n)
{
    if (o->p && o->len + n <= o->cap)
        memcpy(o->p + o->len, src, n);
    o->len += n;
}

static void put_byte(struct mqtt_out *o, uint8_t b)
{
    put(o, &b, 1);
}

static void put_u16(struct mqtt_out *o, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)(v & 0xff)};
    put(o, b, 2);
}

static void put_string(struct mqtt_out *o, const void *s, size_t n)
{
    put_u16(o, (uint16_t)n);
    put(o, s, n);
}

/* Fixed header: type byte and the remaining length as a variable byte integer. */
static void put_fixed(struct mqtt_out *o, uint8_t first, size_t remaining)
{
    put_byte(o, first);
    do {
        uint8_t b = remaining & 0x7f;
        remaining >>= 7;
        put_byte(o, remaining ? b | 0x80 : b);
    } while (remaining);
}

/* The length written (or needed), 0 when it did not fit in a real buffer. */
static long finish(const struct mqtt_out *o)
{
    if (o->p && o->len > o->cap)
        return 0;
    return (long)o->len;
}

long mqtt_connect_build(uint8_t *out, size_t cap, const struct mqtt_connect *c)
{
    size_t id_len = strlen(c->client_id);
    size_t user_len = c->username ? strlen(c->username) : 0;
    if (id_len > MQTT_STRING_MAX || user_len > MQTT_STRING_MAX || c->password_len > MQTT_STRING_MAX)
        return -1;
    if (c->password && !c->username)
        return -1;
    size_t remaining = 10 + 2 + id_len;
    uint8_t flags = c->clean_session ? 0x02 : 0;
    if (c->username) {
        flags |= 0x80;
        remaining += 2 + user_len;
    }
    if (c->password) {
        flags |= 0x40;
        remaining += 2 + c->password_len;
    }
    struct mqtt_out o = {out, cap, 0};
    put_fixed(&o, MQTT_CONNECT << 4, remaining);
    put_string(&o, "MQTT", 4);
    put_byte(&o, 4); /* protocol level: 3.1.1 */
    put_byte(&o, flags);
    put_u16(&o, c->keepalive_s);
    put_string(&o, c->client_id, id_len);
    if (c->username)
        put_string(&o, c->username, user_len);
    if (c->password)
        put_string(&o, c->password, c->password_len);
    return finish(&o);
}

long mqtt_subscribe_build(uint8_t *out, size_t cap, uint16_t mid, char *const *filters, int n, uint8_t qos)
{
    if (n < 1)
        return -1;
    size_t remaining = 2;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(filters[i]);
        if (len > MQTT_STRING_MAX)
            return -1;
        remaining += 2 + len + 1;
    }
    if (remaining > MQTT_REMAINING_MAX)
        return -1;
    struct mqtt_out o = {out, cap, 0};
    put_fixed(&o, MQTT_SUBSCRIBE << 4 | 0x02, remaining); /* flags 0010: required by 3.1.1 */
    put_u16(&o, mid);
    for (int i = 0; i < n; i++) {
        put_string(&o, filters[i], strlen(filters[i]));
        put_byte(&o, qos);
    }
    return finish(&o);
}

void mqtt_puback_build(uint8_t out[MQTT_PUBACK_LEN], uint16_t mid)
{
    out[0] = MQTT_PUBACK << 4;
    out[1] = 2;
    out[2] = (uint8_t)(mid >> 8);
    out[3] = (uint8_t)(mid & 0xff);
}
