/* test_ingest_ack_tracker.c - the held-PUBACK state machine: the whole table, and scenarios across reconnects. */
#include "unit.h"

#include "ingest/ack_tracker.h"

#include <stdio.h>
#include <string.h>

/* ---- the table, written out once more as the specification ---- */

struct expect {
    enum ack_state state;
    enum ack_event event;
    enum ack_state next;
    enum ack_action action;
};

/* clang-format off */
#define E(s, e, n, a) {ACK_##s, ACK_EV_##e, ACK_##n, ACK_DO_##a}
static const struct expect spec[] = {
    /* nothing outstanding: a message starts tracking (its PUBACK is queued and waits) */
    E(IDLE, RECEIVE, PENDING, STORE), E(IDLE, SAME, PENDING, STORE), E(IDLE, COMMIT, IDLE, NOTHING),
    E(IDLE, SENT, IDLE, NOTHING), E(IDLE, DISCONNECT, IDLE, NOTHING), E(IDLE, NO_SESSION, IDLE, NOTHING),
    /* row queued, PUBACK held: the commit releases it; a copy adds nothing */
    E(PENDING, RECEIVE, PENDING, STORE_UNTRACKED), E(PENDING, SAME, PENDING, DROP),
    E(PENDING, COMMIT, RELEASED, RELEASE), E(PENDING, SENT, PENDING, NOTHING),
    E(PENDING, DISCONNECT, ORPHAN_QUEUED, NOTHING), E(PENDING, NO_SESSION, PENDING, NOTHING),
    /* may go: SENT ends it */
    E(RELEASED, RECEIVE, RELEASED, STORE_UNTRACKED), E(RELEASED, SAME, RELEASED, DROP),
    E(RELEASED, COMMIT, RELEASED, NOTHING), E(RELEASED, SENT, IDLE, NOTHING),
    E(RELEASED, DISCONNECT, ORPHAN_DONE, NOTHING), E(RELEASED, NO_SESSION, RELEASED, NOTHING),
    /* orphan, row queued: its redelivery is skipped and waits for that row */
    E(ORPHAN_QUEUED, RECEIVE, PENDING, STORE), E(ORPHAN_QUEUED, SAME, PENDING, SKIP),
    E(ORPHAN_QUEUED, COMMIT, ORPHAN_DONE, NOTHING), E(ORPHAN_QUEUED, SENT, ORPHAN_QUEUED, NOTHING),
    E(ORPHAN_QUEUED, DISCONNECT, ORPHAN_QUEUED, NOTHING), E(ORPHAN_QUEUED, NO_SESSION, IDLE, NOTHING),
    /* orphan, row committed: its redelivery is skipped and acknowledged at once */
    E(ORPHAN_DONE, RECEIVE, PENDING, STORE), E(ORPHAN_DONE, SAME, RELEASED, SKIP),
    E(ORPHAN_DONE, COMMIT, ORPHAN_DONE, NOTHING), E(ORPHAN_DONE, SENT, ORPHAN_DONE, NOTHING),
    E(ORPHAN_DONE, DISCONNECT, ORPHAN_DONE, NOTHING), E(ORPHAN_DONE, NO_SESSION, IDLE, NOTHING),
};
#undef E
/* clang-format on */

static void test_transition_table(void **state)
{
    (void)state;
    int seen[ACK_STATES][ACK_EVENTS];
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
        const struct expect *x = &spec[i];
        struct ack_transition t = ack_transition(x->state, x->event);
        if (t.next != x->next || t.action != x->action)
            fail_msg("%s + %s: got %s/%s, want %s/%s", ack_state_name(x->state), ack_event_name(x->event),
                     ack_state_name((enum ack_state)t.next), ack_action_name((enum ack_action)t.action),
                     ack_state_name(x->next), ack_action_name(x->action));
        seen[x->state][x->event]++;
    }
    /* the specification covers every pair exactly once */
    for (int s = 0; s < ACK_STATES; s++)
        for (int e = 0; e < ACK_EVENTS; e++)
            assert_int_equal(seen[s][e], 1);
    /* out of range: harmless */
    struct ack_transition t = ack_transition(ACK_STATES, ACK_EV_RECEIVE);
    assert_int_equal(t.action, ACK_DO_NOTHING);
    assert_string_equal(ack_state_name(ACK_STATES), "?");
    assert_string_equal(ack_event_name(ACK_EVENTS), "?");
    assert_string_equal(ack_action_name(ACK_ACTIONS), "?");
}

/* ---- scenarios through the API ---- */

