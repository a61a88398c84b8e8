/*
 * run.h - the simulator's one event loop: N devices (device.h), each with its
 * own MQTT connection (link.h), in one of two modes:
 *
 *   interval  every device runs a cycle every --interval seconds when its conn
 *             says SAMPLE, exactly like the firmware (conn_step -> sample ->
 *             conn_sampled -> publish); devices are staggered across the interval.
 *   load      (--rate R > 0) R readings per second in total, paced on the
 *             monotonic clock, taken from the devices in turn; each device runs
 *             the same cycle on a virtual clock that moves one interval per
 *             cycle, so its DHT22 gate never holds a value back. conn runs the
 *             connection without its cycle (conn_config.no_cycle). With
 *             --numbered the readings are the run's numbers instead
 *             (numbered.h): <device>/seq/n = start, start + 1, ...
 *
 * In both modes every device's connection is its conn's (link.h): connects,
 * back-off with jitter, connect timeout, and after --stuck-seconds without a
 * connect or a confirmed publish a reset (new client, device started again).
 *
 * Both stop after --count readings (0 = never) or on SIGINT/SIGTERM, then wait
 * until every reading is written (QoS 0) or acknowledged (QoS 1, 2), publish
 * "offline" on every device, disconnect, and print one summary line on stdout:
 *   sim: sent=N seconds=S rate=R qos=Q devices=D failed_reads=F lost=L unconfirmed=U skipped=K confirmed=C resets=X
 * plus " numbers=A..B" (or " numbers=none") with --numbered. sent = readings
 * handed to the MQTT client; confirmed = of those, written to the socket (QoS 0)
 * or acknowledged by the broker (QoS 1, 2); lost = QoS 0 readings dropped with a
 * connection, and readings of any QoS dropped with a reset's client; unconfirmed
 * = still outstanding when the run gave up waiting; skipped = load mode: paced
 * readings not sent because the links were behind, interval mode: cycles conn
 * skipped because too many publishes were unconfirmed; resets = devices reset.
 */
#ifndef SP_SIM_RUN_H
#define SP_SIM_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sim_config {
    const char *mqtt_host;
    long mqtt_port;
    long devices;
    const char *device_prefix; /* "" = "pico" for one device, "sim" for more */
    double interval_s;         /* seconds between a device's cycles, >= 2 */
    double rate;               /* readings/s in total; 0 = interval mode */
    long count;                /* readings to send; 0 = until stopped */
    long qos;                  /* QoS of readings */
    double fail_rate;          /* share of failed DHT22 reads */
    uint64_t seed;             /* PRNG seed; the same seed replays the same values */
    bool numbered;             /* load mode: readings carry the run's numbers (numbered.h) */
    uint64_t start;            /* with numbered: the first number, >= 1 */
    double stuck_s;            /* reset a device after this long without progress; 0 = never */
    const char *mqtt_username; /* NULL = anonymous; with one device and no prefix, also its name and client id */
    const char *mqtt_password; /* NULL = none */
    bool mqtt_tls;             /* MQTT over TLS, the broker verified against mqtt_cafile */
    const char *mqtt_cafile;   /* "" or NULL = none */
};

/*
 * Check a configuration beyond the option table's bounds: interval at least the
 * DHT22's 2 s, device ids valid topic levels; --numbered only in load mode, with
 * every number of the run in 1..SIM_NUMBER_MAX. Returns 0, or -1 with a one-line
 * reason in err.
 */
int sim_config_check(const struct sim_config *c, char *err, size_t errlen);

/* Readings a device may have outstanding (sent, not yet written/acknowledged) in load mode. */
uint64_t sim_window(long devices, long qos);

/* Run until done or signalled. Returns the process exit status (0, or 1 when start-up fails). */
int sim_run(const struct sim_config *c);

#endif
