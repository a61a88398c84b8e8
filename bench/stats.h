/*
 * stats.h - latency samples of the bench tools (ws_client, count_sub): collect
 * microsecond values, then sort once and read percentiles, mean and max.
 */
#ifndef SP_BENCH_STATS_H
#define SP_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

struct lat_set {
    int32_t *v; /* owned; values clamped to int32 */
    size_t n, cap;
    int sorted; /* lat_sort ran after the last lat_add */
};

/* Zeroed memory is an empty set. Add one sample; 0, or -1 when out of memory (the sample is dropped). */
int lat_add(struct lat_set *s, int64_t us);
/* Sort the samples; call before the readers below. */
void lat_sort(struct lat_set *s);
/* Nearest-rank percentile p (0..100) of the sorted samples; -1 when there are none. */
int32_t lat_pct(const struct lat_set *s, double p);
/* Largest sample; -1 when there are none. */
int32_t lat_max(const struct lat_set *s);
/* Mean; -1 when there are none. */
double lat_mean(const struct lat_set *s);
void lat_free(struct lat_set *s);

#endif
