/*
 * fuzz_ws_frame.c - libFuzzer target: what goes over the WebSocket, both ways.
 *
 * In: a client message split into chunks at input-chosen points (src/serve/ws_rx.c). The
 * incremental UTF-8 check must agree with an independent decoder on the whole message,
 * whatever the split, and ws_rx_chunk's verdict must follow from the message alone
 * (binary -> 1003; valid and small -> accepted; invalid -> 1007 or, if also too large, 1009).
 *
 * Out: rows whose topics are arbitrary bytes (control characters, quotes, invalid UTF-8)
 * and whose values may be NaN or infinite go into a hub ring (src/serve/hub.c) and out as
 * live frames (src/serve/ws_frame.c): every frame must be valid JSON of the contract's
 * shape, with exactly the rows after the cursor that match the filter, topics intact when
 * they are valid UTF-8, timestamps that parse back, and null for non-finite values.
 */
/* fuzz-max-len: 4096 (frames past the receive buffer and the message cap) */
#include "core/sbuf.h"
#include "core/timeutil.h"
#include "core/topic.h"
#include "serve/hub.h"
#include "serve/ws_frame.h"
#include "serve/ws_rx.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Reference: decode code points one by one (RFC 3629). */
static bool utf8_reference(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i], cp, min;
        size_t len;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            len = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            len = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            len = 4, cp = c & 0x07, min = 0x10000;
        else
            return false;
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static void fuzz_rx(const uint8_t *data, size_t size)
{
    if (size < 3)
        return;
    unsigned flags = data[0];
    size_t max = 1 + data[1] * 16u; /* 1 .. 4081 */
    const uint8_t *msg = data + 3;
    size_t n = size - 3;
    bool binary = flags & 1;
    bool valid = utf8_reference(msg, n);

    /* the UTF-8 check alone, in chunks of a size the input picks */
    size_t step = 1 + data[2] % 17;
    struct utf8_check u;
    utf8_check_init(&u);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i += step)
        ok = utf8_check_feed(&u, msg + i, n - i < step ? n - i : step);
    if ((ok && utf8_check_complete(&u)) != valid)
        abort();

    /* the whole policy, chunk by chunk; the last chunk ends the message */
    struct ws_rx rx;
    ws_rx_init(&rx);
    enum ws_rx_verdict v = WS_RX_OK;
    size_t i = 0;
    do {
        size_t c = n - i < step ? n - i : step;
        v = ws_rx_chunk(&rx, msg + i, c, binary, i + c == n, max);
        i += c;
    } while (v == WS_RX_OK && i < n);
    if (binary) {
        if (v != WS_RX_BINARY)
            abort();
    } else if (valid && n <= max) {
        if (v != WS_RX_OK || rx.messages != 1 || rx.in_msg)
            abort();
    } else if (!valid && n <= max) {
        if (v != WS_RX_BAD_UTF8)
            abort();
    } else if (valid && n > max) {
        if (v != WS_RX_TOO_LARGE)
            abort();
    } else if (v != WS_RX_TOO_LARGE && v != WS_RX_BAD_UTF8)
        abort();
}

/* ---- out: ring -> live frames ---- */

struct row_in {
    int64_t id, ts_us;
    double value;
    char topic[128];
};

#define ROWS_MAX 48
#define TS_MIN_US (-62135596800LL * 1000000) /* 0001-01-01, as SQL_TS_US clamps */
#define TS_MAX_US (253402300799LL * 1000000 + 999999)

static void check_row(const cJSON *j, const struct row_in *want)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "ts");
    const cJSON *topic = cJSON_GetObjectItemCaseSensitive(j, "topic");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(j, "value");
    if (!cJSON_IsNumber(id) || (int64_t)id->valuedouble != want->id || !cJSON_IsString(ts) || !cJSON_IsString(topic))
        abort();
    int64_t us;
    if (time_parse_rfc3339(ts->valuestring, strlen(ts->valuestring), &us) != 0 || us != want->ts_us)
        abort();
    if (utf8_reference((const uint8_t *)want->topic, strlen(want->topic)) && strcmp(topic->valuestring, want->topic))
        abort();
    if (isfinite(want->value) ? !cJSON_IsNumber(value) || value->valuedouble != want->value : !cJSON_IsNull(value))
        abort();
}

