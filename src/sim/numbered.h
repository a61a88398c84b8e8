/*
 * numbered.h - the load generator's numbered readings (`sensorpipe sim --numbered`).
 *
 * For delivery checks instead of plausible values: the k-th reading of a run
 * (k = 0, 1, ...) carries the number n = start + k as its value, on the topic
 * <device>/seq/n, payload the ASCII integer ("1", "2", ...), which the ingest
 * stores exactly (every n up to SIM_NUMBER_MAX is an exact double). Numbers are
 * drawn when a reading is handed to the MQTT client, from the run's single
 * counter shared by all devices, so a run of --count K sends exactly the
 * numbers start .. start + K - 1, each once; what is missing or doubled at the
 * far end of the pipeline is what the pipeline lost or duplicated.
 */
#ifndef SP_SIM_NUMBERED_H
#define SP_SIM_NUMBERED_H

#include "firmware/core/node.h"

#include <stdint.h>

#define SIM_NUMBER_MAX 999999999999999ULL /* 15 digits: fits NODE_PAYLOAD_MAX, exact as a double */
#define SIM_NUMBERED_METRIC "seq"
#define SIM_NUMBERED_SENSOR "n"

/*
 * Fill out with reading number n of device: topic <device>/seq/n, payload the
 * decimal n, QoS qos, not retained. Returns 0, or -1 when n is 0 or above
 * SIM_NUMBER_MAX or the topic does not fit (out is then unspecified).
 */
int sim_numbered_msg(struct node_msg *out, const char *device, uint64_t n, uint8_t qos);

/*
 * Number of the reading with 0-based index k in a run starting at start, or 0
 * when it would pass SIM_NUMBER_MAX.
 */
uint64_t sim_numbered_at(uint64_t start, uint64_t k);

#endif
