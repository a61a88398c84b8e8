/*
 * copy_format.h - rows for `COPY readings (ts, topic, value) FROM STDIN (FORMAT binary)`.
 *
 * Binary format, so PostgreSQL parses no text (no timestamptz_in, no strtod):
 *   header   "PGCOPY\n\377\r\n\0", int32 flags 0, int32 header-extension length 0
 *   a row    int16 field count 3, then per field int32 byte length and the bytes:
 *            ts    int64 microseconds since 2000-01-01 00:00:00 UTC (timestamptz)
 *            topic the text bytes (the server checks they are valid in its encoding)
 *            value float8, IEEE 754 big-endian
 *   trailer  int16 -1
 * All integers big-endian. The stream may be cut into CopyData messages anywhere.
 */
#ifndef SP_INGEST_COPY_FORMAT_H
#define SP_INGEST_COPY_FORMAT_H

#include "core/sbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The statement the rows below are for. */
#define COPY_READINGS_SQL "COPY readings (ts, topic, value) FROM STDIN (FORMAT binary)"

#define COPY_PG_EPOCH_US 946684800000000LL /* 2000-01-01T00:00:00Z in Unix microseconds */

/* Append the 19-byte header. False when the buffer failed (see sbuf). */
bool copy_binary_header(struct sbuf *b);
/*
 * Append one row (30 + topic_len bytes). A ts so far out that it has no
 * timestamptz is sent as one PostgreSQL refuses ("timestamp out of range"),
 * never as its +-infinity.
 */
bool copy_binary_row(struct sbuf *b, int64_t ts_us, const char *topic, size_t topic_len, double value);
/* Append the 2-byte trailer that ends the data. */
bool copy_binary_trailer(struct sbuf *b);
/*
 * The same rows as three binary array parameters, timestamptz[], text[] and
 * float8[], for the INSERT ... SELECT FROM unnest($1, $2, $3) of a small batch
 * (writer.c): each array is begun with its element type and length, then gets
 * one element per row (the same encodings as the COPY fields above). Array
 * header: int32 ndim 1, int32 flags 0 (no NULLs), int32 element type OID,
 * int32 length, int32 lower bound 1; an element: int32 byte length, the bytes.
 */
#define COPY_OID_TIMESTAMPTZ 1184
#define COPY_OID_TEXT 25
#define COPY_OID_FLOAT8 701
bool copy_array_begin(struct sbuf *b, uint32_t elem_oid, size_t n);
bool copy_array_ts(struct sbuf *b, int64_t ts_us);
bool copy_array_text(struct sbuf *b, const char *s, size_t len);
bool copy_array_f64(struct sbuf *b, double value);

#endif
