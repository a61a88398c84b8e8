/* stats.c - latency samples and percentiles for the bench tools (see stats.h). */
#include "stats.h"

#include <stdlib.h>

int lat_add(struct lat_set *s, int64_t us)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 1 << 16;
        int32_t *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = us > INT32_MAX ? INT32_MAX : us < INT32_MIN ? INT32_MIN : (int32_t)us;
    s->sorted = 0;
    return 0;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void lat_sort(struct lat_set *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof *s->v, cmp_i32);
    s->sorted = 1;
}

int32_t lat_pct(const struct lat_set *s, double p)
{
    if (!s->n)
        return -1;
    size_t k = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
    return s->v[k < s->n ? k : s->n - 1];
}

int32_t lat_max(const struct lat_set *s)
{
    return s->n ? s->v[s->n - 1] : -1;
}

double lat_mean(const struct lat_set *s)
{
    if (!s->n)
        return -1;
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->v[i];
    return sum / (double)s->n;
}

void lat_free(struct lat_set *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
    s->sorted = 0;
}
