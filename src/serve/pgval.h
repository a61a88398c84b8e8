/* pgval.h - read text-format result columns (int8, float8) without surprises: bad text reads as 0. */
#ifndef SP_SERVE_PGVAL_H
#define SP_SERVE_PGVAL_H

#include <libpq-fe.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * SQL for a timestamptz column as int8 microseconds since the epoch, clamped to
 * the years 0001..9999 that time_format_rfc3339 prints: a row stored with ts
 * 'infinity' (anyone can INSERT one with psql) must not make the cast fail
 * and with it every query that reads that row.
 */
#define SQL_TS_US(col)                                                                                                 \
    "(extract(epoch FROM least(greatest(" col ", timestamptz '0001-01-01 00:00:00+00'),"                               \
    " timestamptz '9999-12-31 23:59:59.999999+00')) * 1000000)::int8"

static inline int64_t pg_i64(const PGresult *r, int row, int col)
{
    return (int64_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* float8 text: "21.5", "NaN", "Infinity", "-Infinity" (strtod reads all of them). */
static inline double pg_f64(const PGresult *r, int row, int col)
{
    return strtod(PQgetvalue(r, row, col), NULL);
}

#endif
