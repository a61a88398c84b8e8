/* presence.c - coalescing queue of device presence updates (see presence.h). */
#include "presence.h"

#include <stdio.h>
#include <string.h>

void presenceq_init(struct presenceq *p, size_t max)
{
    memset(p, 0, sizeof *p);
    fifo_init(&p->q, sizeof(struct presence), max);
    size_t reserve = max / 8 < 64 ? max / 8 : 64;
    p->high = max - reserve;
}

void presenceq_free(struct presenceq *p)
{
    fifo_free(&p->q);
    p->inflight = 0;
}

int presenceq_push(struct presenceq *p, const char *device, bool online, int64_t ts_us, struct ack_ref ack,
                   struct ack_ref *superseded)
{
    superseded->gen = 0;
    superseded->mid = 0;
    for (size_t i = p->inflight; i < p->q.count; i++) {
        struct presence *e = fifo_at(&p->q, i);
        if (!strcmp(e->device, device)) {
            e->online = online;
            e->ts_us = ts_us;
            /* an untracked newer update (QoS 0) keeps the older message's reference: its commit settles it */
            if (ack.mid) {
                *superseded = e->ack;
                e->ack = ack;
            }
            return 0;
        }
    }
    struct presence *e = fifo_push(&p->q);
    if (!e)
        return -1;
    memset(e, 0, sizeof *e);
    snprintf(e->device, sizeof e->device, "%s", device);
    e->online = online;
    e->ts_us = ts_us;
    e->ack = ack;
    return 0;
}

size_t presenceq_count(const struct presenceq *p)
{
    return p->q.count;
}

bool presenceq_nearly_full(const struct presenceq *p)
{
    return p->q.count >= p->high;
}

size_t presenceq_begin(struct presenceq *p, size_t max_rows)
{
    if (p->inflight || !p->q.count)
        return 0;
    p->inflight = p->q.count < max_rows ? p->q.count : max_rows;
    return p->inflight;
}

const struct presence *presenceq_row(const struct presenceq *p, size_t i)
{
    return fifo_at(&p->q, i);
}

size_t presenceq_done(struct presenceq *p)
{
    size_t n = p->inflight;
    fifo_pop(&p->q, n);
    p->inflight = 0;
    return n;
}

void presenceq_retry(struct presenceq *p)
{
    p->inflight = 0;
}
