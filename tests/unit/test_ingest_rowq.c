/* test_ingest_rowq.c - the shared bounded row queue: bounds, pause hysteresis, in-flight writes, retry, done. */
#include "unit.h"

#include "ingest/rowq.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ---- bounds: high and low marks, full, nearly full, paused ---- */

struct bounds_case {
    size_t max, reserve_max;
    size_t high, low; /* expected */
};

static const struct bounds_case BOUNDS[] = {
    {0, 64, 1, 0}, /* 0 is taken as 1 */
    {1, 64, 1, 0},
    {2, 64, 2, 1},
    {7, 64, 7, 3},                /* max/8 = 0: no reserve */
    {16, 64, 14, 8},              /* the rejects queue in the unit tests: reserve max/8 */
    {80, 1024, 70, 40},           /* the readings queue in the unit tests */
    {4096, 64, 4032, 2048},       /* rejects and presence in the daemon: reserve capped at 64 */
    {100000, 1024, 98976, 50000}, /* readings: reserve capped at 1024 */
    {1000, 0, 1000, 500},         /* no reserve asked */
};

static void test_bounds(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof BOUNDS / sizeof BOUNDS[0]; k++) {
        const struct bounds_case *c = &BOUNDS[k];
        size_t max = c->max ? c->max : 1;
        struct rowq q;
        rowq_init(&q, sizeof(int), c->max, c->reserve_max);
        if (q.high != c->high || q.low != c->low)
            fail_msg("max %zu reserve_max %zu: high %zu low %zu, want %zu %zu", c->max, c->reserve_max, q.high, q.low,
                     c->high, c->low);
        /* filling: nearly full and paused exactly from high, full exactly at max */
        for (size_t n = 0; n < max; n++) {
            assert_false(rowq_full(&q));
            int *row = rowq_push(&q);
            assert_non_null(row);
            *row = (int)n;
            assert_int_equal(rowq_nearly_full(&q), n + 1 >= c->high);
            assert_int_equal(rowq_paused(&q), n + 1 >= c->high);
        }
        assert_true(rowq_full(&q));
        assert_null(rowq_push(&q)); /* the hard bound: nothing changes */
        assert_int_equal(rowq_count(&q), max);
        assert_int_equal(q.pauses, 1);
        /* draining in steps: paused until the count falls to low, then resumed (and nearly full ends at high) */
        size_t step = max / 10 ? max / 10 : 1;
        while (rowq_count(&q)) {
            assert_int_equal(rowq_begin(&q, step), rowq_count(&q) < step ? rowq_count(&q) : step);
            rowq_done(&q);
            size_t n = rowq_count(&q);
            if (rowq_paused(&q) != (n > c->low))
                fail_msg("max %zu: count %zu paused %d (low %zu)", c->max, n, rowq_paused(&q), c->low);
            assert_int_equal(rowq_nearly_full(&q), n >= c->high);
        }
        assert_false(rowq_paused(&q));
        assert_int_equal(q.pauses, 1);
        rowq_free(&q);
    }
}

/* ---- scripts: push, begin, done, retry, with the state after each step ---- */

enum op { PUSH, BEGIN, DONE, RETRY };

struct step {
    enum op op;
    size_t arg;      /* PUSH: rows to try; BEGIN: at most this many */
    size_t ret;      /* PUSH: rows taken; BEGIN, DONE: the return value */
    size_t count;    /* then: rows held */
    size_t inflight; /* rows in flight */
    int head;        /* the row at the head (rows are numbered as pushed), -1 when empty */
    bool paused;
};

struct script {
    const char *name;
    size_t max, reserve_max;
    struct step steps[12];
    size_t nsteps;
};

#define S(...) {__VA_ARGS__}, sizeof((struct step[]){__VA_ARGS__}) / sizeof(struct step)

static const struct script SCRIPTS[] = {
    {"nothing to write", 8, 64,
     S({BEGIN, 4, 0, 0, 0, -1, false}, {DONE, 0, 0, 0, 0, -1, false}, {RETRY, 0, 0, 0, 0, -1, false})},
    {"a lone row goes at once", 8, 64,
     S({PUSH, 1, 1, 1, 0, 0, false}, {BEGIN, 100, 1, 1, 1, 0, false}, {DONE, 0, 1, 0, 0, -1, false})},
    {"one write at a time; arrivals wait behind it", 100, 64,
     S({PUSH, 5, 5, 5, 0, 0, false}, {BEGIN, 3, 3, 5, 3, 0, false}, {BEGIN, 3, 0, 5, 3, 0, false},
       {PUSH, 2, 2, 7, 3, 0, false}, {DONE, 0, 3, 4, 0, 3, false}, {BEGIN, 10, 4, 4, 4, 3, false},
       {DONE, 0, 4, 0, 0, -1, false})},
    {"retry keeps the rows in order and takes what arrived", 100, 64,
     S({PUSH, 4, 4, 4, 0, 0, false}, {BEGIN, 4, 4, 4, 4, 0, false}, {PUSH, 3, 3, 7, 4, 0, false},
       {RETRY, 0, 0, 7, 0, 0, false}, {BEGIN, 10, 7, 7, 7, 0, false}, {DONE, 0, 7, 0, 0, -1, false})},
    {"retried twice, then done", 100, 64,
     S({PUSH, 3, 3, 3, 0, 0, false}, {BEGIN, 2, 2, 3, 2, 0, false}, {RETRY, 0, 0, 3, 0, 0, false},
       {DONE, 0, 0, 3, 0, 0, false}, /* nothing in flight: nothing dropped */
       {BEGIN, 2, 2, 3, 2, 0, false}, {RETRY, 0, 0, 3, 0, 0, false}, {BEGIN, 2, 2, 3, 2, 0, false},
       {DONE, 0, 2, 1, 0, 2, false})},
    {"begin of 0 rows is no write", 8, 64, S({PUSH, 2, 2, 2, 0, 0, false}, {BEGIN, 0, 0, 2, 0, 0, false})},
    {"full with a write in flight", 4, 64, /* high 4, low 2 */
     S({PUSH, 6, 4, 4, 0, 0, true}, {BEGIN, 2, 2, 4, 2, 0, true}, {PUSH, 1, 0, 4, 2, 0, true},
       {DONE, 0, 2, 2, 0, 2, false}, {PUSH, 1, 1, 3, 0, 2, false}, {PUSH, 1, 1, 4, 0, 2, true},
       {RETRY, 0, 0, 4, 0, 2, true})},
    {"a retry does not resume", 16, 64, /* high 14, low 8 */
     S({PUSH, 14, 14, 14, 0, 0, true}, {BEGIN, 8, 8, 14, 8, 0, true}, {RETRY, 0, 0, 14, 0, 0, true},
       {BEGIN, 5, 5, 14, 5, 0, true}, {DONE, 0, 5, 9, 0, 5, true}, {BEGIN, 1, 1, 9, 1, 5, true},
       {DONE, 0, 1, 8, 0, 6, false}, {PUSH, 5, 5, 13, 0, 6, false}, {PUSH, 1, 1, 14, 0, 6, true})},
    {"a one-row queue", 1, 64,
     S({PUSH, 2, 1, 1, 0, 0, true}, {BEGIN, 1, 1, 1, 1, 0, true}, {DONE, 0, 1, 0, 0, -1, false},
       {PUSH, 1, 1, 1, 0, 1, true})},
};

