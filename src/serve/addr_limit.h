/*
 * addr_limit.h - per-address counts of connections, WebSockets and API requests in flight, so that
 * one address (or one IPv6 /64) cannot take what the global limits leave for everyone (pure, no I/O).
 *
 * A fixed-size open-addressing table (linear probing, backward-shift deletion) keyed by the address
 * as 16 bytes (IPv4 as ::ffff:a.b.c.d; IPv6 cut to its /64, which one host usually owns) and hashed
 * with a secret seed. An address is in the table while any of its counts is above zero, so the table
 * holds at most `max_addrs` addresses and its memory is allocated once. When it is full, a new
 * address is refused (ADDR_FULL) and addresses already in it go on as before: the table can never
 * grow, and only a client holding a connection from each of max_addrs addresses can fill it.
 */
#ifndef SP_SERVE_ADDR_LIMIT_H
#define SP_SERVE_ADDR_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum addr_kind { ADDR_CONN, ADDR_WS, ADDR_REQ, ADDR_KINDS };

enum addr_verdict {
    ADDR_OK,   /* counted */
    ADDR_OVER, /* the address is at its limit for this kind: not counted */
    ADDR_FULL, /* a new address, and the table holds max_addrs addresses: not counted */
};

struct addr_slot {
    uint8_t key[16];
    uint32_t n[ADDR_KINDS];
    bool used;
};

struct addr_table {
    struct addr_slot *slots; /* owned */
    size_t mask;             /* slot count - 1 (a power of two, at least twice max_addrs) */
    size_t used, max_addrs;
    uint64_t seed;
};

/* An address (16 bytes, IPv4 mapped) as its table key: IPv6 keeps its first 64 bits, IPv4 all 32. */
void addr_key(const uint8_t addr[16], uint8_t key[16]);
/* A table for up to max_addrs addresses (>= 1), hashed with seed. 0, or -1 when out of memory. */
int addr_table_init(struct addr_table *t, size_t max_addrs, uint64_t seed);
void addr_table_free(struct addr_table *t);
/* Would one more of kind be allowed for key (count < limit, and room for a new address)? */
enum addr_verdict addr_check(const struct addr_table *t, const uint8_t key[16], enum addr_kind kind, uint32_t limit);
/* Count one more of kind for key when allowed (see addr_check). */
enum addr_verdict addr_acquire(struct addr_table *t, const uint8_t key[16], enum addr_kind kind, uint32_t limit);
/* One of kind for key ended (it must have been counted); the address leaves when all its counts are 0. */
void addr_release(struct addr_table *t, const uint8_t key[16], enum addr_kind kind);
/* The count of kind for key (0 when absent). */
uint32_t addr_count(const struct addr_table *t, const uint8_t key[16], enum addr_kind kind);

#endif
