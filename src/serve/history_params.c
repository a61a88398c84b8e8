/* history_params.c - validation of the /api/rejects and /api/presence query strings (see history_params.h). */
#include "history_params.h"

#include "query_params.h"

#include <stdio.h>
#include <string.h>

bool hp_device_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TOPIC_LEVEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '/' || s[i] == '+' || s[i] == '#')
            return false;
    return true;
}

static int hp_device(const char *v, char *out, char *err, size_t errlen)
{
    char echo[72];
    if (!hp_device_valid(v)) {
        snprintf(err, errlen,
                 "device must be a device name (1 to %d printable ASCII characters, no '/', '+' or '#'), got '%s'",
                 TOPIC_LEVEL_MAX, qp_echo(v, echo, sizeof echo));
        return -1;
    }
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

static int hp_limit(const char *v, long max, long *out, char *err, size_t errlen)
{
    char echo[72];
    long long n;
    if (qp_parse_uint(v, max, &n) || n < 1) {
        snprintf(err, errlen, "limit must be an integer between 1 and %ld, got '%s'", max,
                 qp_echo(v, echo, sizeof echo));
        return -1;
    }
    *out = (long)n;
    return 0;
}

int hp_parse_rejects(const char *const *args, size_t nargs, struct hp_rejects *out, char *err, size_t errlen)
{
    static const char *const names[] = {"device", "limit", NULL};
    bool seen[2] = {false, false};
    memset(out, 0, sizeof *out);
    out->limit = HP_REJECTS_DEFAULT;
    for (size_t i = 0; i < nargs; i++) {
        const char *v;
        if (!*args[i])
            continue;
        int k = qp_arg(args[i], names, seen, &v, err, errlen);
        if (k < 0)
            return -1;
        if (!*v)
            continue;
        if (k == 0 ? hp_device(v, out->device, err, errlen) : hp_limit(v, HP_REJECTS_MAX, &out->limit, err, errlen))
            return -1;
    }
    return 0;
}

int hp_parse_presence(const char *const *args, size_t nargs, int64_t now_us, struct hp_presence *out, char *err,
                      size_t errlen)
{
    static const char *const names[] = {"device", "from", "to", "limit", NULL};
    bool seen[4] = {false, false, false, false};
    bool has_from = false, has_to = false;
    char echo[72];
    memset(out, 0, sizeof *out);
    out->limit = HP_PRESENCE_DEFAULT;
    for (size_t i = 0; i < nargs; i++) {
        const char *v;
        if (!*args[i])
            continue;
        int k = qp_arg(args[i], names, seen, &v, err, errlen);
        if (k < 0)
            return -1;
        if (!*v)
            continue;
        switch (k) {
        case 0:
            if (hp_device(v, out->device, err, errlen))
                return -1;
            break;
        case 1:
        case 2:
            if (qp_parse_time(v, k == 1 ? &out->from_us : &out->to_us)) {
                snprintf(err, errlen, "%s must be an RFC 3339 time (2026-11-27T10:00:00Z) or epoch seconds, got '%s'",
                         names[k], qp_echo(v, echo, sizeof echo));
                return -1;
            }
            *(k == 1 ? &has_from : &has_to) = true;
            break;
        case 3:
            if (hp_limit(v, HP_PRESENCE_MAX, &out->limit, err, errlen))
                return -1;
            break;
        }
    }
    if (!out->device[0]) {
        snprintf(err, errlen, "device is required");
        return -1;
    }
    if (!has_to)
        out->to_us = now_us;
    if (!has_from)
        out->from_us = out->to_us - HP_RANGE_DEFAULT_US;
    if (out->from_us >= out->to_us) {
        snprintf(err, errlen, "from must be earlier than to");
        return -1;
    }
    return 0;
}
