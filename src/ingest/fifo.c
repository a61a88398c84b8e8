/* fifo.c - bounded queue of fixed-size elements in mapped chunks, released as they drain (see fifo.h). */
#include "fifo.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void fifo_init(struct fifo *f, size_t elem, size_t max)
{
    memset(f, 0, sizeof *f);
    f->elem = elem ? elem : 1;
    f->max = max ? max : 1;
    f->per_chunk = FIFO_CHUNK_BYTES / f->elem;
    if (f->per_chunk < 1)
        f->per_chunk = 1;
    if (f->per_chunk > f->max)
        f->per_chunk = f->max;
}

static size_t fifo_chunk_size(const struct fifo *f)
{
    return f->per_chunk * f->elem;
}

/* A chunk: the spare if there is one, else a new mapping. NULL when out of memory. */
static unsigned char *fifo_chunk_get(struct fifo *f)
{
    unsigned char *c = f->spare;
    if (c) {
        f->spare = NULL;
        return c;
    }
    void *p = mmap(NULL, fifo_chunk_size(f), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Take back a chunk no element uses: it becomes the spare, or is unmapped when there is one. */
static void fifo_chunk_put(struct fifo *f, unsigned char *c)
{
    if (!f->spare)
        f->spare = c;
    else
        munmap(c, fifo_chunk_size(f));
}

void fifo_free(struct fifo *f)
{
    for (size_t k = 0; k < f->nchunks; k++)
        munmap(f->chunks[(f->first + k) % f->nslots], fifo_chunk_size(f));
    if (f->spare)
        munmap(f->spare, fifo_chunk_size(f));
    free(f->chunks);
    f->chunks = NULL;
    f->spare = NULL;
    f->nslots = f->first = f->nchunks = f->head = f->count = 0;
}

void *fifo_push(struct fifo *f)
{
    if (f->count >= f->max)
        return NULL;
    if (!f->chunks) {
        /* enough slots for max elements starting anywhere in the first chunk */
        size_t nslots = f->max / f->per_chunk + 2;
        f->chunks = calloc(nslots, sizeof *f->chunks);
        if (!f->chunks)
            return NULL;
        f->nslots = nslots;
    }
    size_t pos = f->head + f->count;
    if (pos / f->per_chunk == f->nchunks) {
        unsigned char *c = fifo_chunk_get(f);
        if (!c)
            return NULL;
        f->chunks[(f->first + f->nchunks) % f->nslots] = c;
        f->nchunks++;
    }
    f->count++;
    return fifo_at(f, f->count - 1);
}

void *fifo_at(const struct fifo *f, size_t i)
{
    if (i >= f->count)
        return NULL;
    size_t pos = f->head + i;
    return f->chunks[(f->first + pos / f->per_chunk) % f->nslots] + (pos % f->per_chunk) * f->elem;
}

void fifo_pop(struct fifo *f, size_t n)
{
    if (n > f->count)
        n = f->count;
    f->count -= n;
    f->head += n;
    /* release the chunks the head has left; an empty queue starts again at the start of a chunk */
    while (f->nchunks && (f->head >= f->per_chunk || !f->count)) {
        fifo_chunk_put(f, f->chunks[f->first]);
        f->first = (f->first + 1) % f->nslots;
        f->nchunks--;
        f->head = f->head >= f->per_chunk ? f->head - f->per_chunk : 0;
    }
    if (!f->count)
        f->head = 0;
}

size_t fifo_chunks(const struct fifo *f)
{
    return f->nchunks + (f->spare != NULL);
}

size_t fifo_bytes(const struct fifo *f)
{
    return fifo_chunks(f) * fifo_chunk_size(f);
}
