/* test_ingest_batch.c - group commit without a database: chunked fifo, batching, limits, backpressure, memory. */
#include "unit.h"

#include "ingest/batch.h"
#include "ingest/fifo.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

static void test_fifo_wrap_across_chunks(void **state)
{
    (void)state;
    struct fifo f;
    fifo_init(&f, sizeof(int), 100000);
    int next_in = 0, next_out = 0;
    /* pushes and pops interleaved in uneven steps, so head and tail cross many chunk boundaries */
    for (int round = 0; round < 300; round++) {
        for (int k = 0; k < 170; k++) {
            int *slot = fifo_push(&f);
            assert_non_null(slot);
            *slot = next_in++;
        }
        assert_int_equal(*(int *)fifo_at(&f, 0), next_out);
        fifo_pop(&f, 90);
        next_out += 90;
    }
    assert_int_equal(f.count, (size_t)(next_in - next_out));
    for (size_t i = 0; i < f.count; i++)
        assert_int_equal(*(int *)fifo_at(&f, i), next_out + (int)i);
    assert_null(fifo_at(&f, f.count));
    /* the head's chunk, the ones behind it, and at most one spare */
    assert_true(fifo_chunks(&f) <= f.count / f.per_chunk + 3);
    fifo_free(&f);
    assert_int_equal(fifo_chunks(&f), 0);
}

static void test_fifo_pointer_stable_across_push(void **state)
{
    (void)state;
    struct fifo f;
    fifo_init(&f, 64, 10000);
    char *first = fifo_push(&f);
    memset(first, 'x', 64);
    for (int i = 0; i < 5000; i++)
        assert_non_null(fifo_push(&f)); /* no array doubling: elements never move */
    assert_ptr_equal(fifo_at(&f, 0), first);
    assert_int_equal(first[63], 'x');
    fifo_free(&f);
}

static void test_fifo_bound(void **state)
{
    (void)state;
    struct fifo f;
    fifo_init(&f, 8, 100); /* fewer than a chunk's worth: one chunk of exactly 100 */
    assert_int_equal(f.per_chunk, 100);
    for (int i = 0; i < 100; i++)
        assert_non_null(fifo_push(&f));
    assert_null(fifo_push(&f));
    fifo_pop(&f, 1000); /* more than held: empties */
    assert_int_equal(f.count, 0);
    assert_non_null(fifo_push(&f));
    fifo_free(&f);
    /* max 0 is treated as 1 */
    fifo_init(&f, 4, 0);
    assert_non_null(fifo_push(&f));
    assert_null(fifo_push(&f));
    fifo_free(&f);
    /* a bound that is not a multiple of the chunk, reached from a head in the middle of a chunk */
    fifo_init(&f, 32, 5000);
    assert_int_equal(f.per_chunk, FIFO_CHUNK_BYTES / 32);
    for (int i = 0; i < 1000; i++)
        assert_non_null(fifo_push(&f));
    fifo_pop(&f, 999);
    for (int i = 0; i < 4999; i++)
        assert_non_null(fifo_push(&f));
    assert_null(fifo_push(&f));
    assert_int_equal(f.count, 5000);
    fifo_free(&f);
}

/* Resident bytes of this process, from /proc/self/statm. */
static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *fp = fopen("/proc/self/statm", "r");
    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%ld %ld", &pages, &resident), 2);
    fclose(fp);
    return resident * sysconf(_SC_PAGESIZE);
}

