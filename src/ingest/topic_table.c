/* topic_table.c - counted, shared topic strings in an open-addressing hash table (see topic_table.h). */
#include "topic_table.h"

#include "core/hash.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define TOPIC_TABLE_MIN_CAP 16

void topic_table_init(struct topic_table *t)
{
    memset(t, 0, sizeof *t);
    if (getrandom(&t->seed, sizeof t->seed, GRND_NONBLOCK) != (ssize_t)sizeof t->seed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t->seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)t;
    }
}

void topic_table_free(struct topic_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i]);
    free(t->slots);
    t->slots = NULL;
    t->cap = t->count = t->bytes = 0;
}

/* The table's hash of a topic (core/hash.h). */
static uint64_t topic_hash(uint64_t seed, const char *s, size_t len)
{
    return hash_bytes(seed, s, len);
}

/* Move every entry into a new index of cap slots (a power of two >= 2 * count). -1 when out of memory. */
static int topic_table_rehash(struct topic_table *t, size_t cap)
{
    struct topic **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        struct topic *e = t->slots[i];
        if (!e)
            continue;
        size_t j = e->hash & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = e;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

struct topic *topic_table_ref(struct topic_table *t, const char *s, size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    uint64_t h = topic_hash(t->seed, s, len);
    if (t->cap) {
        for (size_t i = h & (t->cap - 1); t->slots[i]; i = (i + 1) & (t->cap - 1)) {
            struct topic *e = t->slots[i];
            if (e->hash == h && e->len == len && !memcmp(e->text, s, len)) {
                if (e->refs == UINT32_MAX)
                    return NULL; /* cannot happen with a bounded queue; refuse rather than wrap */
                e->refs++;
                return e;
            }
        }
    }
    /* a new entry: keep the index at most half full */
    if ((t->count + 1) * 2 > t->cap && topic_table_rehash(t, t->cap ? t->cap * 2 : TOPIC_TABLE_MIN_CAP) != 0)
        return NULL;
    struct topic *e = malloc(sizeof *e + len + 1);
    if (!e)
        return NULL;
    e->hash = h;
    e->refs = 1;
    e->len = (uint32_t)len;
    memcpy(e->text, s, len);
    e->text[len] = '\0';
    size_t i = h & (t->cap - 1);
    while (t->slots[i])
        i = (i + 1) & (t->cap - 1);
    t->slots[i] = e;
    t->count++;
    t->bytes += sizeof *e + len + 1;
    return e;
}

/* Empty slot i and shift later entries of its probe run back, so lookups never meet a hole (no tombstones). */
static void topic_table_remove_at(struct topic_table *t, size_t i)
{
    size_t mask = t->cap - 1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        struct topic *e = t->slots[j];
        if (!e)
            break;
        size_t home = e->hash & mask;
        /* e may move to the hole at i only if its home is not in (i, j] (cyclically) */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        t->slots[i] = e;
        i = j;
    }
    t->slots[i] = NULL;
}

void topic_table_unref(struct topic_table *t, struct topic *tp)
{
    if (!tp || --tp->refs)
        return;
    size_t i = tp->hash & (t->cap - 1);
    while (t->slots[i] != tp)
        i = (i + 1) & (t->cap - 1);
    topic_table_remove_at(t, i);
    t->count--;
    t->bytes -= sizeof *tp + tp->len + 1;
    free(tp);
    if (!t->count) {
        free(t->slots);
        t->slots = NULL;
        t->cap = 0;
    } else if (t->count * 8 < t->cap && t->cap > TOPIC_TABLE_MIN_CAP) {
        topic_table_rehash(t, t->cap / 2); /* out of memory: keep the larger index, still correct */
    }
}
