/*
 * copy_format.h - rows for `COPY readings (ts, topic, value) FROM STDIN` in text format.
 *
 * Text format: columns separated by a tab, rows ended by a newline, and a
 * backslash, tab, newline, carriage return, backspace, form feed or vertical
 * tab inside a value written as a backslash escape. Topics are validated
 * before they get here, but the escaping does not rely on it.
 */
#ifndef SP_INGEST_COPY_FORMAT_H
#define SP_INGEST_COPY_FORMAT_H

#include "core/sbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The statement the rows below are for. */
#define COPY_READINGS_SQL "COPY readings (ts, topic, value) FROM STDIN"

/* Append s[0..n) escaped as one COPY text field. False when the buffer failed (see sbuf). */
bool copy_text_field(struct sbuf *b, const char *s, size_t n);
/* Append "<RFC 3339 UTC ts>\t<topic>\t<value>\n". */
bool copy_reading_row(struct sbuf *b, int64_t ts_us, const char *topic, double value);

#endif