static void test_fifo_gives_memory_back(void **state)
{
    (void)state;
    struct fifo f;
    fifo_init(&f, 32, 300000);
    long before = rss_bytes();
    for (int i = 0; i < 300000; i++)
        memset(fifo_push(&f), 0xab, 32); /* 9.6 MB touched */
    assert_int_equal(fifo_chunks(&f), (300000 + f.per_chunk - 1) / f.per_chunk);
    long full = rss_bytes();
    assert_true(full - before > 9000000);
    /* drained in batches, as the writer does: every chunk left behind goes, one spare stays */
    while (f.count)
        fifo_pop(&f, 10000);
    assert_int_equal(fifo_chunks(&f), 1);
    assert_int_equal(fifo_bytes(&f), FIFO_CHUNK_BYTES);
    long drained = rss_bytes();
    if (full - drained < 9000000)
        fail_msg("RSS %ld before, %ld full, %ld drained: memory not given back", before, full, drained);
    /* reusable after the drain */
    *(int *)fifo_push(&f) = 7;
    assert_int_equal(*(int *)fifo_at(&f, 0), 7);
    assert_int_equal(fifo_chunks(&f), 1);
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
    assert_int_equal(rowq_waiting(&b.q), 37);
    assert_int_equal(batchq_done(&b), 1);
    /* the next write takes all of them, in order */
    assert_int_equal(batchq_begin(&b), 37);
    for (size_t i = 0; i < 37; i++)
        assert_int_equal(batchq_row(&b, i)->ts_us, (int64_t)i + 1);
    assert_string_equal(batchq_row(&b, 36)->topic->text, "dev37/temperature/dht22");
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
    rowq_retry(&b.q); /* connection lost: nothing was committed */
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
    assert_int_equal(b.q.high, 70);
    assert_int_equal(b.q.low, 40);
    push_n(&b, 0, 69);
    assert_false(batchq_paused(&b));
    push_n(&b, 69, 1);
    assert_true(batchq_paused(&b));
    assert_int_equal(b.q.pauses, 1);
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
    assert_int_equal(b.q.pauses, 2);
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

/* ---- memory ---- */

static void test_rows_share_their_topic(void **state)
{
    (void)state;
    struct batchq b;
    batchq_init(&b, 1000, 100);
    struct reading r = mk(1);
    for (int i = 0; i < 500; i++) {
        r.ts_us = i;
        assert_true(batchq_push(&b, &r));
    }
    assert_int_equal(b.topics.count, 1); /* one entry for the 500 rows */
    assert_ptr_equal(batchq_row(&b, 0)->topic, batchq_row(&b, 499)->topic);
    assert_int_equal(batchq_row(&b, 0)->topic->refs, 500);
    assert_true(sizeof(struct reading_row) <= 32);
    /* a retried batch keeps its references; a written one gives them back */
    assert_int_equal(batchq_begin(&b), 100);
    rowq_retry(&b.q);
    assert_int_equal(batchq_row(&b, 0)->topic->refs, 500);
    assert_int_equal(batchq_begin(&b), 100);
    batchq_done(&b);
    assert_int_equal(batchq_row(&b, 0)->topic->refs, 400);
    assert_int_equal(batchq_row(&b, 0)->ts_us, 100);
    batchq_free(&b);
}

static void test_refused_row_keeps_its_topic(void **state)
{
    (void)state;
    struct batchq b;
    batchq_init(&b, 10, 1);
    push_n(&b, 0, 2);
    assert_int_equal(batchq_begin(&b), 1);
    assert_int_equal(batchq_refused(&b), 1);
    /* the caller reads the bad row's topic before done */
    assert_string_equal(batchq_row(&b, 0)->topic->text, "dev0/temperature/dht22");
    assert_int_equal(batchq_row(&b, 0)->topic->len, strlen("dev0/temperature/dht22"));
    batchq_done(&b);
    assert_int_equal(b.topics.count, 1);
    assert_string_equal(batchq_row(&b, 0)->topic->text, "dev1/temperature/dht22");
    batchq_free(&b);
}

/* A publisher inventing a new, longest-possible topic per message: bounded by queue_max, all freed once written. */
static void test_many_distinct_topics_stay_bounded(void **state)
{
    (void)state;
    struct batchq b;
    const size_t qmax = 5000;
    batchq_init(&b, qmax, 1000);
    struct reading r;
    memset(&r, 0, sizeof r);
    memset(r.topic, 'x', TOPIC_MAX);
    r.topic[TOPIC_LEVEL_MAX] = r.topic[2 * TOPIC_LEVEL_MAX + 1] = '/';
    size_t peak_topics = 0, peak_bytes = 0, refused = 0;
    for (unsigned long i = 0; i < 200000; i++) {
        snprintf(r.topic, 12, "%011lu", i); /* unique first level; the NUL is overwritten below */
        r.topic[11] = 'x';
        r.ts_us = (int64_t)i;
        if (!batchq_push(&b, &r)) {
            refused++;
            /* full: the writer drains a batch, as the reader would wait for it */
            assert_int_equal(batchq_count(&b), qmax);
            assert_true(batchq_begin(&b) > 0);
            batchq_done(&b);
            assert_true(batchq_push(&b, &r));
        }
        if (b.topics.count > peak_topics)
            peak_topics = b.topics.count;
        if (b.topics.bytes > peak_bytes)
            peak_bytes = b.topics.bytes;
        assert_true(b.topics.count <= batchq_count(&b));
        assert_true(b.topics.cap <= 4 * qmax); /* the index is at least 1/8 full (or at most 16 slots) */
    }
    assert_true(refused > 0);
    assert_int_equal(peak_topics, qmax);
    assert_true(peak_bytes <= qmax * (sizeof(struct topic) + TOPIC_MAX + 1));
    /* rows come out in order with their own topics */
    assert_int_equal(batchq_row(&b, 0)->topic->len, TOPIC_MAX);
    char want[12];
    snprintf(want, sizeof want, "%011lu", (unsigned long)batchq_row(&b, 0)->ts_us);
    assert_memory_equal(batchq_row(&b, 0)->topic->text, want, 11);
    /* written: no entry, no index, one spare chunk left */
    while (batchq_begin(&b))
        batchq_done(&b);
    assert_int_equal(b.topics.count, 0);
    assert_int_equal(b.topics.bytes, 0);
    assert_null(b.topics.slots);
    assert_true(fifo_chunks(&b.q.f) <= 1);
    batchq_free(&b);
}

static void test_queue_gives_memory_back_after_burst(void **state)
{
    (void)state;
    struct batchq b;
    batchq_init(&b, 300000, 10000);
    push_n(&b, 0, 300000); /* a QoS 0 burst; every row with its own topic (mk numbers the device) */
    size_t full_chunks = fifo_chunks(&b.q.f);
    assert_true(fifo_bytes(&b.q.f) <= 300000 * 32 + FIFO_CHUNK_BYTES);
    while (batchq_begin(&b))
        batchq_done(&b);
    assert_int_equal(batchq_count(&b), 0);
    assert_true(full_chunks > 100);
    assert_int_equal(fifo_chunks(&b.q.f), 1);
    assert_int_equal(b.topics.count, 0);
    batchq_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_wrap_across_chunks),
        cmocka_unit_test(test_fifo_pointer_stable_across_push),
        cmocka_unit_test(test_fifo_bound),
        cmocka_unit_test(test_fifo_gives_memory_back),
        cmocka_unit_test(test_lone_reading_goes_at_once),
        cmocka_unit_test(test_arrivals_during_write_coalesce),
        cmocka_unit_test(test_batch_max_respected),
        cmocka_unit_test(test_retry_keeps_rows_in_order),
        cmocka_unit_test(test_refused_batch_narrows_to_bad_row),
        cmocka_unit_test(test_queue_full_and_low_water),
        cmocka_unit_test(test_tiny_queue),
        cmocka_unit_test(test_rows_share_their_topic),
        cmocka_unit_test(test_refused_row_keeps_its_topic),
        cmocka_unit_test(test_many_distinct_topics_stay_bounded),
        cmocka_unit_test(test_queue_gives_memory_back_after_burst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
