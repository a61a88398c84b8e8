/*
 * fuzz_notify_rows.c - libFuzzer target: NOTIFY new_reading payloads (src/serve/notify_rows.c).
 *
 * Beyond memory safety, for any input: the result is -1, 0 or 1; with 1 the rows are
 * 1..NOTIFY_ROWS_MAX, exactly count of them, ids strictly increasing from first to last,
 * every topic NUL-terminated at topic_len; with -1 a reason is given.
 */
/* fuzz-max-len: 8192 (PostgreSQL's NOTIFY payload limit is 8000 bytes) */
#include "serve/notify_rows.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct notify_rows nr;
    const char *why = NULL;
    int rc = notify_rows_parse((const char *)data, size, &nr, &why);
    if (rc < -1 || rc > 1 || (rc == -1 && !why))
        abort();
    if (rc == 1) {
        if (nr.n < 1 || nr.n > NOTIFY_ROWS_MAX || (int64_t)nr.n != nr.count || nr.row[0].id != nr.first ||
            nr.row[nr.n - 1].id != nr.last)
            abort();
        for (size_t i = 0; i < nr.n; i++)
            if ((i && nr.row[i].id <= nr.row[i - 1].id) || strlen(nr.row[i].topic) != nr.row[i].topic_len)
                abort();
    } else if (nr.n != 0)
        abort();
    notify_rows_free(&nr);
    return 0;
}
