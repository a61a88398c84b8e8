/* fifo.c - bounded ring of fixed-size elements, grown on demand (see fifo.h). */
#include "fifo.h"

#include <stdlib.h>
#include <string.h>

#define FIFO_FIRST_CAP 64

void fifo_init(struct fifo *f, size_t elem, size_t max)
{
    memset(f, 0, sizeof *f);
    f->elem = elem;
    f->max = max ? max : 1;
}

void fifo_free(struct fifo *f)
{
    free(f->buf);
    f->buf = NULL;
    f->cap = f->head = f->count = 0;
}

/* Double the storage (capped at max), moving the elements to the front in order. */
static int fifo_grow(struct fifo *f)
{
    size_t cap = f->cap ? f->cap * 2 : FIFO_FIRST_CAP;
    if (cap > f->max || cap < f->cap)
        cap = f->max;
    if (cap > (size_t)-1 / f->elem)
        return -1;
    unsigned char *buf = malloc(cap * f->elem);
    if (!buf)
        return -1;
    size_t first = f->cap - f->head < f->count ? f->cap - f->head : f->count; /* elements before the wrap */
    if (f->count) {
        memcpy(buf, f->buf + f->head * f->elem, first * f->elem);
        memcpy(buf + first * f->elem, f->buf, (f->count - first) * f->elem);
    }
    free(f->buf);
    f->buf = buf;
    f->cap = cap;
    f->head = 0;
    return 0;
}

void *fifo_push(struct fifo *f)
{
    if (f->count >= f->max)
        return NULL;
    if (f->count == f->cap && fifo_grow(f) != 0)
        return NULL;
    size_t slot = (f->head + f->count) % f->cap;
    f->count++;
    return f->buf + slot * f->elem;
}

void *fifo_at(const struct fifo *f, size_t i)
{
    if (i >= f->count)
        return NULL;
    return f->buf + ((f->head + i) % f->cap) * f->elem;
}

void fifo_pop(struct fifo *f, size_t n)
{
    if (n > f->count)
        n = f->count;
    f->count -= n;
    f->head = f->count ? (f->head + n) % f->cap : 0;
}
