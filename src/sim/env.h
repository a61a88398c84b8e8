/*
 * env.h - the room a simulated device sits in: slow, plausible indoor values.
 *
 * Air temperature: 21 °C plus a per-room offset (±1 °C), a daily sine (±1 °C,
 * warmest at 15:00 UTC) and a slow random drift (Ornstein-Uhlenbeck, 30 min
 * time constant, ±0.4 °C); clamped to the DHT22's -40..80 °C.
 * Humidity: 45 % plus a per-room offset (±5 %), falling 1.5 % per degree of the
 * daily warming, a slow drift (1 h, ±3 %) and read noise; clamped to 0..100 %.
 * Chip temperature: the air plus the chip's self-heating (3.5..5.5 °C) and noise.
 * All randomness comes from the caller's sim_rng, so a seed replays a run.
 */
#ifndef SP_SIM_ENV_H
#define SP_SIM_ENV_H

#include "rng.h"

#include <stdbool.h>

struct sim_env {
    double temp_offset; /* °C, this room's offset from 21 °C */
    double hum_offset;  /* %, this room's offset from 45 % */
    double chip_offset; /* °C, self-heating of the chip above the air */
    double temp_drift;  /* °C, slow random drift */
    double hum_drift;   /* %, slow random drift */
    double last_s;      /* time of the last step */
    bool started;
};

struct sim_env_values {
    double air_c;    /* air temperature, °C */
    double humidity; /* relative humidity, % (0..100) */
    double chip_c;   /* chip temperature, °C */
};

/* Draw a room: offsets from r, drift starting at a random point of its range. */
void sim_env_init(struct sim_env *e, struct sim_rng *r);
/* Advance the room to t_s (seconds since the epoch; earlier times do not move the drift) and sample it. */
void sim_env_step(struct sim_env *e, struct sim_rng *r, double t_s, struct sim_env_values *out);

#endif