static void run_script(const struct script *s)
{
    struct rowq q;
    rowq_init(&q, sizeof(int), s->max, s->reserve_max);
    int next = 0;
    for (size_t k = 0; k < s->nsteps; k++) {
        const struct step *t = &s->steps[k];
        size_t ret = 0;
        switch (t->op) {
        case PUSH:
            for (size_t i = 0; i < t->arg; i++) {
                int *row = rowq_push(&q);
                if (row) {
                    *row = next++;
                    ret++;
                }
            }
            break;
        case BEGIN:
            ret = rowq_begin(&q, t->arg);
            break;
        case DONE:
            ret = rowq_done(&q);
            break;
        case RETRY:
            rowq_retry(&q);
            break;
        }
        const int *head = rowq_row(&q, 0);
        int head_v = head ? *head : -1;
        if (ret != t->ret || rowq_count(&q) != t->count || rowq_inflight(&q) != t->inflight || head_v != t->head ||
            rowq_paused(&q) != t->paused)
            fail_msg("%s, step %zu: ret %zu count %zu inflight %zu head %d paused %d; want %zu %zu %zu %d %d", s->name,
                     k + 1, ret, rowq_count(&q), rowq_inflight(&q), head_v, rowq_paused(&q), t->ret, t->count,
                     t->inflight, t->head, t->paused);
        assert_int_equal(rowq_waiting(&q), t->count - t->inflight);
        /* the rows are the ones pushed, in order */
        for (size_t i = 0; i < rowq_count(&q); i++)
            assert_int_equal(*(int *)rowq_row(&q, i), head_v + (int)i);
        assert_null(rowq_row(&q, rowq_count(&q)));
    }
    rowq_free(&q);
    assert_int_equal(rowq_count(&q), 0);
    assert_int_equal(rowq_inflight(&q), 0);
}

static void test_scripts(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof SCRIPTS / sizeof SCRIPTS[0]; k++)
        run_script(&SCRIPTS[k]);
}

/* ---- the storage: in-flight rows stay put, memory goes back ---- */

struct row32 {
    long long seq;
    char pad[24];
};

static void test_inflight_rows_stay_put_and_memory_goes_back(void **state)
{
    (void)state;
    struct rowq q;
    const size_t max = 200000;
    rowq_init(&q, sizeof(struct row32), max, 1024);
    long long in = 0, out = 0;
    /* a write in flight while its chunk fills and the next ones are taken */
    for (int i = 0; i < 10; i++)
        ((struct row32 *)rowq_push(&q))->seq = in++;
    assert_int_equal(rowq_begin(&q, 10), 10);
    const struct row32 *first = rowq_row(&q, 0);
    while (rowq_count(&q) < max)
        ((struct row32 *)rowq_push(&q))->seq = in++;
    assert_ptr_equal(rowq_row(&q, 0), first);
    assert_int_equal(first->seq, 0);
    size_t full = fifo_chunks(&q.f);
    assert_true(full > 50);
    /* drained by batches with a retry now and then, as the writer does on a lost connection */
    for (int round = 0; rowq_count(&q); round++) {
        if (!rowq_inflight(&q))
            assert_true(rowq_begin(&q, 7000) > 0);
        if (round % 5 == 4) {
            rowq_retry(&q);
            continue;
        }
        for (size_t i = 0; i < rowq_inflight(&q); i++)
            assert_int_equal(((const struct row32 *)rowq_row(&q, i))->seq, out + (long long)i);
        out += (long long)rowq_done(&q);
    }
    assert_int_equal(out, in);
    assert_int_equal(fifo_chunks(&q.f), 1); /* one spare kept */
    assert_false(rowq_paused(&q));
    rowq_free(&q);
    assert_int_equal(fifo_chunks(&q.f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_scripts),
        cmocka_unit_test(test_inflight_rows_stay_put_and_memory_goes_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
