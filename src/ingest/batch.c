/* batch.c - readings queue with an in-flight batch, adaptive limit and pause hysteresis (see batch.h). */
#include "batch.h"

#include <string.h>

_Static_assert(sizeof(struct reading_row) <= 32, "a queued reading stays 32 bytes");

#define BATCHQ_RESERVE_MAX 1024

void batchq_init(struct batchq *b, size_t queue_max, size_t batch_max)
{
    memset(b, 0, sizeof *b);
    if (queue_max < 1)
        queue_max = 1;
    if (batch_max < 1)
        batch_max = 1;
    fifo_init(&b->q, sizeof(struct reading_row), queue_max);
    topic_table_init(&b->topics);
    b->batch_max = batch_max;
    b->limit = batch_max;
    /*
     * One mosquitto_loop_read() may hand over a few messages after the pause
     * decision was taken; keep room for them below the hard bound.
     */
    size_t reserve = queue_max / 8;
    if (reserve > BATCHQ_RESERVE_MAX)
        reserve = BATCHQ_RESERVE_MAX;
    b->high = queue_max - reserve;
    b->low = queue_max / 2;
}

void batchq_free(struct batchq *b)
{
    fifo_free(&b->q);
    topic_table_free(&b->topics); /* the rows' counts went with them */
    b->inflight = 0;
}

static void batchq_update_pause(struct batchq *b)
{
    if (!b->paused && b->q.count >= b->high) {
        b->paused = true;
        b->pauses++;
    } else if (b->paused && b->q.count <= b->low)
        b->paused = false;
}

bool batchq_push(struct batchq *b, const struct reading *r)
{
    if (b->q.count >= b->q.max)
        return false;
    struct topic *t = topic_table_ref(&b->topics, r->topic, strnlen(r->topic, sizeof r->topic));
    if (!t)
        return false;
    struct reading_row *slot = fifo_push(&b->q);
    if (!slot) {
        topic_table_unref(&b->topics, t);
        return false;
    }
    slot->ts_us = r->ts_us;
    slot->value = r->value;
    slot->ack = r->ack;
    slot->topic = t;
    batchq_update_pause(b);
    return true;
}

size_t batchq_count(const struct batchq *b)
{
    return b->q.count;
}

size_t batchq_waiting(const struct batchq *b)
{
    return b->q.count - b->inflight;
}

size_t batchq_begin(struct batchq *b)
{
    if (b->inflight || !b->q.count)
        return 0;
    b->inflight = b->q.count < b->limit ? b->q.count : b->limit;
    return b->inflight;
}

const struct reading_row *batchq_row(const struct batchq *b, size_t i)
{
    return fifo_at(&b->q, i);
}

size_t batchq_done(struct batchq *b)
{
    size_t n = b->inflight;
    for (size_t i = 0; i < n; i++)
        topic_table_unref(&b->topics, ((struct reading_row *)fifo_at(&b->q, i))->topic);
    fifo_pop(&b->q, n);
    b->inflight = 0;
    if (b->limit < b->batch_max)
        b->limit = b->limit > b->batch_max / 2 ? b->batch_max : b->limit * 2;
    batchq_update_pause(b);
    return n;
}

void batchq_retry(struct batchq *b)
{
    b->inflight = 0;
}

int batchq_refused(struct batchq *b)
{
    if (b->inflight == 1)
        return 1;
    b->limit = b->inflight / 2 ? b->inflight / 2 : 1;
    b->inflight = 0;
    return 0;
}

bool batchq_paused(const struct batchq *b)
{
    return b->paused;
}
