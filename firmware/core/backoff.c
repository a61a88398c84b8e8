/* backoff.c - exponential backoff with jitter (see backoff.h). */
#include "backoff.h"

void backoff_init(struct backoff *b, uint32_t base_ms, uint32_t max_ms, uint32_t seed)
{
    b->base_ms = base_ms ? base_ms : 1;
    b->max_ms = max_ms < b->base_ms ? b->base_ms : max_ms;
    b->attempt = 0;
    b->seed = seed ? seed : 0x9e3779b9u;
}

/* xorshift32: small, good enough for jitter */
static uint32_t backoff_rand(uint32_t *seed)
{
    uint32_t x = *seed;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *seed = x;
    return x;
}

uint32_t backoff_delay_ms(uint32_t base_ms, uint32_t max_ms, uint32_t attempt, uint32_t *seed)
{
    uint64_t cap = base_ms;
    for (uint32_t i = 0; i < attempt && cap < max_ms; i++)
        cap *= 2;
    if (cap > max_ms)
        cap = max_ms;
    uint32_t half = (uint32_t)(cap / 2);
    return half + backoff_rand(seed) % ((uint32_t)cap - half + 1);
}

uint32_t backoff_next_ms(struct backoff *b)
{
    uint32_t ms = backoff_delay_ms(b->base_ms, b->max_ms, b->attempt, &b->seed);
    if (b->attempt < 32)
        b->attempt++;
    return ms;
}

void backoff_reset(struct backoff *b)
{
    b->attempt = 0;
}
