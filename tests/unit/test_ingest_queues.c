/* test_ingest_queues.c - rejects and presence queues, the statements built from them, the stats line. */
#include "unit.h"

#include "ingest/presence.h"
#include "ingest/reject.h"
#include "ingest/statements.h"
#include "ingest/stats.h"

#include <stdio.h>
#include <string.h>

static const struct ack_ref NO_ACK = {0, 0};

static void test_reject_copies_and_escapes(void **state)
{
    (void)state;
    struct rejectq q;
    rejectq_init(&q, 16);
    char topic[] = "bad\xff/topic";
    unsigned char payload[] = {0, 1, 2, 0xff, 'x'};
    assert_int_equal(rejectq_push(&q, REJECT_TOPIC, topic, strlen(topic), payload, sizeof payload, "why", 42, NO_ACK),
                     0);
    memset(topic, 'z', sizeof topic - 1); /* the queue holds its own copy */
    const struct reject *r = rejectq_row(&q, 0);
    assert_string_equal(r->topic, "bad\\xff/topic");
    assert_string_equal(r->reason, "why");
    assert_int_equal(r->payload_len, sizeof payload);
    assert_memory_equal(r->payload, payload, sizeof payload);
    assert_int_equal(r->received_us, 42);
    assert_int_equal(r->cls, REJECT_TOPIC);
    /* empty payload (NULL) is fine */
    assert_int_equal(rejectq_push(&q, REJECT_PAYLOAD, "a/b/c", 5, NULL, 0, "empty payload", 1, NO_ACK), 0);
    assert_int_equal(rejectq_row(&q, 1)->payload_len, 0);
    rejectq_free(&q);
}

static void test_reject_truncates_long_input(void **state)
{
    (void)state;
    struct rejectq q;
    rejectq_init(&q, 4);
    static char topic[70000];
    static char payload[10000];
    memset(topic, 'a', sizeof topic);
    memset(payload, 'p', sizeof payload);
    assert_int_equal(
        rejectq_push(&q, REJECT_TOPIC, topic, sizeof topic, payload, sizeof payload, "too long", 0, NO_ACK), 0);
    const struct reject *r = rejectq_row(&q, 0);
    assert_int_equal(strlen(r->topic), REJECT_TOPIC_KEEP + 3); /* "..." marks the cut */
    assert_int_equal(r->payload_len, REJECT_PAYLOAD_KEEP);
    assert_non_null(strstr(r->reason, "too long; topic of 70000 bytes, first 512 kept"));
    assert_non_null(strstr(r->reason, "payload of 10000 bytes, first 4096 kept"));
    rejectq_free(&q);
}

static void test_reject_queue_bound_and_inflight(void **state)
{
    (void)state;
    struct rejectq q;
    rejectq_init(&q, 16); /* reserve 2: nearly full at 14 */
    for (int i = 0; i < 16; i++) {
        char t[16];
        snprintf(t, sizeof t, "t%d", i);
        assert_int_equal(rejectq_push(&q, REJECT_PAYLOAD, t, strlen(t), "x", 1, "r", i, NO_ACK), 0);
        assert_int_equal(rejectq_nearly_full(&q), i + 1 >= 14);
    }
    assert_int_equal(rejectq_push(&q, REJECT_PAYLOAD, "t", 1, "x", 1, "r", 0, NO_ACK), -1);
    assert_int_equal(rowq_begin(&q.q, 5), 5);
    assert_int_equal(rowq_begin(&q.q, 5), 0); /* one write at a time */
    rowq_retry(&q.q);
    assert_int_equal(rowq_begin(&q.q, 5), 5);
    assert_int_equal(rejectq_done(&q), 5);
    assert_string_equal(rejectq_row(&q, 0)->topic, "t5");
    assert_int_equal(rejectq_count(&q), 11);
    rejectq_free(&q); /* frees what is still queued (ASan checks) */
}

