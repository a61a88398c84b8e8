/* fuzz_rfc3339.c - libFuzzer target: RFC 3339 timestamps; anything accepted must format and re-parse equal. */
/* fuzz-max-len: 256 (timestamps are under 40 bytes; the rest is room for junk) */
#include "core/timeutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t us;
    if (time_parse_rfc3339((const char *)data, size, &us) != 0)
        return 0;
    char out[TIME_RFC3339_LEN + 1];
    time_format_rfc3339(us, out);
    int64_t again;
    if (us >= 0 && us < 253402300800LL * 1000000 && (time_parse_rfc3339(out, strlen(out), &again) != 0 || again != us))
        abort();
    return 0;
}
