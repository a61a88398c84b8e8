/*
 * mqtt_encode.h - writing the MQTT 3.1.1 packets the ingest's client sends:
 * CONNECT, SUBSCRIBE, PUBACK, PINGREQ and DISCONNECT.
 *
 * Pure code into caller-owned buffers: no allocation, no I/O. The read side is
 * mqtt_frame.h; unit tests read every packet written here back with it.
 */
#ifndef SP_INGEST_MQTT_ENCODE_H
#define SP_INGEST_MQTT_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQTT_PUBACK_LEN 4 /* type, length 2, packet id */
#define MQTT_PINGREQ_LEN 2
#define MQTT_DISCONNECT_LEN 2

/* What goes into a CONNECT; strings are borrowed, lengths at most 65535 each. */
struct mqtt_connect {
    const char *client_id;
    const char *username; /* NULL: no user name */
    const char *password; /* NULL: no password (MQTT 3.1.1 allows one only with a user name) */
    size_t password_len;
    bool clean_session;
    uint16_t keepalive_s;
};

/*
 * Write the CONNECT for c into out[0..cap). Returns its length, 0 when it does
 * not fit, or -1 when c cannot be sent (a string over 65535 bytes, a password
 * without a user name). Call with out NULL and cap 0 to learn the length.
 */
long mqtt_connect_build(uint8_t *out, size_t cap, const struct mqtt_connect *c);

/*
 * Write a SUBSCRIBE of the n filters (each at most 65535 bytes) at qos with
 * packet id mid into out[0..cap). Returns its length, 0 when it does not fit,
 * or -1 when it cannot be sent (no filter, a filter too long, a packet over
 * MQTT's 268,435,455 bytes). out NULL and cap 0: the length only.
 */
long mqtt_subscribe_build(uint8_t *out, size_t cap, uint16_t mid, char *const *filters, int n, uint8_t qos);

/* Write the PUBACK for packet id mid (MQTT_PUBACK_LEN bytes). */
void mqtt_puback_build(uint8_t out[MQTT_PUBACK_LEN], uint16_t mid);
/* PINGREQ and DISCONNECT: two fixed bytes each. */
extern const uint8_t mqtt_pingreq[MQTT_PINGREQ_LEN];
extern const uint8_t mqtt_disconnect[MQTT_DISCONNECT_LEN];

#endif
