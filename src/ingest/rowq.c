/* rowq.c - bounded row queue with one write in flight, retry and pause hysteresis (see rowq.h). */
#include "rowq.h"

#include <string.h>

void rowq_init(struct rowq *q, size_t elem, size_t max, size_t reserve_max)
{
    memset(q, 0, sizeof *q);
    if (max < 1)
        max = 1;
    fifo_init(&q->f, elem, max);
    size_t reserve = max / 8 < reserve_max ? max / 8 : reserve_max;
    q->high = max - reserve;
    q->low = max / 2;
}

void rowq_free(struct rowq *q)
{
    fifo_free(&q->f);
    q->inflight = 0;
    q->paused = false;
}

size_t rowq_begin(struct rowq *q, size_t n)
{
    if (q->inflight || !q->f.count)
        return 0;
    q->inflight = q->f.count < n ? q->f.count : n;
    return q->inflight;
}

size_t rowq_done(struct rowq *q)
{
    size_t n = q->inflight;
    fifo_pop(&q->f, n);
    q->inflight = 0;
    rowq__pause_update(q);
    return n;
}

void rowq_retry(struct rowq *q)
{
    q->inflight = 0;
}
