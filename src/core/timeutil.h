/* timeutil.h - timestamps as int64 microseconds since the Unix epoch (UTC): parse, format, clocks. */
#ifndef SP_TIMEUTIL_H
#define SP_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock, microseconds since the epoch. */
int64_t time_now_us(void);
/* Monotonic clock in milliseconds, for timers and timeouts. */
int64_t time_mono_ms(void);

/*
 * Parse RFC 3339 "2026-11-27T10:00:00Z", "...T10:00:00.123456+01:00" (also 't'
 * or ' ' as separator, 'z'); s[0..len) need not be NUL-terminated.
 * Returns 0 and sets *us, or -1.
 */
int time_parse_rfc3339(const char *s, size_t len, int64_t *us);

/* Write "2026-11-27T10:00:00.123456+00:00" (32 chars + NUL); out must hold TIME_RFC3339_LEN + 1. */
#define TIME_RFC3339_LEN 32
void time_format_rfc3339(int64_t us, char *out);

/* Days since 1970-01-01 of a proleptic Gregorian date (negative before). */
int64_t time_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
