/*
 * mqtt_client.h - the ingest's MQTT 3.1.1 subscriber: one connection to the
 * broker, QoS 0 and 1, each PUBACK sent only after the commit of the row its
 * message produced.
 *
 * Why our own client: libmosquitto and Paho acknowledge a QoS 1 message before
 * the application has seen it, so the broker would forget a message that is
 * still only in the ingest's memory. This client sends CONNECT (with a user
 * name and password when configured), SUBSCRIBE, PINGREQ, PUBACK and
 * DISCONNECT (mqtt_encode.h), and reads CONNACK, SUBACK, PINGRESP and PUBLISH
 * (mqtt_frame.h). Anything else from the broker is a protocol error. It owns
 * no socket code: it talks through struct mqtt_io (plain TCP: mqtt_io.h; TLS:
 * mqtt_io_tls.h).
 *
 * The connection's life, named after who holds the socket:
 *
 *   WAIT --retry timer, reading allowed--> CONNECTING --transport ready, CONNECT queued--> CONNACK
 *   CONNACK --accepted--> UP (SUBSCRIBE queued; messages flow)     CONNACK --refused--> WAIT
 *   any connected state --EOF, error, timeout, protocol error--> WAIT (backoff)
 *   UP --mqtt_client_stop--> CLOSING (DISCONNECT after the PUBACKs that may go) --broker closes--> CLOSED
 *
 * Messages: each PUBLISH goes to on_message with the topic and payload
 * pointing into the client's input buffer (valid during the call). For QoS 1
 * the ack tracker (ack_tracker.h) is asked first: a new message is handed over
 * with a ref that its row carries through the queues; a redelivered copy of one
 * already queued or stored is not handed over again. Every QoS 1 message's
 * PUBACK is queued in arrival order and leaves once the tracker says its row is
 * committed (mqtt_client_commit, then mqtt_client_flush sends what that
 * released in one write).
 *
 * Too large: a PUBLISH over cfg.max_packet bytes is not held whole. Its topic,
 * packet id and first MQTT_CLIENT_SAMPLE payload bytes go to on_message with
 * msg->truncated set (the ingest rejects it as too_large), the rest of it is
 * read and thrown away, and it is acknowledged like any other, so the broker
 * does not send it again forever.
 *
 * Backpressure: before each PUBLISH the client asks can_read(); while it says
 * no, parsing stops at that PUBLISH (stalled), the socket is no longer read
 * (what the last read brought waits in the buffer) and TCP holds the rest at
 * the broker. mqtt_client_next_timer() asks for an immediate wake-up once
 * reading may resume. No new connection is made while reading is paused (it
 * could only sit unread). The keepalive's PINGRESP check is suspended while
 * stalled, since the PINGRESP may wait behind unread messages; PINGREQs still
 * go out, so the broker keeps the session.
 *
 * Bounds: the input buffer holds max(cfg.max_packet, the largest PUBLISH head
 * plus the sample) bytes; the output buffer MQTT_CLIENT_OUT_MAX bytes
 * (CONNECT and SUBSCRIBE must fit, checked at init); at most one queued PUBACK
 * per packet id. All of it is allocated at init and owned by the client.
 */
#ifndef SP_INGEST_MQTT_CLIENT_H
#define SP_INGEST_MQTT_CLIENT_H

#include "ack_tracker.h"
#include "fifo.h"
#include "firmware/core/backoff.h"
#include "mqtt_io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQTT_CLIENT_SAMPLE 4096         /* payload bytes of a too-large PUBLISH handed over */
#define MQTT_CLIENT_OUT_MAX 65536       /* output buffer: CONNECT, SUBSCRIBE, PUBACKs, PINGREQ, DISCONNECT */
#define MQTT_CLIENT_MAX_PACKET_MIN 1024 /* smallest cfg.max_packet accepted */

enum mqtt_client_state {
    MC_WAIT,       /* no socket; the next attempt is at retry_at_ms */
    MC_CONNECTING, /* the transport has a socket whose connection is under way (deadline_ms) */
    MC_CONNACK,    /* CONNECT queued or sent; waiting for the broker's CONNACK (deadline_ms) */
    MC_UP,         /* session accepted, SUBSCRIBE sent: messages flow, PUBACKs go as rows commit */
    MC_CLOSING,    /* stopping: DISCONNECT queued behind the PUBACKs that may go; waiting for the broker to close */
    MC_CLOSED,     /* stopped for good */
};

struct mqtt_client_config {
    const char *host; /* borrowed, for the transport and log lines */
    int port;
    const char *client_id; /* borrowed */
    const char *username;  /* borrowed; NULL: none */
    const char *password;  /* borrowed; NULL: none; never logged */
    size_t password_len;
    bool clean_session;
    uint8_t qos;          /* subscription QoS: 0 or 1 */
    uint16_t keepalive_s; /* 0: no keepalive */
    char *const *filters; /* borrowed, nfilters entries */
    int nfilters;
    size_t max_packet;      /* largest PUBLISH taken whole, in bytes (>= MQTT_CLIENT_MAX_PACKET_MIN) */
    int connect_timeout_ms; /* for the transport and for the CONNACK */
};

