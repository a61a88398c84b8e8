/* main.c - the one `sensorpipe` binary: dispatch to a subcommand. */
#include "core/migrate.h"
#include "device/device.h"
#include "ingest/ingest.h"
#include "people/people.h"
#include "serve/serve.h"
#include "sim/sim.h"

#include <stdio.h>
#include <string.h>

#ifndef SENSORPIPE_VERSION
#define SENSORPIPE_VERSION "0.0.0-dev"
#endif

struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct subcommand subcommands[] = {
    {"ingest", ingest_main, "subscribe to the MQTT broker, write readings to PostgreSQL"},
    {"serve", serve_main, "dashboard, WebSocket and REST API over HTTP"},
    {"sim", sim_main, "virtual sensor devices / load generator publishing over MQTT"},
    {"migrate", migrate_main, "create or upgrade the database schema"},
    {"device", device_main, "broker accounts of devices: add NAME, remove NAME, list"},
    {"user", user_main, "dashboard users: add NAME (password on stdin)"},
    {"token", token_main, "API tokens for scripts: add LABEL, list, revoke ID"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sensorpipe <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(out, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\n`sensorpipe <command> --help` lists the options of a command.\n"
                 "`sensorpipe --version` prints the version.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("sensorpipe %s\n", SENSORPIPE_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (!strcmp(argv[1], subcommands[i].name))
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "sensorpipe: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
