/*
 * fuzz_login_form.c - libFuzzer target: the body of POST /login (src/serve/auth_parse.c), as a
 * form (application/x-www-form-urlencoded) and as JSON; the first byte picks which.
 *
 * Beyond memory safety: an accepted login has a valid user name (1..64 of A-Z a-z 0-9 _ . -)
 * and a password of 1..AUTH_PASSWORD_MAX bytes; a refusal always gives a reason.
 */
/* fuzz-max-len: 4096 (AUTH_BODY_MAX: serve refuses larger bodies before parsing) */
#include "serve/auth_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char name[AUTH_NAME_MAX + 1], password[AUTH_PASSWORD_MAX + 1];
    const char *err;
    bool json = data[0] & 1;
    int rc = auth_login_parse((const char *)data + 1, size - 1, json, name, password, &err);
    if (rc == 0) {
        size_t n = strlen(name), p = strlen(password);
        if (err || !auth_name_valid(name, n) || p == 0 || p > AUTH_PASSWORD_MAX)
            abort();
    } else if (!err)
        abort();
    return 0;
}
