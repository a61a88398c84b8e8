/*
 * fuzz_payload.c - libFuzzer target: reading payloads (ASCII number / JSON), the value bound, the ts
 * window around a receive time taken from the input's last 8 bytes, and presence words.
 */
/* fuzz-max-len: 4096 (payloads past PAYLOAD_MAX, 1024 bytes) */
#include "core/payload.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct payload_reading r;
    const char *reason = NULL;
    if (payload_parse((const char *)data, size, &r, &reason) == 0) {
        if (!isfinite(r.value) || r.value > PAYLOAD_VALUE_MAX || r.value < -PAYLOAD_VALUE_MAX)
            abort(); /* the parser promised a finite value within the bound */
        if (r.has_ts) {
            /* the window: any receive time, the ingest's default widths */
            int64_t now = 1795773600000000LL, past = 30LL * 86400 * 1000000, future = 600LL * 1000000;
            if (size >= 8)
                memcpy(&now, data + size - 8, 8);
            reason = NULL;
            int rc = payload_check_ts(r.ts_us, now, past, future, &reason);
            /* in the window exactly when accepted; computed here without the parser's care for overflow */
            __int128 d = (__int128)r.ts_us - now;
            if ((rc == 0) != (d >= -past && d <= future) || (rc != 0 && !reason))
                abort();
        }
    } else if (!reason)
        abort(); /* every refusal has a reason */
    (void)payload_parse_status((const char *)data, size);
    return 0;
}
