/*
 * fuzz_forwarded.c - libFuzzer target: X-Forwarded-For and X-Forwarded-Proto of --trusted-proxy
 * (src/serve/forwarded.c).
 *
 * Input: "x-forwarded-for\nx-forwarded-proto" (no newline: no proto header). Beyond memory
 * safety, for any input:
 *   - only the rightmost entry counts: "<junk>, " before either value changes nothing;
 *   - an address found is canonical: parsed again it gives itself, and fwd_addr_parse takes it;
 *   - the proto is https (1), http (0) or neither (-1), whatever the case of the letters.
 */
/* fuzz-max-len: 4096 (header values far past the 1024 bytes serve reads) */
#include "serve/forwarded.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PART_MAX 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * PART_MAX)
        return 0;
    char buf[2 * PART_MAX + 1];
    memcpy(buf, data, size);
    buf[size] = '\0';
    if (memchr(buf, '\0', size))
        return 0; /* header values are C strings */
    char *proto = strchr(buf, '\n');
    if (proto)
        *proto++ = '\0';
    const char *xff = buf;

    char out[FWD_ADDR_MAX], again[FWD_ADDR_MAX], more[2 * PART_MAX + 32];
    uint8_t bin[16];
    int rc = fwd_for_last(xff, out);
    if (rc != 0 && rc != -1)
        abort();
    if (rc == 0) {
        if (strlen(out) >= FWD_ADDR_MAX || fwd_for_last(out, again) || strcmp(out, again) || fwd_addr_parse(out, bin))
            abort();
    }
    snprintf(more, sizeof more, "junk, 9.9.9.9,%s", xff);
    char out2[FWD_ADDR_MAX];
    int rc2 = fwd_for_last(more, out2);
    if (rc2 != rc || (rc == 0 && strcmp(out, out2)))
        abort();

    int p = fwd_proto_https(proto);
    if (p < -1 || p > 1 || (!proto && p != -1))
        abort();
    if (proto) {
        snprintf(more, sizeof more, "ftp,%s", proto);
        if (fwd_proto_https(more) != p)
            abort();
        size_t n = strlen(proto);
        for (size_t i = 0; i < n; i++)
            proto[i] = (char)toupper((unsigned char)proto[i]);
        if (fwd_proto_https(proto) != p)
            abort();
    }
    return 0;
}
