/*
 * sbuf.h - growable byte buffer with a hard cap, and JSON/CSV writers on top.
 *
 * The buffer owns its memory (sbuf_free). Appends past the cap fail and set
 * the sticky error flag, so a caller can append a whole message and check once.
 */
#ifndef SP_SBUF_H
#define SP_SBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf {
    char *data;
    size_t len, cap, max;
    size_t pre;  /* bytes reserved in front of data (e.g. LWS_PRE); data points past them */
    bool failed; /* an append hit max or malloc failed */
};

/* pre: headroom kept before data (for libwebsockets); max: hard cap on len. */
void sbuf_init(struct sbuf *b, size_t pre, size_t max);
void sbuf_free(struct sbuf *b);
void sbuf_reset(struct sbuf *b);
bool sbuf_append(struct sbuf *b, const void *p, size_t n);
bool sbuf_puts(struct sbuf *b, const char *s);
bool sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal with quotes; invalid UTF-8 bytes become U+FFFD. */
bool sbuf_json_string(struct sbuf *b, const char *s, size_t n);
/* A JSON number; non-finite values become null. */
bool sbuf_json_double(struct sbuf *b, double v);
/* One reading row as docs/INTERFACES.md documents it: {"id":..,"ts":"..","topic":"..","value":..} */
bool sbuf_json_row(struct sbuf *b, int64_t id, int64_t ts_us, const char *topic, double value);
/*
 * Text safe for a PostgreSQL text column and readable back without ambiguity:
 * valid printable UTF-8 is copied, a backslash is doubled, and every other byte
 * (invalid UTF-8, C0 controls, DEL) becomes \xNN. For untrusted names such as
 * a refused MQTT topic.
 */
bool sbuf_text_escaped(struct sbuf *b, const char *s, size_t n);
/*
 * A CSV text field, quoted when it holds a comma, quote, CR or LF. One that a spreadsheet
 * would read as a formula (first byte =, +, -, @, TAB or CR) is neutralised: a single quote
 * put before it and the field quoted ("'=cmd()"). Numbers are not written through this.
 */
bool sbuf_csv_field(struct sbuf *b, const char *s);

#endif
