/* message.c - classify one MQTT message: reading, presence, reject or replayed retained reading (see message.h). */
#include "message.h"

#include "core/payload.h"
#include "core/topic.h"

#include <stdio.h>
#include <string.h>

void msg_classify(const char *topic, size_t topic_len, const void *payload, size_t len, bool retained, int64_t now_us,
                  const struct msg_bounds *bounds, struct msg_result *out)
{
    memset(out, 0, sizeof *out);
    const char *body = payload ? payload : "";
    struct topic_parts parts;
    enum topic_kind kind;
    int rc = topic_parse(topic, topic_len, &kind, &parts);
    if (rc != TOPIC_OK) {
        out->kind = MSG_REJECT;
        out->cls = REJECT_TOPIC;
        out->reason = topic_strerror(rc);
        return;
    }
    if (kind == TOPIC_STATUS) {
        int online = len <= 64 ? payload_parse_status(body, len) : -1;
        if (online < 0) {
            out->kind = MSG_REJECT;
            out->cls = REJECT_STATUS;
            out->reason = "status payload must be \"online\" or \"offline\"";
            return;
        }
        out->kind = MSG_PRESENCE;
        snprintf(out->device, sizeof out->device, "%s", parts.device);
        out->online = online == 1;
        return;
    }
    struct payload_reading pr;
    const char *reason = "bad payload";
    if (payload_parse(body, len, &pr, &reason) != 0 ||
        (pr.has_ts && payload_check_ts(pr.ts_us, now_us, bounds->ts_past_us, bounds->ts_future_us, &reason) != 0)) {
        out->kind = MSG_REJECT;
        out->cls = REJECT_PAYLOAD;
        out->reason = reason;
        return;
    }
    out->kind = retained ? MSG_RETAINED : MSG_READING;
    out->reading.ts_us = pr.has_ts ? pr.ts_us : now_us;
    out->reading.value = pr.value;
    /* topic_parse accepted it: at most TOPIC_MAX printable ASCII bytes */
    memcpy(out->reading.topic, topic, topic_len);
    out->reading.topic[topic_len] = '\0';
}
