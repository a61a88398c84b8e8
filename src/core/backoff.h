/* backoff.h - exponential reconnect backoff with full jitter, shared by every reconnecting client. */
#ifndef SP_BACKOFF_H
#define SP_BACKOFF_H

#include <stdint.h>

struct backoff {
    uint32_t base_ms;  /* first delay */
    uint32_t max_ms;   /* ceiling */
    uint32_t attempt;  /* failures since the last success */
    uint32_t seed;     /* private PRNG state, so tests are repeatable */
};

void backoff_init(struct backoff *b, uint32_t base_ms, uint32_t max_ms, uint32_t seed);
/* Delay before the next attempt: uniform in [cap/2, cap], cap = min(max, base * 2^attempt). */
uint32_t backoff_next_ms(struct backoff *b);
void backoff_reset(struct backoff *b);

#endif
