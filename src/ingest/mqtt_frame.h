/*
 * mqtt_frame.h - reading MQTT 3.1.1 packets from the broker: where one packet
 * ends in a byte stream, and what a PUBLISH, CONNACK or SUBACK says.
 *
 * A packet is a fixed header byte (type << 4 | flags), the remaining length as
 * a variable byte integer (1 to 4 bytes, 7 bits each, least significant
 * first, high bit = more), then that many bytes. The ingest's MQTT client
 * (mqtt_client.h) cuts the broker's stream into packets with
 * mqtt_frame_parse() and reads them with the functions below; what it sends is
 * written by mqtt_encode.h. MQTT 3.1.1 only: its PUBLISH has no properties.
 *
 * Pure code over caller-owned bytes: no allocation, no I/O. Every read is
 * bounds-checked; fuzz/fuzz_mqtt_frame.c and fuzz/fuzz_mqtt_client.c drive it
 * with arbitrary input.
 */
#ifndef SP_INGEST_MQTT_FRAME_H
#define SP_INGEST_MQTT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Control packet types (MQTT 3.1.1 section 2.2.1; AUTH is MQTT 5 only). */
enum mqtt_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15,
};

/* The largest remaining length the 4-byte encoding can carry (268,435,455). */
#define MQTT_REMAINING_MAX 268435455u
/* Fixed header: one type byte and at most four length bytes. */
#define MQTT_FIXED_HEADER_MAX 5

struct mqtt_frame {
    uint8_t type;      /* enum mqtt_type (1..15) */
    uint8_t flags;     /* low four bits of the first byte */
    size_t header_len; /* bytes of the fixed header (2..5) */
    size_t body_len;   /* remaining length */
    size_t total;      /* header_len + body_len: bytes of the whole packet */
};

enum mqtt_frame_result {
    MQTT_FRAME_OK = 0,         /* a whole packet is at the front of the buffer */
    MQTT_FRAME_MORE = 1,       /* the buffer ends inside the packet: read more */
    MQTT_FRAME_MALFORMED = -1, /* type 0, or a length of more than four bytes */
    MQTT_FRAME_TOO_BIG = -2,   /* the packet would be larger than max_total */
};

/*
 * Look at buf[0..len): when a whole packet of at most max_total bytes starts
 * there, fill *out and return MQTT_FRAME_OK. MQTT_FRAME_MORE says the packet is
 * not complete yet; out->total is then set when the header is complete (so the
 * caller knows how much is still missing), else 0. Errors are final for the
 * stream: the caller closes the connection.
 */
int mqtt_frame_parse(const uint8_t *buf, size_t len, size_t max_total, struct mqtt_frame *out);

/* A PUBLISH as mqtt_publish_parse() reads it; topic and payload point into the caller's packet. */
struct mqtt_publish {
    const uint8_t *topic; /* topic_len raw bytes, not NUL-terminated, not checked for UTF-8 */
    size_t topic_len;     /* 1..65535 */
    const uint8_t *payload;
    size_t payload_len;
    uint16_t mid; /* packet id: 1..65535 for QoS 1 and 2, 0 for QoS 0 */
    uint8_t qos;  /* 0, 1 or 2 */
    bool dup;
    bool retain;
};

enum mqtt_publish_result {
    MQTT_PUBLISH_OK = 0,
    MQTT_PUBLISH_NOT_PUBLISH = -1, /* the frame is another packet type */
    MQTT_PUBLISH_BAD_QOS = -2,     /* both QoS bits set (QoS 3) */
    MQTT_PUBLISH_TRUNCATED = -3,   /* remaining length too short for the topic length field */
    MQTT_PUBLISH_TOPIC_LEN = -4,   /* the topic length runs past the packet (or leaves no room for the packet id) */
    MQTT_PUBLISH_EMPTY_TOPIC = -5, /* a topic of length 0 */
    MQTT_PUBLISH_MID_ZERO = -6,    /* QoS 1 or 2 with packet id 0 */
    MQTT_PUBLISH_MORE = 1,         /* mqtt_publish_parse_head: the topic or packet id is not all in the bytes yet */
};

/*
 * Read the PUBLISH in the packet f at pkt (the whole packet, f->total bytes).
 * Returns MQTT_PUBLISH_OK with *out pointing into pkt, or a negative
 * enum mqtt_publish_result (mqtt_publish_error() says it in words). The DUP
 * flag on a QoS 0 message is reported as read, not refused.
 */
int mqtt_publish_parse(const uint8_t *pkt, const struct mqtt_frame *f, struct mqtt_publish *out);
/*
 * The head of a PUBLISH whose first avail bytes (avail < f->total) are at pkt:
 * a packet too large to hold whole, of which the client keeps topic, packet id
 * and the first payload bytes. Returns MQTT_PUBLISH_OK with the payload bytes
 * that are in avail (out->payload_len counts only those), MQTT_PUBLISH_MORE
 * when the topic or packet id runs past avail, or an error as above, judged
 * against the whole packet's length.
 */
int mqtt_publish_parse_head(const uint8_t *pkt, size_t avail, const struct mqtt_frame *f, struct mqtt_publish *out);
/* "QoS 3", "topic length past the end", ... for a negative mqtt_publish_parse() result. */
const char *mqtt_publish_error(int rc);

/*
 * Read the CONNACK in the packet f at pkt: session present flag and return code
 * (0 = accepted). Returns 0, or -1 when it is not a well-formed 3.1.1 CONNACK
 * (wrong type, flags not 0, remaining length not 2).
 */
int mqtt_connack_parse(const uint8_t *pkt, const struct mqtt_frame *f, bool *session_present, uint8_t *code);

/*
 * Read the SUBACK in the packet f at pkt: its packet id, and where its return
 * codes are (one per filter of the SUBSCRIBE: 0, 1 or 2 = granted QoS, 0x80 =
 * refused). Returns 0, or -1 when it is not a well-formed SUBACK (wrong type,
 * flags not 0, no packet id, no return code).
 */
int mqtt_suback_parse(const uint8_t *pkt, const struct mqtt_frame *f, uint16_t *mid, const uint8_t **codes,
                      size_t *ncodes);

/* "CONNECT", "PUBACK", ... for log lines; "?" for anything else. */
const char *mqtt_type_name(unsigned type);

#endif
