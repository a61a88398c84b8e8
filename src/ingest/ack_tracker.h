/*
 * ack_tracker.h - when may the broker hear that a QoS 1 message is ours?
 *
 * The ingest holds the PUBACK of every QoS 1 message until what the message
 * produced (a reading, a reject or a presence row) is committed. This module
 * is the bookkeeping for that, one slot per MQTT packet id (1..65535), as a
 * table-driven state machine: pure code, no I/O, unit-tested event by event.
 *
 * Three parties send it events, all from the one poll loop:
 *   - the ingest's message function (ingest_message, called by the ack relay
 *     for each PUBLISH it parses): a message arrived;
 *   - the writer: the row carrying (generation, packet id) is durable - or was
 *     given up after being counted as lost;
 *   - the ack relay (ack_relay.h): the connection came up (an accepting CONNACK
 *     went by: a new generation; "session present" or not), the connection went
 *     down; it queued a PUBACK for an id (its own, right after handing the
 *     message over, or libmosquitto's for a message it passed on), and later
 *     handed that PUBACK to the kernel for the broker.
 *
 * The relay queues its PUBACK only after the message function has returned,
 * and libmosquitto's PUBACK (written before its on_message) is read only after
 * mosquitto_loop_read() has returned, so the tracker always hears "received"
 * before "PUBACK" for one message.
 *
 * Duplicates across a reconnect: when a connection dies, every message that was
 * received but whose PUBACK did not go out becomes an orphan (packet id, hash of
 * topic and payload, and whether its row is committed yet). On a persistent
 * session the broker sends exactly those messages again, with the same packet
 * ids, before anything new. A message arriving with an orphan's id and hash is
 * that redelivery: it is skipped (not stored twice) and its PUBACK waits for the
 * original row. A different hash means the id was reused: the orphan is
 * forgotten and the message is new. A CONNACK without "session present" means
 * the broker kept nothing for us: no redelivery will come, orphans are dropped.
 *
 * Ownership: the tracker owns its slot array (ack_tracker_free).
 */
#ifndef SP_INGEST_ACK_TRACKER_H
#define SP_INGEST_ACK_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACK_MIDS 65536 /* packet ids are 16 bits; 0 is never used for QoS > 0 */

/* What a queued row carries back to the message it came from. mid 0: no message to acknowledge. */
struct ack_ref {
    uint32_t gen; /* connection generation the message arrived on */
    uint16_t mid; /* MQTT packet id */
};

/* The state of one packet id; the comment says who holds what. */
enum ack_state {
    ACK_IDLE = 0,      /* nothing outstanding for this id */
    ACK_PENDING,       /* message in the ingest's queues, row not committed; PUBACK not read by the relay yet */
    ACK_HELD,          /* row not committed; the relay holds the PUBACK */
    ACK_COMMITTED,     /* row committed; the PUBACK has not reached the relay yet (sent when it does) */
    ACK_RELEASED,      /* row committed; the relay holds the PUBACK and may send it (in arrival order) */
    ACK_ORPHAN_QUEUED, /* arrived on a connection that died before its PUBACK went out; row still queued */
    ACK_ORPHAN_DONE,   /* same, row committed: a redelivery is a duplicate to acknowledge at once */
    ACK_STATES
};

enum ack_event {
    ACK_EV_RECEIVE = 0, /* a QoS 1 message arrived that is not a copy of the one the slot holds */
    ACK_EV_SAME,        /* a QoS 1 message arrived with the slot's topic and payload (redelivery or resend) */
    ACK_EV_PUBACK,      /* the relay queued a PUBACK for this id (its own, or one libmosquitto wrote) */
    ACK_EV_COMMIT,      /* the row that carries the slot's (generation, id) is durable */
    ACK_EV_SENT,        /* the relay handed this id's PUBACK to the kernel */
    ACK_EV_DISCONNECT,  /* the connection is gone (its held PUBACKs with it) */
    ACK_EV_NO_SESSION,  /* CONNACK without "session present": the broker will redeliver nothing */
    ACK_EVENTS
};

