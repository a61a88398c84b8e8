/*
 * link.h - one simulated device's MQTT side: a libmosquitto client driven by the
 * caller's poll loop (no library thread), run by the device's conn
 * (firmware/core/conn.h) exactly as the Pico W port runs lwIP's client
 * (firmware/pico/main.c with mqtt_link.c). The link decides nothing about the
 * connection; conn does:
 *
 *   libmosquitto's news -> conn events
 *       CONNACK 0                                 conn_broker_up()
 *       a connect that fails, a lost connection   conn_broker_down()
 *       a publish written (QoS 0) or acked (1, 2) conn_published(session, true)
 *       a publish the client refuses              conn_published(session, false)
 *   link_step(): conn_step() -> conn's actions, in conn.h's order
 *       RESET              no connect or confirmed publish for stuck_ms: drop the
 *                          client (the broker publishes the will), start the device
 *                          again (sim_device_restart()), make a new client. Logged
 *                          and counted (sim_device.resets)
 *       BROKER_DISCONNECT  a connect without CONNACK in time, or publishes failing:
 *                          shut the socket without DISCONNECT (the will fires);
 *                          nothing from that connection is reported any more
 *       BROKER_CONNECT     mosquitto_connect_async(); the client carries conn_will()
 *       PUBLISH            "online" (retained, QoS 1) for the new session
 *       SAMPLE             the caller's: it reads the sensors and calls link_sampled()
 *   So when to connect, the back-off with jitter between attempts, the connect
 *   timeout and the reset when stuck are conn's, as on the device; the Wi-Fi stage
 *   does not exist here (conn_config.wifi = false) and nothing feeds a watchdog.
 *
 * "online" goes out inside the CONNACK callback (conn_broker_up() and a conn_step()
 * there), so it precedes the QoS 1/2 readings libmosquitto resends after a
 * reconnect. Readings may be published once "online" is out for the session
 * (link_ready()). In load mode (conn_config.no_cycle) the caller publishes its own
 * readings with link_publish(); they are reported to conn like any publish, so they
 * are progress.
 *
 * The link's own, beyond conn: keepalive (mosquitto_loop_misc), a clean goodbye on
 * exit (link_close(): "offline" retained, then DISCONNECT once it is acknowledged),
 * and counting. `sent` readings were accepted by mosquitto_publish, `done` of them
 * are written to the socket (QoS 0) or acknowledged by the broker (QoS 1, 2), both
 * through on_publish. QoS 0 readings still queued when a connection drops are lost
 * (counted in `lost`); QoS 1/2 readings are kept and resent by libmosquitto after
 * the reconnect (`stale` of them, not reported to the new session); a reset drops
 * the client and with it every reading not yet done (counted in `lost`).
 */
#ifndef SP_SIM_LINK_H
#define SP_SIM_LINK_H

#include "device.h"
#include "firmware/core/conn.h"
#include "firmware/core/node.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mosquitto;

#define LINK_CLIENT_ID_MAX (NODE_DEVICE_MAX + 32)

enum link_phase {
    LINK_RUNNING, /* conn is in charge */
    LINK_CLOSING, /* link_close(): "offline" published; DISCONNECT follows its acknowledgement */
    LINK_CLOSED,  /* done for good (cleanly, or given up) */
};

struct link {
    struct mosquitto *mosq; /* owned; remade by a reset; NULL when that failed */
    struct sim_device *dev; /* borrowed: its node names topics and log lines, its conn decides */
    char client_id[LINK_CLIENT_ID_MAX + 1];
    const char *host; /* borrowed */
    int port;
    const char *username, *password; /* borrowed (link_login()); NULL = anonymous */
    uint8_t qos;                     /* QoS of readings */
    uint32_t max_inflight;           /* 0 = libmosquitto's default */
    const char *tls_cafile;          /* borrowed; NULL: plain MQTT, else TLS verified against it (link_tls) */
    enum link_phase phase;
    bool open;               /* a connect or session on the socket: poll it */
    bool kick;               /* an event came: link_step() at once */
    unsigned deferred;       /* connect/disconnect decided inside a callback, carried out by link_step() */
    int64_t now_ms;          /* time of the current service, for the callbacks */
    int64_t step_at_ms;      /* conn's wake time: link_step() by then */
    int64_t misc_at_ms;      /* next mosquitto_loop_misc (keepalive) */
    uint32_t online_session; /* conn session whose "online" is out; 0 = none */
    int status_mid;          /* mid of the "online"/"offline" in flight; 0 = none */
    uint32_t status_session; /* the session that "online" belongs to */
    int stale_status_mid;    /* an "online" of a lost session that libmosquitto resends; 0 = none */
    bool offline_acked;      /* LINK_CLOSING: "offline" acknowledged */
    bool disconnect_sent;
    bool retry_noted; /* the back-off until retry_noted_at was logged */
    uint32_t retry_noted_at;
    uint64_t sent, done, lost;
    uint64_t stale;    /* readings of an earlier session libmosquitto resends; not reported to conn */
    uint64_t connects; /* accepted connections so far */
};

