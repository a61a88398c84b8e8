/* fuzz_mqtt_frame.c - libFuzzer target: the ack relay's MQTT framing and PUBACK reading/writing on arbitrary bytes. */
#include "ingest/mqtt_frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The first byte picks the packet size bound the relay would use; the rest is a client's byte stream. */
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
            break; /* malformed or too big: the relay closes the connection */
        if (f.type < 1 || f.type > 15 || f.header_len < 2 || f.header_len > MQTT_FIXED_HEADER_MAX ||
            f.total != f.header_len + f.body_len || f.total > len || f.total > max_total ||
            f.body_len > MQTT_REMAINING_MAX)
            abort();
        if (f.type == MQTT_PUBACK) {
            struct mqtt_puback p;
            if (mqtt_puback_parse(data + off, &f, &p) == 0) {
                /* what the relay writes back reads back the same */
                uint8_t out[MQTT_PUBACK_MAX];
                size_t n = mqtt_puback_build(out, &p);
                struct mqtt_frame g;
                struct mqtt_puback q;
                if (n < 4 || n > MQTT_PUBACK_MAX || mqtt_frame_parse(out, n, 16, &g) != MQTT_FRAME_OK || g.total != n ||
                    mqtt_puback_parse(out, &g, &q) != 0 || q.mid != p.mid || q.reason != p.reason)
                    abort();
            }
        }
        (void)mqtt_type_name(f.type);
        off += f.total;
    }
    return 0;
}
