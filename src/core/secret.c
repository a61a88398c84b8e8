/* secret.c - a secret from a `*-file` setting: bounded, first line only, never echoed (see secret.h). */
#include "secret.h"

#include "log.h"
#include "stringify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_MAX_TEXT SP_STR(SECRET_MAX)

void secret_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

int secret_read_file(const char *path, char out[SECRET_MAX + 1], size_t *len, char *err, size_t errlen)
{
    *len = 0;
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        log_warn("%s can be read by other users (mode %03o): make it readable by this service only (chmod 600)", path,
                 (unsigned)(st.st_mode & 0777));
    char buf[SECRET_MAX + 3]; /* the secret, CR LF, and one byte to see that it is too long */
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            close(fd);
            secret_wipe(buf, sizeof buf);
            return -1;
        }
        if (r == 0 || (n += (size_t)r) == sizeof buf)
            break;
    }
    close(fd);
    size_t end = n;
    if (end && buf[end - 1] == '\n')
        end--;
    if (end && buf[end - 1] == '\r')
        end--;
    const char *why = NULL;
    if (end == 0)
        why = "is empty";
    else if (end > SECRET_MAX)
        why = "holds more than " SECRET_MAX_TEXT " bytes";
    else if (memchr(buf, '\0', end) || memchr(buf, '\n', end) || memchr(buf, '\r', end))
        why = "must hold one line without NUL bytes";
    if (why) {
        snprintf(err, errlen, "%s %s", path, why);
        secret_wipe(buf, sizeof buf);
        return -1;
    }
    memcpy(out, buf, end);
    out[end] = '\0';
    *len = end;
    secret_wipe(buf, sizeof buf);
    return 0;
}