enum op { CONNECT, CONNECT_NEW, DISCONNECT, RECV, COMMIT, SENT, END };

struct step {
    enum op op;
    uint16_t mid;
    uint64_t hash;        /* RECV */
    uint32_t gen;         /* COMMIT: the row's generation */
    int action;           /* expected action (RECV, COMMIT), -1: not checked */
    enum ack_state state; /* expected state of mid afterwards (when mid != 0) */
};

struct scenario {
    const char *name;
    struct step steps[24];
    size_t held, orphans, unsettled; /* counts at the end */
};

/* clang-format off */
#define A(x) ACK_DO_##x
#define S(x) ACK_##x
static const struct scenario scenarios[] = {
    {"PUBACK held until the commit, then sent",
     {{CONNECT}, {RECV, 1, 0xa, 0, A(STORE), S(PENDING)}, {COMMIT, 1, 0, 1, A(RELEASE), S(RELEASED)},
      {SENT, 1, 0, 0, -1, S(IDLE)}, {END}},
     0, 0, 0},
    {"ids are reused after their PUBACK went out",
     {{CONNECT}, {RECV, 4, 0xa, 0, A(STORE), S(PENDING)}, {COMMIT, 4, 0, 1, A(RELEASE), S(RELEASED)},
      {SENT, 4, 0, 0, -1, S(IDLE)}, {RECV, 4, 0xa, 0, A(STORE), S(PENDING)}, /* same content, new message: stored */
      {END}},
     1, 0, 1},
    {"reconnect: redelivery of a queued message is skipped, acked when the original commits",
     {{CONNECT}, {RECV, 5, 0xa, 0, A(STORE), S(PENDING)}, {DISCONNECT, 5, 0, 0, -1, S(ORPHAN_QUEUED)},
      {CONNECT, 5, 0, 0, -1, S(ORPHAN_QUEUED)}, {RECV, 5, 0xa, 0, A(SKIP), S(PENDING)},
      {COMMIT, 5, 0, 1, A(RELEASE), S(RELEASED)}, /* the original row, generation 1 */
      {SENT, 5, 0, 0, -1, S(IDLE)}, {END}},
     0, 0, 0},
    {"reconnect: original committed before the redelivery: skipped and acked at once",
     {{CONNECT}, {RECV, 6, 0xa, 0, A(STORE), S(PENDING)}, {DISCONNECT, 6, 0, 0, -1, S(ORPHAN_QUEUED)},
      {COMMIT, 6, 0, 1, A(NOTHING), S(ORPHAN_DONE)}, {CONNECT, 6, 0, 0, -1, S(ORPHAN_DONE)},
      {RECV, 6, 0xa, 0, A(SKIP), S(RELEASED)}, {SENT, 6, 0, 0, -1, S(IDLE)}, {END}},
     0, 0, 0},
    {"reconnect: a committed PUBACK that never went out makes the redelivery a duplicate",
     {{CONNECT}, {RECV, 7, 0xa, 0, A(STORE), S(PENDING)}, {COMMIT, 7, 0, 1, A(RELEASE), S(RELEASED)},
      {DISCONNECT, 7, 0, 0, -1, S(ORPHAN_DONE)}, {CONNECT}, {RECV, 7, 0xa, 0, A(SKIP), S(RELEASED)}, {END}},
     1, 0, 0},
    {"reconnect: same id, other content: the id was reused, the message is new",
     {{CONNECT}, {RECV, 8, 0xa, 0, A(STORE), S(PENDING)}, {DISCONNECT, 8, 0, 0, -1, S(ORPHAN_QUEUED)}, {CONNECT},
      {RECV, 8, 0xb, 0, A(STORE), S(PENDING)},
      /* the old row (generation 1) commits: it is not the one the slot waits for now */
      {COMMIT, 8, 0, 1, A(NOTHING), S(PENDING)}, {COMMIT, 8, 0, 2, A(RELEASE), S(RELEASED)}, {END}},
     1, 0, 0},
    {"a session that is not present forgets the orphans: nothing will be redelivered",
     {{CONNECT}, {RECV, 9, 0xa, 0, A(STORE), S(PENDING)}, {DISCONNECT, 9, 0, 0, -1, S(ORPHAN_QUEUED)},
      {CONNECT_NEW, 9, 0, 0, -1, S(IDLE)}, {RECV, 9, 0xa, 0, A(STORE), S(PENDING)}, /* new message, same content */
      {COMMIT, 9, 0, 1, A(NOTHING), S(PENDING)}, {END}},
     1, 0, 1},
    {"two reconnects before the redelivery: the orphan and its generation survive",
     {{CONNECT}, {RECV, 10, 0xa, 0, A(STORE), S(PENDING)}, {DISCONNECT}, {CONNECT}, {DISCONNECT}, {CONNECT},
      {RECV, 10, 0xa, 0, A(SKIP), S(PENDING)}, {COMMIT, 10, 0, 3, A(NOTHING), S(PENDING)},
      {COMMIT, 10, 0, 1, A(RELEASE), S(RELEASED)}, {END}},
     1, 0, 0},
    {"a redelivery that was itself waiting when the connection died again",
     {{CONNECT}, {RECV, 11, 0xa, 0, A(STORE), S(PENDING)}, {DISCONNECT}, {CONNECT},
      {RECV, 11, 0xa, 0, A(SKIP), S(PENDING)}, {DISCONNECT, 11, 0, 0, -1, S(ORPHAN_QUEUED)}, {CONNECT},
      {RECV, 11, 0xa, 0, A(SKIP), S(PENDING)}, {COMMIT, 11, 0, 1, A(RELEASE), S(RELEASED)}, {END}},
     1, 0, 0},
    {"the broker resends on the same connection (EMQX retry_interval): dropped, one PUBACK goes",
     {{CONNECT}, {RECV, 12, 0xa, 0, A(STORE), S(PENDING)}, {RECV, 12, 0xa, 0, A(DROP), S(PENDING)},
      {COMMIT, 12, 0, 1, A(RELEASE), S(RELEASED)}, {RECV, 12, 0xa, 0, A(DROP), S(RELEASED)},
      {SENT, 12, 0, 0, -1, S(IDLE)}, {END}},
     0, 0, 0},
    {"a broker reusing an id still unacknowledged: stored untracked, the first message keeps the slot",
     {{CONNECT}, {RECV, 13, 0xa, 0, A(STORE), S(PENDING)}, {RECV, 13, 0xb, 0, A(STORE_UNTRACKED), S(PENDING)},
      {END}},
     1, 0, 1},
    {"a disconnect without a connect is ignored; a connect without a disconnect orphans first",
     {{DISCONNECT}, {CONNECT}, {RECV, 14, 0xa, 0, A(STORE), S(PENDING)}, {CONNECT, 14, 0, 0, -1, S(ORPHAN_QUEUED)},
      {RECV, 14, 0xa, 0, A(SKIP), S(PENDING)}, {END}},
     1, 0, 1},
};
#undef A
#undef S
/* clang-format on */

