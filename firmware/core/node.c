/* node.c - publish schedule and messages of one sensor node (see node.h). */
#include "node.h"

#include <string.h>

int node_init(struct node *n, const char *device, uint32_t interval_ms, uint8_t qos, uint32_t first_ms)
{
    size_t len = device ? strlen(device) : 0;
    if (len == 0 || len > NODE_DEVICE_MAX || interval_ms < DHT22_MIN_INTERVAL_MS || qos > 2)
        return -1;
    memcpy(n->device, device, len + 1);
    n->interval_ms = interval_ms;
    n->qos = qos;
    n->next_ms = first_ms;
    return 0;
}

bool node_due(const struct node *n, uint32_t now_ms)
{
    return (int32_t)(now_ms - n->next_ms) >= 0;
}

uint32_t node_wait_ms(const struct node *n, uint32_t now_ms)
{
    return node_due(n, now_ms) ? 0 : n->next_ms - now_ms;
}

void node_advance(struct node *n, uint32_t now_ms)
{
    n->next_ms += n->interval_ms;
    if (node_due(n, now_ms))
        n->next_ms = now_ms + n->interval_ms;
}

int node_format_tenths(int32_t tenths, char *out, size_t outlen)
{
    char rev[12];
    size_t nd = 0;
    uint32_t mag = tenths < 0 ? 0u - (uint32_t)tenths : (uint32_t)tenths;
    /* at least two digits: the tenth and the unit */
    do {
        rev[nd++] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag || nd < 2);
    size_t len = (tenths < 0) + nd + 1;
    if (len + 1 > outlen)
        return -1;
    size_t i = 0;
    if (tenths < 0)
        out[i++] = '-';
    while (nd > 1)
        out[i++] = rev[--nd];
    out[i++] = '.';
    out[i++] = rev[0];
    out[i] = '\0';
    return (int)len;
}

/* Build "<device>/<metric>/<sensor>" into m->topic; the sizes are fixed by node_init's checks. */
static void node_topic(const struct node *n, const char *suffix, struct node_msg *m)
{
    size_t dl = strlen(n->device), sl = strlen(suffix);
    memcpy(m->topic, n->device, dl);
    memcpy(m->topic + dl, suffix, sl + 1);
}

static void node_reading(const struct node *n, const char *suffix, int32_t tenths, struct node_msg *m)
{
    node_topic(n, suffix, m);
    int len = node_format_tenths(tenths, m->payload, sizeof m->payload);
    m->len = len < 0 ? 0 : (size_t)len;
    m->qos = n->qos;
    m->retain = false;
}

size_t node_readings(const struct node *n, const struct node_sample *s, struct node_msg out[NODE_MSGS_MAX])
{
    size_t count = 0;
    if (s->dht_status == DHT22_OK || s->dht_status == DHT22_CACHED) {
        node_reading(n, "/temperature/dht22", s->dht.temp_dc, &out[count++]);
        node_reading(n, "/humidity/dht22", s->dht.humidity_dc, &out[count++]);
    }
    if (s->chip_ok)
        node_reading(n, "/temperature/internal", s->chip_dc, &out[count++]);
    return count;
}

void node_status(const struct node *n, bool online, struct node_msg *out)
{
    node_topic(n, "/status", out);
    const char *text = online ? "online" : "offline";
    out->len = strlen(text);
    memcpy(out->payload, text, out->len + 1);
    out->qos = NODE_STATUS_QOS;
    out->retain = true;
}
