/*
 * notify_rows.h - the payload of NOTIFY new_reading (db/009_notify_rows.sql), parsed.
 *
 * Every payload has {"first":<lowest id>,"last":<highest id>,"count":<rows>}.
 * A statement of at most NOTIFY_ROWS_MAX rows (whose payload stays under 4000
 * bytes) also carries them: "rows":[[id, ts_us, "topic", value], ...], in id
 * order, ts_us = microseconds since the epoch. Serve appends such rows to the
 * hub straight away; without rows (a larger statement, or an older schema) the
 * notification is a doorbell and serve fetches the range.
 *
 * Checked: an object; first, last and count integers with 1 <= first <= last
 * < 2^53 and count >= 1; rows, when present, exactly count entries of an id
 * (strictly increasing, the first = first, the last = last), an integer ts_us,
 * a string topic and a finite number. Anything else is bad: the caller counts
 * it and falls back to a fetch.
 */
#ifndef SP_SERVE_NOTIFY_ROWS_H
#define SP_SERVE_NOTIFY_ROWS_H

#include <stddef.h>
#include <stdint.h>

#define NOTIFY_ROWS_MAX 16 /* db/009's bound on the rows one payload carries */

struct notify_row {
    int64_t id, ts_us;
    const char *topic; /* NUL-terminated, inside the parsed document (valid until notify_rows_free) */
    size_t topic_len;
    double value;
};

struct notify_rows {
    int64_t first, last, count;
    size_t n; /* rows carried: 0 (a doorbell) or count */
    struct notify_row row[NOTIFY_ROWS_MAX];
    void *doc; /* owned: the parsed JSON the topics point into */
};

/*
 * Parse payload[0..len) (need not be NUL-terminated). Returns 1 with the rows
 * in out->row, 0 for an id range without rows (or with more than
 * NOTIFY_ROWS_MAX of them: left to a fetch), -1 with *why set to a static
 * reason. Call notify_rows_free(out) after any return.
 */
int notify_rows_parse(const char *payload, size_t len, struct notify_rows *out, const char **why);
void notify_rows_free(struct notify_rows *nr);

#endif
