/*
 * conn.h - the device's connection state machine: Wi-Fi, MQTT broker, the
 * publish cycle, reconnect back-off with jitter, and the watchdog policy.
 *
 * Portable C11 with only the C standard library, like the rest of firmware/core:
 * no sockets, no clock, no SDK. The port turns what happens on the radio and the
 * TCP connection into events (conn_wifi_up(), conn_broker_down(), conn_published()
 * ...), calls conn_step() with the time, and carries out the actions it gets back
 * (join, connect, publish this list, read the sensors, feed the watchdog, reset,
 * sleep until). So every decision is made here and is tested on the host.
 *
 *                 wifi up                      broker up: publish "online" (retained)
 *   WIFI_CONNECTING ------> BROKER_CONNECTING ------------------------> PUBLISHING
 *     ^  join, or back-off     ^  connect, or back-off                     |  a cycle every interval:
 *     |  until the next join   |  until the next connect                   |  SAMPLE -> readings -> PUBLISH
 *     |                        +--- broker down / 3 publishes failed ------+
 *     +------------------------------ wifi down (from either) -------------+
 *
 * An attempt (join or connect) that reports no outcome within its timeout is
 * abandoned (WIFI_LEAVE / BROKER_DISCONNECT) and counts as a failure. After a
 * failure the next attempt waits a back-off: uniform in [cap/2, cap], cap =
 * min(max, base * 2^(n-1)) after n failures in a row (backoff_delay_ms, backoff.c: the
 * same code the host daemons reconnect with). Wi-Fi and broker keep separate
 * failure counts; each resets when its stage succeeds.
 *
 * Watchdog: progress is a broker connection accepted or a publish confirmed.
 * While the last progress is younger than stuck_ms every conn_step() says
 * FEED_WATCHDOG; once it is older, conn_step() says RESET and never FEED again,
 * so a port that stops feeding is reset by the hardware watchdog instead of
 * hanging. A sensor fault is not a lack of progress: the chip temperature is
 * still published, and a reset would not power-cycle the DHT22.
 *
 * The last will is conn_will() ("offline", retained, QoS 1, from node_status()).
 */
#ifndef FW_CONN_H
#define FW_CONN_H

#include "node.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum conn_state {
    CONN_WIFI_CONNECTING,   /* no network: a join in flight, or a back-off until the next one */
    CONN_BROKER_CONNECTING, /* network up, no MQTT session: a connect in flight, or a back-off */
    CONN_PUBLISHING,        /* session accepted and "online" sent: a reading cycle every interval */
};

/* What the port does after conn_step() or conn_sampled(), in this order (bits of conn_actions.todo). */
enum conn_action {
    CONN_DO_WIFI_LEAVE = 1u << 0,        /* drop the join in flight or the link */
    CONN_DO_BROKER_DISCONNECT = 1u << 1, /* close the MQTT session or the connect in flight; no event follows */
    CONN_DO_WIFI_JOIN = 1u << 2,         /* start joining the network; report conn_wifi_up()/down() */
    CONN_DO_BROKER_CONNECT = 1u << 3,    /* open an MQTT session with conn_will(); report conn_broker_up()/down() */
    CONN_DO_PUBLISH = 1u << 4,           /* publish msgs[0..n) in order, tagged with session; report each result */
    CONN_DO_SAMPLE = 1u << 5,            /* a cycle is due: read the sensors, then call conn_sampled() */
    CONN_DO_FEED_WATCHDOG = 1u << 6,     /* progress is recent: feed the hardware watchdog */
    CONN_DO_RESET = 1u << 7,             /* no progress for stuck_ms: stop feeding, reset the board */
};

struct conn_actions {
    unsigned todo;                       /* CONN_DO_* bits */
    size_t n;                            /* CONN_DO_PUBLISH: messages in msgs */
    struct node_msg msgs[NODE_MSGS_MAX]; /* CONN_DO_PUBLISH: what to publish, in order */
    uint32_t session;                    /* the session msgs belong to; pass it back to conn_published() */
    uint32_t wake_ms;                    /* call conn_step() again at this time at the latest */
};

