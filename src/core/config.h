/*
 * config.h - one option table per subcommand; flags, then environment, then the
 * config file, then defaults.
 *
 * Each option has a name ("mqtt-port"), which gives the flag (--mqtt-port), the
 * environment variable (SENSORPIPE_MQTT_PORT) and the config file's setting
 * (mqtt-port = 1884); an optional extra environment name (DATABASE_URL); a type, a
 * default, bounds and a help line. cfg_parse() fills the caller's struct through
 * the dest pointers. Strings are heap copies owned by the caller's struct and
 * released with cfg_free().
 *
 * The config file (--config FILE, or SENSORPIPE_CONFIG) is the same table's names,
 * one "name = value" a line:
 *
 *     # comment (a line starting with # or ;)
 *     mqtt-port = 1884          before any header: for every subcommand
 *     [ingest]                  from here: for `sensorpipe ingest` only
 *     mqtt-username = ingest
 *
 * A name before any header that this subcommand does not know but another one
 * does (cfg_sections, config_names.c) is ignored; one that no subcommand knows is
 * an error. A line under another subcommand's header is skipped, once its name is
 * known to that subcommand. A header naming no subcommand, a line without '=', a
 * name set twice in one part, and `config` itself are errors. Values are the rest
 * of the line with the spaces around it removed (no quoting; '#' inside a value is
 * part of it). Relative paths in values are relative to the working directory.
 */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL, CFG_DOUBLE };

struct cfg_opt {
    const char *name; /* long flag without dashes; NULL ends the table */
    enum cfg_type type;
    void *dest;            /* char **, long *, bool * or double * */
    const char *def;       /* default as text; NULL = empty string / 0 */
    double min, max;       /* bounds for CFG_INT and CFG_DOUBLE (inclusive) */
    const char *env_alias; /* extra environment variable checked after SENSORPIPE_<NAME>, or NULL */
    const char *help;
    bool secret; /* mask in cfg_print */
};

enum cfg_result { CFG_OK = 0, CFG_HELP = 1, CFG_ERROR = -1 };

#define CFG_FILE_MAX (1024 * 1024) /* largest config file read, in bytes */

/* Every subcommand's option names, for the config file's "known to another subcommand" rule. */
struct cfg_section {
    const char *name;           /* "ingest", "serve", ...: argv[0] of the subcommand */
    const char *const *options; /* NULL-terminated */
};
extern const struct cfg_section cfg_sections[]; /* config_names.c; ends with {NULL, NULL} */

/*
 * Apply defaults, then the config file, then the environment, then
 * argv[1..argc-1] ("--name value", "--name=value", "--flag" / "--no-flag" for
 * booleans). argv[0] names the subcommand: its [section] of the file applies.
 * The file is --config FILE from argv, else SENSORPIPE_CONFIG, else none. On
 * error writes a one-line reason to err and returns CFG_ERROR; "--help" returns
 * CFG_HELP. env may be NULL (the process environment is used) - tests pass their
 * own lookup.
 */
typedef const char *(*cfg_getenv_fn)(const char *name);
int cfg_parse(const struct cfg_opt *opts, int argc, char **argv, cfg_getenv_fn env, char *err, size_t errlen);

/*
 * Apply the config file text[0..len) (which need not be NUL-terminated) for the
 * subcommand `section` to opts, by the rules above; `source` (the file's name)
 * starts error messages ("FILE:LINE: ..."). Touches only the options it sets.
 * Returns CFG_OK, or CFG_ERROR with a one-line reason in err (a value may be
 * quoted in it, shortened; keep secrets out of config files: `*-file` settings).
 */
int cfg_file_apply(const struct cfg_opt *opts, const char *section, const char *text, size_t len, const char *source,
                   char *err, size_t errlen);

/* Print "usage" and one line per option with its default and environment name. */
void cfg_usage(FILE *out, const char *cmd, const char *summary, const struct cfg_opt *opts);
/* Print the effective configuration (secrets and URI passwords masked) to the log. */
void cfg_log_effective(const struct cfg_opt *opts);
/* Free the strings cfg_parse allocated into the CFG_STR destinations. */
void cfg_free(const struct cfg_opt *opts);

/* Split "host:port" (IPv6 as "[::1]:8000"); host is written into host (size hostlen). */
int cfg_split_hostport(const char *s, char *host, size_t hostlen, int *port);

/* Mask the password in a libpq URI or key=value string; writes into out. */
void cfg_mask_dsn(const char *dsn, char *out, size_t outlen);

#endif
