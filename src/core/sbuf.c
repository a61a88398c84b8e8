/* sbuf.c - growable capped buffer and JSON/CSV writers (see sbuf.h). */
#include "sbuf.h"

#include "timeutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sbuf_init(struct sbuf *b, size_t pre, size_t max)
{
    memset(b, 0, sizeof *b);
    b->pre = pre;
    b->max = max;
}

void sbuf_free(struct sbuf *b)
{
    if (b->data)
        free(b->data - b->pre);
    b->data = NULL;
    b->len = b->cap = 0;
}

void sbuf_reset(struct sbuf *b)
{
    b->len = 0;
    b->failed = false;
}

static bool sbuf_reserve(struct sbuf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (extra > b->max || b->len > b->max - extra) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + extra + 1; /* keep room for a NUL */
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *base = realloc(b->data ? b->data - b->pre : NULL, b->pre + cap);
    if (!base) {
        b->failed = true;
        return false;
    }
    b->data = base + b->pre;
    b->cap = cap;
    return true;
}

bool sbuf_append(struct sbuf *b, const void *p, size_t n)
{
    if (!sbuf_reserve(b, n))
        return false;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

bool sbuf_puts(struct sbuf *b, const char *s)
{
    return sbuf_append(b, s, strlen(s));
}

bool sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return b->failed = true, false;
    if ((size_t)n < sizeof tmp)
        return sbuf_append(b, tmp, (size_t)n);
    if (!sbuf_reserve(b, (size_t)n))
        return false;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return true;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    unsigned min;
    unsigned cp;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, cp = s[0] & 0x1f, min = 0x80;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0f, min = 0x800;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, cp = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/*
 * Copy p[0..n) into b: printable ASCII bytes that verbatim() accepts and valid
 * UTF-8 sequences go through in runs; every other byte is written by escape().
 */
static bool sbuf_escaped(struct sbuf *b, const unsigned char *p, size_t n, bool (*verbatim)(unsigned char),
                         void (*escape)(struct sbuf *, unsigned char))
{
    size_t run = 0; /* bytes copied verbatim in one append */
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t seq = c < 0x80 ? (verbatim(c) ? 1 : 0) : utf8_seq_len(p + i, n - i);
        if (seq) {
            run += seq;
            i += seq;
            continue;
        }
        sbuf_append(b, p + i - run, run);
        run = 0;
        escape(b, c);
        i++;
    }
    return sbuf_append(b, p + n - run, run);
}

static bool json_verbatim(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\';
}

static void json_escape(struct sbuf *b, unsigned char c)
{
    char esc[8];
    switch (c) {
    case '"':
        sbuf_append(b, "\\\"", 2);
        break;
    case '\\':
        sbuf_append(b, "\\\\", 2);
        break;
    case '\n':
        sbuf_append(b, "\\n", 2);
        break;
    case '\r':
        sbuf_append(b, "\\r", 2);
        break;
    case '\t':
        sbuf_append(b, "\\t", 2);
        break;
    default:
        if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sbuf_append(b, esc, 6);
        } else
            sbuf_append(b, "\\ufffd", 6); /* invalid UTF-8 byte */
    }
}

bool sbuf_json_string(struct sbuf *b, const char *s, size_t n)
{
    sbuf_append(b, "\"", 1);
    sbuf_escaped(b, (const unsigned char *)s, n, json_verbatim, json_escape);
    return sbuf_append(b, "\"", 1);
}

static bool text_verbatim(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '\\';
}

static void text_escape(struct sbuf *b, unsigned char c)
{
    if (c == '\\') {
        sbuf_append(b, "\\\\", 2);
        return;
    }
    char esc[5];
    snprintf(esc, sizeof esc, "\\x%02x", c);
    sbuf_append(b, esc, 4);
}

bool sbuf_text_escaped(struct sbuf *b, const char *s, size_t n)
{
    return sbuf_escaped(b, (const unsigned char *)s, n, text_verbatim, text_escape);
}

bool sbuf_json_double(struct sbuf *b, double v)
{
    if (!isfinite(v))
        return sbuf_append(b, "null", 4);
    char tmp[32];
    /* shortest of %.15g / %.17g that round-trips */
    int n = snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        n = snprintf(tmp, sizeof tmp, "%.17g", v);
    return sbuf_append(b, tmp, (size_t)n);
}

bool sbuf_json_row(struct sbuf *b, int64_t id, int64_t ts_us, const char *topic, double value)
{
    char ts[TIME_RFC3339_LEN + 1];
    time_format_rfc3339(ts_us, ts);
    sbuf_printf(b, "{\"id\":%lld,\"ts\":\"%s\",\"topic\":", (long long)id, ts);
    sbuf_json_string(b, topic, strlen(topic));
    sbuf_append(b, ",\"value\":", 9);
    sbuf_json_double(b, value);
    return sbuf_append(b, "}", 1);
}

bool sbuf_csv_field(struct sbuf *b, const char *s)
{
    bool formula = *s && strchr("=+-@\t\r", *s);
    if (!formula && !strpbrk(s, ",\"\r\n"))
        return sbuf_puts(b, s);
    sbuf_append(b, formula ? "\"'" : "\"", formula ? 2 : 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            sbuf_append(b, "\"", 1);
        sbuf_append(b, p, 1);
    }
    return sbuf_append(b, "\"", 1);
}
