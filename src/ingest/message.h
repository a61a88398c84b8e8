/*
 * message.h - what one MQTT message is to the ingest: a reading, a presence
 * update, a message to reject (with its class and reason), or a retained
 * reading replayed by the broker.
 *
 * Pure function over the topic and payload bytes (core/topic, core/payload),
 * so every malformed input is unit-tested without a broker.
 */
#ifndef SP_INGEST_MESSAGE_H
#define SP_INGEST_MESSAGE_H

#include "batch.h"
#include "reject.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum msg_kind {
    MSG_READING,  /* out->reading is filled */
    MSG_PRESENCE, /* out->device and out->online */
    MSG_REJECT,   /* out->cls and out->reason */
    /*
     * A reading the broker replays because it was published retained: it was
     * stored when it was live (or, published while the ingest was away, it
     * would get a wrong time). Counted, not stored again.
     */
    MSG_RETAINED,
};

/* What a reading may say beyond its syntax (--ts-past-days, --ts-future-minutes). */
struct msg_bounds {
    int64_t ts_past_us;   /* a payload ts at most this long before the receive time */
    int64_t ts_future_us; /* ... and at most this long after it */
};

struct msg_result {
    enum msg_kind kind;
    struct reading reading;
    char device[TOPIC_LEVEL_MAX + 1];
    bool online;
    enum reject_class cls;
    const char *reason; /* static string */
};

/*
 * Classify one message. topic[0..topic_len) and payload[0..len) are raw bytes
 * (payload may be NULL when len is 0); retained is the MQTT retain flag as
 * delivered; now_us is the receive time, used when the payload has no ts. A
 * payload ts outside bounds' window around now_us, like a value over
 * PAYLOAD_VALUE_MAX, is a REJECT_PAYLOAD.
 */
void msg_classify(const char *topic, size_t topic_len, const void *payload, size_t len, bool retained, int64_t now_us,
                  const struct msg_bounds *bounds, struct msg_result *out);

#endif
