/*
 * mqtt_in.h - the ingest's MQTT subscriber: libmosquitto driven from our poll() loop.
 *
 * The caller polls mqtt_in_pollfd() and hands the events to mqtt_in_service(),
 * which calls mosquitto_loop_read/write/misc. Reading stops while the caller's
 * can_read() says no (backpressure: the broker keeps QoS 1/2 messages for us,
 * and TCP flow control holds the rest); writes and keepalive go on. A lost
 * connection is retried with backoff (firmware/core/backoff), but not while reading
 * is paused - a new session could only sit unread. Every (re)connection
 * subscribes to all filters again.
 *
 * With the ack relay (ack_relay.h) libmosquitto connects to the relay's
 * loopback port (connect_host, connect_port) instead of the broker; log lines
 * still name the broker. The relay then takes the QoS 0 and 1 messages itself
 * (and tells the ack tracker when sessions start and end): libmosquitto keeps
 * CONNECT, SUBSCRIBE, keepalive and DISCONNECT, and delivers through on_message
 * only what the relay passes on (QoS 2, oversized) - or everything without the relay.
 */
#ifndef SP_INGEST_MQTT_IN_H
#define SP_INGEST_MQTT_IN_H

#include "firmware/core/backoff.h"
#include "stats.h"

#include <mosquitto.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQTT_IN_MAX_FILTERS 32

struct mqtt_in_config {
    const char *host;      /* borrowed: the broker, for log lines */
    int port;
    const char *connect_host; /* borrowed: where libmosquitto connects (the ack relay), or NULL: host */
    int connect_port;
    const char *client_id; /* borrowed */
    bool clean_session;
    int qos;
    int keepalive_s;
    char **filters;        /* borrowed, nfilters entries */
    int nfilters;
};

/* A message for the ingest; msg and what it points to are libmosquitto's, valid during the call. */
typedef void (*mqtt_in_message_fn)(void *ctx, const struct mosquitto_message *msg);
/* Whether there is room to take more messages now. */
typedef bool (*mqtt_in_can_read_fn)(void *ctx);

/* Named after who owns the socket in each state. */
enum mqtt_in_state {
    MQ_WAIT,       /* no socket; the next attempt is at retry_at_ms */
    MQ_CONNECTING, /* libmosquitto has a socket: TCP connect / CONNECT sent, no CONNACK yet */
    MQ_UP,         /* CONNACK accepted; subscriptions sent */
    MQ_CLOSING,    /* DISCONNECT queued at shutdown, waiting for it to go out */
    MQ_CLOSED,     /* shut down for good */
};

struct mqtt_in {
    struct mqtt_in_config cfg;
    struct mosquitto *mosq; /* owned */
    enum mqtt_in_state state;
    struct backoff backoff;
    int64_t retry_at_ms;
    bool ever_connected;
    bool attempted;        /* mosquitto_connect_async done once (later: reconnect_async) */
    uint64_t delivered;    /* messages handed to on_message */
    mqtt_in_message_fn on_message;
    mqtt_in_can_read_fn can_read;
    void *ctx;
    struct ingest_stats *stats; /* borrowed */
};

/* Create the client (mosquitto_lib_init must have run). Connects on the first mqtt_in_service(). */
int mqtt_in_init(struct mqtt_in *m, const struct mqtt_in_config *cfg, mqtt_in_message_fn on_message,
                 mqtt_in_can_read_fn can_read, void *ctx, struct ingest_stats *stats, char *err, size_t errlen);
void mqtt_in_free(struct mqtt_in *m);

/* The socket and the events to poll for, or -1 when there is none. */
int mqtt_in_pollfd(struct mqtt_in *m, short *events);
/* Read (while can_read), write, keepalive, reconnect - whatever is due. revents 0 when woken for another reason. */
void mqtt_in_service(struct mqtt_in *m, short revents, int64_t now_ms);
/* Monotonic ms of the next timer it needs (INT64_MAX when none). */
int64_t mqtt_in_next_timer(const struct mqtt_in *m);
/* Stop taking messages: send DISCONNECT (the session's queued messages stay with the broker). */
void mqtt_in_stop(struct mqtt_in *m);
/* True once the DISCONNECT went out (or there was no connection). */
bool mqtt_in_closed(const struct mqtt_in *m);

/*
 * Split a comma-separated list of subscription filters ("+/+/+, +/status",
 * "$share/<group>/<filter>"); spaces around items are ignored. On success
 * *out is a heap array of heap strings owned by the caller (mqtt_in_free_filters).
 * Returns 0, or -1 with a reason in err.
 */
int mqtt_in_parse_filters(const char *list, char ***out, int *n, char *err, size_t errlen);
void mqtt_in_free_filters(char **filters, int n);
/* A valid MQTT filter, or $share/<group>/<valid filter>. */
bool mqtt_in_filter_valid(const char *filter);

#endif
