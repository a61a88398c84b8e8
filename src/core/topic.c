/* topic.c - topic parsing, MQTT filter matching and filter-to-regex (see topic.h). */
#include "topic.h"

#include <string.h>

static bool topic_char_ok(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '+' && c != '#';
}

int topic_parse(const char *topic, size_t len, enum topic_kind *kind, struct topic_parts *out)
{
    if (len == 0)
        return TOPIC_ERR_EMPTY;
    if (len > TOPIC_MAX)
        return TOPIC_ERR_TOO_LONG;
    char *levels[3] = {out->device, out->metric, out->sensor};
    size_t lens[3] = {0, 0, 0};
    int level = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)topic[i];
        if (c == '/') {
            if (lens[level] == 0)
                return TOPIC_ERR_EMPTY_LEVEL;
            if (++level > 2)
                return TOPIC_ERR_LEVELS;
            continue;
        }
        if (!topic_char_ok(c))
            return TOPIC_ERR_CHAR;
        if (lens[level] >= TOPIC_LEVEL_MAX)
            return TOPIC_ERR_TOO_LONG;
        levels[level][lens[level]++] = (char)c;
    }
    if (lens[level] == 0)
        return TOPIC_ERR_EMPTY_LEVEL;
    for (int i = 0; i < 3; i++)
        levels[i][lens[i]] = '\0';
    if (level == 1 && strcmp(out->metric, "status") == 0) {
        *kind = TOPIC_STATUS;
        return TOPIC_OK;
    }
    if (level != 2)
        return TOPIC_ERR_LEVELS;
    *kind = TOPIC_READING;
    return TOPIC_OK;
}

const char *topic_strerror(int err)
{
    switch (err) {
    case TOPIC_OK:
        return "ok";
    case TOPIC_ERR_EMPTY:
        return "empty topic";
    case TOPIC_ERR_TOO_LONG:
        return "topic level longer than 64 bytes";
    case TOPIC_ERR_LEVELS:
        return "topic must be <device>/<metric>/<sensor>";
    case TOPIC_ERR_EMPTY_LEVEL:
        return "topic has an empty level";
    case TOPIC_ERR_CHAR:
        return "topic has a character outside printable ASCII";
    }
    return "bad topic";
}

bool topic_filter_valid(const char *filter)
{
    size_t len = strlen(filter);
    if (len == 0 || len > 4 * TOPIC_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)filter[i];
        bool level_start = i == 0 || filter[i - 1] == '/';
        bool level_end = i + 1 == len || filter[i + 1] == '/';
        if (c == '+' && !(level_start && level_end))
            return false;
        if (c == '#' && !(level_start && i + 1 == len))
            return false;
        if (c != '/' && c != '+' && c != '#' && !topic_char_ok(c))
            return false;
    }
    return true;
}

bool topic_matches(const char *filter, const char *topic)
{
    const char *f = filter, *t = topic;
    for (;;) {
        if (*f == '#')
            return true;
        if (*f == '+') {
            while (*t && *t != '/')
                t++;
            f++;
        } else {
            while (*f && *f != '/' && *f == *t) {
                f++;
                t++;
            }
            if ((*f && *f != '/') || (*t && *t != '/'))
                return false;
        }
        if (!*f && !*t)
            return true;
        if (*f != '/' || *t != '/') {
            /* "a/#" also matches "a" (MQTT: '#' includes the parent level) */
            return *t == '\0' && f[0] == '/' && f[1] == '#';
        }
        f++;
        t++;
    }
}

int topic_filter_to_regex(const char *filter, char *out, size_t outlen)
{
    if (!topic_filter_valid(filter))
        return -1;
    size_t n = 0;
#define PUT(s)                                                                                                         \
    do {                                                                                                               \
        const char *s_ = (s);                                                                                          \
        size_t l_ = strlen(s_);                                                                                        \
        if (n + l_ + 1 > outlen)                                                                                       \
            return -1;                                                                                                 \
        memcpy(out + n, s_, l_);                                                                                       \
        n += l_;                                                                                                       \
    } while (0)
    PUT("^");
    for (const char *p = filter; *p; p++) {
        if (*p == '+')
            PUT("[^/]*");
        else if (*p == '#') {
            /* "a/#" matches "a" and everything below it */
            if (n >= 1 && out[n - 1] == '/') {
                n--;
                PUT("(/.*)?");
            } else
                PUT(".*");
        } else if (strchr(".^$*+?()[]{}|\\", *p)) {
            char esc[3] = {'\\', *p, '\0'};
            PUT(esc);
        } else {
            char c[2] = {*p, '\0'};
            PUT(c);
        }
    }
    PUT("$");
#undef PUT
    out[n] = '\0';
    return 0;
}
