/*
 * device.h - one simulated sensor node: the firmware's portable core
 * (firmware/core: node, dht22, chiptemp, conn) wired to a simulated room (env.c)
 * instead of a DHT22 on GPIO 15 and the RP2040's ADC.
 *
 * A cycle samples the room, encodes the air values into a DHT22 frame (a
 * fraction --fail-rate of frames is spoilt: no answer, a short transfer or a
 * flipped bit), reads that frame back through dht22_read() with its checksum,
 * range and 2 s checks, turns the chip temperature into an ADC reading and back,
 * and asks node_readings() what to publish. The device's connection state
 * machine (conn) is here too, as in the firmware's state; link.h carries out
 * what it decides on a libmosquitto client.
 *
 * Life: sim_device_init() (node, sensor, room), sim_device_boot() (conn starts:
 * power on), sim_device_restart() (conn said RESET: everything the board keeps
 * in RAM starts again; the room and the PRNG, which are the world's, go on).
 */
#ifndef SP_SIM_DEVICE_H
#define SP_SIM_DEVICE_H

#include "env.h"
#include "firmware/core/conn.h"
#include "firmware/core/dht22.h"
#include "firmware/core/node.h"
#include "rng.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sim_device {
    struct node node;
    struct dht22 dht;
    struct conn conn;            /* borrows node; started by sim_device_boot() */
    struct conn_config conn_cfg; /* what conn was started with, again at a restart */
    uint32_t conn_seed;          /* conn's jitter seed of this boot */
    struct sim_env env;
    struct sim_rng rng;
    double fail_rate;               /* 0..1: share of spoilt DHT22 transfers */
    uint8_t frame[DHT22_FRAME_LEN]; /* what the simulated bus answers next */
    int frame_len;                  /* bytes the bus answers next; 0 = no answer */
    uint64_t cycles;                /* cycles run */
    uint64_t failed_reads;          /* cycles without DHT22 values */
    uint64_t resets;                /* sim_device_restart() calls */
    uint64_t cycles_skipped;        /* conn's cycles_skipped of the boots before this one */
};

/*
 * Set up device `index` of a run: node (id, interval, reading QoS, first cycle
 * at first_ms), sensor on the simulated bus, room and PRNG from (seed, index).
 * Returns 0, or -1 when node_init refuses the id or interval.
 */
int sim_device_init(struct sim_device *d, const char *id, uint32_t interval_ms, uint8_t qos, uint32_t first_ms,
                    double fail_rate, uint64_t seed, uint64_t index);

/* The simulator's conn settings: conn_config_default() without Wi-Fi, stuck_ms as given. */
struct conn_config sim_device_conn_config(uint32_t stuck_ms);

/*
 * Power on at now_ms: start the device's conn with cfg (copied; its node is the
 * device's, the jitter seed differs per device). The first connect is due at once.
 */
void sim_device_boot(struct sim_device *d, const struct conn_config *cfg, uint32_t now_ms);

/*
 * conn said RESET: start again at now_ms as after power-on: the schedule (first
 * cycle at once), the DHT22's gate, and conn with a new jitter seed. Counted in resets.
 */
void sim_device_restart(struct sim_device *d, uint32_t now_ms);

/* Stop the publish cycle for good (the run is ending): conn says SAMPLE no more. */
void sim_device_stop_cycles(struct sim_device *d);

/*
 * Read the sensors for the cycle at now_ms (the device's 32-bit ms clock) with
 * the room at wall time t_s (seconds since the epoch): the DHT22 through
 * dht22_read() and the chip temperature through the ADC formula. Fills *s (for
 * conn_sampled() or node_readings()); counts the cycle and a failed read.
 */
void sim_device_sample(struct sim_device *d, uint32_t now_ms, double t_s, struct node_sample *s);

/*
 * Run one cycle at now_ms (the device's 32-bit ms clock) with the room at wall
 * time t_s (seconds since the epoch). Fills out and returns the number of
 * messages (0..NODE_MSGS_MAX): sim_device_sample() and node_readings(). Does
 * not touch the node's schedule (load mode runs cycles on its own clock).
 */
size_t sim_device_cycle(struct sim_device *d, uint32_t now_ms, double t_s, struct node_msg out[NODE_MSGS_MAX]);

/*
 * Device id of device `index` (0-based) of `devices`: "pico" for a lone device
 * without a prefix, else prefix (default "sim") and the 1-based number, at least
 * four digits: "sim0001". Returns 0, or -1 when out is too small.
 */
int sim_device_name(char *out, size_t outlen, const char *prefix, long devices, long index);

/* Tenths nearest to v, halves away from zero; -0.04 gives 0 (so never "-0.0"). */
int32_t sim_tenths(double v);

#endif
