/* known.c - known devices and topics as seeded 64-bit hashes, and the bounds on new ones (see known.h). */
#include "known.h"

#include "core/hash.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define KNOWN_MIN_CAP 64

void known_init(struct known *k, size_t max_devices, size_t max_topics_per_device)
{
    memset(k, 0, sizeof *k);
    k->max_devices = max_devices ? max_devices : 1;
    k->max_topics = max_topics_per_device ? max_topics_per_device : 1;
    if (getrandom(&k->seed, sizeof k->seed, GRND_NONBLOCK) != (ssize_t)sizeof k->seed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k->seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)k;
    }
}

void known_free(struct known *k)
{
    free(k->devices.slots);
    free(k->topics.slots);
    k->devices = k->topics = (struct known_set){0};
}

/* The table's hash of a device or topic name (core/hash.h), the kind in the seed; never 0 (the empty slot). */
static uint64_t known_hash(uint64_t seed, uint8_t kind, const char *s, size_t len)
{
    uint64_t h = hash_bytes(seed ^ ((uint64_t)kind << 56), s, len);
    return h ? h : 1;
}

static struct known_slot *set_find(const struct known_set *s, uint64_t key)
{
    if (!s->cap)
        return NULL;
    for (size_t i = key & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->slots[i].key == key)
            return &s->slots[i];
        if (!s->slots[i].key)
            return NULL;
    }
}

/* Add key (not present). The new slot, or NULL when out of memory. */
static struct known_slot *set_add(struct known_set *s, uint64_t key)
{
    if ((s->count + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : KNOWN_MIN_CAP;
        struct known_slot *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return NULL;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slots[i].key)
                continue;
            size_t j = s->slots[i].key & (cap - 1);
            while (slots[j].key)
                j = (j + 1) & (cap - 1);
            slots[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    size_t i = key & (s->cap - 1);
    while (s->slots[i].key)
        i = (i + 1) & (s->cap - 1);
    s->slots[i] = (struct known_slot){.key = key};
    s->count++;
    return &s->slots[i];
}

/* The device's slot, added when bounded is false or the device bound allows. NULL with *reason otherwise. */
static struct known_slot *device_slot(struct known *k, const char *device, size_t len, bool bounded,
                                      const char **reason)
{
    uint64_t key = known_hash(k->seed, 'd', device, len);
    struct known_slot *d = set_find(&k->devices, key);
    if (d)
        return d;
    if (bounded && k->devices.count >= k->max_devices) {
        *reason = "limit: too many devices (--max-devices)";
        return NULL;
    }
    d = set_add(&k->devices, key);
    if (!d)
        *reason = "limit: out of memory for a new device";
    return d;
}

static int admit_topic(struct known *k, const char *topic, size_t len, bool bounded, const char **reason)
{
    uint64_t key = known_hash(k->seed, 't', topic, len);
    if (set_find(&k->topics, key))
        return 0;
    const char *slash = memchr(topic, '/', len);
    size_t dlen = slash ? (size_t)(slash - topic) : len;
    struct known_slot *d = device_slot(k, topic, dlen, bounded, reason);
    if (!d)
        return -1;
    if (bounded && d->n >= k->max_topics) {
        *reason = "limit: too many topics for this device (--max-topics-per-device)";
        return -1;
    }
    if (!set_add(&k->topics, key)) {
        *reason = "limit: out of memory for a new topic";
        return -1;
    }
    if (d->n < UINT32_MAX)
        d->n++;
    return 0;
}

int known_admit_reading(struct known *k, const char *topic, size_t len, const char **reason)
{
    return admit_topic(k, topic, len, true, reason);
}

int known_admit_device(struct known *k, const char *device, size_t len, const char **reason)
{
    return device_slot(k, device, len, true, reason) ? 0 : -1;
}

int known_add_stored(struct known *k, const char *name, size_t len, bool is_device)
{
    const char *reason;
    if (is_device)
        return device_slot(k, name, len, false, &reason) ? 0 : -1;
    return admit_topic(k, name, len, false, &reason);
}
