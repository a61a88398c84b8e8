/* backoff.c - exponential backoff with jitter (see backoff.h). */
#include "backoff.h"

void backoff_init(struct backoff *b, uint32_t base_ms, uint32_t max_ms, uint32_t seed)
{
    b->base_ms = base_ms ? base_ms : 1;
    b->max_ms = max_ms < b->base_ms ? b->base_ms : max_ms;
    b->attempt = 0;
    b->seed = seed ? seed : 0x9e3779b9u;
}

static uint32_t backoff_rand(struct backoff *b)
{
    /* xorshift32: small, good enough for jitter */
    uint32_t x = b->seed;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b->seed = x;
    return x;
}

uint32_t backoff_next_ms(struct backoff *b)
{
    uint64_t cap = b->base_ms;
    for (uint32_t i = 0; i < b->attempt && cap < b->max_ms; i++)
        cap *= 2;
    if (cap > b->max_ms)
        cap = b->max_ms;
    if (b->attempt < 32)
        b->attempt++;
    uint32_t half = (uint32_t)(cap / 2);
    return half + backoff_rand(b) % ((uint32_t)cap - half + 1);
}

void backoff_reset(struct backoff *b)
{
    b->attempt = 0;
}
