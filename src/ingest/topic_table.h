/*
 * topic_table.h - the topics of the queued readings, each stored once and counted.
 *
 * A queued reading holds a counted reference to its topic instead of a copy:
 * the thousands of readings of one sensor share one entry. An entry lives while
 * a queued reading refers to it and is freed by the last unref, so the table
 * holds at most as many entries as there are queued readings, whatever number
 * of distinct topics arrives (a publisher inventing a new topic for every
 * message fills the readings queue, which pauses at --queue-max as always, and
 * the entries go with the readings once written). The hash index is open
 * addressing with linear probing; it grows at half full, shrinks at one eighth
 * and is freed when the table is empty. The hash is seeded per process, so a
 * publisher cannot choose topics that all land in one probe run.
 *
 * Ownership: the table owns its entries and index (topic_table_free frees all,
 * whatever the counts); a holder of a reference owns one count.
 */
#ifndef SP_INGEST_TOPIC_TABLE_H
#define SP_INGEST_TOPIC_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct topic {
    uint64_t hash;
    uint32_t refs; /* queued readings referring to it */
    uint32_t len;  /* bytes of text, without the NUL */
    char text[];   /* NUL-terminated */
};

struct topic_table {
    struct topic **slots; /* owned: cap slots, NULL = empty; entries owned through them */
    size_t cap;           /* 0 or a power of two */
    size_t count;         /* entries */
    size_t bytes;         /* bytes of the entries (not the index) */
    uint64_t seed;
};

/* An empty table with a per-process random seed. Allocates nothing yet. */
void topic_table_init(struct topic_table *t);
/* Free every entry and the index, references or not. */
void topic_table_free(struct topic_table *t);
/*
 * A reference to the entry for s[0..len) (need not be NUL-terminated; len <=
 * UINT32_MAX), created on first use. NULL when memory ran out. The caller owns
 * one count, to give back with topic_table_unref.
 */
struct topic *topic_table_ref(struct topic_table *t, const char *s, size_t len);
/* Give back one count; the entry is freed (and tp invalid) when it was the last. */
void topic_table_unref(struct topic_table *t, struct topic *tp);

#endif
