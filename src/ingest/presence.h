/*
 * presence.h - device presence updates (<device>/status) waiting for the `devices` upsert.
 *
 * Only the newest state of a device matters, so an update for a device that is
 * already queued (and not yet being written) replaces the queued one: the
 * queue never holds a device twice outside the write under way, which also
 * keeps one upsert statement from touching a row twice.
 */
#ifndef SP_INGEST_PRESENCE_H
#define SP_INGEST_PRESENCE_H

#include "ack_tracker.h"
#include "core/topic.h"
#include "fifo.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct presence {
    int64_t ts_us; /* receive time */
    bool online;
    struct ack_ref ack; /* the QoS 1 message to acknowledge once the row is committed (mid 0: none) */
    char device[TOPIC_LEVEL_MAX + 1];
};

struct presenceq {
    struct fifo q; /* struct presence, oldest first; the first `inflight` are being written */
    size_t inflight;
    size_t high; /* the reader pauses at this count */
};

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
size_t presenceq_count(const struct presenceq *p);
bool presenceq_nearly_full(const struct presenceq *p);
size_t presenceq_begin(struct presenceq *p, size_t max_rows);
const struct presence *presenceq_row(const struct presenceq *p, size_t i);
size_t presenceq_done(struct presenceq *p);
void presenceq_retry(struct presenceq *p);

#endif
