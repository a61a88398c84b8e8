/*
 * config_names.c - every subcommand's option names (cfg_sections, config.h), for the config
 * file: a name before any [header] that this subcommand lacks but another has is ignored, one
 * that none has is an error, and a header must name a subcommand here.
 *
 * Keep each list equal to the option table of its subcommand (ingest_main.c, serve_main.c,
 * sim_main.c, migrate.c, device/device_main.c, people/people_main.c). tests/integration/config_file.test.mjs
 * compares them with each command's --help.
 */
#include "config.h"

#include <stddef.h>

static const char *const ingest_names[] = {
    "db",
    "db-password-file",
    "mqtt-host",
    "mqtt-port",
    "mqtt-username",
    "mqtt-password-file",
    "mqtt-tls",
    "mqtt-cafile",
    "mqtt-client-id",
    "mqtt-max-packet",
    "subscribe",
    "qos",
    "clean-session",
    "qos0-async-commit",
    "queue-max",
    "batch-max",
    "insert-max",
    "retention-days",
    "ts-past-days",
    "ts-future-minutes",
    "max-devices",
    "max-topics-per-device",
    "migrate",
    "log-level",
    "stats-interval",
    NULL,
};

/* one name a line: clang-format would pack a list of more than 20 into columns */
/* clang-format off */
static const char *const serve_names[] = {
    "listen",
    "db",
    "db-password-file",
    "web-root",
    "allow-origin",
    "ring-size",
    "client-max-lag",
    "client-stall-ms",
    "client-hold-ms",
    "history-max",
    "max-clients",
    "query-timeout-ms",
    "http-timeout-s",
    "http-head-timeout-s",
    "http-header-pool",
    "db-pool",
    "api-max-bytes",
    "notify-rows",
    "migrate",
    "log-level",
    "event-loop",
    "allowed-hosts",
    "tls-cert",
    "tls-key",
    "trusted-proxy",
    "max-conns-per-addr",
    "max-ws-per-addr",
    "max-requests-per-addr",
    "socket-sndbuf",
    "socket-rcvbuf",
    "client-close-ms",
    "session-hours",
    NULL,
};
/* clang-format on */

static const char *const sim_names[] = {
    "mqtt-host",
    "mqtt-port",
    "mqtt-username",
    "mqtt-password-file",
    "mqtt-tls",
    "mqtt-cafile",
    "devices",
    "device-prefix",
    "interval",
    "rate",
    "count",
    "qos",
    "fail-rate",
    "seed",
    "numbered",
    "start",
    "stuck-seconds",
    "log-level",
    NULL,
};

static const char *const migrate_names[] = {"db", "db-password-file", "retention-days", "log-level", NULL};

static const char *const device_names[] = {
    "mqtt-host", "mqtt-port",   "mqtt-username", "mqtt-password-file", "rotate",  "json",
    "ingest",    "load-prefix", "load-devices",  "password-out",       "timeout", NULL,
};

static const char *const user_names[] = {"db", "db-password-file", NULL};

static const char *const token_names[] = {"db", "db-password-file", "user", "read-only", "json", NULL};

const struct cfg_section cfg_sections[] = {
    {"ingest", ingest_names}, {"serve", serve_names}, {"sim", sim_names},     {"migrate", migrate_names},
    {"device", device_names}, {"user", user_names},   {"token", token_names}, {NULL, NULL},
};
