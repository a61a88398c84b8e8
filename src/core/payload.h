/*
 * payload.h - what a device may send as the value of a reading.
 *
 * Accepted: an ASCII number ("21.5", surrounding whitespace allowed), or a JSON
 * object {"value": 21.5, "ts": "2026-11-27T10:00:00Z"} where ts is optional and
 * is RFC 3339 text or epoch seconds. The value must be finite and within
 * +-PAYLOAD_VALUE_MAX (the database's CHECK on readings.value says the same,
 * db/005_bounds.sql); a ts must lie in a window around the receive time
 * (payload_check_ts; the ingest's --ts-past-days and --ts-future-minutes).
 * Anything else is refused with a short reason, which the ingest stores in the
 * rejects table.
 */
#ifndef SP_PAYLOAD_H
#define SP_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAYLOAD_MAX 1024 /* bytes; larger payloads are rejected as oversized */
/*
 * The largest magnitude of a value. Far below where a sum of many of them, or
 * PostgreSQL's avg() (which also sums squares), could overflow a double: a
 * bucket of 10^9 readings of 1e15 sums to 1e24 and its squares to 1e39.
 */
#define PAYLOAD_VALUE_MAX 1e15

struct payload_reading {
    double value;
    bool has_ts;
    int64_t ts_us; /* when has_ts: microseconds since the epoch */
};

/*
 * Parse buf[0..len) (need not be NUL-terminated). Returns 0 and fills out, or
 * -1 with *reason set to a static string.
 */
int payload_parse(const char *buf, size_t len, struct payload_reading *out, const char **reason);

/*
 * Is ts_us (a payload's ts, microseconds since the epoch) within
 * [now_us - past_us, now_us + future_us]? Returns 0, or -1 with *reason set to a
 * static string naming the bound it is past.
 */
int payload_check_ts(int64_t ts_us, int64_t now_us, int64_t past_us, int64_t future_us, const char **reason);

/* Presence payload "online" / "offline"; returns 1, 0, or -1 when neither. */
int payload_parse_status(const char *buf, size_t len);

#endif
