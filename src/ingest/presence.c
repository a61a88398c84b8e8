/* presence.c - coalescing queue of device presence updates (see presence.h). */
#include "presence.h"

#include <stdio.h>
#include <string.h>

void presenceq_init(struct presenceq *p, size_t max)
{
    rowq_init(&p->q, sizeof(struct presence), max, PRESENCEQ_RESERVE_MAX);
}

void presenceq_free(struct presenceq *p)
{
    rowq_free(&p->q); /* the rows own nothing */
}

int presenceq_push(struct presenceq *p, const char *device, bool online, int64_t ts_us, struct ack_ref ack,
                   struct ack_ref *superseded)
{
    superseded->gen = 0;
    superseded->mid = 0;
    /* the rows behind the write under way; the in-flight ones are not touched */
    for (size_t i = rowq_inflight(&p->q); i < rowq_count(&p->q); i++) {
        struct presence *e = rowq_row(&p->q, i);
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
    struct presence *e = rowq_push(&p->q);
    if (!e)
        return -1;
    memset(e, 0, sizeof *e);
    snprintf(e->device, sizeof e->device, "%s", device);
    e->online = online;
    e->ts_us = ts_us;
    e->ack = ack;
    return 0;
}
