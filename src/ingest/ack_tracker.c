/* ack_tracker.c - per packet id state machine for held PUBACKs and redelivered duplicates (see ack_tracker.h). */
#include "ack_tracker.h"

#include "core/hash.h"

#include <stdlib.h>
#include <string.h>

/* clang-format off */
#define T(state, action) {ACK_##state, ACK_DO_##action}

/*
 * The whole behaviour in one table. Rows: the state of a packet id; columns:
 * the event. SAME is only reported for a busy or orphan slot (an idle slot has
 * no message to compare with), so its IDLE entry repeats RECEIVE.
 */
static const struct ack_transition ack_table[ACK_STATES][ACK_EVENTS] = {
    /*                     RECEIVE                       SAME                 COMMIT                   SENT                       DISCONNECT                 NO_SESSION */
    [ACK_IDLE]          = {T(PENDING, STORE),            T(PENDING, STORE),   T(IDLE, NOTHING),        T(IDLE, NOTHING),          T(IDLE, NOTHING),          T(IDLE, NOTHING)},
    [ACK_PENDING]       = {T(PENDING, STORE_UNTRACKED),  T(PENDING, DROP),    T(RELEASED, RELEASE),    T(PENDING, NOTHING),       T(ORPHAN_QUEUED, NOTHING), T(PENDING, NOTHING)},
    [ACK_RELEASED]      = {T(RELEASED, STORE_UNTRACKED), T(RELEASED, DROP),   T(RELEASED, NOTHING),    T(IDLE, NOTHING),          T(ORPHAN_DONE, NOTHING),   T(RELEASED, NOTHING)},
    [ACK_ORPHAN_QUEUED] = {T(PENDING, STORE),            T(PENDING, SKIP),    T(ORPHAN_DONE, NOTHING), T(ORPHAN_QUEUED, NOTHING), T(ORPHAN_QUEUED, NOTHING), T(IDLE, NOTHING)},
    [ACK_ORPHAN_DONE]   = {T(PENDING, STORE),            T(RELEASED, SKIP),   T(ORPHAN_DONE, NOTHING), T(ORPHAN_DONE, NOTHING),   T(ORPHAN_DONE, NOTHING),   T(IDLE, NOTHING)},
};
/* clang-format on */

#undef T

struct ack_transition ack_transition(enum ack_state s, enum ack_event e)
{
    if ((unsigned)s >= ACK_STATES || (unsigned)e >= ACK_EVENTS)
        return (struct ack_transition){ACK_IDLE, ACK_DO_NOTHING};
    return ack_table[s][e];
}

const char *ack_state_name(enum ack_state s)
{
    static const char *names[ACK_STATES] = {"IDLE", "PENDING", "RELEASED", "ORPHAN_QUEUED", "ORPHAN_DONE"};
    return (unsigned)s < ACK_STATES ? names[s] : "?";
}

const char *ack_event_name(enum ack_event e)
{
    static const char *names[ACK_EVENTS] = {"RECEIVE", "SAME", "COMMIT", "SENT", "DISCONNECT", "NO_SESSION"};
    return (unsigned)e < ACK_EVENTS ? names[e] : "?";
}

const char *ack_action_name(enum ack_action a)
{
    static const char *names[ACK_ACTIONS] = {"NOTHING", "STORE", "SKIP", "DROP", "STORE_UNTRACKED", "RELEASE"};
    return (unsigned)a < ACK_ACTIONS ? names[a] : "?";
}

uint64_t ack_hash(const char *topic, size_t topic_len, const void *payload, size_t payload_len)
{
    /* the topic's hash seeds the payload's: "a/b" + "1/2" differs from "a/b1" + "/2" */
    return hash_bytes(hash_bytes(0, topic, topic_len), payload, payload_len);
}

int ack_tracker_init(struct ack_tracker *t)
{
    memset(t, 0, sizeof *t);
    t->slots = calloc(ACK_MIDS, sizeof *t->slots);
    return t->slots ? 0 : -1;
}

void ack_tracker_free(struct ack_tracker *t)
{
    free(t->slots);
    t->slots = NULL;
}

