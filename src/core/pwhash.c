/* pwhash.c - scrypt password hashes, random credentials, SHA-256 of their secrets (see pwhash.h). */
#include "pwhash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SALT_LEN 16
#define HASH_LEN 32
#define SCRYPT_MAXMEM (64u << 20)

void hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_decode(const char *in, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_val(in[2 * i]), lo = hi < 0 ? -1 : hex_val(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int scrypt(const char *pw, size_t len, const uint8_t *salt, int log2n, int r, int p, uint8_t out[HASH_LEN])
{
    return EVP_PBE_scrypt(pw, len, salt, SALT_LEN, (uint64_t)1 << log2n, (uint64_t)r, (uint64_t)p, SCRYPT_MAXMEM, out,
                          HASH_LEN) == 1
               ? 0
               : -1;
}

int pwhash_make(const char *password, size_t len, char out[PWHASH_MAX])
{
    uint8_t salt[SALT_LEN], hash[HASH_LEN];
    char salt_hex[2 * SALT_LEN + 1], hash_hex[2 * HASH_LEN + 1];
    if (RAND_bytes(salt, sizeof salt) != 1 || scrypt(password, len, salt, PWHASH_LOG2N, PWHASH_R, PWHASH_P, hash))
        return -1;
    hex_encode(salt, SALT_LEN, salt_hex);
    hex_encode(hash, HASH_LEN, hash_hex);
    snprintf(out, PWHASH_MAX, "scrypt$%d$%d$%d$%s$%s", PWHASH_LOG2N, PWHASH_R, PWHASH_P, salt_hex, hash_hex);
    OPENSSL_cleanse(hash, sizeof hash);
    return 0;
}

/* Parse a stored string; false when it is not ours. */
static bool parse_stored(const char *s, int *log2n, int *r, int *p, uint8_t salt[SALT_LEN], uint8_t hash[HASH_LEN])
{
    char salt_hex[2 * SALT_LEN + 2], hash_hex[2 * HASH_LEN + 2];
    int end = 0;
    if (!s || sscanf(s, "scrypt$%2d$%2d$%2d$%33[0-9a-f]$%65[0-9a-f]%n", log2n, r, p, salt_hex, hash_hex, &end) != 5 ||
        s[end] != '\0')
        return false;
    if (*log2n < 10 || *log2n > 20 || *r < 1 || *r > 32 || *p < 1 || *p > 4 || strlen(salt_hex) != 2 * SALT_LEN ||
        strlen(hash_hex) != 2 * HASH_LEN)
        return false;
    return !hex_decode(salt_hex, SALT_LEN, salt) && !hex_decode(hash_hex, HASH_LEN, hash);
}

bool pwhash_verify(const char *password, size_t len, const char *stored)
{
    int log2n, r, p;
    uint8_t salt[SALT_LEN] = {0}, want[HASH_LEN] = {0}, got[HASH_LEN];
    bool ours = parse_stored(stored, &log2n, &r, &p, salt, want);
    if (!ours) {
        log2n = PWHASH_LOG2N; /* the same work as a real check */
        r = PWHASH_R;
        p = PWHASH_P;
    }
    if (scrypt(password, len, salt, log2n, r, p, got))
        return false;
    bool same = CRYPTO_memcmp(got, want, HASH_LEN) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ours && same;
}

static void sha256(const char *s, size_t len, uint8_t out[CRED_SHA_LEN])
{
    unsigned int n = CRED_SHA_LEN;
    EVP_Digest(s, len, out, &n, EVP_sha256(), NULL);
}

int cred_new(char out[CRED_LEN + 1], uint8_t sha[CRED_SHA_LEN])
{
    uint8_t raw[CRED_ID_LEN / 2 + CRED_SECRET_LEN / 2];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    hex_encode(raw, CRED_ID_LEN / 2, out);
    out[CRED_ID_LEN] = '.';
    hex_encode(raw + CRED_ID_LEN / 2, CRED_SECRET_LEN / 2, out + CRED_ID_LEN + 1);
    sha256(out + CRED_ID_LEN + 1, CRED_SECRET_LEN, sha);
    OPENSSL_cleanse(raw, sizeof raw);
    return 0;
}

static bool lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool cred_split(const char *s, size_t len, char id[CRED_ID_LEN + 1], uint8_t sha[CRED_SHA_LEN])
{
    if (len != CRED_LEN || s[CRED_ID_LEN] != '.' || !lower_hex(s, CRED_ID_LEN) ||
        !lower_hex(s + CRED_ID_LEN + 1, CRED_SECRET_LEN))
        return false;
    memcpy(id, s, CRED_ID_LEN);
    id[CRED_ID_LEN] = '\0';
    sha256(s + CRED_ID_LEN + 1, CRED_SECRET_LEN, sha);
    return true;
}

bool cred_sha_equal(const uint8_t a[CRED_SHA_LEN], const uint8_t b[CRED_SHA_LEN])
{
    return CRYPTO_memcmp(a, b, CRED_SHA_LEN) == 0;
}
