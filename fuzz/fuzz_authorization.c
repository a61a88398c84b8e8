/*
 * fuzz_authorization.c - libFuzzer target: the Authorization header parser (src/serve/auth_parse.c)
 * and the credential split (src/core/pwhash.c) of the token it yields.
 *
 * Beyond memory safety: a token found lies inside the header, is non-empty and holds only
 * visible ASCII; a token cred_split accepts has the shape <16 hex>.<64 hex>.
 */
/* fuzz-max-len: 8192 (an Authorization header as long as serve reads) */
#include "core/pwhash.h"
#include "serve/auth_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *hdr = (const char *)data, *tok;
    size_t len;
    if (!auth_bearer(hdr, size, &tok, &len))
        return 0;
    if (tok < hdr || tok + len > hdr + size || len == 0)
        abort();
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)tok[i] < 0x21 || (unsigned char)tok[i] > 0x7e)
            abort();
    char id[CRED_ID_LEN + 1];
    uint8_t sha[CRED_SHA_LEN];
    if (cred_split(tok, len, id, sha) && (len != CRED_LEN || tok[CRED_ID_LEN] != '.'))
        abort();
    return 0;
}
