/*
 * rowq.h - the bounded queue of rows behind the ingest's three queues (readings, rejects, presence).
 *
 * Rows of one fixed size, oldest first, in a chunked fifo (fifo.h) that gives
 * its memory back as it drains. Pure queue logic, no I/O; the typed queues
 * (batch.h, reject.h, presence.h) say what a row is and what it owns.
 *
 * Writing: one write at a time. rowq_begin marks up to n rows from the head as
 * in flight; they stay at the head, untouched by later pushes, until the write
 * is known to be committed (rowq_done drops them) or lost with its connection
 * (rowq_retry: the next begin takes the same rows in the same order, and what
 * arrived meanwhile).
 *
 * Bounds: at most max rows (rowq_full). Nearly full from high = max minus a
 * reserve of max/8 (at most reserve_max), the room kept for messages already
 * being read when the reader decides to pause. rowq_paused follows the same
 * mark with hysteresis: true from high until the count falls back to low =
 * max/2; each pause is counted.
 *
 * Ownership: the queue owns its chunks (rowq_free). What a row points to is the
 * typed queue's, which releases it before rowq_done / rowq_free drop the row:
 * no callback runs per row. The per-reading calls (rowq_full, rowq_push,
 * rowq_row) are inline so that the readings queue pays nothing for the
 * sharing.
 */
#ifndef SP_INGEST_ROWQ_H
#define SP_INGEST_ROWQ_H

#include "fifo.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rowq {
    struct fifo f;   /* the rows, oldest first; the first `inflight` are being written */
    size_t inflight; /* rows of the write under way, 0 when none */
    size_t high;     /* nearly full, and paused, from this count */
    size_t low;      /* paused until the count falls to this */
    bool paused;
    uint64_t pauses; /* how many times rowq_paused became true */
};

/*
 * An empty queue of rows of elem bytes, max rows at most (0 is taken as 1),
 * keeping a reserve of max/8 rows, at most reserve_max, below max. Allocates nothing yet.
 */
void rowq_init(struct rowq *q, size_t elem, size_t max, size_t reserve_max);
/* Release the chunks (not what rows point to: the caller releases that first). Empty and reusable after. */
void rowq_free(struct rowq *q);

/* When no write is under way and rows are queued, mark up to n (>= 1) rows from the head as in flight; returns how
 * many. Else 0. */
size_t rowq_begin(struct rowq *q, size_t n);
/* Drop the in-flight rows (the caller released what they own) and return how many. */
size_t rowq_done(struct rowq *q);
/* The write did not happen: the in-flight rows stay, for the next begin. */
void rowq_retry(struct rowq *q);

/* After a change of count: pause at high, resume at low (see above). */
static inline void rowq__pause_update(struct rowq *q)
{
    if (!q->paused && q->f.count >= q->high) {
        q->paused = true;
        q->pauses++;
    } else if (q->paused && q->f.count <= q->low)
        q->paused = false;
}

/* Rows held, in flight included. */
static inline size_t rowq_count(const struct rowq *q)
{
    return q->f.count;
}

/* Rows of the write under way (0 when none). */
static inline size_t rowq_inflight(const struct rowq *q)
{
    return q->inflight;
}

/* Rows waiting behind the write under way. */
static inline size_t rowq_waiting(const struct rowq *q)
{
    return q->f.count - q->inflight;
}

/* True when a push would fail for lack of room. */
static inline bool rowq_full(const struct rowq *q)
{
    return q->f.count >= q->f.max;
}

/* True from the high mark on: the reader should stop taking input. */
static inline bool rowq_nearly_full(const struct rowq *q)
{
    return q->f.count >= q->high;
}

/* True from the high mark until the count falls back to the low mark. */
static inline bool rowq_paused(const struct rowq *q)
{
    return q->paused;
}

/*
 * A new, uninitialised row at the tail for the caller to fill, or NULL when the
 * queue is full or memory ran out. Valid until the row is dropped.
 */
static inline void *rowq_push(struct rowq *q)
{
    void *row = fifo_push(&q->f);
    if (row)
        rowq__pause_update(q);
    return row;
}

/* Row i from the head (rows 0..inflight-1 are the write under way), or NULL when i >= count. */
static inline void *rowq_row(const struct rowq *q, size_t i)
{
    return fifo_at(&q->f, i);
}

#endif
