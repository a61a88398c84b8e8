/*
 * ack_relay.h - the ingest's MQTT connection to the broker: takes PUBLISH packets itself and holds
 * PUBACKs until the rows are committed.
 *
 * libmosquitto 2.0 sends the PUBACK of a QoS 1 message before on_message runs,
 * so the broker would forget a message while it is still only in the ingest's
 * memory. The relay sits between libmosquitto and the broker:
 *
 *   libmosquitto --TCP--> relay 127.0.0.1:<ephemeral> --TCP--> broker (--mqtt-host:--mqtt-port)
 *
 * Broker -> client: the relay cuts the broker's bytes into packets
 * (mqtt_frame.h). A QoS 0 or 1 PUBLISH is parsed in place and handed to the
 * ingest (on_publish: topic, payload, QoS, packet id, retain) and is NOT
 * forwarded; for a QoS 1 one the relay queues a PUBACK of its own. Everything
 * else (CONNACK, SUBACK, PINGRESP, ...) goes to libmosquitto byte for byte, as
 * do two rare kinds of PUBLISH: QoS 2 ones (libmosquitto acknowledges them on
 * receipt with PUBREC and calls on_message after PUBREL) and packets larger
 * than the relay's buffer (streamed through). A CONNACK that accepts the
 * connection starts a session in the ack tracker (ack_tracker_connected, with its
 * "session present" flag) before any PUBLISH behind it is handed over; the end
 * of the broker connection ends it (ack_tracker_disconnected). A malformed
 * packet from the broker (QoS 3, a topic length past the end, ...) is logged,
 * counted (protocol_errors) and closes the connection; libmosquitto reconnects.
 *
 * Backpressure: before each PUBLISH the relay asks can_read(); while it says
 * no, parsing stops at that PUBLISH, the 64 KiB input buffer fills, the relay
 * stops reading the broker socket and TCP holds the rest at the broker.
 * relay_next_timer() asks for an immediate wake-up once reading may resume.
 *
 * Client -> broker: cut into packets and forwarded in order, except PUBACKs
 * (only for a PUBLISH that went to libmosquitto). Every PUBACK, the relay's own
 * and libmosquitto's, is queued in arrival order and goes out only when the
 * ack tracker (ack_tracker.h) says the message it acknowledges is durable - so
 * PUBACKs leave in the order the messages came (MQTT 3.1.1 section 4.6; the one
 * exception is a PUBLISH passed to libmosquitto, whose PUBACK queues when
 * libmosquitto writes it), while PINGREQ, SUBSCRIBE and DISCONNECT pass the
 * held ones. The PUBACKs a commit releases leave together, in one send(). The
 * broker resends what was never acknowledged when the session comes back, with
 * the same packet ids.
 *
 * One client connection at a time (libmosquitto's), accepted only from the
 * socket the ingest's own client opened (peer_ok). Each accepted connection
 * gets its own non-blocking connection to the broker; when either side ends,
 * the other is closed too, and PUBACKs still held are discarded. When the
 * client ends first (DISCONNECT at shutdown) what it sent is flushed to the
 * broker, our side is shut down for writing, and the relay waits for the
 * broker to close (a close with unread input would reset the connection and
 * could lose the last PUBACKs).
 *
 * Every buffer is bounded: RELAY_BUF bytes in each of four buffers (client in,
 * broker out, broker in, client out), packets from the client of at most
 * RELAY_PACKET_MAX bytes (a larger or malformed one closes the connection), and
 * at most one queued PUBACK per packet id (65535).
 * All sockets are non-blocking and driven by the ingest's poll loop.
 */
#ifndef SP_INGEST_ACK_RELAY_H
#define SP_INGEST_ACK_RELAY_H

#include "ack_tracker.h"
#include "fifo.h"
#include "mqtt_frame.h"

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RELAY_BUF 65536        /* bytes buffered in each direction */
#define RELAY_PACKET_MAX 65536 /* largest packet accepted from the client */

enum relay_fd { RELAY_FD_LISTEN, RELAY_FD_CLIENT, RELAY_FD_BROKER, RELAY_FDS };

/* Named after who holds the sockets. */
enum relay_state {
    RELAY_IDLE,       /* only the listening socket */
    RELAY_CONNECTING, /* client accepted; non-blocking connect to the broker under way */
    RELAY_UP,         /* both sockets open, bytes flowing */
    RELAY_DRAINING,   /* client gone: flushing its last bytes to the broker, waiting for the broker to close */
};

struct relay_config {
    const char *broker_host; /* borrowed */
    int broker_port;
    int connect_timeout_ms; /* give up a broker connection not made in this time */
};

