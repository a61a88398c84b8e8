/* test_ingest_batch.c - group commit without a database: fifo ring, batching, limits, backpressure. */
#include "unit.h"

#include "ingest/batch.h"
#include "ingest/fifo.h"

#include <stdio.h>
#include <string.h>

static struct reading mk(int i)
{
    struct reading r;
    memset(&r, 0, sizeof r);
    r.ts_us = i;
    r.value = i * 0.5;
    snprintf(r.topic, sizeof r.topic, "dev%d/temperature/dht22", i);
    return r;
}

static void push_n(struct batchq *b, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        struct reading r = mk(i);
        assert_true(batchq_push(b, &r));
    }
}

/* ---- fifo ---- */

static void test_fifo_wrap_and_grow(void **state)
{
    (void)state;
    struct fifo f;
    fifo_init(&f, sizeof(int), 1000);
    int next_in = 0, next_out = 0;
    /* interleave pushes and pops so the ring wraps while it grows */
    for (int round = 0; round < 50; round++) {
        for (int k = 0; k < 17; k++) {
            int *slot = fifo_push(&f);
            assert_non_null(slot);
            *slot = next_in++;
        }
        for (int k = 0; k < 9; k++) {
            assert_int_equal(*(int *)fifo_at(&f, 0), next_out);
            fifo_pop(&f, 1);
            next_out++;
        }
    }
    assert_int_equal(f.count, (size_t)(next_in - next_out));
    for (size_t i = 0; i < f.count; i++)
        assert_int_equal(*(int *)fifo_at(&f, i), next_out + (int)i);
    assert_null(fifo_at(&f, f.count));
    fifo_free(&f);
}

static void test_fifo_bound(void **state)
{
    (void)state;
    struct fifo f;
    fifo_init(&f, 8, 100); /* max not a power of two: the last growth step is capped */
    for (int i = 0; i < 100; i++)
        assert_non_null(fifo_push(&f));
    assert_null(fifo_push(&f));
    assert_int_equal(f.cap, 100);
    fifo_pop(&f, 1000); /* more than held: empties */
    assert_int_equal(f.count, 0);
    assert_non_null(fifo_push(&f));
    fifo_free(&f);
    /* max 0 is treated as 1 */
    fifo_init(&f, 4, 0);
    assert_non_null(fifo_push(&f));
    assert_null(fifo_push(&f));
    fifo_free(&f);
}

/* ---- batching ---- */

static void test_lone_reading_goes_at_once(void **state)
{
    (void)state;
    struct batchq b;
    batchq_init(&b, 100, 10);
    assert_int_equal(batchq_begin(&b), 0); /* nothing to do */
    push_n(&b, 0, 1);
    assert_int_equal(batchq_begin(&b), 1);
    assert_int_equal(batchq_row(&b, 0)->ts_us, 0);
    assert_int_equal(batchq_done(&b), 1);
    assert_int_equal(batchq_count(&b), 0);
    batchq_free(&b);
}

static void test_arrivals_during_write_coalesce(void **state)
{
    (void)state;
    struct batchq b;
    batchq_init(&b, 1000, 100);
    push_n(&b, 0, 1);
    assert_int_equal(batchq_begin(&b), 1);
    /* while the first write is under way, 37 more arrive; no second write may start */
    push_n(&b, 1, 37);
    assert_int_equal(batchq_begin(&b), 0);
    assert_int_equal(batchq_waiting(&b), 37);
    assert_int_equal(batchq_done(&b), 1);
    /* the next write takes all of them, in order */
    assert_int_equal(batchq_begin(&b), 37);
    for (size_t i = 0; i < 37; i++)
        assert_int_equal(batchq_row(&b, i)->ts_us, (int64_t)i + 1);
    assert_string_equal(batchq_row(&b, 36)->topic, "dev37/temperature/dht22");
    assert_int_equal(batchq_done(&b), 37);
    assert_int_equal(batchq_count(&b), 0);
    batchq_free(&b);
}

static void test_batch_max_respected(void **state)
{
    (void)state;
    struct batchq b;
    batchq_init(&b, 1000, 10);
    push_n(&b, 0, 25);
    size_t sizes[4] = {0};
    for (int k = 0; k < 4; k++) {
        sizes[k] = batchq_begin(&b);
        batchq_done(&b);
    }
    assert_int_equal(sizes[0], 10);
    assert_int_equal(sizes[1], 10);
    assert_int_equal(sizes[2], 5);
    assert_int_equal(sizes[3], 0);
    batchq_free(&b);
}

