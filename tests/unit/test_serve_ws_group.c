/* test_serve_ws_group.c - live clients by topic filter: joining, skipping batches a filter does not take, cursor
 * catch-up. */
#include "unit.h"

#include "serve/hub.h"
#include "serve/serve_state.h"
#include "serve/ws_client.h"
#include "serve/ws_group.h"

#include <stdio.h>
#include <string.h>

static void append(struct hub_ring *r, int64_t id, const char *topic)
{
    assert_int_equal(hub_ring_append(r, id, 1764237600000000LL + id, topic, strlen(topic), 1.0), 0);
}

static void client(struct ws_client *c, const char *filter, int64_t cursor)
{
    memset(c, 0, sizeof *c);
    snprintf(c->params.topic, sizeof c->params.topic, "%s", filter);
    c->cursor = cursor;
}

static void test_groups_by_filter(void **state)
{
    (void)state;
    static struct serve sv; /* large: not on the stack */
    memset(&sv, 0, sizeof sv);
    struct ws_client a, b, all;
    client(&a, "quiet/+/x", 10);
    client(&b, "quiet/+/x", 10);
    client(&all, "", 10);
    assert_int_equal(ws_group_join(&sv, &a), 0);
    assert_int_equal(ws_group_join(&sv, &b), 0);
    assert_int_equal(ws_group_join(&sv, &all), 0);
    assert_ptr_equal(a.group, b.group); /* one group per filter */
    assert_ptr_not_equal(a.group, all.group);
    assert_int_equal(sv.groups.count, 2);

    struct hub_ring r;
    assert_int_equal(hub_ring_init(&r, 8), 0);
    hub_ring_reset(&r, 10);
    struct ws_group *q = a.group, *every = all.group;

    /* rows the quiet filter does not take: its group is skipped, its clients' cursors stay */
    append(&r, 11, "busy/a/x");
    append(&r, 12, "busy/b/x");
    assert_false(ws_group_takes_new_rows(q, &r));
    assert_true(ws_group_takes_new_rows(every, &r)); /* "every topic" takes any row */
    assert_int_equal(a.cursor, 10);
    assert_int_equal(q->seen_to, 12);
    assert_int_equal(q->min_cursor, 12); /* nobody in it is behind: the bound follows seen_to */
    ws_group_sync(&a);
    assert_int_equal(a.cursor, 12);               /* caught up when looked at */
    assert_false(ws_group_takes_new_rows(q, &r)); /* nothing new */

    /* a row it takes: visited; a client behind that row is not moved past it */
    append(&r, 13, "quiet/t/x");
    append(&r, 14, "busy/a/x");
    assert_true(ws_group_takes_new_rows(q, &r));
    assert_int_equal(q->matched_last, 13);
    ws_group_sync(&b); /* b still at 10: rows 11..12 were skipped, but 13 is its */
    assert_int_equal(b.cursor, 10);
    a.cursor = 14; /* sent 13 */
    ws_group_sync(&a);
    assert_int_equal(a.cursor, 14);

    /* the ring turns over past a skipped client's cursor (the group looks at each batch, as
       the fan-out does): sync moves it to the end, above the floor */
    b.cursor = 14;
    for (int64_t id = 15; id <= 30; id++) {
        append(&r, id, "busy/a/x");
        assert_false(ws_group_takes_new_rows(q, &r));
    }
    assert_true(r.floor > 14);
    ws_group_sync(&b);
    assert_int_equal(b.cursor, 30);

    /* a batch larger than the ring, looked at only after the ring moved past what the group
       saw: it cannot tell, so its clients are visited (and ws_client.c gives them a gap) */
    for (int64_t id = 31; id <= 45; id++)
        append(&r, id, "busy/a/x");
    assert_true(ws_group_takes_new_rows(q, &r));
    assert_int_equal(q->matched_last, 45);

    /* leaving: the group goes with its last client */
    ws_group_leave(&a);
    assert_int_equal(sv.groups.count, 2);
    ws_group_leave(&b);
    assert_int_equal(sv.groups.count, 1);
    assert_null(b.group);
    ws_group_leave(&all);
    assert_int_equal(sv.groups.count, 0);
    ws_groups_free(&sv);
    hub_ring_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groups_by_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