static void fuzz_frames(const uint8_t *data, size_t size)
{
    if (size < 4)
        return;
    size_t cap = 1 + data[0] % 32;
    size_t max_rows = 1 + data[1] % 8, max_scan = 1 + data[2] % 64;
    /* the filter: up to the first '\n' after byte 3, used when valid */
    const uint8_t *p = data + 3, *end = data + size;
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    char filter[64] = "";
    if (nl && (size_t)(nl - p) < sizeof filter) {
        memcpy(filter, p, (size_t)(nl - p));
        filter[nl - p] = '\0';
        if (memchr(filter, '\0', (size_t)(nl - p)) || !topic_filter_valid(filter))
            filter[0] = '\0';
        p = nl + 1;
    }
    /* rows: [len][topic bytes (no NUL)][8 bytes value][4 bytes ts] */
    static struct row_in rows[ROWS_MAX];
    size_t nrows = 0;
    int64_t id = 0;
    while (p < end && nrows < ROWS_MAX) {
        size_t tl = *p++ % sizeof rows[0].topic;
        if ((size_t)(end - p) < tl + 12)
            break;
        struct row_in *r = &rows[nrows];
        size_t k = 0;
        for (size_t i = 0; i < tl; i++)
            if (p[i])
                r->topic[k++] = (char)p[i];
        r->topic[k] = '\0';
        p += tl;
        memcpy(&r->value, p, 8);
        p += 8;
        int32_t ts;
        memcpy(&ts, p, 4);
        p += 4;
        r->ts_us = (int64_t)ts * 1000003; /* about +-68 years around 1970, microseconds too */
        if (r->ts_us < TS_MIN_US)
            r->ts_us = TS_MIN_US;
        id += 1 + (ts & 7);
        r->id = id;
        nrows++;
    }

    struct hub_ring ring;
    if (hub_ring_init(&ring, cap))
        return;
    size_t first_kept = 0; /* rows[first_kept..] are in the ring */
    for (size_t i = 0; i < nrows; i++) {
        if (hub_ring_append(&ring, rows[i].id, rows[i].ts_us, rows[i].topic, strlen(rows[i].topic), rows[i].value))
            abort();
        if (i - first_kept + 1 > cap)
            first_kept++;
    }
    if (ring.count != nrows - first_kept || (nrows && ring.last_id != rows[nrows - 1].id))
        abort();

    /* drain the ring as a live client would, from just below the ring's floor */
    int64_t cursor = ring.floor;
    size_t next = first_kept; /* next row the client should get */
    struct sbuf b;
    sbuf_init(&b, 16, 1 << 20);
    for (int guard = 0; guard < ROWS_MAX * 2 + 2 && cursor < ring.last_id; guard++) {
        sbuf_reset(&b);
        size_t got = ws_frame_live(&b, &ring, &cursor, filter, max_rows, max_scan);
        if (got == 0) {
            if (b.len)
                abort(); /* nothing to send leaves nothing in the buffer */
            while (next < nrows && rows[next].id <= cursor) {
                if (!*filter || topic_matches(filter, rows[next].topic))
                    abort(); /* a matching row was skipped */
                next++;
            }
            continue;
        }
        if (got > max_rows || b.failed)
            abort();
        cJSON *j = cJSON_ParseWithLength(b.data, b.len);
        if (!j)
            abort(); /* not valid JSON */
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "data");
        if (!cJSON_IsString(type))
            abort();
        size_t seen = 0;
        const cJSON *one = NULL;
        if (!strcmp(type->valuestring, "reading") && got == 1 && cJSON_IsObject(d))
            one = d;
        else if (strcmp(type->valuestring, "readings") || got < 2 || !cJSON_IsArray(d) ||
                 (size_t)cJSON_GetArraySize(d) != got)
            abort();
        for (const cJSON *e = one ? one : d->child; e; e = one ? NULL : e->next) {
            while (next < nrows && *filter && !topic_matches(filter, rows[next].topic))
                next++;
            if (next >= nrows)
                abort(); /* more rows than the ring had */
            check_row(e, &rows[next++]);
            seen++;
        }
        if (seen != got)
            abort();
        cJSON_Delete(j);
    }
    while (next < nrows && *filter && !topic_matches(filter, rows[next].topic))
        next++;
    if (next != nrows || cursor != ring.last_id)
        abort(); /* the client got to the end, and got everything */

    /* the first frame is always an array, even empty; the gap frame parses */
    struct ws_frame f;
    sbuf_reset(&b);
    ws_frame_begin(&f, &b, true);
    if (!ws_frame_end(&f))
        abort();
    cJSON *h = cJSON_ParseWithLength(b.data, b.len);
    if (!h || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(h, "data")))
        abort();
    cJSON_Delete(h);
    sbuf_reset(&b);
    ws_frame_gap(&b, cursor);
    cJSON *g = cJSON_ParseWithLength(b.data, b.len);
    if (!g || (int64_t)cJSON_GetObjectItemCaseSensitive(g, "after")->valuedouble != cursor)
        abort();
    cJSON_Delete(g);

    /* ?history=n from the ring: found exactly when the ring holds n matching rows, and then
     * exactly n matching rows lie above the cursor, which is at or above the floor */
    size_t matching = 0;
    for (size_t i = first_kept; i < nrows; i++)
        matching += !*filter || topic_matches(filter, rows[i].topic);
    for (size_t n = 0; n <= matching + 1; n++) {
        int64_t hc = INT64_MIN;
        bool found = ws_frame_history_cursor(&ring, filter, n, &hc);
        if (found != (n > 0 && n <= matching))
            abort();
        if (!found)
            continue;
        size_t above = 0;
        for (size_t i = first_kept; i < nrows; i++)
            above += rows[i].id > hc && (!*filter || topic_matches(filter, rows[i].topic));
        if (above != n || hc < ring.floor)
            abort();
        /* the first frame built from there is a "history" frame */
        sbuf_reset(&b);
        int64_t c2 = hc;
        ws_frame_ring(&b, &ring, &c2, filter, max_rows, max_scan, true);
        cJSON *hf = cJSON_ParseWithLength(b.data, b.len);
        const cJSON *ht = hf ? cJSON_GetObjectItemCaseSensitive(hf, "type") : NULL;
        if (!cJSON_IsString(ht) || strcmp(ht->valuestring, "history"))
            abort();
        cJSON_Delete(hf);
    }
    sbuf_free(&b);
    hub_ring_free(&ring);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 0x80)
        fuzz_rx(data + 1, size - 1);
    else
        fuzz_frames(data + 1, size - 1);
    return 0;
}
