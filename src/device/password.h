/* password.h - new random passwords for broker accounts. */
#ifndef SP_DEVICE_PASSWORD_H
#define SP_DEVICE_PASSWORD_H

#include <stddef.h>

#define PASSWORD_BYTES 24                       /* 192 random bits */
#define PASSWORD_LEN ((PASSWORD_BYTES / 3) * 4) /* characters of base64url, no padding */

/*
 * Write a new password into out (PASSWORD_LEN + 1 bytes): PASSWORD_BYTES from the
 * kernel's random source as base64url ([A-Za-z0-9_-], safe on any command line or in
 * any file). Returns 0, or -1 when the kernel gives no randomness.
 */
int password_new(char out[PASSWORD_LEN + 1]);

/*
 * Write secret and a newline to path, readable by this user only (0600), replacing the
 * file atomically (a temporary file in the same directory, then rename). Returns 0, or
 * -1 with a reason in err.
 */
int password_write_file(const char *path, const char *secret, char *err, size_t errlen);

#endif
