/* env.c - indoor climate model for simulated devices (see env.h). */
#include "env.h"

#include <math.h>

#define ENV_TEMP_BASE 21.0
#define ENV_TEMP_DAY_AMPLITUDE 1.0
#define ENV_TEMP_DRIFT_TAU_S 1800.0
#define ENV_TEMP_DRIFT_SD 0.4
#define ENV_TEMP_NOISE_SD 0.05
#define ENV_HUM_BASE 45.0
#define ENV_HUM_PER_DEGREE (-1.5)
#define ENV_HUM_DRIFT_TAU_S 3600.0
#define ENV_HUM_DRIFT_SD 3.0
#define ENV_HUM_NOISE_SD 0.2
#define ENV_CHIP_NOISE_SD 0.3
#define ENV_DAY_S 86400.0
#define ENV_PEAK_S (15.0 * 3600.0)

static double env_clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void sim_env_init(struct sim_env *e, struct sim_rng *r)
{
    e->temp_offset = (sim_rng_uniform(r) * 2.0 - 1.0) * 1.0;
    e->hum_offset = (sim_rng_uniform(r) * 2.0 - 1.0) * 5.0;
    e->chip_offset = 3.5 + sim_rng_uniform(r) * 2.0;
    e->temp_drift = sim_rng_normal(r) * ENV_TEMP_DRIFT_SD;
    e->hum_drift = sim_rng_normal(r) * ENV_HUM_DRIFT_SD;
    e->last_s = 0;
    e->started = false;
}

/* One exact Ornstein-Uhlenbeck step of dt seconds towards 0 with stationary deviation sd. */
static double env_ou(double x, double dt, double tau, double sd, struct sim_rng *r)
{
    double a = exp(-dt / tau);
    return x * a + sd * sqrt(1.0 - a * a) * sim_rng_normal(r);
}

void sim_env_step(struct sim_env *e, struct sim_rng *r, double t_s, struct sim_env_values *out)
{
    double dt = e->started && t_s > e->last_s ? t_s - e->last_s : 0.0;
    if (!e->started || t_s > e->last_s) {
        e->last_s = t_s;
        e->started = true;
    }
    if (dt > 0) {
        e->temp_drift = env_ou(e->temp_drift, dt, ENV_TEMP_DRIFT_TAU_S, ENV_TEMP_DRIFT_SD, r);
        e->hum_drift = env_ou(e->hum_drift, dt, ENV_HUM_DRIFT_TAU_S, ENV_HUM_DRIFT_SD, r);
    }
    double day = ENV_TEMP_DAY_AMPLITUDE * cos(2.0 * M_PI * (fmod(t_s, ENV_DAY_S) - ENV_PEAK_S) / ENV_DAY_S);
    double air = ENV_TEMP_BASE + e->temp_offset + day + e->temp_drift + sim_rng_normal(r) * ENV_TEMP_NOISE_SD;
    double hum =
        ENV_HUM_BASE + e->hum_offset + ENV_HUM_PER_DEGREE * day + e->hum_drift + sim_rng_normal(r) * ENV_HUM_NOISE_SD;
    out->air_c = env_clamp(air, -40.0, 80.0);
    out->humidity = env_clamp(hum, 0.0, 100.0);
    out->chip_c = out->air_c + e->chip_offset + sim_rng_normal(r) * ENV_CHIP_NOISE_SD;
}