/* One message as the ingest sees it; everything points into the client's buffer, valid during the call. */
struct mqtt_message {
    const char *topic; /* topic_len raw bytes, not NUL-terminated, not checked for UTF-8 */
    size_t topic_len;
    const uint8_t *payload; /* payload_len bytes (the first ones only when truncated) */
    size_t payload_len;
    size_t packet_len; /* bytes of the whole PUBLISH packet */
    uint16_t mid;      /* packet id, 0 for QoS 0 */
    uint8_t qos;
    bool retain;
    bool truncated; /* larger than cfg.max_packet: only its head is here */
};

/* A message to store; its rows carry ref (mid 0: nothing to acknowledge) to mqtt_client_commit. */
typedef void (*mqtt_client_message_fn)(void *ctx, const struct mqtt_message *msg, struct ack_ref ref);
/* May the ingest take another message now? (false: backpressure) */
typedef bool (*mqtt_client_can_read_fn)(void *ctx);

struct mqtt_client_hooks {
    mqtt_client_message_fn on_message; /* required */
    mqtt_client_can_read_fn can_read;  /* NULL: always */
    void *ctx;                         /* borrowed */
};

struct mqtt_client_stats {
    uint64_t sessions;              /* CONNACKs that accepted us */
    uint64_t connect_failed;        /* connections not made, timed out, or refused by CONNACK */
    uint64_t publishes;             /* PUBLISH packets received */
    uint64_t too_large;             /* of them, over max_packet */
    uint64_t duplicates;            /* QoS 1 copies not handed over again (redeliveries, resends) */
    uint64_t id_reused;             /* QoS 1 messages on a packet id still in use (stored without a ref) */
    uint64_t acks_sent;             /* PUBACKs handed to the kernel */
    uint64_t acks_discarded;        /* queued PUBACKs dropped with a lost connection (the broker resends) */
    uint64_t protocol_errors;       /* connections closed for what the broker sent */
    uint64_t subscriptions_refused; /* SUBACK return codes 0x80 */
};

/* A PUBACK in the queue. */
struct mqtt_client_ack {
    uint64_t end; /* out_queued after its bytes (valid for the first acks_out entries) */
    uint16_t mid;
};

struct mqtt_client_buf {
    uint8_t *data; /* owned, cap bytes */
    size_t cap;
    size_t off; /* first unconsumed byte */
    size_t len; /* unconsumed bytes from off */
};

struct mqtt_client {
    struct mqtt_client_config cfg;
    struct mqtt_client_hooks hooks;
    struct mqtt_io io; /* borrowed transport */
    enum mqtt_client_state state;
    int fd;       /* the transport's socket to poll, -1 when none */
    short want;   /* CONNECTING: what the transport waits for */
    bool session; /* the broker accepted this connection: the tracker has a session */
    bool stalled; /* parsing stopped at a PUBLISH because can_read() said no */
    size_t skip;  /* bytes of a too-large PUBLISH still to read and throw away */
    uint16_t sub_mid;
    bool ping_out; /* a PINGREQ went out and its PINGRESP has not come */
    bool disconnect_queued;
    bool id_reuse_logged; /* a reused packet id was logged at warn on this connection */

    int64_t retry_at_ms, deadline_ms, last_tx_ms, ping_at_ms;
    struct backoff backoff;

    struct mqtt_client_buf in, out;
    uint64_t out_queued, out_sent; /* bytes ever put in / taken from `out` on this connection */
    struct ack_tracker acks;       /* owned */
    struct fifo ackq;              /* struct mqtt_client_ack, arrival order; the first acks_out are in `out` */
    size_t acks_out;

    struct mqtt_client_stats stats;
    char peer[300]; /* "host:port", for log lines */
};

/*
 * Set up the client (buffers, tracker); it connects at the first
 * mqtt_client_service(). cfg's strings, io and hooks->ctx are borrowed and must
 * outlive it. Returns 0, or -1 with a reason in err (nothing left to free).
 */
int mqtt_client_init(struct mqtt_client *c, const struct mqtt_client_config *cfg, const struct mqtt_io *io,
                     const struct mqtt_client_hooks *hooks, char *err, size_t errlen);
/* Close the connection and free everything. */
void mqtt_client_free(struct mqtt_client *c);

/* The socket and the events to poll for, or -1 when there is none. */
int mqtt_client_pollfd(const struct mqtt_client *c, short *events);
/* Connect, read and hand over messages, write, keepalive - whatever is due. revents 0 when woken for another reason. */
void mqtt_client_service(struct mqtt_client *c, short revents, int64_t now_ms);
/* Monotonic ms of the next timer (INT64_MAX: none; 0: parsing may resume now). */
int64_t mqtt_client_next_timer(const struct mqtt_client *c);

/* The row carrying ref is durable (or given up and counted): its PUBACK may go at the next flush. */
void mqtt_client_commit(struct mqtt_client *c, struct ack_ref ref);
/* Send the PUBACKs released since the last call, in one write, and go on with input that waited. */
void mqtt_client_flush(struct mqtt_client *c);

/* Stop taking messages: DISCONNECT after the PUBACKs that may go (the broker keeps the rest). */
void mqtt_client_stop(struct mqtt_client *c, int64_t now_ms);
/* True once the connection is closed after mqtt_client_stop. */
bool mqtt_client_closed(const struct mqtt_client *c);
/* UP: no PUBACK that may go is still waiting, and nothing is left to send. Every other state: true. */
bool mqtt_client_acks_flushed(const struct mqtt_client *c);
/* QoS 1 messages received and not yet acknowledged on this connection. */
size_t mqtt_client_unacked(const struct mqtt_client *c);

#endif
