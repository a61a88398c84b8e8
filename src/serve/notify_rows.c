/* notify_rows.c - parse NOTIFY new_reading payloads, with or without their rows (see notify_rows.h). */
#include "notify_rows.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#define ID_MAX 9007199254740992.0 /* 2^53: every integer up to it is exact in a double */

/* An integer within [lo, hi] exactly, from a JSON number. */
static int int_of(const cJSON *j, double lo, double hi, int64_t *out)
{
    if (!cJSON_IsNumber(j))
        return -1;
    double d = j->valuedouble;
    if (!(d >= lo && d <= hi) || d != floor(d))
        return -1;
    *out = (int64_t)d;
    return 0;
}

static int row_of(const cJSON *a, struct notify_row *r)
{
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 4)
        return -1;
    const cJSON *id = a->child, *ts = id->next, *topic = ts->next, *value = topic->next;
    if (int_of(id, 1, ID_MAX, &r->id) || int_of(ts, -ID_MAX, ID_MAX, &r->ts_us) || !cJSON_IsString(topic) ||
        !topic->valuestring || !cJSON_IsNumber(value) || !isfinite(value->valuedouble))
        return -1;
    r->topic = topic->valuestring;
    r->topic_len = strlen(topic->valuestring);
    r->value = value->valuedouble;
    return 0;
}

int notify_rows_parse(const char *payload, size_t len, struct notify_rows *out, const char **why)
{
    memset(out, 0, sizeof *out);
    cJSON *doc = cJSON_ParseWithLength(payload, len);
    out->doc = doc;
    if (!cJSON_IsObject(doc)) {
        *why = "not a JSON object";
        return -1;
    }
    if (int_of(cJSON_GetObjectItemCaseSensitive(doc, "first"), 1, ID_MAX, &out->first) ||
        int_of(cJSON_GetObjectItemCaseSensitive(doc, "last"), 1, ID_MAX, &out->last) ||
        int_of(cJSON_GetObjectItemCaseSensitive(doc, "count"), 1, ID_MAX, &out->count) || out->first > out->last) {
        *why = "no valid first, last and count";
        return -1;
    }
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, "rows");
    if (!rows)
        return 0;
    if (!cJSON_IsArray(rows) || cJSON_GetArraySize(rows) != out->count) {
        *why = "rows is not an array of count rows";
        return -1;
    }
    if (out->count > NOTIFY_ROWS_MAX)
        return 0; /* more than we keep here: fetch them */
    int64_t prev = 0;
    size_t n = 0;
    for (const cJSON *a = rows->child; a; a = a->next, n++) {
        struct notify_row *r = &out->row[n];
        if (row_of(a, r) || r->id <= prev) {
            *why = "a row is not [id, ts_us, topic, value] in increasing id order";
            return -1;
        }
        prev = r->id;
    }
    if (out->row[0].id != out->first || out->row[n - 1].id != out->last) {
        *why = "the rows' ids do not span first..last";
        return -1;
    }
    out->n = n;
    return 1;
}

void notify_rows_free(struct notify_rows *nr)
{
    cJSON_Delete(nr->doc);
    nr->doc = NULL;
    nr->n = 0;
}
