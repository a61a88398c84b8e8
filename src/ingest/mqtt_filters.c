/* mqtt_filters.c - the --subscribe list: split, checked (see mqtt_filters.h). */
#include "mqtt_filters.h"

#include "core/topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mqtt_filter_valid(const char *filter)
{
    if (!strncmp(filter, "$share/", 7)) {
        const char *group = filter + 7;
        const char *slash = strchr(group, '/');
        if (!slash || slash == group)
            return false;
        for (const char *p = group; p < slash; p++)
            if (*p == '+' || *p == '#')
                return false;
        return topic_filter_valid(slash + 1);
    }
    return topic_filter_valid(filter);
}

void mqtt_filters_free(char **filters, int n)
{
    for (int i = 0; i < n; i++)
        free(filters[i]);
    free(filters);
}

int mqtt_filters_parse(const char *list, char ***out, int *n, char *err, size_t errlen)
{
    char **filters = calloc(MQTT_FILTERS_MAX, sizeof *filters);
    int count = 0;
    if (!filters) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a == b) {
            snprintf(err, errlen, "--subscribe: empty filter in '%.200s'", list);
            goto fail;
        }
        if (count == MQTT_FILTERS_MAX) {
            snprintf(err, errlen, "--subscribe: more than %d filters", MQTT_FILTERS_MAX);
            goto fail;
        }
        filters[count] = strndup(a, (size_t)(b - a));
        if (!filters[count]) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (!mqtt_filter_valid(filters[count])) {
            snprintf(err, errlen, "--subscribe: '%.200s' is not a valid MQTT filter", filters[count]);
            count++;
            goto fail;
        }
        count++;
        if (!*end)
            break;
        p = end + 1;
    }
    *out = filters;
    *n = count;
    return 0;
fail:
    mqtt_filters_free(filters, count);
    return -1;
}
