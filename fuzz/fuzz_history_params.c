/*
 * fuzz_history_params.c - libFuzzer target: the /api/rejects and /api/presence query parsers
 * (src/serve/history_params.c).
 *
 * Input: a query string split on '&' into the fragments libwebsockets would hand over (already
 * percent-decoded, so any byte but NUL). Whatever is accepted must be what http_history.c relies
 * on: a device that is a valid device name (or "" for rejects), limits in range, from < to;
 * refusals carry a reason that fits the error buffer, however small.
 */
/* fuzz-max-len: 4096 (query strings past TOPIC_LEVEL_MAX and every numeric bound) */
#include "fuzz_args.h"
#include "serve/history_params.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 32
#define NOW_US 1764237600000000LL /* 2025-11-27T10:00:00Z */

static void check_err(const char *err, size_t len)
{
    if (!len)
        return;
    if (!memchr(err, '\0', len) || (len > 1 && !err[0]))
        abort(); /* a refusal always has a reason, NUL-terminated inside the buffer */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    char buf[4097];
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    const char *args[MAX_ARGS];
    size_t n = fuzz_split_args(buf, args, MAX_ARGS);

    char err[384];
    struct hp_rejects rj;
    if (hp_parse_rejects(args, n, &rj, err, sizeof err) == 0) {
        if (rj.limit < 1 || rj.limit > HP_REJECTS_MAX || (rj.device[0] && !hp_device_valid(rj.device)))
            abort();
    } else
        check_err(err, sizeof err);
    struct hp_presence pr;
    if (hp_parse_presence(args, n, NOW_US, &pr, err, sizeof err) == 0) {
        if (pr.limit < 1 || pr.limit > HP_PRESENCE_MAX || !hp_device_valid(pr.device) || pr.from_us >= pr.to_us)
            abort();
    } else
        check_err(err, sizeof err);

    /* the same with a tiny error buffer: never written past */
    size_t small = (size_t)(data[0] % 8);
    char *tiny = malloc(small ? small : 1);
    if (hp_parse_rejects(args, n, &rj, tiny, small) != 0)
        check_err(tiny, small);
    if (hp_parse_presence(args, n, NOW_US, &pr, tiny, small) != 0)
        check_err(tiny, small);
    free(tiny);
    return 0;
}
