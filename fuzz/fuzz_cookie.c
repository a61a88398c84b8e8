/*
 * fuzz_cookie.c - libFuzzer target: the Cookie header parser (src/serve/auth_parse.c), then the
 * credential split (src/core/pwhash.c) on what it found, as serve does with sp_session.
 *
 * Beyond memory safety: a found value lies inside the header; a header made of one
 * "sp_session=<v>" finds exactly v (when v has no ';' and no spaces around it).
 */
/* fuzz-max-len: 8192 (a Cookie header as long as serve reads) */
#include "core/pwhash.h"
#include "serve/auth_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *hdr = (const char *)data, *v;
    size_t vlen;
    if (auth_cookie_find(hdr, size, AUTH_COOKIE, &v, &vlen)) {
        if (v < hdr || v + vlen > hdr + size)
            abort();
        char id[CRED_ID_LEN + 1];
        uint8_t sha[CRED_SHA_LEN];
        if (cred_split(v, vlen, id, sha) && strlen(id) != CRED_ID_LEN)
            abort();
    }
    if (size < 1024 && !memchr(data, ';', size) && !memchr(data, ' ', size) && !memchr(data, '\t', size) &&
        !memchr(data, '"', size)) {
        char buf[1100];
        memcpy(buf, "sp_session=", 11);
        memcpy(buf + 11, data, size);
        if (!auth_cookie_find(buf, 11 + size, AUTH_COOKIE, &v, &vlen) || vlen != size || memcmp(v, data, size))
            abort();
    }
    return 0;
}
