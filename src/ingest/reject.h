/*
 * reject.h - refused messages waiting to be written to the `rejects` table.
 *
 * Nothing the ingest refuses is dropped silently: it is queued here with its
 * topic, its payload and a reason, written between reading batches, and
 * counted by class. The topic is stored as text that is always valid UTF-8
 * (sbuf_text_escaped); the payload is kept as bytes (bytea). Very long topics
 * and payloads keep their first bytes, and the reason says so.
 *
 * The queue is a rowq (rowq.h): writes are taken with rowq_begin(&r->q, n)
 * and put back with rowq_retry(&r->q); what is added here is the copy of a
 * refused message into one allocation per row, freed when the row is dropped.
 */
#ifndef SP_INGEST_REJECT_H
#define SP_INGEST_REJECT_H

#include "ack_tracker.h"
#include "rowq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REJECT_TOPIC_KEEP 512    /* bytes of a refused topic kept */
#define REJECT_PAYLOAD_KEEP 4096 /* bytes of a refused payload kept */
#define REJECTQ_RESERVE_MAX 64   /* rows kept below the bound for messages read after the pause, at most */

/* Why a message was refused; one counter each. */
enum reject_class {
    REJECT_TOPIC = 0, /* not <device>/<metric>/<sensor> nor <device>/status */
    REJECT_PAYLOAD,   /* not a number or valid JSON reading; value past 1e15; ts outside the window */
    REJECT_STATUS,    /* presence payload is not online/offline */
    REJECT_OVERFLOW,  /* a queue of the ingest was full */
    REJECT_DATABASE,  /* the database refused the row */
    REJECT_TOO_LARGE, /* the MQTT packet was over the client's limit (--mqtt-max-packet); only its head is kept */
    REJECT_LIMIT,     /* a new topic or device past --max-topics-per-device or --max-devices (known.h) */
    REJECT_CLASSES
};

/* "topic", "payload", "status", "overflow", "database", "too_large", "limit". */
const char *reject_class_name(enum reject_class c);

struct reject {
    int64_t received_us;
    enum reject_class cls;
    char *topic;            /* NUL-terminated valid UTF-8; points into mem */
    char *reason;           /* NUL-terminated valid UTF-8; points into mem */
    unsigned char *payload; /* payload_len bytes; points into mem */
    size_t payload_len;
    struct ack_ref ack; /* the QoS 1 message to acknowledge once the row is committed (mid 0: none) */
    void *mem;          /* owned by the queue: one allocation for the three */
};

struct rejectq {
    struct rowq q; /* struct reject; count, in flight, retry, nearly full */
};

/* max rows at most; nearly full REJECTQ_RESERVE_MAX (or max/8) rows before that. */
void rejectq_init(struct rejectq *r, size_t max);
/* Free every queued reject and the chunks. */
void rejectq_free(struct rejectq *r);

/*
 * Queue a copy of topic[0..topic_len) (raw bytes, any encoding), payload and
 * reason (a C string), with the message's ack reference. Returns 0, or -1 when
 * the queue is full or memory ran out (the caller counts the loss and settles ack).
 */
int rejectq_push(struct rejectq *r, enum reject_class cls, const char *topic, size_t topic_len, const void *payload,
                 size_t payload_len, const char *reason, int64_t received_us, struct ack_ref ack);

static inline size_t rejectq_count(const struct rejectq *r)
{
    return rowq_count(&r->q);
}
static inline bool rejectq_nearly_full(const struct rejectq *r)
{
    return rowq_nearly_full(&r->q);
}
/* Row i from the head (rows 0..inflight-1 are the write under way). Valid until it is dropped (done). */
static inline const struct reject *rejectq_row(const struct rejectq *r, size_t i)
{
    return rowq_row(&r->q, i);
}
/* Free and drop the in-flight rejects (written, or given up). Returns how many. */
size_t rejectq_done(struct rejectq *r);

#endif
