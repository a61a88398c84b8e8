/*
 * topic.h - the MQTT topic is the schema: <device>/<metric>/<sensor>.
 *
 * A reading topic has exactly three non-empty levels of printable ASCII
 * (0x21..0x7e) without the MQTT wildcards '+' and '#', each at most
 * TOPIC_LEVEL_MAX bytes. Presence topics are <device>/status.
 */
#ifndef SP_TOPIC_H
#define SP_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#define TOPIC_LEVEL_MAX 64
#define TOPIC_MAX (3 * TOPIC_LEVEL_MAX + 2)

struct topic_parts {
    char device[TOPIC_LEVEL_MAX + 1];
    char metric[TOPIC_LEVEL_MAX + 1];
    char sensor[TOPIC_LEVEL_MAX + 1];
};

enum topic_kind { TOPIC_READING = 0, TOPIC_STATUS = 1 };

enum topic_error {
    TOPIC_OK = 0,
    TOPIC_ERR_EMPTY = -1,
    TOPIC_ERR_TOO_LONG = -2,
    TOPIC_ERR_LEVELS = -3, /* not three levels (and not <device>/status) */
    TOPIC_ERR_EMPTY_LEVEL = -4,
    TOPIC_ERR_CHAR = -5, /* control, space, non-ASCII or wildcard */
};

/*
 * Classify and split topic[0..len) (need not be NUL-terminated). Returns
 * TOPIC_OK and sets *kind; for TOPIC_STATUS only out->device is set.
 */
int topic_parse(const char *topic, size_t len, enum topic_kind *kind, struct topic_parts *out);
/* Short reason for a topic_error ("topic must have three levels ..."). */
const char *topic_strerror(int err);

/* True when filter is a valid MQTT subscription filter ('+' whole level, '#' last). */
bool topic_filter_valid(const char *filter);
/* True when topic matches the MQTT filter (which must be valid). */
bool topic_matches(const char *filter, const char *topic);
/*
 * Write an anchored POSIX regular expression equivalent to the MQTT filter, for
 * "topic ~ $1" in SQL. Returns 0, or -1 when the filter is invalid or out too small.
 */
int topic_filter_to_regex(const char *filter, char *out, size_t outlen);

#endif
