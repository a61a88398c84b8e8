/*
 * hash.h - the one 64-bit hash of bytes the daemons use for their in-memory
 * tables and for "the same message": FNV-1a from a seeded start, then a full
 * avalanche so every input bit feeds the low (index) bits. Not for anything an
 * attacker may choose collisions in without a secret seed.
 */
#ifndef SP_CORE_HASH_H
#define SP_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Hash len bytes at p (p may be NULL when len is 0), starting from seed. */
uint64_t hash_bytes(uint64_t seed, const void *p, size_t len);

#endif