static void run_scenario(const struct scenario *sc)
{
    struct ack_tracker t;
    assert_int_equal(ack_tracker_init(&t), 0);
    for (size_t i = 0; sc->steps[i].op != END; i++) {
        const struct step *st = &sc->steps[i];
        int got = -1;
        struct ack_ref ref;
        switch (st->op) {
        case CONNECT:
            ack_tracker_connected(&t, true);
            break;
        case CONNECT_NEW:
            ack_tracker_connected(&t, false);
            break;
        case DISCONNECT:
            ack_tracker_disconnected(&t);
            break;
        case RECV:
            got = ack_tracker_received(&t, st->mid, st->hash, &ref);
            if (got == ACK_DO_STORE) {
                assert_int_equal(ref.mid, st->mid);
                assert_int_equal(ref.gen, t.gen);
            } else
                assert_int_equal(ref.mid, 0);
            break;
        case COMMIT:
            got = ack_tracker_commit(&t, (struct ack_ref){st->gen, st->mid});
            break;
        case SENT:
            ack_tracker_sent(&t, st->mid);
            break;
        case END:
            break;
        }
        if (st->action >= 0 && st->op != CONNECT && st->op != CONNECT_NEW && st->op != DISCONNECT && st->op != SENT &&
            got != st->action)
            fail_msg("%s: step %zu: action %s, want %s", sc->name, i, ack_action_name((enum ack_action)got),
                     ack_action_name((enum ack_action)st->action));
        if (st->mid && ack_tracker_state(&t, st->mid) != st->state)
            fail_msg("%s: step %zu: state %s, want %s", sc->name, i, ack_state_name(ack_tracker_state(&t, st->mid)),
                     ack_state_name(st->state));
    }
    if (ack_tracker_held(&t) != sc->held || ack_tracker_orphans(&t) != sc->orphans ||
        ack_tracker_unsettled(&t) != sc->unsettled)
        fail_msg("%s: held %zu orphans %zu unsettled %zu, want %zu %zu %zu", sc->name, ack_tracker_held(&t),
                 ack_tracker_orphans(&t), ack_tracker_unsettled(&t), sc->held, sc->orphans, sc->unsettled);
    ack_tracker_free(&t);
}

