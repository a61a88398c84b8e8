/*
 * fifo.h - bounded first-in first-out ring of fixed-size elements.
 *
 * The storage grows by doubling as elements arrive, up to `max`, so an idle
 * process holds little memory and a full one holds exactly max elements. The
 * ring owns its storage (fifo_free); what an element points to is the caller's.
 */
#ifndef SP_INGEST_FIFO_H
#define SP_INGEST_FIFO_H

#include <stddef.h>

struct fifo {
    unsigned char *buf; /* owned: cap * elem bytes */
    size_t elem;        /* bytes per element */
    size_t cap;         /* slots allocated */
    size_t max;         /* bound on count */
    size_t head;        /* slot of the oldest element */
    size_t count;       /* elements held */
};

/* An empty ring of elements of elem bytes holding at most max (>= 1). Allocates nothing yet. */
void fifo_init(struct fifo *f, size_t elem, size_t max);
/* Release the storage (not what elements point to). The ring is empty and reusable after. */
void fifo_free(struct fifo *f);
/* A new, uninitialised slot at the tail, or NULL when the ring holds max elements or memory ran out. */
void *fifo_push(struct fifo *f);
/* The i-th element from the head; i < count. The pointer is valid until the next push or pop. */
void *fifo_at(const struct fifo *f, size_t i);
/* Drop the n oldest elements (n <= count). */
void fifo_pop(struct fifo *f, size_t n);

#endif
