/* payload.c - reading payload parser: ASCII number or JSON object (see payload.h). */
#include "payload.h"

#include "timeutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Strict decimal number: [+-]digits[.digits][e[+-]digits]; no hex, inf or nan. */
static int parse_ascii_number(const char *s, size_t len, double *out, const char **reason)
{
    char tmp[64];
    size_t i = 0;
    if (len >= sizeof tmp) {
        *reason = "number too long";
        return -1;
    }
    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0) {
        *reason = "not a number";
        return -1;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, ed++;
        if (ed == 0) {
            *reason = "not a number";
            return -1;
        }
    }
    if (i != len) {
        *reason = "not a number";
        return -1;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    errno = 0;
    double v = strtod(tmp, NULL);
    if (!isfinite(v)) {
        *reason = "value is not finite";
        return -1;
    }
    *out = v;
    return 0;
}

/* Within +-PAYLOAD_VALUE_MAX (so finite too). 0, or -1 with *reason. */
static int check_value(double v, const char **reason)
{
    if (!isfinite(v)) {
        *reason = "value is not finite";
        return -1;
    }
    if (!(fabs(v) <= PAYLOAD_VALUE_MAX)) {
        *reason = "value out of range: more than 1e15 in magnitude";
        return -1;
    }
    return 0;
}

static int parse_json(const char *buf, size_t len, struct payload_reading *out, const char **reason)
{
    cJSON *root = cJSON_ParseWithLength(buf, len);
    int rc = -1;
    if (!root) {
        *reason = "invalid JSON";
        return -1;
    }
    if (!cJSON_IsObject(root)) {
        *reason = "JSON payload must be an object";
        goto done;
    }
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(root, "value");
    if (!cJSON_IsNumber(value)) {
        *reason = "JSON payload needs a numeric \"value\"";
        goto done;
    }
    if (check_value(value->valuedouble, reason) != 0)
        goto done;
    out->value = value->valuedouble;
    out->has_ts = false;
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "ts");
    if (ts && !cJSON_IsNull(ts)) {
        if (cJSON_IsString(ts)) {
            if (time_parse_rfc3339(ts->valuestring, strlen(ts->valuestring), &out->ts_us) != 0) {
                *reason = "\"ts\" is not RFC 3339";
                goto done;
            }
        } else if (cJSON_IsNumber(ts)) {
            double secs = ts->valuedouble;
            /* 0001-01-01 .. 9999-12-31 */
            if (!isfinite(secs) || secs < -62135596800.0 || secs > 253402300799.0) {
                *reason = "\"ts\" epoch seconds out of range";
                goto done;
            }
            out->ts_us = (int64_t)llround(secs * 1e6);
        } else {
            *reason = "\"ts\" must be RFC 3339 text or epoch seconds";
            goto done;
        }
        out->has_ts = true;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

int payload_parse(const char *buf, size_t len, struct payload_reading *out, const char **reason)
{
    if (len > PAYLOAD_MAX) {
        *reason = "payload too large";
        return -1;
    }
    if (memchr(buf, '\0', len)) {
        *reason = "payload contains a NUL byte";
        return -1;
    }
    while (len && is_space(buf[0]))
        buf++, len--;
    while (len && is_space(buf[len - 1]))
        len--;
    if (len == 0) {
        *reason = "empty payload";
        return -1;
    }
    if (buf[0] == '{')
        return parse_json(buf, len, out, reason);
    out->has_ts = false;
    if (parse_ascii_number(buf, len, &out->value, reason) != 0)
        return -1;
    return check_value(out->value, reason);
}

int payload_check_ts(int64_t ts_us, int64_t now_us, int64_t past_us, int64_t future_us, const char **reason)
{
    /* compare differences, not sums: now_us - past_us could wrap for absurd windows */
    if (ts_us < now_us && (uint64_t)now_us - (uint64_t)ts_us > (uint64_t)past_us) {
        *reason = "\"ts\" too far in the past (more than --ts-past-days before the receive time)";
        return -1;
    }
    if (ts_us > now_us && (uint64_t)ts_us - (uint64_t)now_us > (uint64_t)future_us) {
        *reason = "\"ts\" too far in the future (more than --ts-future-minutes after the receive time)";
        return -1;
    }
    return 0;
}

int payload_parse_status(const char *buf, size_t len)
{
    while (len && is_space(buf[len - 1]))
        len--;
    if (len == 6 && !memcmp(buf, "online", 6))
        return 1;
    if (len == 7 && !memcmp(buf, "offline", 7))
        return 0;
    return -1;
}