static void test_retry_keeps_rows_in_order(void **state)
{
    (void)state;
    struct batchq b;
    batchq_init(&b, 100, 10);
    push_n(&b, 0, 4);
    assert_int_equal(batchq_begin(&b), 4);
    push_n(&b, 4, 3); /* arrive during the doomed write */
    batchq_retry(&b);  /* connection lost: nothing was committed */
    assert_int_equal(batchq_count(&b), 7);
    assert_int_equal(batchq_begin(&b), 7); /* the retry also takes what arrived meanwhile */
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(batchq_row(&b, i)->ts_us, (int64_t)i);
    assert_int_equal(batchq_done(&b), 7);
    batchq_free(&b);
}

static void test_refused_batch_narrows_to_bad_row(void **state)
{
    (void)state;
    struct batchq b;
    batchq_init(&b, 100, 8);
    push_n(&b, 0, 8);
    const int bad = 5; /* the database refuses any batch holding row 5 */
    int rejected = -1, written = 0, statements = 0;
    while (batchq_count(&b)) {
        size_t n = batchq_begin(&b);
        assert_true(n > 0);
        statements++;
        assert_true(statements < 50);
        bool has_bad = false;
        for (size_t i = 0; i < n; i++)
            has_bad |= batchq_row(&b, i)->ts_us == bad;
        if (!has_bad) {
            written += (int)batchq_done(&b);
            continue;
        }
        if (batchq_refused(&b) == 1) {
            rejected = (int)batchq_row(&b, 0)->ts_us;
            batchq_done(&b);
        }
    }
    assert_int_equal(rejected, bad);
    assert_int_equal(written, 7);
    /* the limit grows back after successes */
    push_n(&b, 100, 20);
    size_t n = 0;
    for (int k = 0; k < 5 && n < 8; k++) {
        n = batchq_begin(&b);
        batchq_done(&b);
    }
    assert_int_equal(n, 8);
    batchq_free(&b);
}

static void test_queue_full_and_low_water(void **state)
{
    (void)state;
    struct batchq b;
    batchq_init(&b, 80, 20); /* reserve 10: pause at 70, resume at 40 */
    assert_int_equal(b.high, 70);
    assert_int_equal(b.low, 40);
    push_n(&b, 0, 69);
    assert_false(batchq_paused(&b));
    push_n(&b, 69, 1);
    assert_true(batchq_paused(&b));
    assert_int_equal(b.pauses, 1);
    /* messages already being read still fit, up to queue_max */
    push_n(&b, 70, 10);
    struct reading r = mk(999);
    assert_false(batchq_push(&b, &r)); /* hard bound: the caller rejects it */
    assert_int_equal(batchq_count(&b), 80);
    /* draining: stays paused above the low mark */
    batchq_begin(&b);
    batchq_done(&b); /* 60 left */
    assert_true(batchq_paused(&b));
    batchq_begin(&b);
    batchq_done(&b); /* 40 left: at the low mark */
    assert_false(batchq_paused(&b));
    /* filling again is a second event */
    push_n(&b, 200, 30);
    assert_true(batchq_paused(&b));
    assert_int_equal(b.pauses, 2);
    batchq_free(&b);
}

static void test_tiny_queue(void **state)
{
    (void)state;
    struct batchq b;
    batchq_init(&b, 1, 1);
    push_n(&b, 0, 1);
    assert_true(batchq_paused(&b));
    struct reading r = mk(1);
    assert_false(batchq_push(&b, &r));
    assert_int_equal(batchq_begin(&b), 1);
    batchq_done(&b);
    assert_false(batchq_paused(&b));
    batchq_free(&b);
    /* zero sizes are clamped to 1 */
    batchq_init(&b, 0, 0);
    push_n(&b, 0, 1);
    assert_int_equal(batchq_begin(&b), 1);
    batchq_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_wrap_and_grow),
        cmocka_unit_test(test_fifo_bound),
        cmocka_unit_test(test_lone_reading_goes_at_once),
        cmocka_unit_test(test_arrivals_during_write_coalesce),
        cmocka_unit_test(test_batch_max_respected),
        cmocka_unit_test(test_retry_keeps_rows_in_order),
        cmocka_unit_test(test_refused_batch_narrows_to_bad_row),
        cmocka_unit_test(test_queue_full_and_low_water),
        cmocka_unit_test(test_tiny_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
