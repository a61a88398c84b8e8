/*
 * mqtt_filters.h - the ingest's --subscribe list: comma-separated MQTT topic
 * filters, each checked before the client sends it, shared subscriptions
 * ($share/<group>/<filter>) included.
 */
#ifndef SP_INGEST_MQTT_FILTERS_H
#define SP_INGEST_MQTT_FILTERS_H

#include <stdbool.h>
#include <stddef.h>

#define MQTT_FILTERS_MAX 32

/*
 * Split a comma-separated list of subscription filters ("+/+/+, +/status",
 * "$share/<group>/<filter>"); spaces around items are ignored. On success
 * *out is a heap array of heap strings owned by the caller (mqtt_filters_free).
 * Returns 0, or -1 with a reason in err.
 */
int mqtt_filters_parse(const char *list, char ***out, int *n, char *err, size_t errlen);
void mqtt_filters_free(char **filters, int n);
/* A valid MQTT filter, or $share/<group>/<valid filter>. */
bool mqtt_filter_valid(const char *filter);

#endif
