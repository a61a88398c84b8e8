/*
 * history_params.h - parse and validate the query strings of the device page's routes,
 * `/api/rejects` and `/api/presence` (http_history.c).
 *
 * Pure functions, no I/O, in the style of query_params.h: the input is the list of
 * "name=value" fragments as libwebsockets hands them over (percent-decoded); the output
 * a filled struct or a one-line reason for a 400. A parameter with an empty value counts
 * as absent; unknown or repeated parameters are errors.
 */
#ifndef SP_SERVE_HISTORY_PARAMS_H
#define SP_SERVE_HISTORY_PARAMS_H

#include "core/topic.h"

#include <stddef.h>
#include <stdint.h>

#define HP_REJECTS_DEFAULT 50
#define HP_REJECTS_MAX 1000
#define HP_PRESENCE_DEFAULT 1000
#define HP_PRESENCE_MAX 10000
#define HP_RANGE_DEFAULT_US (86400LL * 1000000) /* presence: from defaults to one day before to */

/* `/api/rejects?device=&limit=` */
struct hp_rejects {
    char device[TOPIC_LEVEL_MAX + 1]; /* "" = every device */
    long limit;                       /* newest rows returned, 1..HP_REJECTS_MAX */
};

/* `/api/presence?device=&from=&to=&limit=` */
struct hp_presence {
    char device[TOPIC_LEVEL_MAX + 1]; /* required */
    int64_t from_us, to_us;           /* [from, to), epoch microseconds */
    long limit;                       /* changes returned at most, 1..HP_PRESENCE_MAX */
};

/* True when s is a device name: 1..TOPIC_LEVEL_MAX bytes of 0x21..0x7e, no '/', '+' or '#'. */
bool hp_device_valid(const char *s);

/* args[0..nargs): "name=value" fragments. 0, or -1 with a reason in err (NUL-terminated, errlen bytes at most). */
int hp_parse_rejects(const char *const *args, size_t nargs, struct hp_rejects *out, char *err, size_t errlen);
/* now_us supplies the defaults of from and to. */
int hp_parse_presence(const char *const *args, size_t nargs, int64_t now_us, struct hp_presence *out, char *err,
                      size_t errlen);

#endif
