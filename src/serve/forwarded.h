/*
 * forwarded.h - X-Forwarded-For / X-Forwarded-Proto from the one --trusted-proxy (pure, no I/O).
 *
 * Only the peer named by --trusted-proxy is believed (http_peer.c decides that); from it,
 * the client is the rightmost X-Forwarded-For entry (the address the proxy itself saw and
 * appended: entries to its left are the client's to write), and the scheme the rightmost
 * X-Forwarded-Proto entry.
 */
#ifndef SP_SERVE_FORWARDED_H
#define SP_SERVE_FORWARDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FWD_ADDR_MAX 46 /* INET6_ADDRSTRLEN */

/*
 * The rightmost entry of an X-Forwarded-For value, an IPv4 or IPv6 address (bare, "[v6]",
 * "[v6]:port" or "v4:port"), written in canonical text to out (FWD_ADDR_MAX bytes). 0, or -1
 * when the value is empty or that entry is not an address.
 */
int fwd_for_last(const char *xff, char out[FWD_ADDR_MAX]);
/* The rightmost entry of X-Forwarded-Proto: 1 "https", 0 "http" (any case), -1 anything else. */
int fwd_proto_https(const char *proto);
/* An address as 16 bytes (IPv4 as ::ffff:a.b.c.d). 0, or -1 when s is not an IPv4/IPv6 address. */
int fwd_addr_parse(const char *s, uint8_t out[16]);

#endif
