/* hub.c - ring of recent readings with pre-formatted JSON, and the presence ring (see hub.h). */
#include "hub.h"

#include <stdlib.h>
#include <string.h>

int hub_ring_init(struct hub_ring *r, size_t cap)
{
    memset(r, 0, sizeof *r);
    if (cap == 0)
        return -1;
    r->rows = calloc(cap, sizeof *r->rows);
    if (!r->rows)
        return -1;
    r->cap = cap;
    sbuf_init(&r->fmt, 0, HUB_ROW_JSON_MAX);
    return 0;
}

void hub_ring_free(struct hub_ring *r)
{
    if (r->rows)
        for (size_t i = 0; i < r->cap; i++)
            free(r->rows[i].buf);
    free(r->rows);
    sbuf_free(&r->fmt);
    memset(r, 0, sizeof *r);
}

void hub_ring_reset(struct hub_ring *r, int64_t floor)
{
    r->start = r->count = 0;
    r->floor = r->last_id = floor;
}

int hub_ring_append(struct hub_ring *r, int64_t id, int64_t ts_us, const char *topic, size_t topic_len, double value)
{
    if (id <= r->last_id)
        return -1;
    /* sbuf_json_row wants a C string; topics from the database are C strings already */
    char small[256];
    char *t = topic_len < sizeof small ? small : malloc(topic_len + 1);
    if (!t)
        return -2;
    memcpy(t, topic, topic_len);
    t[topic_len] = '\0';
    sbuf_reset(&r->fmt);
    bool ok = sbuf_json_row(&r->fmt, id, ts_us, t, value) && !r->fmt.failed;
    if (t != small)
        free(t);
    if (!ok)
        return -2;

    size_t slot = (r->start + r->count) % r->cap;
    struct hub_row *row = &r->rows[slot];
    size_t need = topic_len + 1 + r->fmt.len + 1;
    if (need > row->cap) {
        char *nb = realloc(row->buf, need);
        if (!nb)
            return -2;
        row->buf = nb;
        row->cap = (uint32_t)need;
    }
    if (r->count == r->cap) {
        /* full: the oldest row (in this slot) goes, the ring is now complete only above it */
        r->floor = row->id;
        r->start = (r->start + 1) % r->cap;
        r->count--;
    }
    memcpy(row->buf, topic, topic_len);
    row->buf[topic_len] = '\0';
    memcpy(row->buf + topic_len + 1, r->fmt.data, r->fmt.len + 1);
    row->topic_len = (uint32_t)topic_len;
    row->json_len = (uint32_t)r->fmt.len;
    row->id = id;
    row->ts_us = ts_us;
    row->value = value;
    r->count++;
    r->last_id = id;
    return 0;
}

int hub_ring_skip(struct hub_ring *r, int64_t id)
{
    if (id <= r->last_id)
        return -1;
    r->last_id = id;
    return 0;
}

const struct hub_row *hub_ring_at(const struct hub_ring *r, size_t i)
{
    return &r->rows[(r->start + i) % r->cap];
}

size_t hub_ring_first_after(const struct hub_ring *r, int64_t cursor)
{
    size_t lo = 0, hi = r->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (hub_ring_at(r, mid)->id <= cursor)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t hub_ring_lag(const struct hub_ring *r, int64_t cursor)
{
    return r->count - hub_ring_first_after(r, cursor);
}

void hub_presence_init(struct hub_presence *p)
{
    memset(p, 0, sizeof *p);
}

void hub_presence_free(struct hub_presence *p)
{
    for (size_t i = 0; i < HUB_PRESENCE_CAP; i++)
        free(p->frame[i]);
    memset(p, 0, sizeof *p);
}

int hub_presence_push(struct hub_presence *p, const char *payload, size_t len)
{
    static const char head[] = "{\"type\":\"presence\",\"data\":";
    size_t n = sizeof head - 1 + len + 1;
    char *f = malloc(n + 1);
    if (!f)
        return -1;
    memcpy(f, head, sizeof head - 1);
    memcpy(f + sizeof head - 1, payload, len);
    f[n - 1] = '}';
    f[n] = '\0';
    size_t slot = p->next_seq % HUB_PRESENCE_CAP;
    free(p->frame[slot]);
    p->frame[slot] = f;
    p->len[slot] = n;
    p->next_seq++;
    return 0;
}

const char *hub_presence_get(const struct hub_presence *p, uint64_t *seq, size_t *len, uint64_t *dropped)
{
    *dropped = 0;
    if (*seq >= p->next_seq)
        return NULL;
    uint64_t oldest = p->next_seq > HUB_PRESENCE_CAP ? p->next_seq - HUB_PRESENCE_CAP : 0;
    if (*seq < oldest) {
        *dropped = oldest - *seq;
        *seq = oldest;
    }
    size_t slot = *seq % HUB_PRESENCE_CAP;
    *len = p->len[slot];
    return p->frame[slot];
}
