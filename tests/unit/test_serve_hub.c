/* test_serve_hub.c - the ring (floor, wrap, search, refusals), the presence ring and the WebSocket frames. */
#include "unit.h"

#include "serve/hub.h"
#include "serve/ws_frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void append(struct hub_ring *r, int64_t id, const char *topic, double v)
{
    assert_int_equal(hub_ring_append(r, id, 1764237600000000LL + id, topic, strlen(topic), v), 0);
}

static void test_ring_basics(void **state)
{
    (void)state;
    struct hub_ring r;
    assert_int_equal(hub_ring_init(&r, 4), 0);
    hub_ring_reset(&r, 10);
    assert_int_equal(r.floor, 10);
    assert_int_equal(r.last_id, 10);
    assert_int_equal(hub_ring_first_after(&r, 10), 0);
    assert_int_equal(hub_ring_lag(&r, 10), 0);

    append(&r, 11, "a/b/c", 1.5);
    append(&r, 13, "a/b/d", 2); /* ids may have holes (rolled back transactions) */
    assert_int_equal(r.count, 2);
    assert_int_equal(r.last_id, 13);
    assert_int_equal(r.floor, 10);
    const struct hub_row *row = hub_ring_at(&r, 0);
    assert_string_equal(hub_row_topic(row), "a/b/c");
    assert_string_equal(hub_row_json(row),
                        "{\"id\":11,\"ts\":\"2025-11-27T10:00:00.000011+00:00\",\"topic\":\"a/b/c\",\"value\":1.5}");
    assert_int_equal(row->json_len, strlen(hub_row_json(row)));
    assert_int_equal(hub_ring_first_after(&r, 10), 0);
    assert_int_equal(hub_ring_first_after(&r, 11), 1);
    assert_int_equal(hub_ring_first_after(&r, 12), 1);
    assert_int_equal(hub_ring_first_after(&r, 13), 2);
    assert_int_equal(hub_ring_first_after(&r, 1000), 2);
    assert_int_equal(hub_ring_lag(&r, 10), 2);
    assert_int_equal(hub_ring_lag(&r, 11), 1);

    /* out of order and duplicates are refused, the ring is unchanged */
    assert_int_equal(hub_ring_append(&r, 13, 0, "x/y/z", 5, 0), -1);
    assert_int_equal(hub_ring_append(&r, 5, 0, "x/y/z", 5, 0), -1);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.last_id, 13);
    hub_ring_free(&r);
}

static void test_ring_wrap(void **state)
{
    (void)state;
    struct hub_ring r;
    assert_int_equal(hub_ring_init(&r, 3), 0);
    hub_ring_reset(&r, 0);
    for (int64_t id = 1; id <= 10; id++)
        append(&r, id, id % 2 ? "odd/t/x" : "even/t/x", (double)id);
    assert_int_equal(r.count, 3);
    assert_int_equal(r.last_id, 10);
    /* complete above floor: 8, 9, 10 kept, 7 was the last evicted */
    assert_int_equal(r.floor, 7);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(hub_ring_at(&r, i)->id, 8 + (int64_t)i);
    assert_int_equal(hub_ring_first_after(&r, 3), 0); /* below floor: the caller checks floor first */
    assert_int_equal(hub_ring_first_after(&r, 8), 1);
    assert_int_equal(hub_ring_lag(&r, 7), 3);
    /* slots are reused: a longer topic grows its buffer */
    char longtopic[300];
    memset(longtopic, 'q', sizeof longtopic - 1);
    longtopic[sizeof longtopic - 1] = '\0';
    append(&r, 11, longtopic, 0);
    assert_string_equal(hub_row_topic(hub_ring_at(&r, 2)), longtopic);
    assert_int_equal(r.floor, 8);
    hub_ring_free(&r);
}

