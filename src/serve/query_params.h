/*
 * query_params.h - parse and validate the query strings of `/ws` and `/api/readings`.
 *
 * Pure functions, no I/O: the input is the list of "name=value" fragments as
 * libwebsockets hands them over (already percent-decoded, '+' already turned
 * into ' '), the output a filled struct or a one-line reason for a 400.
 * A parameter given with an empty value counts as absent. Unknown or repeated
 * parameters are errors. In `topic`, ' ' is read back as '+' (a '+' in a raw
 * query string is a space in form encoding, and a space is never valid in a
 * topic filter), so both `?topic=+/temperature/+` and `%2B` work.
 */
#ifndef SP_SERVE_QUERY_PARAMS_H
#define SP_SERVE_QUERY_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QP_TOPIC_MAX 255                    /* longest topic filter accepted, bytes */
#define QP_REGEX_MAX (5 * QP_TOPIC_MAX + 8) /* enough for topic_filter_to_regex of any accepted filter */
#define QP_HISTORY_DEFAULT 100
#define QP_LIMIT_DEFAULT 10000
#define QP_LIMIT_MAX 100000
#define QP_BUCKET_MAX_S (366L * 86400)
#define QP_RANGE_DEFAULT_US (3600LL * 1000000) /* from defaults to one hour before to */

/* `/ws?history=&after=&topic=` */
struct qp_ws {
    long history; /* rows of backfill when after is absent; 0..history_max, default 100 */
    bool has_after;
    int64_t after;                /* resume after this id (>= 0) */
    char topic[QP_TOPIC_MAX + 1]; /* MQTT filter, "" = every topic */
};

/* `/api/readings?topic=&from=&to=&bucket=&limit=` */
struct qp_readings {
    char topic[QP_TOPIC_MAX + 1]; /* MQTT filter, "" = every topic */
    int64_t from_us, to_us;       /* half-open range [from, to) in epoch microseconds */
    long bucket_s;                /* 0 = raw rows, else bucket width in seconds */
    long limit;                   /* most rows returned, 1..QP_LIMIT_MAX */
};

/*
 * args[0..nargs) are "name=value" fragments (a fragment without '=' has an empty
 * value). Returns 0, or -1 with a reason in err (at most errlen bytes, NUL-terminated).
 */
int qp_parse_ws(const char *const *args, size_t nargs, long history_max, struct qp_ws *out, char *err, size_t errlen);
/* now_us supplies the defaults of from and to. */
int qp_parse_readings(const char *const *args, size_t nargs, int64_t now_us, struct qp_readings *out, char *err,
                      size_t errlen);

/* Parse a time: RFC 3339 or epoch seconds with an optional fraction ("1764237600.25"). 0 or -1. */
/* Printable, bounded echo of a user value for error messages (buf, len >= 5). Returns buf. */
const char *qp_echo(const char *v, char *buf, size_t len);
/* A non-negative decimal integer without sign, spaces or leading junk, at most max. 0 or -1. */
int qp_parse_uint(const char *s, long long max, long long *out);
/*
 * One name=value fragment against names (NULL-terminated; seen parallel to it): the index of
 * its name, its value in *value; -1 with a reason in err for an unknown or repeated name.
 */
int qp_arg(const char *frag, const char *const *names, bool *seen, const char **value, char *err, size_t errlen);
int qp_parse_time(const char *s, int64_t *us);
/* Parse a bucket width "30s" / "5m" / "1h" / "1d" into seconds (1 s .. 366 d). 0 or -1. */
int qp_parse_bucket(const char *s, long *seconds);

/*
 * Split the range of a bucket query for the hourly rollup (readings_hourly): the
 * whole hours [*whole_from, *whole_to) can be read from the rollup, the rest of
 * [from, to) from raw rows: [from, whole_from) lies within the hour of from and
 * [whole_to, to) within the hour of to, so each falls in one bucket. With no whole
 * hour in the range, whole_from == whole_to. Returns false when the buckets are not
 * whole hours (bucket_s not a multiple of 3600, or raw rows asked for): then only raw
 * rows answer and the outputs are left alone. Buckets start at multiples of their
 * width from the epoch (date_bin), so an N-hour bucket is N whole hourly buckets.
 */
bool qp_rollup_split(const struct qp_readings *q, int64_t *whole_from, int64_t *whole_to);

/*
 * The range of a bucket query cut for both rollups (readings_hourly and readings_minutely,
 * db/003_minute_rollup.sql), in order from <= min_from <= hour_from <= hour_to <= min_to <= to:
 *   [from, min_from)      raw rows, within the minute of from
 *   [min_from, hour_from) whole minutes, within the hour of from
 *   [hour_from, hour_to)  whole hours
 *   [hour_to, min_to)     whole minutes, within the hour of to
 *   [min_to, to)          raw rows, within the minute of to
 * Any part may be empty. Each part lies in one hour (the whole hours apart), hence in one
 * bucket of a multiple of an hour: the bucket of its start.
 */
struct qp_split {
    int64_t min_from, hour_from, hour_to, min_to;
};

/*
 * Fill *s for q; false (and *s left alone) when the buckets are not whole hours, as
 * qp_rollup_split. The whole hours are the ones qp_rollup_split gives.
 */
bool qp_rollup_split_minutes(const struct qp_readings *q, struct qp_split *s);

/*
 * Split the range of a bucket query of whole minutes that are not whole hours (bucket_s a
 * multiple of 60, not of 3600) for the minute rollup (readings_minutely): the whole minutes
 * [*whole_from, *whole_to) from the rollup, [from, whole_from) and [whole_to, to) raw rows,
 * each within one minute, hence in the bucket of its start. With no whole minute in the
 * range, whole_from == whole_to. False (outputs left alone) for other buckets or raw rows.
 */
bool qp_minute_split(const struct qp_readings *q, int64_t *whole_from, int64_t *whole_to);

#endif
