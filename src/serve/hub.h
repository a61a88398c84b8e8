/*
 * hub.h - the shared queue of every WebSocket client: a ring of the newest
 * readings, and a small ring of presence messages. Pure data structure, no I/O.
 *
 * The ring holds rows in increasing id order, each with its JSON text
 * (sbuf_json_row) formatted once when it arrives, so fan-out to N clients
 * copies bytes and never formats. It is complete above `floor`: every reading
 * with floor < id <= last_id is in it (ids become visible in increasing order,
 * see db/001_schema.sql, so appending `id > last_id` pages keeps that true).
 * When it is full the oldest row goes and floor becomes that row's id. A
 * client whose cursor (last id sent) is >= floor can be served from the ring;
 * below it the rows must come from the database, or the client gets a gap.
 *
 * Presence messages (NOTIFY device_presence) are kept as ready-made
 * {"type":"presence","data":...} frames numbered by a sequence; each client
 * keeps the next sequence it wants, and one too far behind loses the oldest.
 * The hub owns all memory; row and frame pointers stay valid until the next
 * append/push.
 */
#ifndef SP_SERVE_HUB_H
#define SP_SERVE_HUB_H

#include "core/sbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HUB_ROW_JSON_MAX 65536 /* a row's JSON is ~100 bytes; longer ones (absurd topics) are skipped */

struct hub_row {
    int64_t id;
    int64_t ts_us;
    double value;
    char *buf;    /* topic '\0' json '\0'; owned, reused when the slot is overwritten */
    uint32_t cap; /* bytes allocated at buf */
    uint32_t topic_len;
    uint32_t json_len; /* json starts at buf + topic_len + 1 */
};

struct hub_ring {
    struct hub_row *rows; /* cap slots; row i (0 = oldest) at rows[(start + i) % cap] */
    size_t cap, start, count;
    int64_t floor;   /* the ring holds every row with floor < id <= last_id */
    int64_t last_id; /* newest id appended (== floor while empty) */
    struct sbuf fmt; /* scratch for formatting one row */
};

#define HUB_PRESENCE_CAP 64

struct hub_presence {
    char *frame[HUB_PRESENCE_CAP]; /* owned; frame of sequence s at [s % CAP] */
    size_t len[HUB_PRESENCE_CAP];
    uint64_t next_seq; /* sequence the next push gets; frames next_seq-CAP.. are kept */
};

/* Allocate cap slots (>= 1). 0 or -1 (out of memory). */
int hub_ring_init(struct hub_ring *r, size_t cap);
void hub_ring_free(struct hub_ring *r);
/* Empty the ring and declare it complete above floor (e.g. max(id) at start). */
void hub_ring_reset(struct hub_ring *r, int64_t floor);
/*
 * Append one row; topic need not be NUL-terminated. Returns 0, -1 when id <=
 * last_id (out of order: refused, ring unchanged) or -2 when the row's JSON
 * would exceed HUB_ROW_JSON_MAX or memory ran out (ring unchanged).
 */
int hub_ring_append(struct hub_ring *r, int64_t id, int64_t ts_us, const char *topic, size_t topic_len, double value);
/*
 * Step over a row that cannot be kept (its JSON would exceed HUB_ROW_JSON_MAX):
 * last_id becomes id so the feed moves on. Live clients never see that row.
 * Returns 0, or -1 when id <= last_id.
 */
int hub_ring_skip(struct hub_ring *r, int64_t id);
/* Index (0 = oldest) of the first row with id > cursor; count when there is none. */
size_t hub_ring_first_after(const struct hub_ring *r, int64_t cursor);
/* Row i, 0 <= i < count. */
const struct hub_row *hub_ring_at(const struct hub_ring *r, size_t i);
static inline const char *hub_row_topic(const struct hub_row *row)
{
    return row->buf;
}
static inline const char *hub_row_json(const struct hub_row *row)
{
    return row->buf + row->topic_len + 1;
}
/* Rows a client with this cursor has not been sent yet (those the ring still holds). */
size_t hub_ring_lag(const struct hub_ring *r, int64_t cursor);

void hub_presence_init(struct hub_presence *p);
void hub_presence_free(struct hub_presence *p);
/* Store {"type":"presence","data":<payload>} (payload: a JSON object). 0, or -1 out of memory. */
int hub_presence_push(struct hub_presence *p, const char *payload, size_t len);
/*
 * Frame for sequence *seq. If *seq fell out of the ring, *dropped gets how many
 * were lost and *seq moves to the oldest kept. Returns NULL when *seq is not
 * pushed yet. On success the caller advances *seq by one after sending.
 */
const char *hub_presence_get(const struct hub_presence *p, uint64_t *seq, size_t *len, uint64_t *dropped);

#endif