static void test_scenarios(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        run_scenario(&scenarios[i]);
}

/*
 * Duplicates across a reconnect at scale: 1000 messages in flight when the
 * connection dies, some committed (PUBACK sent or not), some still queued; the
 * broker redelivers every unacknowledged one with its id, then new ones.
 * Exactly the unacknowledged ones are skipped; each id gets one PUBACK.
 */
static void test_reconnect_duplicates(void **state)
{
    (void)state;
    struct ack_tracker t;
    assert_int_equal(ack_tracker_init(&t), 0);
    enum { N = 1000 };
    static struct ack_ref refs[N + 1];
    ack_tracker_connected(&t, false);
    char payload[32];
    for (uint16_t mid = 1; mid <= N; mid++) {
        int n = snprintf(payload, sizeof payload, "%u", mid);
        assert_int_equal(ack_tracker_received(&t, mid, ack_hash("d/t/s", 5, payload, (size_t)n), &refs[mid]),
                         ACK_DO_STORE);
    }
    assert_int_equal(ack_tracker_held(&t), N);
    assert_int_equal(ack_tracker_in_use(&t), N);
    /* 1..300 committed and acknowledged; 301..600 committed, PUBACK not out yet; 601..1000 still queued */
    for (uint16_t mid = 1; mid <= 600; mid++)
        assert_int_equal(ack_tracker_commit(&t, refs[mid]), ACK_DO_RELEASE);
    for (uint16_t mid = 1; mid <= 300; mid++)
        ack_tracker_sent(&t, mid);
    ack_tracker_disconnected(&t);
    assert_int_equal(ack_tracker_orphans(&t), 700);
    assert_int_equal(ack_tracker_held(&t), 0);
    assert_int_equal(ack_tracker_in_use(&t), 0);
    /* 601..800 commit while the connection is down */
    for (uint16_t mid = 601; mid <= 800; mid++)
        assert_int_equal(ack_tracker_commit(&t, refs[mid]), ACK_DO_NOTHING);

    ack_tracker_connected(&t, true);
    int skipped = 0, stored = 0;
    /* the broker redelivers 301..1000 first, with their ids */
    for (uint16_t mid = 301; mid <= N; mid++) {
        int n = snprintf(payload, sizeof payload, "%u", mid);
        struct ack_ref ref;
        enum ack_action a = ack_tracker_received(&t, mid, ack_hash("d/t/s", 5, payload, (size_t)n), &ref);
        skipped += a == ACK_DO_SKIP;
        assert_int_equal(ack_tracker_may_send(&t, mid), mid <= 800); /* the original row is committed */
    }
    assert_int_equal(skipped, 700);
    /* then new messages, some on ids 1..300 that were acknowledged before */
    for (uint16_t mid = 1; mid <= 300; mid++) {
        struct ack_ref ref;
        int n = snprintf(payload, sizeof payload, "new %u", mid);
        stored += ack_tracker_received(&t, mid, ack_hash("d/t/s", 5, payload, (size_t)n), &ref) == ACK_DO_STORE;
    }
    assert_int_equal(stored, 300);
    /* the last queued originals commit: their redeliveries' PUBACKs are released */
    for (uint16_t mid = 801; mid <= N; mid++)
        assert_int_equal(ack_tracker_commit(&t, refs[mid]), ACK_DO_RELEASE);
    for (uint16_t mid = 301; mid <= N; mid++) {
        assert_true(ack_tracker_may_send(&t, mid));
        ack_tracker_sent(&t, mid);
        assert_int_equal(ack_tracker_state(&t, mid), ACK_IDLE);
    }
    assert_int_equal(ack_tracker_orphans(&t), 0);
    assert_int_equal(ack_tracker_unsettled(&t), 300);
    assert_int_equal(t.anomalies, 0);
    ack_tracker_free(&t);
}

static void test_hash(void **state)
{
    (void)state;
    assert_true(ack_hash("a/b", 3, "1/2", 3) != ack_hash("a/b1", 4, "/2", 2));
    assert_true(ack_hash("a/b/c", 5, "21.5", 4) == ack_hash("a/b/c", 5, "21.5", 4));
    assert_true(ack_hash("a/b/c", 5, "21.5", 4) != ack_hash("a/b/c", 5, "21.6", 4));
    assert_true(ack_hash("a/b/c", 5, NULL, 0) != ack_hash("a/b/d", 5, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transition_table),
        cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_reconnect_duplicates),
        cmocka_unit_test(test_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
