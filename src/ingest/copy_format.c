/* copy_format.c - COPY binary format header, rows and trailer for readings (see copy_format.h). */
#include "copy_format.h"

#include <string.h>

static void put_be16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (56 - 8 * i));
}

bool copy_binary_header(struct sbuf *b)
{
    /* the signature, int32 flags 0 (no OIDs), int32 header-extension length 0 */
    static const unsigned char header[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0377, '\r', '\n',
                                             0,   0,   0,   0,   0,   0,   0,    0,    0};
    return sbuf_append(b, header, sizeof header);
}

/* Microseconds since 2000-01-01 for ts_us; out of every timestamptz's range (not infinity) when it has none. */
static int64_t copy_pg_ts(int64_t ts_us)
{
    /* INT64_MIN and INT64_MAX mean -infinity and infinity to PostgreSQL: never send them for a reading */
    const int64_t refused = INT64_MIN + 1;
    if (ts_us < INT64_MIN + COPY_PG_EPOCH_US + 1)
        return refused;
    return ts_us - COPY_PG_EPOCH_US;
}

bool copy_binary_row(struct sbuf *b, int64_t ts_us, const char *topic, size_t topic_len, double value)
{
    if (topic_len > INT32_MAX) {
        b->failed = true;
        return false;
    }
    unsigned char head[2 + 4 + 8 + 4];
    put_be16(head, 3);
    put_be32(head + 2, 8);
    put_be64(head + 6, (uint64_t)copy_pg_ts(ts_us));
    put_be32(head + 14, (uint32_t)topic_len);
    sbuf_append(b, head, sizeof head);
    sbuf_append(b, topic, topic_len);
    unsigned char tail[4 + 8];
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    put_be32(tail, 8);
    put_be64(tail + 4, bits);
    return sbuf_append(b, tail, sizeof tail);
}

bool copy_array_begin(struct sbuf *b, uint32_t elem_oid, size_t n)
{
    if (n > INT32_MAX) {
        b->failed = true;
        return false;
    }
    unsigned char head[20];
    put_be32(head, 1);
    put_be32(head + 4, 0);
    put_be32(head + 8, elem_oid);
    put_be32(head + 12, (uint32_t)n);
    put_be32(head + 16, 1);
    return sbuf_append(b, head, sizeof head);
}

bool copy_array_ts(struct sbuf *b, int64_t ts_us)
{
    unsigned char e[12];
    put_be32(e, 8);
    put_be64(e + 4, (uint64_t)copy_pg_ts(ts_us));
    return sbuf_append(b, e, sizeof e);
}

bool copy_array_text(struct sbuf *b, const char *s, size_t len)
{
    if (len > INT32_MAX) {
        b->failed = true;
        return false;
    }
    unsigned char e[4];
    put_be32(e, (uint32_t)len);
    sbuf_append(b, e, sizeof e);
    return sbuf_append(b, s, len);
}

bool copy_array_f64(struct sbuf *b, double value)
{
    unsigned char e[12];
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    put_be32(e, 8);
    put_be64(e + 4, bits);
    return sbuf_append(b, e, sizeof e);
}

bool copy_binary_trailer(struct sbuf *b)
{
    static const unsigned char trailer[2] = {0xff, 0xff};
    return sbuf_append(b, trailer, sizeof trailer);
}
