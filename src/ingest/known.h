/*
 * known.h - the devices and topics the store knows, and the bounds on new ones.
 *
 * A device may have at most max_topics reading topics, and there may be at
 * most max_devices devices (--max-topics-per-device, --max-devices), so that
 * a device cannot flood `readings`, /api/topics or the dashboard with topics
 * or device names. The ingest asks this table before it queues a reading or a
 * presence update: a topic already known passes; a new one is admitted (and
 * counted under its device) while both bounds allow it, and refused with a
 * reason otherwise.
 *
 * What "known" starts from: at the first database connection the writer loads
 * every distinct topic of `readings` (an index skip scan, one probe per topic)
 * and every row of `devices` (known_add_stored, no bounds); until then the
 * table holds what this process admitted. Entries are never removed while the
 * process runs: a topic whose readings retention dropped still counts until
 * the next start.
 *
 * Memory: entries are 64-bit hashes (seeded per process), not the strings: at
 * most max_devices * max_topics topic entries plus what was stored, 16 bytes
 * each at an index at most half full (10000 * 64 topics: 20 MB at worst). Two
 * topics with the same hash count as one; with a random seed and 64 bits a
 * publisher cannot aim for that, and by chance it is about n / 2^64 per new
 * topic. The cost is one reading admitted past the bound, nothing worse.
 *
 * Ownership: the table owns its two indexes; known_free frees them.
 */
#ifndef SP_INGEST_KNOWN_H
#define SP_INGEST_KNOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct known_slot {
    uint64_t key; /* hash of the name; 0 = empty */
    uint32_t n;   /* devices: topics known under it; topics: unused */
};

struct known_set {
    struct known_slot *slots; /* owned: cap slots */
    size_t cap;               /* 0 or a power of two */
    size_t count;
};

struct known {
    struct known_set devices, topics;
    size_t max_devices, max_topics; /* the bounds on new ones */
    uint64_t seed;
    bool loaded; /* the stored topics and devices were added */
};

/* An empty table with these bounds (each at least 1) and a random seed. Allocates nothing yet. */
void known_init(struct known *k, size_t max_devices, size_t max_topics_per_device);
void known_free(struct known *k);

/*
 * May a reading on topic[0..len) (a valid reading topic: device/metric/sensor)
 * be stored? 0: yes (a new topic is now known and counted); -1: no, *reason
 * says which bound (a static string), or out of memory.
 */
int known_admit_reading(struct known *k, const char *topic, size_t len, const char **reason);
/* May a presence update of device[0..len) be stored? As known_admit_reading, for the device bound alone. */
int known_admit_device(struct known *k, const char *device, size_t len, const char **reason);

/*
 * What the database already holds, without bounds: a topic of `readings` (its
 * device is the text before the first '/', all of it when there is none), or
 * a device of `devices` (is_device). -1 when memory ran out.
 */
int known_add_stored(struct known *k, const char *name, size_t len, bool is_device);

#endif