/*
 * Make the client for dev, whose conn must be booted (sim_device_boot()): id
 * client_id (copied), clean session, keepalive 60 s, conn_will() as the will,
 * max_inflight (0 = libmosquitto's default). host is borrowed for the link's
 * life; dev too. Returns 0, or -1 (logged) when libmosquitto refuses. Does not
 * connect: the first link_step() does, when conn says so.
 */
int link_init(struct link *l, const char *client_id, struct sim_device *dev, const char *host, int port, uint8_t qos,
              uint32_t max_inflight);
/*
 * Log in as username with password (both borrowed for the link's life; password NULL
 * for none) on this and every later connect, resets included. Call it before the
 * first link_step(). Returns 0, or -1 (logged) when libmosquitto refuses.
 */
int link_login(struct link *l, const char *username, const char *password);

/*
 * MQTT over TLS (1.2 or later) for this link and every client a reset makes:
 * the broker's certificate must chain to cafile (borrowed for the link's life)
 * and name the host. Call after link_init, before the first link_step().
 * Returns 0, or -1 (logged) when libmosquitto refuses (e.g. cafile unreadable).
 */
int link_tls(struct link *l, const char *cafile);
/* Free the client; no goodbye is sent (the broker publishes the will if it was connected). */
void link_destroy(struct link *l);

/* Socket to poll, or -1 when there is none. */
int link_fd(const struct link *l);
/* poll() events the link wants (POLLIN, plus POLLOUT while output is queued). */
short link_events(const struct link *l);
/*
 * The client's work at now_ms: I/O for the poll result revents (0 when not
 * polled), keepalive, the goodbye's DISCONNECT. libmosquitto's callbacks run here
 * and turn into conn events.
 */
void link_io(struct link *l, short revents, int64_t now_ms);
/* True when link_step() has work: an event came, or conn's wake time is reached. */
bool link_due(const struct link *l, int64_t now_ms);
/*
 * conn_step() at now_ms and carry out its actions (see above). Returns the
 * CONN_DO_* bits conn gave: CONN_DO_SAMPLE is the caller's to answer with
 * link_sampled(); CONN_DO_RESET tells it that the device started again (already
 * done). Does nothing and returns 0 once the link is closing.
 */
unsigned link_step(struct link *l, int64_t now_ms);
/*
 * The cycle's sensor results for CONN_DO_SAMPLE: conn_sampled(), then publish at
 * most max of its readings (the run's --count). Returns how many were published.
 */
size_t link_sampled(struct link *l, const struct node_sample *s, int64_t now_ms, size_t max);
/* Milliseconds until the link has timed work (conn's wake, keepalive); 0 = now. */
int64_t link_timer_ms(const struct link *l, int64_t now_ms);

/* True when readings may be published: conn is PUBLISHING and "online" is out for this session. */
bool link_ready(const struct link *l);
/* True when a reading may be published: ready and fewer than window outstanding. */
bool link_can_publish(const struct link *l, uint64_t window);
/* Publish one reading of the caller's own (load mode). Returns 0, or -1 when not ready or refused. */
int link_publish(struct link *l, const struct node_msg *m);
/* True when every reading is done and nothing is left to write. */
bool link_drained(const struct link *l);

/*
 * Start a clean goodbye: publish "offline", then DISCONNECT once the broker
 * acknowledges it. A link that is not ready shuts its socket (the broker's will
 * says "offline" if it had accepted the session) and is LINK_CLOSED at once.
 * conn is not stepped any more either way.
 */
void link_close(struct link *l);

#endif
