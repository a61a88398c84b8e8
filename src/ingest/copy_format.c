/* copy_format.c - COPY text format rows for readings (see copy_format.h). */
#include "copy_format.h"

#include "core/timeutil.h"

#include <string.h>

bool copy_text_field(struct sbuf *b, const char *s, size_t n)
{
    size_t run = 0; /* bytes copied verbatim in one append */
    for (size_t i = 0; i < n; i++) {
        const char *esc;
        switch (s[i]) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\v':
            esc = "\\v";
            break;
        default:
            run++;
            continue;
        }
        sbuf_append(b, s + i - run, run);
        run = 0;
        sbuf_append(b, esc, 2);
    }
    return sbuf_append(b, s + n - run, run);
}

bool copy_reading_row(struct sbuf *b, int64_t ts_us, const char *topic, double value)
{
    char ts[TIME_RFC3339_LEN + 1];
    time_format_rfc3339(ts_us, ts);
    sbuf_append(b, ts, strlen(ts));
    sbuf_append(b, "\t", 1);
    copy_text_field(b, topic, strlen(topic));
    sbuf_append(b, "\t", 1);
    sbuf_json_double(b, value); /* shortest text that reads back as the same double */
    return sbuf_append(b, "\n", 1);
}