/* Run event e on slot mid; returns the action. STORE takes the current generation and hash h. */
static enum ack_action ack_apply(struct ack_tracker *t, uint16_t mid, enum ack_event e, uint64_t h)
{
    struct ack_slot *s = &t->slots[mid];
    struct ack_transition tr = ack_table[s->state][e];
    if (tr.next != s->state) {
        if (s->state != ACK_IDLE)
            t->count[s->state]--;
        if (tr.next != ACK_IDLE)
            t->count[tr.next]++;
        s->state = tr.next;
    }
    if (tr.action == ACK_DO_STORE) {
        s->gen = t->gen;
        s->hash = h;
    }
    return (enum ack_action)tr.action;
}

/* Apply e to every slot that is not idle (no scan at all when every slot is). */
static void ack_apply_all(struct ack_tracker *t, enum ack_event e)
{
    size_t busy = 0;
    for (int s = 1; s < ACK_STATES; s++)
        busy += t->count[s];
    for (uint32_t mid = 1; busy && mid < ACK_MIDS; mid++)
        if (t->slots[mid].state != ACK_IDLE)
            ack_apply(t, (uint16_t)mid, e, 0);
}

void ack_tracker_disconnected(struct ack_tracker *t)
{
    if (!t->connected)
        return;
    t->connected = false;
    ack_apply_all(t, ACK_EV_DISCONNECT);
}

void ack_tracker_connected(struct ack_tracker *t, bool session_present)
{
    ack_tracker_disconnected(t); /* a missed disconnect must not carry slots over as live */
    t->gen++;
    t->connected = true;
    if (!session_present)
        ack_apply_all(t, ACK_EV_NO_SESSION);
}

enum ack_action ack_tracker_received(struct ack_tracker *t, uint16_t mid, uint64_t h, struct ack_ref *ref)
{
    ref->gen = 0;
    ref->mid = 0;
    if (mid == 0)
        return ACK_DO_STORE_UNTRACKED;
    const struct ack_slot *s = &t->slots[mid];
    enum ack_event e = s->state != ACK_IDLE && s->hash == h ? ACK_EV_SAME : ACK_EV_RECEIVE;
    enum ack_action a = ack_apply(t, mid, e, h);
    if (a == ACK_DO_STORE) {
        ref->gen = t->gen;
        ref->mid = mid;
    } else if (a == ACK_DO_STORE_UNTRACKED)
        t->anomalies++;
    return a;
}

enum ack_action ack_tracker_commit(struct ack_tracker *t, struct ack_ref ref)
{
    if (ref.mid == 0)
        return ACK_DO_NOTHING;
    const struct ack_slot *s = &t->slots[ref.mid];
    /* only the row the slot waits for: a stale row of an earlier message with this id changes nothing */
    if (s->gen != ref.gen)
        return ACK_DO_NOTHING;
    return ack_apply(t, ref.mid, ACK_EV_COMMIT, 0);
}

bool ack_tracker_may_send(const struct ack_tracker *t, uint16_t mid)
{
    return t->slots[mid].state != ACK_PENDING;
}

void ack_tracker_sent(struct ack_tracker *t, uint16_t mid)
{
    if (mid != 0)
        ack_apply(t, mid, ACK_EV_SENT, 0);
}

enum ack_state ack_tracker_state(const struct ack_tracker *t, uint16_t mid)
{
    return (enum ack_state)t->slots[mid].state;
}

size_t ack_tracker_held(const struct ack_tracker *t)
{
    return t->count[ACK_PENDING] + t->count[ACK_RELEASED];
}

size_t ack_tracker_unsettled(const struct ack_tracker *t)
{
    return t->count[ACK_PENDING];
}

size_t ack_tracker_orphans(const struct ack_tracker *t)
{
    return t->count[ACK_ORPHAN_QUEUED] + t->count[ACK_ORPHAN_DONE];
}

size_t ack_tracker_in_use(const struct ack_tracker *t)
{
    return t->count[ACK_PENDING] + t->count[ACK_RELEASED];
}
