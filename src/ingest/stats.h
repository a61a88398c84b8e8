/*
 * stats.h - counters of the ingest and their one-line summary.
 *
 * The summary is logged every --stats-interval seconds when a counter moved, and at exit:
 *   stats received=.. written=.. rejected=.. (topic=.. payload=.. status=.. overflow=.. database=.. too_large=..
 * limit=..) rejects_written=.. rejects_lost=.. presence=.. retained_skipped=.. duplicates_skipped=.. batches=..
 * max_batch=.. inserts=.. queue_paused=.. db_reconnects=.. mqtt_reconnects=.. held_acks=.. max_held_acks=..
 * acks_sent=.. acks_discarded=.. queued=.. max_queued=.. protocol_errors=.. rolled_up=.. rollup_runs=..
 */
#ifndef SP_INGEST_STATS_H
#define SP_INGEST_STATS_H

#include "reject.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ingest_stats {
    uint64_t received;                 /* MQTT messages delivered to the ingest */
    uint64_t written;                  /* readings committed */
    uint64_t rejected[REJECT_CLASSES]; /* messages refused, by class */
    uint64_t rejects_written;          /* rows committed to the rejects table */
    uint64_t rejects_lost;             /* refused messages that could not be kept (queue full, row refused) */
    uint64_t presence;                 /* presence updates committed */
    uint64_t retained_skipped;         /* retained readings replayed by the broker, not stored again */
    uint64_t batches;                  /* statements committed that wrote readings: COPYs and INSERTs */
    uint64_t inserts;                  /* ... of which INSERTs (small batches, see writer.c) */
    uint64_t max_batch;                /* most rows in one of them */
    uint64_t duplicates_skipped;       /* redelivered QoS 1 messages already stored, not stored again */
    uint64_t queue_paused;             /* times reading MQTT paused because a queue was full */
    uint64_t db_reconnects;            /* database connections made after a lost one */
    uint64_t mqtt_reconnects;          /* broker sessions made after a lost one */
    uint64_t held_acks;                /* now: PUBACKs the MQTT client holds (waiting for a commit or to go out) */
    uint64_t max_held_acks;            /* most of them at once */
    uint64_t acks_sent;                /* PUBACKs the MQTT client sent to the broker */
    uint64_t acks_discarded;           /* held PUBACKs dropped with a lost connection (the broker resends) */
    uint64_t max_queued;               /* most readings held in memory at once */
    uint64_t protocol_errors;          /* connections the MQTT client closed for what the broker sent */
    uint64_t rolled_up;                /* readings the rollups' catch-up added to them (db/011) */
    uint64_t rollup_runs;              /* catch-ups committed */
};

uint64_t stats_rejected_total(const struct ingest_stats *s);
/* True when any counter differs. */
bool stats_changed(const struct ingest_stats *a, const struct ingest_stats *b);
/* Write the summary (without a trailing newline); queued is the readings held now. */
void stats_format(const struct ingest_stats *s, size_t queued, char *out, size_t outlen);

#endif