static void test_ring_hostile_rows(void **state)
{
    (void)state;
    struct hub_ring r;
    assert_int_equal(hub_ring_init(&r, 8), 0);
    hub_ring_reset(&r, 0);
    /* control characters, quotes and invalid UTF-8 in a topic: JSON stays valid */
    const char weird[] = "a\"b\\c\n\x01\xff/x/y";
    assert_int_equal(hub_ring_append(&r, 1, 0, weird, sizeof weird - 1, 1.0 / 0.0), 0);
    const char *json = hub_row_json(hub_ring_at(&r, 0));
    assert_non_null(strstr(json, "\"topic\":\"a\\\"b\\\\c\\n\\u0001\\ufffd/x/y\""));
    assert_non_null(strstr(json, "\"value\":null"));
    /* the topic is copied with its length: not NUL-terminated input is fine */
    char buf[8] = {'p', '/', 'q', '/', 'r', 'X', 'X', 'X'};
    assert_int_equal(hub_ring_append(&r, 2, 0, buf, 5, 0), 0);
    assert_string_equal(hub_row_topic(hub_ring_at(&r, 1)), "p/q/r");
    /* a topic whose JSON cannot be kept is refused, and skip moves last_id past it */
    size_t huge_len = HUB_ROW_JSON_MAX;
    char *huge = malloc(huge_len);
    assert_non_null(huge);
    memset(huge, 'h', huge_len);
    assert_int_equal(hub_ring_append(&r, 3, 0, huge, huge_len, 0), -2);
    assert_int_equal(r.count, 2);
    assert_int_equal(hub_ring_skip(&r, 3), 0);
    assert_int_equal(r.last_id, 3);
    assert_int_equal(hub_ring_skip(&r, 3), -1);
    append(&r, 4, "a/b/c", 4);
    assert_int_equal(r.count, 3);
    free(huge);
    hub_ring_free(&r);
}

static void test_ring_init_zero(void **state)
{
    (void)state;
    struct hub_ring r;
    assert_int_equal(hub_ring_init(&r, 0), -1);
    hub_ring_free(&r); /* safe after a failed init */
}

static void test_presence(void **state)
{
    (void)state;
    struct hub_presence p;
    hub_presence_init(&p);
    uint64_t seq = 0, dropped;
    size_t len;
    assert_null(hub_presence_get(&p, &seq, &len, &dropped));
    const char payload[] = "{\"device\":\"pico\",\"online\":true,\"ts\":\"2026-11-27T10:00:00.000000+00:00\"}";
    assert_int_equal(hub_presence_push(&p, payload, strlen(payload)), 0);
    const char *f = hub_presence_get(&p, &seq, &len, &dropped);
    assert_non_null(f);
    assert_int_equal(dropped, 0);
    assert_int_equal(strlen(f), len);
    assert_int_equal(strncmp(f, "{\"type\":\"presence\",\"data\":{\"device\":\"pico\"", 42), 0);
    assert_int_equal(f[len - 1], '}');
    seq++;
    assert_null(hub_presence_get(&p, &seq, &len, &dropped));

    /* a client far behind loses the oldest, and is told how many */
    for (int i = 0; i < HUB_PRESENCE_CAP + 10; i++) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "{\"n\":%d}", i);
        assert_int_equal(hub_presence_push(&p, msg, (size_t)n), 0);
    }
    uint64_t slow = 1;
    f = hub_presence_get(&p, &slow, &len, &dropped);
    assert_non_null(f);
    assert_int_equal(dropped, 10);
    assert_int_equal(slow, 11);
    assert_string_equal(f, "{\"type\":\"presence\",\"data\":{\"n\":10}}");
    hub_presence_free(&p);
}

static void test_frames_live(void **state)
{
    (void)state;
    struct hub_ring r;
    struct sbuf b;
    assert_int_equal(hub_ring_init(&r, 16), 0);
    sbuf_init(&b, 16, 1 << 20);
    hub_ring_reset(&r, 100);
    int64_t cursor = 100;
    assert_int_equal(ws_frame_live(&b, &r, &cursor, "", 256, 4096), 0);
    assert_int_equal(b.len, 0);

    append(&r, 101, "pico/temperature/dht22", 21.5);
    assert_int_equal(ws_frame_live(&b, &r, &cursor, "", 256, 4096), 1);
    assert_int_equal(cursor, 101);
    assert_string_equal(b.data,
                        "{\"type\":\"reading\",\"data\":{\"id\":101,\"ts\":\"2025-11-27T10:00:00.000101+00:00\","
                        "\"topic\":\"pico/temperature/dht22\",\"value\":21.5}}");

    append(&r, 102, "pico/humidity/dht22", 40);
    append(&r, 103, "pico/temperature/internal", 30);
    append(&r, 104, "other/temperature/dht22", 19);
    sbuf_reset(&b);
    assert_int_equal(ws_frame_live(&b, &r, &cursor, "+/temperature/+", 256, 4096), 2);
    assert_int_equal(cursor, 104);
    assert_int_equal(strncmp(b.data, "{\"type\":\"readings\",\"data\":[{\"id\":103,", 37), 0);
    assert_non_null(strstr(b.data, "},{\"id\":104,"));
    assert_int_equal(b.data[b.len - 1], '}');
    assert_int_equal(b.data[b.len - 2], ']');

    /* max_rows caps a frame; the cursor stops at the last row sent */
    cursor = 100;
    sbuf_reset(&b);
    assert_int_equal(ws_frame_live(&b, &r, &cursor, "", 3, 4096), 3);
    assert_int_equal(cursor, 103);
    /* max_scan caps the rows looked at: a filter matching nothing still moves the cursor */
    cursor = 100;
    sbuf_reset(&b);
    assert_int_equal(ws_frame_live(&b, &r, &cursor, "nobody/#", 256, 2), 0);
    assert_int_equal(cursor, 102);
    assert_int_equal(b.len, 0);
    assert_int_equal(ws_frame_live(&b, &r, &cursor, "nobody/#", 256, 2), 0);
    assert_int_equal(cursor, 104);

    sbuf_free(&b);
    hub_ring_free(&r);
}

