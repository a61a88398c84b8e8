/*
 * secret.h - reading a secret (a password) from a file named by a `*-file`
 * setting, so that it never appears on a command line, in the environment or
 * in a log line.
 *
 * The file holds the secret on its first line; a trailing newline (LF or CRLF)
 * is not part of it. A file that others may read is used, with a warning.
 */
#ifndef SP_CORE_SECRET_H
#define SP_CORE_SECRET_H

#include <stddef.h>

#define SECRET_MAX 1024 /* longest secret accepted, in bytes */

/*
 * Read the secret in path into out (SECRET_MAX + 1 bytes, NUL-terminated) and
 * its length into *len. Returns 0, or -1 with a reason in err (the file's
 * contents never go into err). An empty secret, a longer one, or one with a
 * NUL byte or a second line is refused.
 */
int secret_read_file(const char *path, char out[SECRET_MAX + 1], size_t *len, char *err, size_t errlen);
/* Overwrite a secret in memory before it is freed or goes out of scope. */
void secret_wipe(void *p, size_t n);

#endif