enum ack_action {
    ACK_DO_NOTHING = 0,
    ACK_DO_STORE,           /* RECEIVE: a new message; store it, its row carries the returned ref */
    ACK_DO_SKIP,            /* SAME: a duplicate; store nothing, count it */
    ACK_DO_STORE_UNTRACKED, /* RECEIVE on a busy id (a broker fault): store it without a ref, log it */
    ACK_DO_HOLD,            /* PUBACK: queue it in the relay, it waits for the commit */
    ACK_DO_PASS,            /* PUBACK: queue it in the relay, nothing waits on it (untracked id) */
    ACK_DO_RELEASE,         /* PUBACK or COMMIT: the queued PUBACK may go */
    ACK_DO_DROP,            /* PUBACK: a second one for an id already queued; drop it */
    ACK_ACTIONS
};

struct ack_transition {
    uint8_t next;   /* enum ack_state */
    uint8_t action; /* enum ack_action */
};

struct ack_slot {
    uint64_t hash; /* of the message the slot holds (topic and payload) */
    uint32_t gen;  /* generation of the row whose commit the slot waits for */
    uint8_t state; /* enum ack_state */
};

struct ack_tracker {
    struct ack_slot *slots; /* owned: ACK_MIDS entries */
    uint32_t gen;           /* generation of the connection now (or the last one) */
    bool connected;
    size_t count[ACK_STATES]; /* slots in each state (count[ACK_IDLE] is not kept) */
    uint64_t anomalies;       /* RECEIVE on a busy id: the broker reused an unacknowledged id */
};

/* The transition table: what event e does in state s. */
struct ack_transition ack_transition(enum ack_state s, enum ack_event e);
const char *ack_state_name(enum ack_state s);
const char *ack_event_name(enum ack_event e);
const char *ack_action_name(enum ack_action a);

/* FNV-1a 64 of topic, a NUL byte and payload: what "the same message" means. */
uint64_t ack_hash(const char *topic, size_t topic_len, const void *payload, size_t payload_len);

/* Allocate the slots (all idle, generation 0). Returns 0 or -1 when out of memory. */
int ack_tracker_init(struct ack_tracker *t);
void ack_tracker_free(struct ack_tracker *t);

/* CONNACK accepted: a new generation. Without session_present, orphans are forgotten. */
void ack_tracker_connected(struct ack_tracker *t, bool session_present);
/* The connection is gone: what was received and not acknowledged becomes orphans. Idempotent. */
void ack_tracker_disconnected(struct ack_tracker *t);

/*
 * A QoS 1 message with packet id mid (1..65535) and ack_hash() h arrived.
 * Returns ACK_DO_STORE (and sets *ref), ACK_DO_SKIP (a duplicate: *ref cleared)
 * or ACK_DO_STORE_UNTRACKED (*ref cleared).
 */
enum ack_action ack_tracker_received(struct ack_tracker *t, uint16_t mid, uint64_t h, struct ack_ref *ref);
/* The row carrying ref is durable, or given up. Returns ACK_DO_RELEASE when a held PUBACK may now go. */
enum ack_action ack_tracker_commit(struct ack_tracker *t, struct ack_ref ref);
/* The relay has a PUBACK for mid to queue (its own or libmosquitto's): HOLD, PASS, RELEASE (queue it) or DROP. */
enum ack_action ack_tracker_puback(struct ack_tracker *t, uint16_t mid);
/* May the queued PUBACK for mid go out now? (Everything but a HELD one may.) */
bool ack_tracker_may_send(const struct ack_tracker *t, uint16_t mid);
/* The relay handed the PUBACK for mid to the kernel. */
void ack_tracker_sent(struct ack_tracker *t, uint16_t mid);

enum ack_state ack_tracker_state(const struct ack_tracker *t, uint16_t mid);
/* PUBACKs the relay holds now (HELD and RELEASED). */
size_t ack_tracker_held(const struct ack_tracker *t);
/* Messages whose row is not committed yet on this connection (PENDING and HELD). */
size_t ack_tracker_unsettled(const struct ack_tracker *t);
/* Orphans waiting for their redelivery. */
size_t ack_tracker_orphans(const struct ack_tracker *t);
/* Packet ids in use on this connection: received and not yet acknowledged (PENDING to RELEASED). */
size_t ack_tracker_in_use(const struct ack_tracker *t);

#endif
