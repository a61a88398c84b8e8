/* fuzz_mqtt_frame.c - libFuzzer target: MQTT framing and the PUBLISH (whole and head), CONNACK and SUBACK readers
 * on arbitrary bytes. The client that uses them is fuzzed as a whole by fuzz_mqtt_client.c. */
/* fuzz-max-len: 8192 (packets up to the 4 KiB bound the first byte picks, and past it) */
#include "ingest/mqtt_frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A PUBLISH read from pkt (total bytes) must lie inside it and be consistent. */
static void check_publish(const uint8_t *pkt, const struct mqtt_frame *f)
{
    struct mqtt_publish m;
    int rc = mqtt_publish_parse(pkt, f, &m);
    if (mqtt_publish_error(rc)[0] == '?')
        abort();
    if (rc != MQTT_PUBLISH_OK)
        return;
    const uint8_t *end = pkt + f->total;
    if (m.topic_len < 1 || m.topic_len > 65535 || m.topic < pkt + f->header_len + 2 || m.topic + m.topic_len > end ||
        m.payload < m.topic + m.topic_len || m.payload + m.payload_len != end || m.qos > 2 ||
        (m.qos == 0) != (m.mid == 0) || m.payload != m.topic + m.topic_len + (m.qos ? 2 : 0))
        abort();
    /* touch every byte it points at, so ASan sees any read outside the packet */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < m.topic_len; i++)
        sink ^= m.topic[i];
    for (size_t i = 0; i < m.payload_len; i++)
        sink ^= m.payload[i];
    (void)sink;
}

/* The first byte picks the packet size bound; the rest is a byte stream as a broker or a client would send it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max_total = (size_t)data[0] * 16 + 2;
    data++;
    size--;
    size_t off = 0;
    while (off < size) {
        struct mqtt_frame f;
        size_t len = size - off;
        int rc = mqtt_frame_parse(data + off, len, max_total, &f);
        if (rc == MQTT_FRAME_MORE) {
            /* incomplete: what is known must say more bytes are needed */
            if (f.total && f.total <= len)
                abort();
            break;
        }
        if (rc != MQTT_FRAME_OK)
            break; /* malformed or too big: the client closes the connection */
        if (f.type < 1 || f.type > 15 || f.header_len < 2 || f.header_len > MQTT_FIXED_HEADER_MAX ||
            f.total != f.header_len + f.body_len || f.total > len || f.total > max_total ||
            f.body_len > MQTT_REMAINING_MAX)
            abort();
        if (f.type == MQTT_SUBACK) {
            uint16_t mid;
            const uint8_t *codes;
            size_t n;
            if (mqtt_suback_parse(data + off, &f, &mid, &codes, &n) == 0 &&
                (n < 1 || codes + n != data + off + f.total))
                abort();
        }
        if (f.type == MQTT_PUBLISH)
            check_publish(data + off, &f);
        if (f.type == MQTT_PUBLISH && f.total > f.header_len) {
            /* the head of the same packet, cut anywhere, agrees with the whole */
            struct mqtt_publish whole, head;
            size_t avail = f.header_len + (size_t)data[off + f.total - 1] % (f.body_len + 1);
            int rw = mqtt_publish_parse(data + off, &f, &whole);
            int rh = mqtt_publish_parse_head(data + off, avail, &f, &head);
            if (rh == MQTT_PUBLISH_OK &&
                (rw != MQTT_PUBLISH_OK || head.topic != whole.topic || head.mid != whole.mid ||
                 head.payload != whole.payload || head.payload + head.payload_len != data + off + avail))
                abort();
            if (rh < 0 && rh != rw)
                abort();
        }
        if (f.type == MQTT_CONNACK) {
            bool sp;
            uint8_t code;
            if (mqtt_connack_parse(data + off, &f, &sp, &code) == 0 && f.body_len != 2)
                abort();
        }
        (void)mqtt_type_name(f.type);
        off += f.total;
    }
    return 0;
}
