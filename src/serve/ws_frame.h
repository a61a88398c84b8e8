/*
 * ws_frame.h - the JSON text frames of the WebSocket feed (docs/INTERFACES.md), built
 * into an sbuf. Pure functions, no I/O. (Presence frames are made in hub.c.)
 *
 *   {"type":"history","data":[row,...]}   first frame, oldest first (possibly empty)
 *   {"type":"reading","data":row}          one row
 *   {"type":"readings","data":[row,...]}   several rows
 *   {"type":"gap","after":<id>}            the client fell behind; it may resume with ?after=<id>
 */
#ifndef SP_SERVE_WS_FRAME_H
#define SP_SERVE_WS_FRAME_H

#include "core/sbuf.h"
#include "hub.h"

#include <stddef.h>
#include <stdint.h>

#define WS_FRAME_MAX_ROWS 256 /* rows per live frame */

/* Frame builder for rows whose JSON text is already made: begin, add each row, end. */
struct ws_frame {
    struct sbuf *b;
    size_t start; /* b->len when the frame began */
    size_t rows;
    bool history;
};
/* history: this is the first frame ("history", always an array, even empty). */
void ws_frame_begin(struct ws_frame *f, struct sbuf *b, bool history);
void ws_frame_add(struct ws_frame *f, const char *json, size_t len);
/* Start one more row whose JSON the caller appends to f->b itself (e.g. with sbuf_json_row). */
void ws_frame_next(struct ws_frame *f);
/*
 * Finish the frame. With no rows and !history, nothing is left in b (returns
 * false: nothing to send). A single non-history row becomes a "reading" frame.
 * Returns true when b holds a frame to send (and b did not overflow).
 */
bool ws_frame_end(struct ws_frame *f);

/*
 * Live tail: put into b one frame with the ring rows after *cursor that match
 * filter ("" = all), at most max_rows of them, looking at no more than max_scan
 * rows. *cursor moves past every row looked at (matching or not). Returns the
 * number of rows in the frame (0: b is left empty).
 */
size_t ws_frame_live(struct sbuf *b, const struct hub_ring *r, int64_t *cursor, const char *filter, size_t max_rows,
                     size_t max_scan);

/* ws_frame_live, as the first ("history") frame of a client when history is true (never empty then). */
size_t ws_frame_ring(struct sbuf *b, const struct hub_ring *r, int64_t *cursor, const char *filter, size_t max_rows,
                     size_t max_scan, bool history);
/*
 * Does the ring hold the last n rows matching filter ("" = all)? Then true, with *cursor just
 * below the oldest of them (every matching row after it is one of the n), so a ?history=n
 * backfill can come from the ring without a query. False when n is 0 or the ring holds fewer.
 */
bool ws_frame_history_cursor(const struct hub_ring *r, const char *filter, size_t n, int64_t *cursor);

/* {"type":"gap","after":<id>} */
bool ws_frame_gap(struct sbuf *b, int64_t after);

#endif