static void test_presence_coalesces(void **state)
{
    (void)state;
    struct presenceq q;
    struct ack_ref sup;
    presenceq_init(&q, 4);
    assert_int_equal(presenceq_push(&q, "a", true, 1, NO_ACK, &sup), 0);
    assert_int_equal(presenceq_push(&q, "b", true, 2, NO_ACK, &sup), 0);
    assert_int_equal(presenceq_push(&q, "a", false, 3, NO_ACK, &sup), 0); /* replaces a's pending update */
    assert_int_equal(presenceq_count(&q), 2);
    assert_false(presenceq_row(&q, 0)->online);
    assert_int_equal(presenceq_row(&q, 0)->ts_us, 3);
    /* an update in flight is not touched: the new one queues behind it */
    assert_int_equal(rowq_begin(&q.q, 64), 2);
    assert_int_equal(presenceq_push(&q, "a", true, 4, NO_ACK, &sup), 0);
    assert_int_equal(presenceq_count(&q), 3);
    assert_false(presenceq_row(&q, 0)->online);
    assert_int_equal(rowq_done(&q.q), 2);
    assert_true(presenceq_row(&q, 0)->online);
    /* bounded */
    assert_int_equal(presenceq_push(&q, "c", true, 5, NO_ACK, &sup), 0);
    assert_int_equal(presenceq_push(&q, "d", true, 6, NO_ACK, &sup), 0);
    assert_int_equal(presenceq_push(&q, "e", true, 7, NO_ACK, &sup), 0);
    assert_int_equal(presenceq_push(&q, "f", true, 8, NO_ACK, &sup), -1);
    assert_int_equal(presenceq_push(&q, "e", false, 9, NO_ACK, &sup), 0); /* an update of a queued device still fits */
    presenceq_free(&q);
}

/* Queued rows carry their message's ack reference; a coalesced presence update hands back the one it replaced. */
static void test_queues_carry_ack_refs(void **state)
{
    (void)state;
    struct rejectq r;
    rejectq_init(&r, 4);
    assert_int_equal(rejectq_push(&r, REJECT_PAYLOAD, "a/b/c", 5, "x", 1, "r", 0, (struct ack_ref){3, 17}), 0);
    assert_int_equal(rejectq_row(&r, 0)->ack.gen, 3);
    assert_int_equal(rejectq_row(&r, 0)->ack.mid, 17);
    rejectq_free(&r);

    struct presenceq q;
    struct ack_ref sup;
    presenceq_init(&q, 8);
    assert_int_equal(presenceq_push(&q, "a", true, 1, (struct ack_ref){1, 10}, &sup), 0);
    assert_int_equal(sup.mid, 0);
    /* a newer tracked update replaces it: the older message is handed back, to be settled at once */
    assert_int_equal(presenceq_push(&q, "a", false, 2, (struct ack_ref){1, 11}, &sup), 0);
    assert_int_equal(sup.mid, 10);
    assert_int_equal(presenceq_row(&q, 0)->ack.mid, 11);
    /* a newer untracked (QoS 0) update keeps the tracked reference: its commit settles that message */
    assert_int_equal(presenceq_push(&q, "a", true, 3, NO_ACK, &sup), 0);
    assert_int_equal(sup.mid, 0);
    assert_int_equal(presenceq_row(&q, 0)->ack.mid, 11);
    assert_true(presenceq_row(&q, 0)->online);
    /* in flight: a new update queues behind with its own reference, nothing is handed back */
    assert_int_equal(rowq_begin(&q.q, 64), 1);
    assert_int_equal(presenceq_push(&q, "a", false, 4, (struct ack_ref){2, 12}, &sup), 0);
    assert_int_equal(sup.mid, 0);
    assert_int_equal(presenceq_row(&q, 1)->ack.mid, 12);
    presenceq_free(&q);
}

