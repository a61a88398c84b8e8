/* sim_main.c - `sensorpipe sim`: options, checks, then the event loop in run.c. */
#include "sim.h"

#include "core/config.h"
#include "core/log.h"
#include "core/secret.h"
#include "core/timeutil.h"
#include "numbered.h"
#include "run.h"

#include <mosquitto.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

int sim_main(int argc, char **argv)
{
    char *host = NULL, *prefix = NULL, *level = NULL, *username = NULL, *password_file = NULL, *cafile = NULL;
    char password[SECRET_MAX + 1] = "";
    size_t password_len = 0;
    long port = 0, devices = 0, count = 0, qos = 0, seed = 0, start = 0;
    bool numbered = false, tls = false;
    double interval = 0, rate = 0, fail_rate = 0, stuck = 0;
    const struct cfg_opt opts[] = {
        {"mqtt-host", CFG_STR, &host, "127.0.0.1", 0, 0, NULL, "MQTT broker host"},
        {"mqtt-port", CFG_INT, &port, "1883", 1, 65535, NULL, "MQTT broker port"},
        {"mqtt-username", CFG_STR, &username, "", 0, 0, NULL,
         "MQTT user name of every device (empty: anonymous); one device without --device-prefix is named after it "
         "and uses it as client id"},
        {"mqtt-password-file", CFG_STR, &password_file, "", 0, 0, NULL,
         "a file whose first line is the MQTT password; needs --mqtt-username"},
        {"mqtt-tls", CFG_BOOL, &tls, "false", 0, 0, NULL,
         "MQTT over TLS (1.2 or later): the broker's certificate must chain to --mqtt-cafile and name --mqtt-host "
         "(use the broker's TLS port, e.g. --mqtt-port 8883)"},
        {"mqtt-cafile", CFG_STR, &cafile, "", 0, 0, NULL,
         "PEM file of the CA certificate(s) trusted for the broker (e.g. var/tls/ca.crt)"},
        {"devices", CFG_INT, &devices, "1", 1, 100000, NULL, "number of simulated devices"},
        {"device-prefix", CFG_STR, &prefix, "", 0, 0, NULL,
         "device ids are <prefix>0001, ...; without it a single device is 'pico', more are sim0001, ..."},
        {"interval", CFG_DOUBLE, &interval, "5", 0, 86400, NULL,
         "seconds between a device's readings (at least 2: the DHT22's limit)"},
        {"rate", CFG_DOUBLE, &rate, "0", 0, 10000000, NULL,
         "load mode: readings per second across all devices, overrides --interval (0 = off)"},
        {"count", CFG_INT, &count, "0", 0, 1e15, NULL, "stop after this many readings in total (0 = never)"},
        {"qos", CFG_INT, &qos, "0", 0, 2, NULL, "MQTT QoS of readings (presence is always QoS 1)"},
        {"fail-rate", CFG_DOUBLE, &fail_rate, "0.02", 0, 1, NULL,
         "share of DHT22 reads that fail (no answer, short or corrupt frame): nothing sent for the DHT22"},
        {"seed", CFG_INT, &seed, "0", 0, 9007199254740991.0, NULL,
         "seed of the simulated values; the same seed replays a run (0 = pick one and log it)"},
        {"numbered", CFG_BOOL, &numbered, "false", 0, 0, NULL,
         "load mode: each reading's value is its number in the run (start, start+1, ...) on <device>/seq/n, "
         "to count what the pipeline loses or duplicates"},
        {"start", CFG_INT, &start, "1", 1, (double)SIM_NUMBER_MAX, NULL, "with --numbered: the first number"},
        {"stuck-seconds", CFG_DOUBLE, &stuck, "300", 0, 86400, NULL,
         "reset a device (drop its MQTT client, start it again) after this long without a connect or a confirmed "
         "publish, as the firmware's STUCK_MINUTES does (0 = never)"},
        {"log-level", CFG_STR, &level, "info", 0, 0, NULL, "error, warn, info or debug"},
        {NULL},
    };
    static const char summary[] = "Simulated sensor devices publishing over MQTT like the Pico W firmware; "
                                  "with --rate, a load generator.";
    char err[256];
    int status = 2;
    int rc = cfg_parse(opts, argc, argv, NULL, err, sizeof err);
    if (rc == CFG_HELP) {
        cfg_usage(stdout, "sim", summary, opts);
        status = 0;
        goto out;
    }
    if (rc != CFG_OK) {
        fprintf(stderr, "sensorpipe sim: %s\n", err);
        goto out;
    }
    int lv = log_level_parse(level);
    if (lv < 0) {
        fprintf(stderr, "sensorpipe sim: --log-level must be error, warn, info or debug, got '%.32s'\n", level);
        goto out;
    }
    log_init("sim", (enum log_level)lv);
    if (*password_file && !*username) {
        fprintf(stderr, "sensorpipe sim: --mqtt-password-file needs --mqtt-username\n");
        goto out;
    }
    if (*password_file && secret_read_file(password_file, password, &password_len, err, sizeof err)) {
        fprintf(stderr, "sensorpipe sim: %s\n", err);
        goto out;
    }
    struct sim_config c = {
        .mqtt_host = host,
        .mqtt_port = port,
        .devices = devices,
        .device_prefix = prefix,
        .interval_s = interval,
        .rate = rate,
        .count = count,
        .qos = qos,
        .fail_rate = fail_rate,
        .numbered = numbered,
        .start = (uint64_t)start,
        .stuck_s = stuck,
        .mqtt_username = *username ? username : NULL,
        .mqtt_password = *password_file ? password : NULL,
        .mqtt_tls = tls,
        .mqtt_cafile = cafile,
        .seed = seed ? (uint64_t)seed : ((uint64_t)time_now_us() ^ ((uint64_t)getpid() << 32)) & ((1ull << 53) - 1),
    };
    if (sim_config_check(&c, err, sizeof err)) {
        fprintf(stderr, "sensorpipe sim: %s\n", err);
        goto out;
    }
    cfg_log_effective(opts);
    if (!seed)
        log_info("seed %llu (pass --seed %llu to replay these values)", (unsigned long long)c.seed,
                 (unsigned long long)c.seed);
    mosquitto_lib_init();
    status = sim_run(&c);
    mosquitto_lib_cleanup();
out:
    secret_wipe(password, sizeof password);
    cfg_free(opts);
    return status;
}
