/* numbered.c - numbered readings for delivery checks (see numbered.h). */
#include "numbered.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

uint64_t sim_numbered_at(uint64_t start, uint64_t k)
{
    if (start == 0 || start > SIM_NUMBER_MAX || k > SIM_NUMBER_MAX - start)
        return 0;
    return start + k;
}

int sim_numbered_msg(struct node_msg *out, const char *device, uint64_t n, uint8_t qos)
{
    if (n == 0 || n > SIM_NUMBER_MAX)
        return -1;
    int tl = snprintf(out->topic, sizeof out->topic, "%s/" SIM_NUMBERED_METRIC "/" SIM_NUMBERED_SENSOR, device);
    if (tl < 0 || (size_t)tl >= sizeof out->topic)
        return -1;
    int pl = snprintf(out->payload, sizeof out->payload, "%" PRIu64, n);
    if (pl < 0 || (size_t)pl >= sizeof out->payload)
        return -1;
    out->len = (size_t)pl;
    out->qos = qos;
    out->retain = false;
    return 0;
}
