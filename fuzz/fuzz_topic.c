/* fuzz_topic.c - libFuzzer target: topic parsing, filter validation, matching and filter-to-regex. */
/* fuzz-max-len: 1024 (topics past TOPIC_MAX, 194 bytes) */
#include "core/topic.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum topic_kind kind;
    struct topic_parts parts;
    int rc = topic_parse((const char *)data, size, &kind, &parts);
    if (rc == TOPIC_OK && (!parts.device[0] || strlen(parts.device) > TOPIC_LEVEL_MAX))
        abort();
    /* the input is "<filter>\n<topic>" */
    char buf[1024];
    if (size >= sizeof buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *topic = memchr(buf, '\n', size);
    if (topic)
        *topic++ = '\0';
    if (topic_filter_valid(buf)) {
        char re[4096];
        if (topic_filter_to_regex(buf, re, sizeof re) != 0)
            abort(); /* a valid filter always converts given room */
        if (topic)
            (void)topic_matches(buf, topic);
    }
    return 0;
}