struct conn_config {
    bool wifi;                  /* false: there is no Wi-Fi stage (a host), start at BROKER_CONNECTING */
    uint32_t backoff_base_ms;   /* first back-off cap */
    uint32_t backoff_max_ms;    /* largest back-off cap */
    uint32_t wifi_timeout_ms;   /* a join without an outcome for this long has failed */
    uint32_t broker_timeout_ms; /* a connect without an outcome for this long has failed */
    uint32_t stuck_ms;          /* no progress for this long: RESET; 0 = never */
    uint32_t max_sleep_ms;      /* the longest wake_ms - now: how often the watchdog is fed */
    uint32_t publish_fails_max; /* this many failed publishes in a row end the session */
    uint32_t pending_max;       /* a cycle due while this many publishes are unconfirmed is skipped */
    bool no_cycle;              /* true: no publish cycle here: never SAMPLE; the port publishes readings of its own
                                   and reports each with conn_published() (the simulator's load mode, and its
                                   stop). May be changed between calls. */
};

#define CONN_BACKOFF_BASE_MS 1000u
#define CONN_BACKOFF_MAX_MS 60000u
#define CONN_WIFI_TIMEOUT_MS 30000u
#define CONN_BROKER_TIMEOUT_MS 15000u
#define CONN_STUCK_MS (5u * 60u * 1000u)
#define CONN_MAX_SLEEP_MS 1000u
#define CONN_PUBLISH_FAILS_MAX 3u
#define CONN_PENDING_MAX 12u

/* The defaults above, with Wi-Fi. */
struct conn_config conn_config_default(void);

struct conn_stats {
    uint32_t wifi_joins, wifi_failures, wifi_losses;
    uint32_t broker_connects, broker_failures, broker_losses;
    uint32_t published, publish_failures;
    uint32_t cycles, cycles_skipped; /* cycles sampled; cycles skipped because publishes were not confirmed */
    uint32_t dht_faults;             /* cycles without DHT22 values */
};

struct conn {
    struct node *node; /* borrowed: schedule and messages */
    struct conn_config cfg;
    enum conn_state state;
    bool attempting;        /* a join or connect is in flight (else: backing off) */
    uint32_t at_ms;         /* attempting: when it started; else: when the next one starts */
    unsigned owed;          /* actions decided by events, handed out by the next conn_step() */
    uint32_t wifi_failures; /* in a row, for the back-off */
    uint32_t broker_failures;
    uint32_t rng;           /* xorshift32 state for the jitter (backoff_delay_ms) */
    uint32_t session;       /* counts accepted sessions; tags publishes */
    uint32_t pending;       /* publishes of this session handed out and not yet reported */
    uint32_t publish_fails; /* failed publishes in a row */
    uint32_t progress_ms;   /* last progress (or start) */
    bool stuck;             /* RESET was decided; it stays */
    int last_dht_status;    /* of the last cycle */
    struct conn_stats stats;
};

/*
 * Start at now_ms with the node (borrowed, kept) and the config; seed makes the
 * jitter differ per device (the port uses the board id). A zero field of cfg
 * takes its default, except wifi, stuck_ms and no_cycle, which are taken as given.
 */
void conn_init(struct conn *c, struct node *node, const struct conn_config *cfg, uint32_t seed, uint32_t now_ms);

/* Events. Each is ignored when it does not fit the state (a late or repeated report). */
void conn_wifi_up(struct conn *c, uint32_t now_ms);     /* joined, with an address */
void conn_wifi_down(struct conn *c, uint32_t now_ms);   /* the join failed, or the link was lost */
void conn_broker_up(struct conn *c, uint32_t now_ms);   /* the broker accepted the session (CONNACK 0) */
void conn_broker_down(struct conn *c, uint32_t now_ms); /* the connect failed or the session was lost */
/* The result of one message of CONN_DO_PUBLISH, tagged with its session; older sessions are ignored. */
void conn_published(struct conn *c, uint32_t session, bool ok, uint32_t now_ms);

/* Decide what to do at now_ms: fills *a. Call it after events and by a->wake_ms at the latest. */
void conn_step(struct conn *c, uint32_t now_ms, struct conn_actions *a);

/*
 * The sensors' results for the cycle CONN_DO_SAMPLE asked for: fills *a with
 * CONN_DO_PUBLISH and the readings (none when the sample has none), and moves
 * the node's schedule on.
 */
void conn_sampled(struct conn *c, const struct node_sample *s, uint32_t now_ms, struct conn_actions *a);

/* The last will to give the broker with every connect: "offline", retained, QoS 1. */
void conn_will(const struct conn *c, struct node_msg *out);

/* Name of a state, for logs ("PUBLISHING"). */
const char *conn_state_name(enum conn_state s);

#endif
