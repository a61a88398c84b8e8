/*
 * node.h - what one sensor node publishes, and when.
 *
 * Portable C11 with only the C standard library: the Pico W port and the host
 * simulator build this same file. The node owns no socket and no clock: the
 * caller passes the time and the sensor results in, and gets back a list of
 * MQTT messages (topic, payload, QoS, retain) to hand to its MQTT client.
 *
 * Per cycle, every interval_ms:
 *   <device>/temperature/dht22    "21.5"  air temperature, °C
 *   <device>/humidity/dht22       "45.3"  relative humidity, %
 *   <device>/temperature/internal "27.1"  chip temperature, °C
 * The DHT22 topics are left out of a cycle whose read failed (timeout, short
 * transfer, checksum, out of range); a reused value (DHT22_CACHED) is sent.
 *
 * Payloads are ASCII numbers with exactly one decimal, made from integer tenths
 * so there is no floating-point rounding: 215 -> "21.5", -32 -> "-3.2",
 * -5 -> "-0.5", 0 -> "0.0" (never "-0.0").
 *
 * Presence: <device>/status, retained, QoS 1: "online" right after the broker
 * accepts the connection, "offline" as the connection's last will and before a
 * clean disconnect. The link state machine (Wi-Fi, broker, reconnect) that
 * drives these calls is the caller's: conn.h on the device, src/sim/link.c in
 * the simulator. It needs from here only node_status() for the will and the
 * on-connect message, and node_due() / node_readings() / node_advance() for its
 * publish step.
 */
#ifndef FW_NODE_H
#define FW_NODE_H

#include "dht22.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NODE_DEVICE_MAX 64  /* bytes of a device id: one MQTT topic level */
#define NODE_TOPIC_MAX 96   /* fits NODE_DEVICE_MAX + "/temperature/internal" + NUL */
#define NODE_PAYLOAD_MAX 16 /* fits "-214748364.8" + NUL */
#define NODE_MSGS_MAX 3     /* messages of one cycle */
#define NODE_STATUS_QOS 1

struct node_msg {
    char topic[NODE_TOPIC_MAX];
    char payload[NODE_PAYLOAD_MAX];
    size_t len; /* payload bytes, without the NUL */
    uint8_t qos;
    bool retain;
};

/* One device's schedule. Times are ms of a free-running 32-bit clock; comparisons are wrap-safe. */
struct node {
    char device[NODE_DEVICE_MAX + 1];
    uint32_t interval_ms; /* at least DHT22_MIN_INTERVAL_MS */
    uint8_t qos;          /* QoS of readings */
    uint32_t next_ms;     /* start of the next cycle */
};

/* Sensor results of one cycle, as the caller read them. */
struct node_sample {
    int dht_status;           /* what dht22_read() returned */
    struct dht22_reading dht; /* valid when dht_status is DHT22_OK or DHT22_CACHED */
    bool chip_ok;             /* false: no chip temperature this cycle */
    int32_t chip_dc;          /* chip temperature in tenths (chiptemp_dc_from_raw) */
};

/*
 * Set up a node whose first cycle is due at first_ms. Returns 0, or -1 when the
 * device id is empty or longer than NODE_DEVICE_MAX, the interval is shorter
 * than the DHT22 allows, or qos > 2. The caller checks that the id is a valid
 * topic level (no '/', '+', '#').
 */
int node_init(struct node *n, const char *device, uint32_t interval_ms, uint8_t qos, uint32_t first_ms);

/* True when a cycle is due at now_ms. */
bool node_due(const struct node *n, uint32_t now_ms);
/* Milliseconds from now_ms until the next cycle; 0 when due. */
uint32_t node_wait_ms(const struct node *n, uint32_t now_ms);
/*
 * Mark the cycle due at now_ms done: the next one is one interval after the one
 * just run (no drift), or one interval after now_ms when more than a whole
 * interval was missed (no burst of catch-up cycles).
 */
void node_advance(struct node *n, uint32_t now_ms);

/*
 * The readings of one cycle, in the order temperature, humidity, internal.
 * Fills out[0..n) and returns n (0..NODE_MSGS_MAX).
 */
size_t node_readings(const struct node *n, const struct node_sample *s, struct node_msg out[NODE_MSGS_MAX]);

/* The presence message: "online" (on connect) or "offline" (last will, clean disconnect). */
void node_status(const struct node *n, bool online, struct node_msg *out);

/*
 * Write tenths as an ASCII number with one decimal ("-3.2") into out (NUL-terminated).
 * Returns the length, or -1 when outlen is too small.
 */
int node_format_tenths(int32_t tenths, char *out, size_t outlen);

#endif
