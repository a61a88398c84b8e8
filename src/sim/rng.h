/*
 * rng.h - a small seedable PRNG for the simulator (xoshiro256**, seeded with
 * splitmix64), so a given --seed replays the same values. Not for secrets.
 */
#ifndef SP_SIM_RNG_H
#define SP_SIM_RNG_H

#include <stdint.h>

struct sim_rng {
    uint64_t s[4];
};

/* Seed a generator; each stream of one seed gives an independent sequence (one per device). */
void sim_rng_seed(struct sim_rng *r, uint64_t seed, uint64_t stream);
uint64_t sim_rng_u64(struct sim_rng *r);
/* Uniform in [0, 1). */
double sim_rng_uniform(struct sim_rng *r);
/* Uniform integer in [0, n), n > 0. */
uint32_t sim_rng_below(struct sim_rng *r, uint32_t n);
/* Standard normal (mean 0, deviation 1). */
double sim_rng_normal(struct sim_rng *r);

#endif
