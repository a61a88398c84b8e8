/*
 * pwhash.h - passwords as slow salted hashes, random credentials and their
 * fast hashes (users, sessions and API tokens: docs/SECURITY.md, "People").
 *
 * A password is stored as "scrypt$<log2 N>$<r>$<p>$<salt hex>$<hash hex>"
 * (OpenSSL's EVP_PBE_scrypt, 16-byte salt, 32-byte hash). PWHASH_LOG2N is chosen
 * so one verification costs ~50 ms and 16 MiB (N=2^14, r=8, p=1): it runs on
 * serve's event loop, whose logins are throttled (auth.c). The parameters are
 * read back from the stored string, so they can grow later.
 *
 * A credential (an API token, a session cookie) is "<id>.<secret>": id 16 hex
 * characters (64 random bits, the lookup key), secret 64 hex characters (256
 * random bits). Only SHA-256(secret) is stored; it is compared in constant time.
 */
#ifndef SP_CORE_PWHASH_H
#define SP_CORE_PWHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PWHASH_LOG2N 14
#define PWHASH_R 8
#define PWHASH_P 1
#define PWHASH_MAX 160 /* longest stored string, with its NUL */
#define PWHASH_PASSWORD_MAX 1024

#define CRED_ID_LEN 16
#define CRED_SECRET_LEN 64
#define CRED_LEN (CRED_ID_LEN + 1 + CRED_SECRET_LEN)
#define CRED_SHA_LEN 32

/* Hash a password into out (PWHASH_MAX). 0, or -1 (no randomness, or OpenSSL failed). */
int pwhash_make(const char *password, size_t len, char out[PWHASH_MAX]);
/*
 * Whether password matches stored. A stored string that is not ours (or NULL:
 * no such user) still costs one hash of the default parameters, so a missing
 * user takes as long as a wrong password. The final compare is constant time.
 */
bool pwhash_verify(const char *password, size_t len, const char *stored);

/* A new credential: out gets "<id>.<secret>" (CRED_LEN + 1), sha the SHA-256 of the secret. 0 or -1. */
int cred_new(char out[CRED_LEN + 1], uint8_t sha[CRED_SHA_LEN]);
/*
 * Split "<id>.<secret>" (len bytes, not necessarily NUL-terminated): the id is
 * copied to id (CRED_ID_LEN + 1) and sha gets SHA-256 of the secret. Refuses
 * (returns false) anything not exactly 16 + '.' + 64 lower-case hex characters.
 */
bool cred_split(const char *s, size_t len, char id[CRED_ID_LEN + 1], uint8_t sha[CRED_SHA_LEN]);
/* Constant-time equality of two SHA-256 values. */
bool cred_sha_equal(const uint8_t a[CRED_SHA_LEN], const uint8_t b[CRED_SHA_LEN]);
/* Lower-case hex of n bytes into out (2n + 1). */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* Parse 2n lower/upper-case hex characters into out[n]. 0 or -1. */
int hex_decode(const char *in, size_t n, uint8_t *out);

#endif
