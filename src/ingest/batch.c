/* batch.c - readings queue: a rowq of 32-byte rows with counted topics and an adaptive batch limit (see batch.h). */
#include "batch.h"

#include <string.h>

_Static_assert(sizeof(struct reading_row) <= 32, "a queued reading stays 32 bytes");

void batchq_init(struct batchq *b, size_t queue_max, size_t batch_max)
{
    memset(b, 0, sizeof *b);
    if (batch_max < 1)
        batch_max = 1;
    /*
     * One mosquitto_loop_read() may hand over a few messages after the pause
     * decision was taken; rowq keeps room for them below the hard bound.
     */
    rowq_init(&b->q, sizeof(struct reading_row), queue_max, BATCHQ_RESERVE_MAX);
    topic_table_init(&b->topics);
    b->batch_max = batch_max;
    b->limit = batch_max;
}

void batchq_free(struct batchq *b)
{
    rowq_free(&b->q);
    topic_table_free(&b->topics); /* the rows' counts went with them */
}

bool batchq_push(struct batchq *b, const struct reading *r)
{
    if (rowq_full(&b->q))
        return false; /* before taking a topic count that would only be given back */
    struct topic *t = topic_table_ref(&b->topics, r->topic, strnlen(r->topic, sizeof r->topic));
    if (!t)
        return false;
    struct reading_row *slot = rowq_push(&b->q);
    if (!slot) {
        topic_table_unref(&b->topics, t);
        return false;
    }
    slot->ts_us = r->ts_us;
    slot->value = r->value;
    slot->ack = r->ack;
    slot->topic = t;
    return true;
}

size_t batchq_begin(struct batchq *b)
{
    return rowq_begin(&b->q, b->limit);
}

size_t batchq_done(struct batchq *b)
{
    size_t n = rowq_inflight(&b->q);
    for (size_t i = 0; i < n; i++)
        topic_table_unref(&b->topics, batchq_row(b, i)->topic);
    rowq_done(&b->q);
    if (b->limit < b->batch_max)
        b->limit = b->limit > b->batch_max / 2 ? b->batch_max : b->limit * 2;
    return n;
}

int batchq_refused(struct batchq *b)
{
    size_t n = rowq_inflight(&b->q);
    if (n == 1)
        return 1;
    b->limit = n / 2 ? n / 2 : 1;
    rowq_retry(&b->q);
    return 0;
}
