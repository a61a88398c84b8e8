/*
 * mqtt_link.h - the firmware's MQTT session over lwIP's MQTT client
 * (pico_lwip_mqtt): resolve the broker (IP literal or DNS name), connect with
 * the last will, publish, close. It decides nothing: what happens is reported
 * to the caller's callbacks, which turn it into firmware/core/conn.h events.
 *
 * Every function and callback runs on the main loop (pico_cyw43_arch_lwip_poll).
 * Unconfirmed publishes are tracked in a fixed pool of MQTT_LINK_REQS slots,
 * each tagged with the conn session it belongs to; a full pool refuses the
 * publish (reported as failed), it never queues without bound. Closing the
 * session, or lwIP closing it, drops lwIP's pending requests without a
 * callback, so the pool is emptied then too.
 *
 * Login: every CONNECT carries a user name and a password (the device's
 * MQTT account). TLS (built with SP_TLS): the connection is wrapped in
 * lwIP's altcp TLS layer with the CA given to mqtt_link_init(); the broker's
 * certificate must chain to it and name the host given as tls_name, else the
 * handshake fails and the attempt ends as a down event saying why.
 */
#ifndef SENSORPIPE_MQTT_LINK_H
#define SENSORPIPE_MQTT_LINK_H

#include "firmware/core/node.h"

#include "lwip/apps/mqtt.h"
#include "lwip/ip_addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQTT_LINK_REQS 16 /* = MQTT_REQ_MAX_IN_FLIGHT in lwipopts.h */

struct mqtt_link_events {
    void (*up)(void *ctx);                                   /* the broker accepted the session */
    void (*down)(void *ctx, const char *why);                /* the connect failed or the session ended */
    void (*published)(void *ctx, uint32_t session, bool ok); /* one publish's outcome */
};

struct mqtt_link;

/* How the link logs in and whom it trusts; every pointer is borrowed and must outlive the link. */
struct mqtt_link_auth {
    const char *user;        /* MQTT user name: the device name */
    const char *pass;        /* MQTT password; never logged */
    const unsigned char *ca; /* TLS: the CA certificate(s), PEM, NUL included in ca_len; NULL = plain TCP */
    size_t ca_len;
    const char *tls_name; /* TLS: the name the broker's certificate must carry (DNS name or IP address) */
};

struct mqtt_link_req {
    struct mqtt_link *link;
    uint32_t session;
    bool used;
};

struct mqtt_link {
    mqtt_client_t *client; /* owned (lwIP heap), made once */
    const char *host;      /* borrowed: the broker, "192.168.1.11" or a name */
    uint16_t port;
    const char *client_id; /* borrowed */
    struct mqtt_link_auth auth;
    struct altcp_tls_config *tls; /* TLS: made once from auth.ca; NULL = plain */
    uint32_t tls_flags;           /* TLS: mbedTLS's verification flags of this attempt's certificate chain */
    bool up;                      /* the broker accepted this session */
    struct node_msg will;         /* the last will, copied */
    uint16_t keepalive_s;
    bool resolving; /* a DNS query is out */
    bool open;      /* a connect or session is in progress (until close or down) */
    struct mqtt_link_events ev;
    void *ctx; /* passed to the callbacks */
    struct mqtt_link_req reqs[MQTT_LINK_REQS];
};

/* Set up; makes the lwIP client and, with a CA, the TLS configuration (parses the CA).
 * Returns 0, or -1 with *why set (no memory, a CA that does not parse, TLS asked of a plain build). */
int mqtt_link_init(struct mqtt_link *l, const char *host, uint16_t port, const char *client_id,
                   const struct mqtt_link_auth *auth, const struct node_msg *will, uint16_t keepalive_s,
                   const struct mqtt_link_events *ev, void *ctx, const char **why);

/* Start a session: resolve, connect. Returns 0 (up or down follows), or -1 with *why set (nothing follows). */
int mqtt_link_open(struct mqtt_link *l, const char **why);

/* End the session or the attempt; no callback follows. */
void mqtt_link_close(struct mqtt_link *l);

/* Publish m for the session; returns 0 (published follows), or -1 (refused now: no callback). */
int mqtt_link_publish(struct mqtt_link *l, const struct node_msg *m, uint32_t session);

#endif
