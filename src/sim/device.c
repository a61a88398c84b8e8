/* device.c - a simulated sensor node running the firmware's portable core (see device.h). */
#include "device.h"

#include "firmware/core/chiptemp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/*
 * The simulated one-wire bus: the frame prepared for this transfer goes on the
 * wire as the level widths a sensor sends (dht22_pulses_from_frame) and comes
 * back through the pulse decoder the Pico W port uses (dht22_pulses_to_frame).
 * No answer is a line that stays high; a transfer that stops after frame_len
 * bytes is a line that stays high after the last bit sent.
 */
static int sim_device_bus(void *ctx, uint8_t frame[DHT22_FRAME_LEN])
{
    struct sim_device *d = ctx;
    uint16_t us[DHT22_TRAIN_MAX];
    size_t n = dht22_pulses_from_frame(d->frame, us);
    if (d->frame_len <= 0) {
        us[0] = DHT22_LEVEL_TIMEOUT_US;
        n = 1;
    } else if (d->frame_len < DHT22_FRAME_LEN) {
        n = DHT22_TRAIN_BITS_AT + 2 * 8 * (size_t)d->frame_len;
        us[n - 1] = DHT22_LEVEL_TIMEOUT_US;
    }
    return dht22_pulses_to_frame(us, n, frame);
}

int sim_device_init(struct sim_device *d, const char *id, uint32_t interval_ms, uint8_t qos, uint32_t first_ms,
                    double fail_rate, uint64_t seed, uint64_t index)
{
    memset(d, 0, sizeof *d);
    if (node_init(&d->node, id, interval_ms, qos, first_ms))
        return -1;
    dht22_init(&d->dht, sim_device_bus, d);
    sim_rng_seed(&d->rng, seed, index);
    sim_env_init(&d->env, &d->rng);
    d->fail_rate = fail_rate;
    d->frame_len = 0;
    d->cycles = 0;
    d->failed_reads = 0;
    d->resets = 0;
    d->conn_seed = (uint32_t)(seed ^ (seed >> 32) ^ (index * 2654435761u)) | 1u;
    d->conn_cfg = sim_device_conn_config(CONN_STUCK_MS);
    return 0;
}

struct conn_config sim_device_conn_config(uint32_t stuck_ms)
{
    struct conn_config cfg = conn_config_default();
    cfg.wifi = false; /* a host: straight to the broker */
    cfg.stuck_ms = stuck_ms;
    cfg.max_sleep_ms = 60000; /* no hardware watchdog to feed: wake for conn's own deadlines only */
    return cfg;
}

void sim_device_boot(struct sim_device *d, const struct conn_config *cfg, uint32_t now_ms)
{
    d->conn_cfg = *cfg;
    conn_init(&d->conn, &d->node, &d->conn_cfg, d->conn_seed, now_ms);
}

void sim_device_restart(struct sim_device *d, uint32_t now_ms)
{
    char id[NODE_DEVICE_MAX + 1];
    memcpy(id, d->node.device, sizeof id);
    /* same id, interval and QoS as before: node_init cannot refuse them */
    (void)node_init(&d->node, id, d->node.interval_ms, d->node.qos, now_ms);
    dht22_init(&d->dht, sim_device_bus, d);
    d->frame_len = 0;
    /* the Pico seeds from the board id and the boot time: a reboot jitters differently */
    d->conn_seed = d->conn_seed * 1664525u + 1013904223u;
    d->cycles_skipped += d->conn.stats.cycles_skipped;
    conn_init(&d->conn, &d->node, &d->conn_cfg, d->conn_seed, now_ms);
    d->resets++;
}

void sim_device_stop_cycles(struct sim_device *d)
{
    d->conn_cfg.no_cycle = true;
    d->conn.cfg.no_cycle = true;
}

int32_t sim_tenths(double v)
{
    return (int32_t)lround(v * 10.0);
}

/* Encode the room's air values as the sensor would send them, maybe spoilt. */
static void sim_device_prepare_frame(struct sim_device *d, const struct sim_env_values *v)
{
    dht22_encode(sim_tenths(v->air_c), sim_tenths(v->humidity), d->frame);
    d->frame_len = DHT22_FRAME_LEN;
    if (d->fail_rate <= 0 || sim_rng_uniform(&d->rng) >= d->fail_rate)
        return;
    switch (sim_rng_below(&d->rng, 3)) {
    case 0: /* no answer */
        d->frame_len = 0;
        break;
    case 1: /* the transfer stops early */
        d->frame_len = 1 + (int)sim_rng_below(&d->rng, DHT22_FRAME_LEN - 1);
        break;
    default: /* one bit misread: always caught by the checksum */
        d->frame[sim_rng_below(&d->rng, DHT22_FRAME_LEN)] ^= (uint8_t)(1u << sim_rng_below(&d->rng, 8));
        break;
    }
}

void sim_device_sample(struct sim_device *d, uint32_t now_ms, double t_s, struct node_sample *s)
{
    struct sim_env_values v;
    sim_env_step(&d->env, &d->rng, t_s, &v);
    memset(s, 0, sizeof *s);
    if (dht22_ready(&d->dht, now_ms))
        sim_device_prepare_frame(d, &v);
    s->dht_status = dht22_read(&d->dht, now_ms, &s->dht);
    s->chip_ok = true;
    s->chip_dc = chiptemp_dc_from_raw(chiptemp_raw_from_dc(sim_tenths(v.chip_c)));
    d->cycles++;
    if (s->dht_status != DHT22_OK && s->dht_status != DHT22_CACHED)
        d->failed_reads++;
}

size_t sim_device_cycle(struct sim_device *d, uint32_t now_ms, double t_s, struct node_msg out[NODE_MSGS_MAX])
{
    struct node_sample s;
    sim_device_sample(d, now_ms, t_s, &s);
    return node_readings(&d->node, &s, out);
}

int sim_device_name(char *out, size_t outlen, const char *prefix, long devices, long index)
{
    int n;
    if (devices == 1 && (!prefix || !*prefix))
        n = snprintf(out, outlen, "pico");
    else
        n = snprintf(out, outlen, "%s%04ld", prefix && *prefix ? prefix : "sim", index + 1);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
