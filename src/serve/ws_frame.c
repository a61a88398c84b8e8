/* ws_frame.c - WebSocket JSON frames from pre-formatted rows (see ws_frame.h). */
#include "ws_frame.h"

#include "core/topic.h"

#include <string.h>

#define HEAD_HISTORY "{\"type\":\"history\",\"data\":["
#define HEAD_READINGS "{\"type\":\"readings\",\"data\":["
#define HEAD_READING "{\"type\":\"reading\",\"data\":"

void ws_frame_begin(struct ws_frame *f, struct sbuf *b, bool history)
{
    f->b = b;
    f->start = b->len;
    f->rows = 0;
    f->history = history;
    /* both array heads have the same length, so the head can be swapped at the end */
    sbuf_puts(b, history ? HEAD_HISTORY : HEAD_READINGS);
}

void ws_frame_next(struct ws_frame *f)
{
    if (f->rows++)
        sbuf_append(f->b, ",", 1);
}

void ws_frame_add(struct ws_frame *f, const char *json, size_t len)
{
    ws_frame_next(f);
    sbuf_append(f->b, json, len);
}

bool ws_frame_end(struct ws_frame *f)
{
    struct sbuf *b = f->b;
    if (f->rows == 0 && !f->history) {
        b->len = f->start;
        return false;
    }
    if (f->rows == 1 && !f->history && !b->failed) {
        /* {"type":"readings","data":[row  ->  {"type":"reading","data":row */
        size_t head = sizeof HEAD_READINGS - 1, row_len = b->len - f->start - head;
        memcpy(b->data + f->start, HEAD_READING, sizeof HEAD_READING - 1);
        memmove(b->data + f->start + sizeof HEAD_READING - 1, b->data + f->start + head, row_len);
        b->len = f->start + sizeof HEAD_READING - 1 + row_len;
        sbuf_append(b, "}", 1);
    } else
        sbuf_append(b, "]}", 2);
    return !b->failed;
}

size_t ws_frame_live(struct sbuf *b, const struct hub_ring *r, int64_t *cursor, const char *filter, size_t max_rows,
                     size_t max_scan)
{
    return ws_frame_ring(b, r, cursor, filter, max_rows, max_scan, false);
}

bool ws_frame_history_cursor(const struct hub_ring *r, const char *filter, size_t n, int64_t *cursor)
{
    if (n == 0 || r->count < n)
        return false;
    if (!*filter) {
        *cursor = hub_ring_at(r, r->count - n)->id - 1;
        return true;
    }
    size_t found = 0;
    for (size_t i = r->count; i-- > 0;) {
        const struct hub_row *row = hub_ring_at(r, i);
        if (topic_matches(filter, hub_row_topic(row)) && ++found == n) {
            *cursor = row->id - 1;
            return true;
        }
    }
    return false;
}

size_t ws_frame_ring(struct sbuf *b, const struct hub_ring *r, int64_t *cursor, const char *filter, size_t max_rows,
                     size_t max_scan, bool history)
{
    struct ws_frame f;
    ws_frame_begin(&f, b, history);
    size_t i = hub_ring_first_after(r, *cursor);
    for (size_t scanned = 0; i < r->count && scanned < max_scan && f.rows < max_rows; i++, scanned++) {
        const struct hub_row *row = hub_ring_at(r, i);
        *cursor = row->id;
        if (*filter && !topic_matches(filter, hub_row_topic(row)))
            continue;
        ws_frame_add(&f, hub_row_json(row), row->json_len);
    }
    size_t n = f.rows;
    if (!ws_frame_end(&f))
        return 0;
    return n;
}

bool ws_frame_gap(struct sbuf *b, int64_t after)
{
    return sbuf_printf(b, "{\"type\":\"gap\",\"after\":%lld}", (long long)after);
}
