/*
 * fuzz_dynsec.c - libFuzzer target: the dynamic-security plugin's answers (src/device/dynsec_reply.c).
 *
 * Input: the first byte picks how many commands the batch had (1 to 8); the rest is a message of
 * the response topic. dynsec_reply_parse must either take it as the whole answer to batch "tok-7"
 * (every result's error a NUL-terminated string, data an object or NULL) or leave the results as
 * they were. A well-formed answer built from the same bytes must be taken.
 */
/* fuzz-max-len: 8192 (an answer of a listClients of many accounts) */
#include "device/dynsec_reply.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = 1 + data[0] % 8;
    struct dynsec_result r[8];
    memset(r, 0x5a, sizeof r);
    int rc = dynsec_reply_parse((const char *)data + 1, size - 1, "tok-7", n, r);
    if (rc == 1) {
        for (size_t i = 0; i < n; i++)
            if (!memchr(r[i].error, '\0', sizeof r[i].error) || (r[i].data && !cJSON_IsObject(r[i].data)))
                abort();
        dynsec_results_free(r, n);
    } else if (rc != 0 || ((unsigned char *)r)[0] != 0x5a)
        abort();

    /* the bytes as each command's error: a valid answer is always taken, errors kept (shortened) */
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "responses");
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        char corr[32];
        snprintf(corr, sizeof corr, "tok-7.%zu", n - 1 - i); /* answers in any order */
        cJSON_AddStringToObject(o, "correlationData", corr);
        cJSON_AddStringToObject(o, "error", text);
        cJSON_AddItemToArray(arr, o);
    }
    char *msg = cJSON_PrintUnformatted(root);
    if (msg) {
        if (dynsec_reply_parse(msg, strlen(msg), "tok-7", n, r) != 1)
            abort();
        for (size_t i = 0; i < n; i++)
            if (strncmp(r[i].error, *text ? text : "error", strlen(r[i].error)) != 0)
                abort();
        dynsec_results_free(r, n);
        cJSON_free(msg);
    }
    free(text);
    cJSON_Delete(root);
    return 0;
}
