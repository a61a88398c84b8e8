/*
 * dynsec_reply.h - reading the answers of mosquitto's dynamic-security plugin.
 *
 * A batch of commands goes to $CONTROL/dynamic-security/v1 with correlationData
 * "<token>.<i>" on its i-th command; the plugin answers on .../v1/response with
 * {"responses":[{"command":..., "error":..., "data":{...}, "correlationData":...}, ...]}.
 * Every admin connection subscribed there sees every answer, so an answer is ours only
 * when its correlation data says so. Pure: no I/O (fuzz/fuzz_dynsec.c).
 */
#ifndef SP_DEVICE_DYNSEC_REPLY_H
#define SP_DEVICE_DYNSEC_REPLY_H

#include <stddef.h>

struct cJSON;

#define DYNSEC_TOKEN_MAX 48
#define DYNSEC_ERROR_MAX 128

struct dynsec_result {
    char error[DYNSEC_ERROR_MAX]; /* "" = the command succeeded; else the plugin's reason (shortened) */
    struct cJSON *data;           /* the answer's "data", owned here (NULL when none) */
};

/*
 * Add "correlationData": "<token>.<i>" to each command of the array cmds (token at most
 * DYNSEC_TOKEN_MAX bytes). Returns 0, or -1 when out of memory.
 */
int dynsec_correlate(struct cJSON *cmds, const char *token);

/*
 * Read one message of the response topic (msg[0..len), not NUL-terminated). When it
 * answers every command of the batch `token` of n commands, fill results[0..n) and
 * return 1 (free them with dynsec_results_free); return 0 when it is not (only) ours -
 * another admin's answer, or not JSON at all; results are then untouched.
 */
int dynsec_reply_parse(const char *msg, size_t len, const char *token, size_t n, struct dynsec_result *results);
void dynsec_results_free(struct dynsec_result *results, size_t n);

#endif
