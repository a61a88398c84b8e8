/*
 * presence.h - device presence updates (<device>/status) waiting for the `devices` upsert.
 *
 * Only the newest state of a device matters, so an update for a device that is
 * already queued (and not yet being written) replaces the queued one: the
 * queue never holds a device twice outside the write under way, which also
 * keeps one upsert statement from touching a row twice.
 *
 * The queue is a rowq (rowq.h) whose rows own nothing: writes are taken with
 * rowq_begin(&p->q, n), dropped with rowq_done(&p->q) and put back with
 * rowq_retry(&p->q). What is added here is the coalescing push.
 */
#ifndef SP_INGEST_PRESENCE_H
#define SP_INGEST_PRESENCE_H

#include "ack_tracker.h"
#include "core/topic.h"
#include "rowq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct presence {
    int64_t ts_us; /* receive time */
    bool online;
    struct ack_ref ack; /* the QoS 1 message to acknowledge once the row is committed (mid 0: none) */
    char device[TOPIC_LEVEL_MAX + 1];
};

#define PRESENCEQ_RESERVE_MAX 64 /* rows kept below the bound for messages read after the pause, at most */

struct presenceq {
    struct rowq q; /* struct presence; count, in flight, retry, nearly full */
};

/* max rows at most; nearly full PRESENCEQ_RESERVE_MAX (or max/8) rows before that. */
void presenceq_init(struct presenceq *p, size_t max);
void presenceq_free(struct presenceq *p);
/*
 * Queue or update the state of device. Returns 0, or -1 when the queue is full.
 * An update replaces the queued one of the same device; *superseded is then
 * the replaced update's ack reference (else mid 0): the newer message carries
 * the device's state now, so the older one needs no row of its own and the
 * caller settles it at once.
 */
int presenceq_push(struct presenceq *p, const char *device, bool online, int64_t ts_us, struct ack_ref ack,
                   struct ack_ref *superseded);
static inline size_t presenceq_count(const struct presenceq *p)
{
    return rowq_count(&p->q);
}
static inline bool presenceq_nearly_full(const struct presenceq *p)
{
    return rowq_nearly_full(&p->q);
}
/* Row i from the head (rows 0..inflight-1 are the write under way). Valid until it is dropped (rowq_done). */
static inline const struct presence *presenceq_row(const struct presenceq *p, size_t i)
{
    return rowq_row(&p->q, i);
}

#endif
