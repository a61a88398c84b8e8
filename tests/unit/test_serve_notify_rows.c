/* test_serve_notify_rows.c - NOTIFY new_reading payloads (db/009): rows, id ranges, and what is refused. */
#include "unit.h"

#include "serve/notify_rows.h"

#include <stdio.h>
#include <string.h>

static int parse(const char *s, struct notify_rows *nr, const char **why)
{
    *why = NULL;
    return notify_rows_parse(s, strlen(s), nr, why);
}

static void test_rows(void **state)
{
    (void)state;
    struct notify_rows nr;
    const char *why;
    /* as PostgreSQL's json_build_object writes it: spaces around the colons */
    const char *p = "{\"first\" : 7, \"last\" : 9, \"count\" : 2, \"rows\" : [[7,1796616000123456,\"lab/t/a\",21.5], "
                    "[9, 1796616000123457, \"lab/t/\\u00e9\", -1e+15]]}";
    assert_int_equal(parse(p, &nr, &why), 1);
    assert_int_equal(nr.first, 7);
    assert_int_equal(nr.last, 9);
    assert_int_equal(nr.n, 2);
    assert_int_equal(nr.row[0].id, 7);
    assert_int_equal(nr.row[0].ts_us, 1796616000123456LL);
    assert_string_equal(nr.row[0].topic, "lab/t/a");
    assert_int_equal(nr.row[0].topic_len, 7);
    assert_true(nr.row[0].value == 21.5);
    assert_string_equal(nr.row[1].topic, "lab/t/\xc3\xa9");
    assert_int_equal(nr.row[1].topic_len, 8);
    assert_true(nr.row[1].value == -1e15);
    notify_rows_free(&nr);
    /* the send time of bench/latency_pub -f survives the round trip */
    assert_int_equal(
        parse("{\"first\":1,\"last\":1,\"count\":1,\"rows\":[[1,0,\"a/b/c\",1796616000123.456]]}", &nr, &why), 1);
    assert_true(nr.row[0].value == 1796616000123.456);
    notify_rows_free(&nr);
}

static void test_range_only(void **state)
{
    (void)state;
    struct notify_rows nr;
    const char *why;
    /* 001's payload, and one with more rows than kept here: a doorbell */
    assert_int_equal(parse("{\"first\" : 8, \"last\" : 9, \"count\" : 2}", &nr, &why), 0);
    assert_int_equal(nr.n, 0);
    assert_int_equal(nr.last, 9);
    notify_rows_free(&nr);
    char big[4096];
    int n = snprintf(big, sizeof big, "{\"first\":1,\"last\":17,\"count\":17,\"rows\":[");
    for (int i = 1; i <= 17; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, "%s[%d,0,\"a/b/c\",1]", i > 1 ? "," : "", i);
    snprintf(big + n, sizeof big - (size_t)n, "]}");
    assert_int_equal(parse(big, &nr, &why), 0);
    assert_int_equal(nr.n, 0);
    notify_rows_free(&nr);
}

static void test_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "not json",
        "[1,2,3]",
        "{\"first\":1,\"last\":2}",                                                    /* no count */
        "{\"first\":3,\"last\":2,\"count\":1}",                                        /* first > last */
        "{\"first\":0,\"last\":2,\"count\":1}",                                        /* ids start at 1 */
        "{\"first\":1.5,\"last\":2,\"count\":1}",                                      /* not an integer */
        "{\"first\":1,\"last\":1e300,\"count\":1}",                                    /* past 2^53 */
        "{\"first\":\"1\",\"last\":2,\"count\":1}",                                    /* a string */
        "{\"first\":1,\"last\":2,\"count\":2,\"rows\":{}}",                            /* rows not an array */
        "{\"first\":1,\"last\":2,\"count\":2,\"rows\":[[1,0,\"a\",1]]}",               /* fewer rows than count */
        "{\"first\":1,\"last\":2,\"count\":2,\"rows\":[[2,0,\"a\",1],[1,0,\"a\",1]]}", /* not increasing */
        "{\"first\":1,\"last\":3,\"count\":2,\"rows\":[[1,0,\"a\",1],[2,0,\"a\",1]]}", /* do not reach last */
        "{\"first\":1,\"last\":1,\"count\":1,\"rows\":[[1,0,\"a\"]]}",                 /* three fields */
        "{\"first\":1,\"last\":1,\"count\":1,\"rows\":[[1,0,7,1]]}",                   /* topic not a string */
        "{\"first\":1,\"last\":1,\"count\":1,\"rows\":[[1,0,\"a\",\"NaN\"]]}",         /* value not a number */
        "{\"first\":1,\"last\":1,\"count\":1,\"rows\":[[1,0.5,\"a\",1]]}",             /* ts not an integer */
        "{\"first\":1,\"last\":1,\"count\":1,\"rows\":[1]}",                           /* a row not an array */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct notify_rows nr;
        const char *why;
        int rc = parse(bad[i], &nr, &why);
        if (rc != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(why);
        assert_int_equal(nr.n, 0);
        notify_rows_free(&nr);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_range_only),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
