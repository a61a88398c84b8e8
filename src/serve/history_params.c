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

/* Printable, bounded echo of a user value for error messages. */
static const char *hp_echo(const char *v, char *buf, size_t len)
{
    size_t i = 0;
    for (; v[i] && i + 1 < len; i++)
        buf[i] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
    buf[i] = '\0';
    if (v[i] && len > 4)
        memcpy(buf + len - 4, "...", 4);
    return buf;
}

/*
 * The index of frag's name in names (NULL-terminated), its value in *value; -1 with a
 * reason for an unknown or repeated name. seen is parallel to names.
 */
static int hp_arg(const char *frag, const char *const *names, bool *seen, const char **value, char *err, size_t errlen)
{
    char echo[40];
    const char *eq = strchr(frag, '=');
    size_t n = eq ? (size_t)(eq - frag) : strlen(frag);
    *value = eq ? eq + 1 : "";
    for (int i = 0; names[i]; i++) {
        if (strlen(names[i]) != n || memcmp(names[i], frag, n) != 0)
            continue;
        if (seen[i]) {
            snprintf(err, errlen, "parameter '%s' given more than once", names[i]);
            return -1;
        }
        seen[i] = true;
        return i;
    }
    char name[33];
    size_t k = n < sizeof name - 1 ? n : sizeof name - 1;
    memcpy(name, frag, k);
    name[k] = '\0';
    char list[96] = "";
    for (int i = 0; names[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
    snprintf(err, errlen, "unknown parameter '%s' (known: %s)", hp_echo(name, echo, sizeof echo), list);
    return -1;
}

static int hp_device(const char *v, char *out, char *err, size_t errlen)
{
    char echo[72];
    if (!hp_device_valid(v)) {
        snprintf(err, errlen,
                 "device must be a device name (1 to %d printable ASCII characters, no '/', '+' or '#'), got '%s'",
                 TOPIC_LEVEL_MAX, hp_echo(v, echo, sizeof echo));
        return -1;
    }
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

static int hp_limit(const char *v, long max, long *out, char *err, size_t errlen)
{
    char echo[72];
    long n = 0;
    size_t len = strlen(v);
    bool ok = len > 0 && len <= 6 && strspn(v, "0123456789") == len;
    if (ok) {
        for (size_t i = 0; i < len; i++)
            n = n * 10 + (v[i] - '0');
        ok = n >= 1 && n <= max;
    }
    if (!ok) {
        snprintf(err, errlen, "limit must be an integer between 1 and %ld, got '%s'", max,
                 hp_echo(v, echo, sizeof echo));
        return -1;
    }
    *out = n;
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
        int k = hp_arg(args[i], names, seen, &v, err, errlen);
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
        int k = hp_arg(args[i], names, seen, &v, err, errlen);
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
                         names[k], hp_echo(v, echo, sizeof echo));
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
