/*
 * ws_rx.h - what a WebSocket client may send us: almost nothing. Pure, no I/O.
 *
 * The server never needs client messages (the dashboard sends none), so the
 * policy is strict and cheap: a text message of at most `max` bytes is read,
 * checked for UTF-8 and ignored (counted); anything else ends the connection
 * with the RFC 6455 close code that names it:
 *
 *   over max bytes (one frame or many fragments)   1009 message too big
 *   a binary message                               1003 unsupported data
 *   a text message that is not valid UTF-8         1007 invalid payload data
 *
 * libwebsockets hands a message over in chunks (a frame larger than the rx
 * buffer comes in pieces, a fragmented message frame by frame), so the
 * checks are incremental: a UTF-8 sequence may straddle two chunks, and
 * bytes are counted across fragments. The caller feeds every chunk in order
 * and says when it ends a message.
 */
#ifndef SP_SERVE_WS_RX_H
#define SP_SERVE_WS_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, at most U+10FFFF). */
struct utf8_check {
    uint8_t need;   /* continuation bytes still expected */
    uint8_t lo, hi; /* range allowed for the next continuation byte */
};

static inline void utf8_check_init(struct utf8_check *u)
{
    u->need = 0;
    u->lo = 0x80;
    u->hi = 0xbf;
}
/* Feed n bytes. False as soon as they cannot be (the start of) valid UTF-8; the state is then undefined. */
bool utf8_check_feed(struct utf8_check *u, const uint8_t *p, size_t n);
/* True when everything fed so far ends on a character boundary. */
static inline bool utf8_check_complete(const struct utf8_check *u)
{
    return u->need == 0;
}

enum ws_rx_verdict {
    WS_RX_OK = 0,    /* keep reading */
    WS_RX_TOO_LARGE, /* close 1009 */
    WS_RX_BINARY,    /* close 1003 */
    WS_RX_BAD_UTF8,  /* close 1007 */
};

struct ws_rx {
    size_t len;  /* bytes of the message being received */
    bool in_msg; /* a message has started and not ended */
    bool binary; /* the message being received is binary */
    struct utf8_check utf8;
    uint64_t messages; /* complete messages accepted (and ignored) */
};

/* Zeroed memory is a valid initial state too. */
void ws_rx_init(struct ws_rx *rx);
/*
 * One chunk of a client message: binary = the message's opcode is binary
 * (lws_frame_is_binary), final = this chunk ends the message. Returns the
 * verdict; after anything but WS_RX_OK the caller closes the connection.
 */
enum ws_rx_verdict ws_rx_chunk(struct ws_rx *rx, const void *data, size_t n, bool binary, bool final, size_t max);

#endif
