/*
 * batch.h - group commit for readings: a bounded FIFO and the batch being written.
 *
 * Pure queue logic, no I/O, so it is unit-tested without a database. The writer
 * asks batchq_begin() for work whenever it has no write under way: a lone
 * reading therefore goes out at once, and readings that arrive while a write is
 * under way wait and all go together (up to the batch limit) in the next one.
 *
 * The queue is a rowq (rowq.h): the in-flight rows stay at the head until the
 * write is known to be committed (batchq_done); a write lost with its
 * connection is retried (rowq_retry) with the same rows in the same order.
 * What is added here: the topic table, and the adaptive batch limit.
 *
 * Memory: a queued reading is a struct reading_row (32 bytes on 64-bit
 * systems) whose topic is a counted reference into the queue's topic table
 * (topic_table.h), and the queue's storage is chunked (fifo.h) and handed
 * back as it drains.
 *
 * Backpressure: batchq_paused() becomes true when the queue reaches its high
 * mark (queue_max minus a reserve of queue_max/8, at most BATCHQ_RESERVE_MAX,
 * for messages already being read) and false again at the low mark (half of
 * queue_max). Each pause is counted (q.pauses).
 */
#ifndef SP_INGEST_BATCH_H
#define SP_INGEST_BATCH_H

#include "ack_tracker.h"
#include "core/topic.h"
#include "rowq.h"
#include "topic_table.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One accepted reading as msg_classify gives it, by value with its topic inline: what batchq_push takes. */
struct reading {
    int64_t ts_us; /* device time, or receive time when the payload had none */
    double value;
    struct ack_ref ack; /* the QoS 1 message to acknowledge once the row is committed (mid 0: none) */
    char topic[TOPIC_MAX + 1];
};

/* A queued reading: the row COPY writes. */
struct reading_row {
    int64_t ts_us;
    double value;
    struct ack_ref ack;
    struct topic *topic; /* one count of the queue's topic table entry, given back when the row is dropped */
};

#define BATCHQ_RESERVE_MAX 1024 /* rows kept below queue_max for messages read after the pause, at most */

struct batchq {
    struct rowq q;             /* struct reading_row; count, in flight, retry, pause */
    struct topic_table topics; /* the topics of the rows in q */
    size_t batch_max;          /* configured rows per statement */
    size_t limit;              /* rows per statement now: batch_max, halved while isolating a refused row */
};

/* queue_max >= 1 rows in memory at most, batch_max >= 1 rows per statement. */
void batchq_init(struct batchq *b, size_t queue_max, size_t batch_max);
void batchq_free(struct batchq *b);

/*
 * Copy r to the tail (its topic into the topic table). False when the queue
 * holds queue_max rows or memory ran out (the caller must reject r).
 */
bool batchq_push(struct batchq *b, const struct reading *r);
/* Rows held, in flight included. */
static inline size_t batchq_count(const struct batchq *b)
{
    return rowq_count(&b->q);
}

/*
 * When no write is under way and rows are pending, mark up to `limit` rows from
 * the head as in flight and return how many; else return 0.
 */
size_t batchq_begin(struct batchq *b);
/* Row i of the queue (i < count); rows 0..inflight-1 are the batch. Valid until it is dropped (done). */
static inline const struct reading_row *batchq_row(const struct batchq *b, size_t i)
{
    return rowq_row(&b->q, i);
}
/* The batch is committed: drop it (and its topic counts), let the limit grow back. Returns the rows dropped. */
size_t batchq_done(struct batchq *b);
/*
 * The database refused the batch for a data reason. With several rows, the
 * limit halves so later batches narrow down the bad row, and 0 is returned
 * (rows kept). With one row, returns 1: that row (batchq_row(b, 0)) is the bad
 * one; the caller records it as rejected and then calls batchq_done().
 */
int batchq_refused(struct batchq *b);

/* True while the reader should stop taking input (see the hysteresis above). */
static inline bool batchq_paused(const struct batchq *b)
{
    return rowq_paused(&b->q);
}

#endif
