/* mqtt_frame.c - reading MQTT packets: fixed header, PUBLISH (whole or its head), CONNACK, SUBACK (see mqtt_frame.h).
 */
#include "mqtt_frame.h"

#include <string.h>

int mqtt_frame_parse(const uint8_t *buf, size_t len, size_t max_total, struct mqtt_frame *out)
{
    out->type = out->flags = 0;
    out->header_len = out->body_len = out->total = 0;
    if (len < 1)
        return MQTT_FRAME_MORE;
    uint8_t type = buf[0] >> 4;
    if (type == 0)
        return MQTT_FRAME_MALFORMED; /* reserved */
    /* remaining length: at most four bytes, the last one without the continuation bit */
    uint32_t value = 0;
    size_t i = 1;
    for (;; i++) {
        if (i > 4)
            return MQTT_FRAME_MALFORMED; /* a fifth length byte */
        if (i >= len)
            return MQTT_FRAME_MORE;
        value |= (uint32_t)(buf[i] & 0x7f) << (7 * (i - 1));
        if (!(buf[i] & 0x80))
            break;
    }
    size_t header_len = i + 1;
    size_t total = header_len + (size_t)value;
    if (total > max_total)
        return MQTT_FRAME_TOO_BIG;
    out->type = type;
    out->flags = buf[0] & 0x0f;
    out->header_len = header_len;
    out->body_len = value;
    out->total = total;
    return len >= total ? MQTT_FRAME_OK : MQTT_FRAME_MORE;
}

int mqtt_publish_parse_head(const uint8_t *pkt, size_t avail, const struct mqtt_frame *f, struct mqtt_publish *out)
{
    memset(out, 0, sizeof *out);
    if (f->type != MQTT_PUBLISH)
        return MQTT_PUBLISH_NOT_PUBLISH;
    uint8_t qos = (f->flags >> 1) & 3;
    if (qos == 3)
        return MQTT_PUBLISH_BAD_QOS;
    if (avail > f->total)
        avail = f->total;
    size_t left = f->body_len; /* of the whole packet */
    if (left < 2)
        return MQTT_PUBLISH_TRUNCATED;
    if (avail < f->header_len + 2)
        return MQTT_PUBLISH_MORE;
    const uint8_t *body = pkt + f->header_len;
    size_t tlen = (size_t)body[0] << 8 | body[1];
    left -= 2;
    size_t id_len = qos ? 2 : 0;
    if (tlen > left || left - tlen < id_len)
        return MQTT_PUBLISH_TOPIC_LEN;
    if (tlen == 0)
        return MQTT_PUBLISH_EMPTY_TOPIC;
    size_t head = f->header_len + 2 + tlen + id_len; /* bytes before the payload */
    if (avail < head)
        return MQTT_PUBLISH_MORE;
    out->topic = body + 2;
    out->topic_len = tlen;
    if (qos) {
        out->mid = (uint16_t)(body[2 + tlen] << 8 | body[3 + tlen]);
        if (out->mid == 0)
            return MQTT_PUBLISH_MID_ZERO;
    }
    out->payload = pkt + head;
    out->payload_len = avail - head;
    out->qos = qos;
    out->dup = f->flags & 0x08;
    out->retain = f->flags & 0x01;
    return MQTT_PUBLISH_OK;
}

int mqtt_publish_parse(const uint8_t *pkt, const struct mqtt_frame *f, struct mqtt_publish *out)
{
    return mqtt_publish_parse_head(pkt, f->total, f, out);
}

const char *mqtt_publish_error(int rc)
{
    switch (rc) {
    case MQTT_PUBLISH_OK:
        return "ok";
    case MQTT_PUBLISH_NOT_PUBLISH:
        return "not a PUBLISH";
    case MQTT_PUBLISH_BAD_QOS:
        return "QoS 3";
    case MQTT_PUBLISH_TRUNCATED:
        return "no room for the topic length";
    case MQTT_PUBLISH_TOPIC_LEN:
        return "topic length past the end of the packet";
    case MQTT_PUBLISH_EMPTY_TOPIC:
        return "empty topic";
    case MQTT_PUBLISH_MID_ZERO:
        return "packet id 0 with QoS 1 or 2";
    case MQTT_PUBLISH_MORE:
        return "topic or packet id not all received yet";
    default:
        return "?";
    }
}

int mqtt_connack_parse(const uint8_t *pkt, const struct mqtt_frame *f, bool *session_present, uint8_t *code)
{
    *session_present = false;
    *code = 0;
    if (f->type != MQTT_CONNACK || f->flags != 0 || f->body_len != 2)
        return -1;
    const uint8_t *body = pkt + f->header_len;
    *session_present = body[0] & 1;
    *code = body[1];
    return 0;
}

int mqtt_suback_parse(const uint8_t *pkt, const struct mqtt_frame *f, uint16_t *mid, const uint8_t **codes,
                      size_t *ncodes)
{
    *mid = 0;
    *codes = NULL;
    *ncodes = 0;
    if (f->type != MQTT_SUBACK || f->flags != 0 || f->body_len < 3)
        return -1;
    const uint8_t *body = pkt + f->header_len;
    *mid = (uint16_t)(body[0] << 8 | body[1]);
    *codes = body + 2;
    *ncodes = f->body_len - 2;
    return 0;
}

const char *mqtt_type_name(unsigned type)
{
    static const char *names[16] = {"?",       "CONNECT",  "CONNACK",    "PUBLISH", "PUBACK",      "PUBREC",
                                    "PUBREL",  "PUBCOMP",  "SUBSCRIBE",  "SUBACK",  "UNSUBSCRIBE", "UNSUBACK",
                                    "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"};
    return type < 16 ? names[type] : "?";
}
