/*
 * fifo.h - bounded first-in first-out queue of fixed-size elements, in chunks.
 *
 * The elements live in fixed-size chunks (FIFO_CHUNK_BYTES) taken as the queue
 * grows, up to `max` elements, and handed back to the kernel as soon as the
 * head leaves them, so memory follows what is queued now, not the largest
 * burst so far: no array doubling, no copy, no old and new storage alive at
 * once. One emptied chunk is kept as a spare so a queue that hovers around a
 * chunk boundary does not map and unmap at every push. Chunks are anonymous
 * mappings (not malloc) so that an unmapped chunk is memory the process gives
 * back at once, whatever the allocator does with freed blocks.
 *
 * The queue owns its chunks (fifo_free); what an element points to is the caller's.
 */
#ifndef SP_INGEST_FIFO_H
#define SP_INGEST_FIFO_H

#include <stddef.h>

#define FIFO_CHUNK_BYTES 65536 /* bytes per chunk at most (fewer when max elements fit in less) */

struct fifo {
    unsigned char **chunks; /* owned: ring of nslots chunk pointers; nchunks of them from `first` are in use */
    unsigned char *spare;   /* owned: an emptied chunk kept for the next one needed, or NULL */
    size_t nslots;          /* length of the chunks ring (0 until the first push) */
    size_t first;           /* ring index of the chunk holding the head */
    size_t nchunks;         /* chunks in use */
    size_t elem;            /* bytes per element */
    size_t per_chunk;       /* elements per chunk */
    size_t max;             /* bound on count */
    size_t head;            /* index of the oldest element in the first chunk */
    size_t count;           /* elements held */
};

/* An empty queue of elements of elem (>= 1) bytes holding at most max (>= 1). Allocates nothing yet. */
void fifo_init(struct fifo *f, size_t elem, size_t max);
/* Release every chunk (not what elements point to). The queue is empty and reusable after. */
void fifo_free(struct fifo *f);
/* A new, uninitialised slot at the tail, or NULL when the queue holds max elements or memory ran out. */
void *fifo_push(struct fifo *f);
/* The i-th element from the head, or NULL when i >= count. Valid until that element is popped. */
void *fifo_at(const struct fifo *f, size_t i);
/* Drop the n oldest elements (all when n > count); chunks left empty are released. */
void fifo_pop(struct fifo *f, size_t n);
/* Chunks held now, the spare included (for tests and stats). */
size_t fifo_chunks(const struct fifo *f);
/* Bytes of chunk memory held now, the spare included. */
size_t fifo_bytes(const struct fifo *f);

#endif
