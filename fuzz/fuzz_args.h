/*
 * fuzz_args.h - for the query-string fuzz targets: split a NUL-terminated string on '&' in
 * place into at most max fragments, as libwebsockets hands a query string's parts over
 * (already percent-decoded). Returns the number of fragments (0 for "").
 */
#ifndef SP_FUZZ_ARGS_H
#define SP_FUZZ_ARGS_H

#include <stddef.h>
#include <string.h>

static inline size_t fuzz_split_args(char *buf, const char **args, size_t max)
{
    size_t n = 0;
    if (!buf[0])
        return 0;
    for (char *p = buf; n < max; p++) {
        args[n++] = p;
        p = strchr(p, '&');
        if (!p)
            break;
        *p = '\0';
    }
    return n;
}

#endif
