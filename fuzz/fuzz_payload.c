/* fuzz_payload.c - libFuzzer target: reading payloads (ASCII number / JSON) and presence words. */
/* fuzz-max-len: 4096 (payloads past PAYLOAD_MAX, 1024 bytes) */
#include "core/payload.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct payload_reading r;
    const char *reason = NULL;
    if (payload_parse((const char *)data, size, &r, &reason) == 0) {
        if (!isfinite(r.value))
            abort(); /* the parser promised a finite value */
    } else if (!reason)
        abort(); /* every refusal has a reason */
    (void)payload_parse_status((const char *)data, size);
    return 0;
}
