/* dynsec_reply.c - the dynamic-security plugin's answers, matched by correlation data (see dynsec_reply.h). */
#include "dynsec_reply.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dynsec_correlate(cJSON *cmds, const char *token)
{
    int i = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, cmds)
    {
        char corr[DYNSEC_TOKEN_MAX + 16];
        snprintf(corr, sizeof corr, "%.*s.%d", DYNSEC_TOKEN_MAX, token, i++);
        cJSON_DeleteItemFromObjectCaseSensitive(c, "correlationData");
        if (!cJSON_AddStringToObject(c, "correlationData", corr))
            return -1;
    }
    return 0;
}

/* The index i of "<token>.<i>" when corr is that, with i < n; else -1. */
static long reply_index(const char *corr, const char *token, size_t n)
{
    size_t tl = strlen(token);
    if (strncmp(corr, token, tl) != 0 || corr[tl] != '.')
        return -1;
    const char *d = corr + tl + 1;
    if (!*d || strspn(d, "0123456789") != strlen(d) || strlen(d) > 6 || (d[0] == '0' && d[1]))
        return -1;
    long i = strtol(d, NULL, 10);
    return (size_t)i < n ? i : -1;
}

int dynsec_reply_parse(const char *msg, size_t len, const char *token, size_t n, struct dynsec_result *results)
{
    if (n == 0 || n > 4096)
        return 0;
    cJSON *root = cJSON_ParseWithLength(msg, len);
    const cJSON *responses = cJSON_GetObjectItemCaseSensitive(root, "responses");
    unsigned char *seen = calloc(n, 1);
    struct dynsec_result *tmp = calloc(n, sizeof *tmp);
    size_t found = 0;
    int ours = 0;
    if (!seen || !tmp || !cJSON_IsArray(responses))
        goto out;
    const cJSON *r;
    cJSON_ArrayForEach(r, responses)
    {
        const cJSON *corr = cJSON_GetObjectItemCaseSensitive(r, "correlationData");
        long i = cJSON_IsString(corr) ? reply_index(corr->valuestring, token, n) : -1;
        if (i < 0 || seen[i])
            goto out; /* not ours, or a repeat: not an answer to this batch */
        seen[i] = 1;
        found++;
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
        if (e && !cJSON_IsString(e))
            goto out;
        if (e)
            snprintf(tmp[i].error, sizeof tmp[i].error, "%s", *e->valuestring ? e->valuestring : "error");
        cJSON *data = cJSON_DetachItemFromObjectCaseSensitive((cJSON *)r, "data");
        if (data && !cJSON_IsObject(data)) {
            cJSON_Delete(data);
            goto out;
        }
        tmp[i].data = data;
    }
    if (found != n)
        goto out;
    memcpy(results, tmp, n * sizeof *tmp);
    ours = 1;
out:
    if (!ours && tmp)
        dynsec_results_free(tmp, n);
    free(tmp);
    free(seen);
    cJSON_Delete(root);
    return ours;
}

void dynsec_results_free(struct dynsec_result *results, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cJSON_Delete(results[i].data);
        results[i].data = NULL;
    }
}
