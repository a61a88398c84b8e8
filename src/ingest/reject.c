/* reject.c - queue of refused messages for the rejects table (see reject.h). */
#include "reject.h"

#include "core/sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *reject_class_name(enum reject_class c)
{
    static const char *names[REJECT_CLASSES] = {"topic",    "payload",   "status", "overflow",
                                                "database", "too_large", "limit"};
    return (unsigned)c < REJECT_CLASSES ? names[c] : "?";
}

void rejectq_init(struct rejectq *r, size_t max)
{
    rowq_init(&r->q, sizeof(struct reject), max, REJECTQ_RESERVE_MAX);
}

/* Free what the n oldest rows own. */
static void rejectq_release(struct rejectq *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rejectq_row(r, i)->mem);
}

void rejectq_free(struct rejectq *r)
{
    rejectq_release(r, rowq_count(&r->q));
    rowq_free(&r->q);
}

int rejectq_push(struct rejectq *r, enum reject_class cls, const char *topic, size_t topic_len, const void *payload,
                 size_t payload_len, const char *reason, int64_t received_us, struct ack_ref ack)
{
    if (rowq_full(&r->q))
        return -1;
    size_t keep_topic = topic_len > REJECT_TOPIC_KEEP ? REJECT_TOPIC_KEEP : topic_len;
    size_t keep_payload = payload_len > REJECT_PAYLOAD_KEEP ? REJECT_PAYLOAD_KEEP : payload_len;

    /* topic and reason as escaped text, NUL-separated, then the payload bytes */
    struct sbuf b;
    sbuf_init(&b, 0, 4 * (REJECT_TOPIC_KEEP + 1024) + REJECT_PAYLOAD_KEEP + 64);
    sbuf_text_escaped(&b, topic, keep_topic);
    if (keep_topic < topic_len)
        sbuf_puts(&b, "...");
    sbuf_append(&b, "", 1);
    size_t reason_at = b.len;
    sbuf_text_escaped(&b, reason, strnlen(reason, 1024));
    if (keep_topic < topic_len)
        sbuf_printf(&b, "; topic of %zu bytes, first %d kept", topic_len, REJECT_TOPIC_KEEP);
    if (keep_payload < payload_len)
        sbuf_printf(&b, "; payload of %zu bytes, first %d kept", payload_len, REJECT_PAYLOAD_KEEP);
    sbuf_append(&b, "", 1);
    size_t payload_at = b.len;
    if (keep_payload) /* payload may be NULL when empty */
        sbuf_append(&b, payload, keep_payload);
    if (b.failed) {
        sbuf_free(&b);
        return -1;
    }
    struct reject *slot = rowq_push(&r->q);
    if (!slot) {
        sbuf_free(&b);
        return -1;
    }
    /* the queue takes the buffer: slot->mem owns b.data (sbuf with no headroom) */
    slot->mem = b.data;
    slot->topic = b.data;
    slot->reason = b.data + reason_at;
    slot->payload = (unsigned char *)b.data + payload_at;
    slot->payload_len = keep_payload;
    slot->cls = cls;
    slot->received_us = received_us;
    slot->ack = ack;
    return 0;
}

size_t rejectq_done(struct rejectq *r)
{
    rejectq_release(r, rowq_inflight(&r->q));
    return rowq_done(&r->q);
}