/* Is this accepted peer the ingest's own MQTT client? */
typedef bool (*relay_peer_fn)(void *ctx, const struct sockaddr *peer, socklen_t len);
/* A QoS 0 or 1 message from the broker; msg points into the relay's buffer, valid during the call. */
typedef void (*relay_publish_fn)(void *ctx, const struct mqtt_publish *msg);
/* May the ingest take another message now? (false: backpressure, the relay stops parsing) */
typedef bool (*relay_can_read_fn)(void *ctx);

/* What the relay calls back; every function gets ctx (borrowed). */
struct relay_hooks {
    relay_peer_fn peer_ok;       /* NULL: accept any local peer (tests) */
    relay_publish_fn on_publish; /* required */
    relay_can_read_fn can_read;  /* NULL: always */
    void *ctx;
};

struct relay_buf {
    uint8_t *data; /* owned, RELAY_BUF bytes */
    size_t off;    /* first unconsumed byte */
    size_t len;    /* unconsumed bytes from off */
};

struct relay_stats {
    uint64_t connections;      /* client connections accepted */
    uint64_t connect_failed;   /* broker connections that could not be made */
    uint64_t acks_held;        /* PUBACKs that had to wait for a commit */
    uint64_t acks_sent;        /* PUBACKs handed to the kernel for the broker */
    uint64_t acks_discarded;   /* held PUBACKs dropped with their connection (the broker resends) */
    uint64_t acks_duplicate;   /* second PUBACKs for an id already queued, dropped */
    uint64_t peers_refused;    /* connections to the relay port from another process */
    uint64_t protocol_errors;  /* malformed packets from the broker, malformed or oversized ones from the client */
    uint64_t publishes;        /* QoS 0 and 1 PUBLISHes handed to on_publish */
    uint64_t publishes_passed; /* PUBLISHes forwarded to libmosquitto (QoS 2, or larger than RELAY_BUF) */
};

struct relay {
    struct relay_config cfg;
    struct ack_tracker *acks; /* borrowed */
    struct relay_hooks hooks;

    int listen_fd;            /* owned, always open after relay_init */
    int port;                 /* where listen_fd listens on 127.0.0.1 */
    int client_fd, broker_fd; /* owned, -1 when closed */
    enum relay_state state;
    int64_t deadline_ms; /* connect or drain timeout */

    struct relay_buf up_in;    /* client -> relay, being cut into packets */
    struct relay_buf up_out;   /* relay -> broker */
    struct relay_buf down;     /* broker -> relay, being cut into packets */
    struct relay_buf down_out; /* relay -> client: what libmosquitto gets */
    size_t down_pass;          /* bytes of a packet too large for `down` still to stream to the client */
    bool down_stalled;         /* parsing stopped at a PUBLISH because can_read() said no */
    bool session;              /* the broker accepted this connection (CONNACK): the tracker has a session */
    uint64_t up_queued;        /* bytes ever appended to up_out (this connection) */
    uint64_t up_sent;          /* bytes of it handed to the kernel */

    struct fifo held; /* struct relay_ack, arrival order; the first `held_out` are in up_out */
    size_t held_out;
    bool disconnect_queued; /* the client's DISCONNECT is in up_out: nothing may follow it */
    bool shut_wr;           /* DRAINING: our side to the broker is shut down for writing */

    struct relay_stats stats;
    char peer[300]; /* "host:port" of the broker, for log lines */
};

/*
 * Listen on 127.0.0.1 on an ephemeral port. cfg strings, acks and hooks->ctx
 * are borrowed and must outlive the relay. Returns 0, or -1 with a reason in err.
 */
int relay_init(struct relay *r, const struct relay_config *cfg, struct ack_tracker *acks,
               const struct relay_hooks *hooks, char *err, size_t errlen);
/* Close every socket and free the buffers. */
void relay_free(struct relay *r);

/* Fill fds[RELAY_FDS] with the sockets and events to poll (fd -1 when closed). */
void relay_pollfds(const struct relay *r, struct pollfd fds[RELAY_FDS]);
/* After poll: accept, connect, read and hand over messages, move bytes both ways, queue and send PUBACKs. */
void relay_service(struct relay *r, const struct pollfd fds[RELAY_FDS], int64_t now_ms);
/*
 * Send the PUBACKs the tracker released since the last call (after the writer
 * committed) in one send(), and go on with input that waited (for room, or for can_read).
 */
void relay_flush(struct relay *r);
/* Monotonic ms of the next timeout (INT64_MAX when none; 0 when parsing may resume now). */
int64_t relay_next_timer(const struct relay *r);

/* No PUBACK that may go is still waiting in the relay, and nothing is left to send to the broker. */
bool relay_acks_flushed(const struct relay *r);
/* No connection (only listening). */
bool relay_idle(const struct relay *r);
/* PUBACKs queued in the relay now (held or about to go). */
size_t relay_queued_acks(const struct relay *r);

#endif
