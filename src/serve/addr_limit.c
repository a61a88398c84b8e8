/* addr_limit.c - the per-address table (see addr_limit.h). */
#include "addr_limit.h"

#include "core/hash.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void addr_key(const uint8_t addr[16], uint8_t key[16])
{
    memcpy(key, addr, 16);
    if (memcmp(addr, v4_mapped, sizeof v4_mapped))
        memset(key + 8, 0, 8); /* IPv6: the /64 */
}

int addr_table_init(struct addr_table *t, size_t max_addrs, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    if (max_addrs < 1)
        max_addrs = 1;
    size_t n = 2;
    while (n < 2 * max_addrs)
        n <<= 1;
    t->slots = calloc(n, sizeof *t->slots);
    if (!t->slots)
        return -1;
    t->mask = n - 1;
    t->max_addrs = max_addrs;
    t->seed = seed;
    return 0;
}

void addr_table_free(struct addr_table *t)
{
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static size_t home(const struct addr_table *t, const uint8_t key[16])
{
    return (size_t)hash_bytes(t->seed, key, 16) & t->mask;
}

/* The slot of key, or of the free slot where it would go. The table always has a free slot (load <= 1/2). */
static size_t find(const struct addr_table *t, const uint8_t key[16])
{
    size_t i = home(t, key);
    while (t->slots[i].used && memcmp(t->slots[i].key, key, 16))
        i = (i + 1) & t->mask;
    return i;
}

enum addr_verdict addr_check(const struct addr_table *t, const uint8_t key[16], enum addr_kind kind, uint32_t limit)
{
    const struct addr_slot *s = &t->slots[find(t, key)];
    if (!s->used)
        return limit == 0 ? ADDR_OVER : t->used >= t->max_addrs ? ADDR_FULL : ADDR_OK;
    return s->n[kind] >= limit ? ADDR_OVER : ADDR_OK;
}

enum addr_verdict addr_acquire(struct addr_table *t, const uint8_t key[16], enum addr_kind kind, uint32_t limit)
{
    enum addr_verdict v = addr_check(t, key, kind, limit);
    if (v != ADDR_OK)
        return v;
    struct addr_slot *s = &t->slots[find(t, key)];
    if (!s->used) {
        memset(s, 0, sizeof *s);
        memcpy(s->key, key, 16);
        s->used = true;
        t->used++;
    }
    s->n[kind]++;
    return ADDR_OK;
}

/* Empty slot i, then move later entries of its probe run back so that every lookup still finds them. */
static void remove_at(struct addr_table *t, size_t i)
{
    size_t j = i;
    for (;;) {
        t->slots[i].used = false;
        for (;;) {
            j = (j + 1) & t->mask;
            if (!t->slots[j].used)
                return;
            size_t h = home(t, t->slots[j].key);
            /* j may move to i unless its home lies cyclically in (i, j] */
            bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
            if (!stays)
                break;
        }
        t->slots[i] = t->slots[j];
        i = j;
    }
}

void addr_release(struct addr_table *t, const uint8_t key[16], enum addr_kind kind)
{
    size_t i = find(t, key);
    struct addr_slot *s = &t->slots[i];
    if (!s->used || !s->n[kind])
        return;
    s->n[kind]--;
    for (int k = 0; k < ADDR_KINDS; k++)
        if (s->n[k])
            return;
    remove_at(t, i);
    t->used--;
}

uint32_t addr_count(const struct addr_table *t, const uint8_t key[16], enum addr_kind kind)
{
    const struct addr_slot *s = &t->slots[find(t, key)];
    return s->used ? s->n[kind] : 0;
}
