/*
 * link.h - one simulated device's MQTT connection (libmosquitto, driven by the
 * caller's poll loop: no library thread).
 *
 * The connection carries the device's presence: last will <device>/status =
 * "offline" (retained, QoS 1), "online" (retained, QoS 1) published as soon as
 * the broker accepts the connection, and "offline" published explicitly before
 * a clean disconnect. Readings are published only once "online" is
 * acknowledged, so a subscriber sees the device come online before its data.
 * A lost connection is retried after a backoff (core/backoff.h).
 *
 * Counting: `sent` readings were accepted by mosquitto_publish, `done` of them
 * are written to the socket (QoS 0) or acknowledged by the broker (QoS 1, 2),
 * both through on_publish. QoS 0 readings still queued when a connection drops
 * are lost (counted in `lost`); QoS 1/2 readings are kept and resent by
 * libmosquitto after the reconnect.
 */
#ifndef SP_SIM_LINK_H
#define SP_SIM_LINK_H

#include "firmware/core/node.h"

#include <stdbool.h>
#include <stdint.h>

#include "core/backoff.h"

struct mosquitto;

enum link_state {
    LINK_DOWN,       /* no connection; link_service() connects at retry_at_ms */
    LINK_CONNECTING, /* socket open, CONNECT queued or sent; waiting for CONNACK */
    LINK_ONLINE,     /* accepted; "online" published (ready once it is acknowledged) */
    LINK_CLOSING,    /* "offline" published; DISCONNECT follows its acknowledgement */
    LINK_CLOSED,     /* disconnected for good (cleanly, or given up while closing) */
};

struct link {
    struct mosquitto *mosq;  /* owned */
    const struct node *node; /* borrowed: device id for topics and log lines */
    const char *host;        /* borrowed */
    int port;
    uint8_t qos;             /* QoS of readings */
    enum link_state state;
    struct backoff backoff;
    int64_t retry_at_ms;     /* LINK_DOWN: when to connect */
    int64_t misc_at_ms;      /* next mosquitto_loop_misc (keepalive) */
    int status_mid;          /* mid of the "online"/"offline" in flight; 0 = none */
    bool ready;              /* LINK_ONLINE and "online" acknowledged */
    bool offline_acked;      /* LINK_CLOSING: "offline" acknowledged */
    bool disconnect_sent;
    uint64_t sent, done, lost;
    uint64_t connects;       /* accepted connections so far */
};

/*
 * Create the client (id client_id, clean session, keepalive 60 s, will set) for
 * the node's device; host is borrowed for the link's life. Returns 0, or -1
 * (logged) when libmosquitto refuses. Does not connect.
 */
int link_init(struct link *l, const char *client_id, const struct node *node, const char *host, int port,
              uint8_t qos, uint32_t max_inflight, uint32_t seed);
/* Free the client; no goodbye is sent (the broker publishes the will if it was connected). */
void link_destroy(struct link *l);

/* Socket to poll, or -1 when there is none. */
int link_fd(const struct link *l);
/* poll() events the link wants (POLLIN, plus POLLOUT while output is queued). */
short link_events(const struct link *l);
/*
 * Do the link's work at now_ms: I/O for the poll result revents (0 when not
 * polled), keepalive, and (re)connecting when its backoff expires.
 */
void link_service(struct link *l, short revents, int64_t now_ms);
/* Milliseconds until link_service has timed work to do (reconnect, keepalive). */
int64_t link_timer_ms(const struct link *l, int64_t now_ms);

/* True when a reading may be published: ready and fewer than window outstanding. */
bool link_can_publish(const struct link *l, uint64_t window);
/* Publish one reading message. Returns 0, or -1 when the link is not ready or the client refuses. */
int link_publish(struct link *l, const struct node_msg *m);
/* True when every reading is done and nothing is left to write. */
bool link_drained(const struct link *l);

/*
 * Start a clean goodbye: publish "offline", then DISCONNECT once the broker
 * acknowledges it. A link without a connection goes straight to LINK_CLOSED.
 */
void link_close(struct link *l);

#endif
