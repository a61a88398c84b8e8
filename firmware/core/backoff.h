/*
 * backoff.h - exponential reconnect backoff with jitter, shared by every reconnecting
 * client: the ingest's broker and database connections, serve's database connections,
 * and the device's Wi-Fi and broker stages (conn.c). Portable C11, like the rest of
 * firmware/core.
 */
#ifndef SP_BACKOFF_H
#define SP_BACKOFF_H

#include <stdint.h>

struct backoff {
    uint32_t base_ms; /* first delay */
    uint32_t max_ms;  /* ceiling */
    uint32_t attempt; /* failures since the last success */
    uint32_t seed;    /* private PRNG state, so tests are repeatable */
};

/*
 * The delay itself: uniform in [cap/2, cap], cap = min(max_ms, base_ms * 2^attempt), drawn from the
 * xorshift32 state *seed (advanced; must not be 0).
 */
uint32_t backoff_delay_ms(uint32_t base_ms, uint32_t max_ms, uint32_t attempt, uint32_t *seed);

void backoff_init(struct backoff *b, uint32_t base_ms, uint32_t max_ms, uint32_t seed);
/* Delay before the next attempt: uniform in [cap/2, cap], cap = min(max, base * 2^attempt). */
uint32_t backoff_next_ms(struct backoff *b);
void backoff_reset(struct backoff *b);

#endif
