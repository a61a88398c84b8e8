/*
 * auth_parse.h - the pure parsers of serve's logins (no I/O, each with a fuzz target):
 * the Cookie header, the Authorization header, and the body of POST /login.
 */
#ifndef SP_SERVE_AUTH_PARSE_H
#define SP_SERVE_AUTH_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_COOKIE "sp_session" /* the session cookie's name */
#define AUTH_NAME_MAX 64         /* a user name: 1 to 64 of A-Z a-z 0-9 _ . - */
#define AUTH_PASSWORD_MAX 1024

/*
 * The value of cookie `name` in a Cookie header (hdr[0..len), "a=1; b=2"): *val points into hdr,
 * *vlen its length. The first cookie of that name wins. false when absent.
 */
bool auth_cookie_find(const char *hdr, size_t len, const char *name, const char **val, size_t *vlen);
/*
 * The credentials of "Bearer <token>" (scheme case-insensitive, one or more spaces, no
 * trailing junk but spaces): *tok points into hdr. false for any other scheme or shape.
 */
bool auth_bearer(const char *hdr, size_t len, const char **tok, size_t *tlen);
/*
 * The name and password of a login body: JSON {"name": "...", "password": "..."} when json,
 * otherwise application/x-www-form-urlencoded "name=...&password=..." (+ and %XX decoded).
 * name must be a valid user name, password 1..AUTH_PASSWORD_MAX bytes without NUL.
 * name gets AUTH_NAME_MAX + 1 bytes, password AUTH_PASSWORD_MAX + 1. 0, or -1 (a reason in err).
 */
int auth_login_parse(const char *body, size_t len, bool json, char *name, char *password, const char **err);
/* Whether s is a valid user name. */
bool auth_name_valid(const char *s, size_t len);

#endif