static void test_statement_rejects(void **state)
{
    (void)state;
    struct rejectq q;
    struct stmt s;
    rejectq_init(&q, 200);
    stmt_init(&s);
    unsigned char bin[] = {0, 0xff, 0};
    rejectq_push(&q, REJECT_PAYLOAD, "a/b/c", 5, bin, sizeof bin, "not a number", 1795773600000000LL, NO_ACK);
    rejectq_push(&q, REJECT_TOPIC, "x", 1, "1", 1, "topic must be", 0, NO_ACK);
    assert_int_equal(stmt_rejects(&s, &q, 2), 0);
    assert_string_equal(s.sql.data, "INSERT INTO rejects (received_at, topic, payload, reason) VALUES "
                                    "($1::timestamptz, $2::text, $3::bytea, $4::text), "
                                    "($5::timestamptz, $6::text, $7::bytea, $8::text)");
    assert_int_equal(s.nparams, 8);
    assert_string_equal(s.values[0], "2026-11-27T10:00:00.000000+00:00");
    assert_string_equal(s.values[1], "a/b/c");
    assert_int_equal(s.formats[2], 1); /* binary payload */
    assert_int_equal(s.lengths[2], 3);
    assert_memory_equal(s.values[2], bin, 3);
    assert_int_equal(s.formats[3], 0);
    assert_string_equal(s.values[7], "topic must be");
    /* never more rows than the parameter arrays hold */
    for (int i = 0; i < 100; i++)
        rejectq_push(&q, REJECT_TOPIC, "x", 1, "1", 1, "r", 0, NO_ACK);
    assert_int_equal(stmt_rejects(&s, &q, 100), 0);
    assert_int_equal(s.nparams, STMT_MAX_ROWS * 4);
    stmt_free(&s);
    rejectq_free(&q);
}

static void test_statement_presence(void **state)
{
    (void)state;
    struct presenceq q;
    struct ack_ref sup;
    struct stmt s;
    presenceq_init(&q, 8);
    stmt_init(&s);
    presenceq_push(&q, "pico", true, 0, NO_ACK, &sup);
    presenceq_push(&q, "esp", false, 0, NO_ACK, &sup);
    assert_int_equal(stmt_presence(&s, &q, 2), 0);
    assert_non_null(strstr(s.sql.data, "($1::text, $2::boolean, $3::timestamptz), ($4::text, $5::boolean, "
                                       "$6::timestamptz) ON CONFLICT (device) DO UPDATE"));
    assert_non_null(strstr(s.sql.data, "WHERE devices.updated_at <= EXCLUDED.updated_at"));
    assert_string_equal(s.values[0], "pico");
    assert_string_equal(s.values[1], "true");
    assert_string_equal(s.values[4], "false");
    stmt_free(&s);
    presenceq_free(&q);
}

static void test_stats(void **state)
{
    (void)state;
    struct ingest_stats a, b;
    memset(&a, 0, sizeof a);
    b = a;
    assert_false(stats_changed(&a, &b));
    a.received = 10;
    a.written = 7;
    a.rejected[REJECT_PAYLOAD] = 2;
    a.rejected[REJECT_TOPIC] = 1;
    a.batches = 3;
    a.max_batch = 5;
    assert_true(stats_changed(&a, &b));
    assert_int_equal(stats_rejected_total(&a), 3);
    char line[1024];
    stats_format(&a, 4, line, sizeof line);
    assert_non_null(strstr(line, "received=10 written=7 rejected=3 (topic=1 payload=2 status=0 overflow=0 "
                                 "database=0 too_large=0 limit=0)"));
    assert_non_null(strstr(line, "batches=3 max_batch=5"));
    assert_non_null(strstr(line, "queued=4"));
    a.duplicates_skipped = 6;
    a.queue_paused = 2;
    a.held_acks = 9;
    a.max_queued = 11;
    stats_format(&a, 4, line, sizeof line);
    assert_non_null(strstr(line, " duplicates_skipped=6 "));
    assert_non_null(strstr(line, " queue_paused=2 "));
    assert_non_null(strstr(line, " held_acks=9 "));
    assert_non_null(strstr(line, " max_queued=11"));
    /* a short buffer truncates, never overflows */
    char small[16];
    stats_format(&a, 4, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    assert_string_equal(reject_class_name(REJECT_DATABASE), "database");
    assert_string_equal(reject_class_name(REJECT_TOO_LARGE), "too_large");
    assert_string_equal(reject_class_name(REJECT_LIMIT), "limit");
    assert_string_equal(reject_class_name((enum reject_class)99), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reject_copies_and_escapes),
        cmocka_unit_test(test_reject_truncates_long_input),
        cmocka_unit_test(test_reject_queue_bound_and_inflight),
        cmocka_unit_test(test_presence_coalesces),
        cmocka_unit_test(test_queues_carry_ack_refs),
        cmocka_unit_test(test_statement_rejects),
        cmocka_unit_test(test_statement_presence),
        cmocka_unit_test(test_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
