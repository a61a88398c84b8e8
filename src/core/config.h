/*
 * config.h - one option table per subcommand; flags, then environment, then defaults.
 *
 * Each option has a name ("mqtt-port"), which gives the flag (--mqtt-port) and the
 * environment variable (SENSORPIPE_MQTT_PORT); an optional extra environment name
 * (DATABASE_URL); a type, a default, bounds and a help line. cfg_parse() fills the
 * caller's struct through the dest pointers. Strings are heap copies owned by the
 * caller's struct and released with cfg_free().
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

/*
 * Apply defaults, then the environment, then argv[1..argc-1] ("--name value",
 * "--name=value", "--flag" / "--no-flag" for booleans). On error writes a
 * one-line reason to err and returns CFG_ERROR; "--help" returns CFG_HELP.
 * env may be NULL (the process environment is used) - tests pass their own lookup.
 */
typedef const char *(*cfg_getenv_fn)(const char *name);
int cfg_parse(const struct cfg_opt *opts, int argc, char **argv, cfg_getenv_fn env, char *err, size_t errlen);

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
