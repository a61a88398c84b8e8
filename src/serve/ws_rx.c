/* ws_rx.c - client message policy: size, type, incremental UTF-8 (see ws_rx.h). */
#include "ws_rx.h"

bool utf8_check_feed(struct utf8_check *u, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (u->need) {
            if (c < u->lo || c > u->hi)
                return false;
            u->need--;
            u->lo = 0x80;
            u->hi = 0xbf;
            continue;
        }
        if (c < 0x80)
            continue;
        /* lead byte: how many continuation bytes follow, and the range of the first one */
        if (c >= 0xc2 && c <= 0xdf)
            u->need = 1;
        else if (c == 0xe0)
            u->need = 2, u->lo = 0xa0; /* no overlong 3-byte forms */
        else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
            u->need = 2;
        else if (c == 0xed)
            u->need = 2, u->hi = 0x9f; /* no UTF-16 surrogates */
        else if (c == 0xf0)
            u->need = 3, u->lo = 0x90; /* no overlong 4-byte forms */
        else if (c >= 0xf1 && c <= 0xf3)
            u->need = 3;
        else if (c == 0xf4)
            u->need = 3, u->hi = 0x8f; /* nothing above U+10FFFF */
        else
            return false; /* 0x80..0xc1 (continuation or overlong lead), 0xf5..0xff */
    }
    return true;
}

void ws_rx_init(struct ws_rx *rx)
{
    rx->len = 0;
    rx->in_msg = false;
    rx->binary = false;
    utf8_check_init(&rx->utf8);
    rx->messages = 0;
}

enum ws_rx_verdict ws_rx_chunk(struct ws_rx *rx, const void *data, size_t n, bool binary, bool final, size_t max)
{
    if (!rx->in_msg) {
        rx->in_msg = true;
        rx->binary = binary;
        rx->len = 0;
        utf8_check_init(&rx->utf8);
    }
    if (rx->binary)
        return WS_RX_BINARY;
    if (n > max || rx->len > max - n) /* rx->len <= max always holds */
        return WS_RX_TOO_LARGE;
    rx->len += n;
    if (!utf8_check_feed(&rx->utf8, data, n))
        return WS_RX_BAD_UTF8;
    if (final) {
        if (!utf8_check_complete(&rx->utf8))
            return WS_RX_BAD_UTF8; /* the message ends inside a character */
        rx->in_msg = false;
        rx->messages++;
    }
    return WS_RX_OK;
}
