/* test_ingest_topic_table.c - the counted topic table: sharing, freeing, index growth and shrink, probe runs. */
#include "unit.h"

#include "ingest/topic_table.h"

#include <stdio.h>
#include <string.h>

static struct topic *ref(struct topic_table *t, const char *s)
{
    struct topic *e = topic_table_ref(t, s, strlen(s));
    assert_non_null(e);
    return e;
}

/* Every entry is found from its home slot without crossing an empty slot, and count matches. */
static void check_index(const struct topic_table *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const struct topic *e = t->slots[i];
        if (!e)
            continue;
        n++;
        for (size_t j = e->hash & (t->cap - 1); j != i; j = (j + 1) & (t->cap - 1))
            assert_non_null(t->slots[j]);
    }
    assert_int_equal(n, t->count);
}

static void test_same_topic_shared(void **state)
{
    (void)state;
    struct topic_table t;
    topic_table_init(&t);
    struct topic *a = ref(&t, "pico/temperature/dht22");
    struct topic *b = ref(&t, "pico/temperature/dht22");
    struct topic *c = ref(&t, "pico/humidity/dht22");
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_int_equal(a->refs, 2);
    assert_int_equal(a->len, 22);
    assert_string_equal(a->text, "pico/temperature/dht22");
    assert_int_equal(t.count, 2);
    /* the length counts, not the NUL: a prefix is another topic */
    struct topic *p = topic_table_ref(&t, "pico/temperature/dht22", 4);
    assert_non_null(p);
    assert_string_equal(p->text, "pico");
    assert_int_equal(t.count, 3);
    topic_table_unref(&t, p);
    topic_table_unref(&t, a);
    assert_int_equal(t.count, 2); /* b still holds it */
    assert_string_equal(b->text, "pico/temperature/dht22");
    topic_table_unref(&t, b);
    topic_table_unref(&t, c);
    assert_int_equal(t.count, 0);
    assert_int_equal(t.bytes, 0);
    assert_null(t.slots);        /* an empty table holds no index */
    topic_table_unref(&t, NULL); /* no-op */
    topic_table_free(&t);
}

static void test_grow_shrink_and_removal_keep_lookups(void **state)
{
    (void)state;
    struct topic_table t;
    topic_table_init(&t);
    enum { N = 20000 };
    static struct topic *held[N];
    char s[64];
    for (int i = 0; i < N; i++) {
        snprintf(s, sizeof s, "dev%d/m/s", i);
        held[i] = ref(&t, s);
    }
    assert_int_equal(t.count, N);
    assert_true(t.cap >= 2 * N);
    check_index(&t);
    /* remove every other one: the rest are still found (same entry, count up) */
    for (int i = 0; i < N; i += 2)
        topic_table_unref(&t, held[i]);
    check_index(&t);
    for (int i = 1; i < N; i += 2) {
        snprintf(s, sizeof s, "dev%d/m/s", i);
        assert_ptr_equal(ref(&t, s), held[i]);
        assert_int_equal(held[i]->refs, 2);
        topic_table_unref(&t, held[i]);
    }
    size_t cap_half = t.cap;
    /* down to a few: the index shrinks */
    for (int i = 1; i < N - 20; i += 2)
        topic_table_unref(&t, held[i]);
    assert_int_equal(t.count, 10);
    assert_true(t.cap < cap_half / 8);
    check_index(&t);
    for (int i = N - 19; i < N; i += 2) {
        snprintf(s, sizeof s, "dev%d/m/s", i);
        assert_ptr_equal(ref(&t, s), held[i]);
        topic_table_unref(&t, held[i]);
    }
    topic_table_free(&t); /* frees the 10 still referenced (ASan checks) */
    assert_int_equal(t.count, 0);
}

/* Entries whose probe runs wrap around the end of the index, removed in every order. */
static void test_removal_orders(void **state)
{
    (void)state;
    for (int order = 0; order < 3; order++) {
        struct topic_table t;
        topic_table_init(&t);
        struct topic *e[7];
        char s[16];
        for (int i = 0; i < 7; i++) { /* 7 of 16 slots: long runs, some wrapping */
            snprintf(s, sizeof s, "t%d", i);
            e[i] = ref(&t, s);
        }
        for (int k = 0; k < 7; k++) {
            int i = order == 0 ? k : order == 1 ? 6 - k : (k * 3) % 7;
            topic_table_unref(&t, e[i]);
            e[i] = NULL;
            check_index(&t);
            for (int j = 0; j < 7; j++) {
                if (!e[j])
                    continue;
                snprintf(s, sizeof s, "t%d", j);
                struct topic *again = topic_table_ref(&t, s, strlen(s));
                assert_ptr_equal(again, e[j]);
                topic_table_unref(&t, again);
            }
        }
        assert_int_equal(t.count, 0);
        topic_table_free(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_topic_shared),
        cmocka_unit_test(test_grow_shrink_and_removal_keep_lookups),
        cmocka_unit_test(test_removal_orders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