/* ?history=n from the ring: where the last n matching rows begin, and the first frame as "history". */
static void test_frames_history_from_ring(void **state)
{
    (void)state;
    struct hub_ring r;
    struct sbuf b;
    assert_int_equal(hub_ring_init(&r, 16), 0);
    sbuf_init(&b, 16, 1 << 20);
    hub_ring_reset(&r, 100);
    int64_t cursor = -1;
    assert_false(ws_frame_history_cursor(&r, "", 1, &cursor)); /* empty ring */
    append(&r, 101, "a/temperature/x", 1);
    append(&r, 105, "b/humidity/x", 2);
    append(&r, 107, "a/temperature/x", 3);
    append(&r, 110, "b/humidity/x", 4);
    assert_true(ws_frame_history_cursor(&r, "", 2, &cursor));
    assert_int_equal(cursor, 106); /* rows 107 and 110 */
    assert_true(ws_frame_history_cursor(&r, "", 4, &cursor));
    assert_int_equal(cursor, 100);
    assert_false(ws_frame_history_cursor(&r, "", 5, &cursor)); /* older rows are in the database only */
    assert_false(ws_frame_history_cursor(&r, "", 0, &cursor));
    assert_true(ws_frame_history_cursor(&r, "+/humidity/#", 2, &cursor));
    assert_int_equal(cursor, 104); /* rows 105 and 110 */
    assert_false(ws_frame_history_cursor(&r, "+/humidity/#", 3, &cursor));
    /* the first frame is "history", even of one row, and the rest follows as live frames */
    cursor = 106;
    assert_int_equal(ws_frame_ring(&b, &r, &cursor, "", 1, 4096, true), 1);
    assert_int_equal(cursor, 107);
    assert_int_equal(strncmp(b.data, "{\"type\":\"history\",\"data\":[{\"id\":107,", 36), 0);
    sbuf_free(&b);
    hub_ring_free(&r);
}

static void test_frames_built(void **state)
{
    (void)state;
    struct sbuf b;
    struct ws_frame f;
    sbuf_init(&b, 0, 4096);
    ws_frame_begin(&f, &b, true);
    assert_true(ws_frame_end(&f));
    assert_string_equal(b.data, "{\"type\":\"history\",\"data\":[]}");

    sbuf_reset(&b);
    ws_frame_begin(&f, &b, true);
    ws_frame_add(&f, "{\"id\":1}", 8);
    assert_true(ws_frame_end(&f));
    assert_string_equal(b.data, "{\"type\":\"history\",\"data\":[{\"id\":1}]}");

    sbuf_reset(&b);
    ws_frame_begin(&f, &b, false);
    assert_false(ws_frame_end(&f));
    assert_int_equal(b.len, 0);

    sbuf_reset(&b);
    ws_frame_begin(&f, &b, false);
    ws_frame_next(&f);
    sbuf_json_row(&b, 7, 0, "a/b/c", 1);
    ws_frame_next(&f);
    sbuf_json_row(&b, 8, 0, "a/b/c", 2);
    assert_true(ws_frame_end(&f));
    assert_int_equal(strncmp(b.data, "{\"type\":\"readings\",\"data\":[{\"id\":7,", 35), 0);

    sbuf_reset(&b);
    assert_true(ws_frame_gap(&b, 1234));
    assert_string_equal(b.data, "{\"type\":\"gap\",\"after\":1234}");

    /* an overflowing buffer reports failure instead of a truncated frame */
    struct sbuf tiny;
    sbuf_init(&tiny, 0, 40);
    ws_frame_begin(&f, &tiny, false);
    ws_frame_add(&f, "{\"id\":1,\"padding\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"}", 44);
    assert_false(ws_frame_end(&f));
    sbuf_free(&tiny);
    sbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_basics),
        cmocka_unit_test(test_ring_wrap),
        cmocka_unit_test(test_ring_hostile_rows),
        cmocka_unit_test(test_ring_init_zero),
        cmocka_unit_test(test_presence),
        cmocka_unit_test(test_frames_live),
        cmocka_unit_test(test_frames_history_from_ring),
        cmocka_unit_test(test_frames_built),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
