/*
 * ack_tracker.h - when may the broker hear that a QoS 1 message is ours?
 *
 * The ingest holds the PUBACK of every QoS 1 message until what the message
 * produced (a reading, a reject or a presence row) is committed. This module
 * is the bookkeeping for that, one slot per MQTT packet id (1..65535), as a
 * table-driven state machine: pure code, no I/O, unit-tested event by event.
 *
 * Two parties send it events, both from the ingest's one poll loop:
 *   - the MQTT client (mqtt_client.h): a message arrived (it queues the
 *     message's PUBACK at once, behind the earlier ones, and hands the message
 *     to the ingest only when the tracker says STORE); a PUBACK left for the
 *     broker; the session started (an accepting CONNACK: a new generation,
 *     "session present" or not); the connection ended;
 *   - the writer, through the client: the row carrying (generation, packet id)
 *     is durable - or was given up after being counted as lost.
 * The client sends a queued PUBACK only when its slot is no longer PENDING,
 * and PUBACKs leave in the order their messages came (MQTT 3.1.1 section 4.6).
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
    ACK_PENDING,       /* row in the ingest's queues, not committed; the client holds the PUBACK back */
    ACK_RELEASED,      /* row committed; the PUBACK is in the client's queue or buffer, free to go */
    ACK_ORPHAN_QUEUED, /* arrived on a connection that died before its PUBACK went out; row still queued */
    ACK_ORPHAN_DONE,   /* same, row committed: a redelivery is a duplicate to acknowledge at once */
    ACK_STATES
};

enum ack_event {
    ACK_EV_RECEIVE = 0, /* a QoS 1 message arrived that is not a copy of the one the slot holds */
    ACK_EV_SAME,        /* a QoS 1 message arrived with the slot's topic and payload (redelivery or resend) */
    ACK_EV_COMMIT,      /* the row that carries the slot's (generation, id) is durable */
    ACK_EV_SENT,        /* the client handed this id's PUBACK to the kernel */
    ACK_EV_DISCONNECT,  /* the connection is gone (the PUBACKs not sent with it) */
    ACK_EV_NO_SESSION,  /* CONNACK without "session present": the broker will redeliver nothing */
    ACK_EVENTS
};

/* What the client does for a message (RECEIVE, SAME) or a commit. */
enum ack_action {
    ACK_DO_NOTHING = 0,
    ACK_DO_STORE,           /* a new message: store it (its row carries the ref), queue its PUBACK */
    ACK_DO_SKIP,            /* a redelivered orphan: store nothing, queue its PUBACK (it waits for the original row) */
    ACK_DO_DROP,            /* a copy of a message whose PUBACK is already queued: store nothing, queue nothing */
    ACK_DO_STORE_UNTRACKED, /* a new message on a busy id (a broker fault): store it without a ref, log it */
    ACK_DO_RELEASE,         /* COMMIT: the queued PUBACK may go */
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

/* The hash (core/hash.h) of topic, then payload: what "the same message" means. */
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
 * Returns ACK_DO_STORE (and sets *ref), ACK_DO_SKIP, ACK_DO_DROP or
 * ACK_DO_STORE_UNTRACKED (*ref cleared for all three).
 */
enum ack_action ack_tracker_received(struct ack_tracker *t, uint16_t mid, uint64_t h, struct ack_ref *ref);
/* The row carrying ref is durable, or given up. Returns ACK_DO_RELEASE when its PUBACK may now go. */
enum ack_action ack_tracker_commit(struct ack_tracker *t, struct ack_ref ref);
/* May the queued PUBACK for mid go out now? (Everything but a PENDING one may.) */
bool ack_tracker_may_send(const struct ack_tracker *t, uint16_t mid);
/* The client handed the PUBACK for mid to the kernel. */
void ack_tracker_sent(struct ack_tracker *t, uint16_t mid);

enum ack_state ack_tracker_state(const struct ack_tracker *t, uint16_t mid);
/* PUBACKs the client holds now, waiting for a commit or to go out (PENDING and RELEASED). */
size_t ack_tracker_held(const struct ack_tracker *t);
/* Messages whose row is not committed yet on this connection (PENDING). */
size_t ack_tracker_unsettled(const struct ack_tracker *t);
/* Orphans waiting for their redelivery. */
size_t ack_tracker_orphans(const struct ack_tracker *t);
/* Packet ids in use on this connection: received and not yet acknowledged (PENDING and RELEASED). */
size_t ack_tracker_in_use(const struct ack_tracker *t);

#endif
