/* stats.c - ingest counters and their summary line (see stats.h). */
#include "stats.h"

#include <stdio.h>
#include <string.h>

uint64_t stats_rejected_total(const struct ingest_stats *s)
{
    uint64_t n = 0;
    for (int i = 0; i < REJECT_CLASSES; i++)
        n += s->rejected[i];
    return n;
}

bool stats_changed(const struct ingest_stats *a, const struct ingest_stats *b)
{
    return memcmp(a, b, sizeof *a) != 0;
}

void stats_format(const struct ingest_stats *s, size_t queued, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "stats received=%llu written=%llu rejected=%llu (", (unsigned long long)s->received,
                     (unsigned long long)s->written, (unsigned long long)stats_rejected_total(s));
    for (int i = 0; i < REJECT_CLASSES && n >= 0 && (size_t)n < outlen; i++)
        n += snprintf(out + n, outlen - (size_t)n, "%s%s=%llu", i ? " " : "", reject_class_name((enum reject_class)i),
                      (unsigned long long)s->rejected[i]);
    if (n < 0 || (size_t)n >= outlen)
        return;
    snprintf(out + n, outlen - (size_t)n,
             ") rejects_written=%llu rejects_lost=%llu presence=%llu retained_skipped=%llu duplicates_skipped=%llu "
             "batches=%llu max_batch=%llu inserts=%llu queue_paused=%llu db_reconnects=%llu mqtt_reconnects=%llu "
             "held_acks=%llu max_held_acks=%llu acks_sent=%llu acks_discarded=%llu queued=%zu max_queued=%llu "
             "protocol_errors=%llu rolled_up=%llu rollup_runs=%llu",
             (unsigned long long)s->rejects_written, (unsigned long long)s->rejects_lost,
             (unsigned long long)s->presence, (unsigned long long)s->retained_skipped,
             (unsigned long long)s->duplicates_skipped, (unsigned long long)s->batches,
             (unsigned long long)s->max_batch, (unsigned long long)s->inserts, (unsigned long long)s->queue_paused,
             (unsigned long long)s->db_reconnects, (unsigned long long)s->mqtt_reconnects,
             (unsigned long long)s->held_acks, (unsigned long long)s->max_held_acks, (unsigned long long)s->acks_sent,
             (unsigned long long)s->acks_discarded, queued, (unsigned long long)s->max_queued,
             (unsigned long long)s->protocol_errors, (unsigned long long)s->rolled_up,
             (unsigned long long)s->rollup_runs);
}
