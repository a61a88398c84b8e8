/* test_sim_env.c - the simulator's PRNG and room model: repeatable, plausible, clamped. */
#include "unit.h"

#include "sim/env.h"
#include "sim/rng.h"

#include <math.h>

static void test_rng_repeatable(void **state)
{
    (void)state;
    struct sim_rng a, b, c;
    sim_rng_seed(&a, 42, 0);
    sim_rng_seed(&b, 42, 0);
    sim_rng_seed(&c, 42, 1);
    int same_as_other_stream = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = sim_rng_u64(&a);
        assert_true(x == sim_rng_u64(&b));
        same_as_other_stream += x == sim_rng_u64(&c);
    }
    assert_int_equal(same_as_other_stream, 0);
}

static void test_rng_ranges(void **state)
{
    (void)state;
    struct sim_rng r;
    sim_rng_seed(&r, 1, 0);
    double sum = 0, sumsq = 0;
    int seen[7] = {0};
    for (int i = 0; i < 100000; i++) {
        double u = sim_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        uint32_t k = sim_rng_below(&r, 7);
        assert_true(k < 7);
        seen[k]++;
        double z = sim_rng_normal(&r);
        assert_true(isfinite(z));
        sum += z;
        sumsq += z * z;
    }
    for (int k = 0; k < 7; k++)
        assert_true(seen[k] > 13000 && seen[k] < 15600);
    double mean = sum / 100000, var = sumsq / 100000 - mean * mean;
    assert_true(fabs(mean) < 0.02);
    assert_true(fabs(var - 1.0) < 0.03);
}

/* A day of 5 s samples in 20 rooms: indoor values, moving slowly. */
static void test_env_plausible_day(void **state)
{
    (void)state;
    for (uint64_t room = 0; room < 20; room++) {
        struct sim_rng r;
        sim_rng_seed(&r, 7, room);
        struct sim_env e;
        sim_env_init(&e, &r);
        struct sim_env_values prev = {0}, v;
        double t0 = 1795779600.0; /* 2026-11-27T10:20:00Z */
        for (int i = 0; i < 86400 / 5; i++) {
            sim_env_step(&e, &r, t0 + i * 5.0, &v);
            assert_true(v.air_c > 15.0 && v.air_c < 27.0);
            assert_true(v.humidity > 25.0 && v.humidity < 65.0);
            assert_true(v.chip_c - v.air_c > 1.5 && v.chip_c - v.air_c < 7.5);
            if (i > 0) {
                assert_true(fabs(v.air_c - prev.air_c) < 0.6);
                assert_true(fabs(v.humidity - prev.humidity) < 2.5);
            }
            prev = v;
        }
    }
}

static void test_env_clamped(void **state)
{
    (void)state;
    struct sim_rng r;
    sim_rng_seed(&r, 3, 0);
    struct sim_env e;
    sim_env_init(&e, &r);
    struct sim_env_values v;
    e.hum_offset = 500;
    e.temp_offset = 500;
    sim_env_step(&e, &r, 1000, &v);
    assert_true(v.humidity == 100.0);
    assert_true(v.air_c == 80.0);
    e.hum_offset = -500;
    e.temp_offset = -500;
    sim_env_step(&e, &r, 1005, &v);
    assert_true(v.humidity == 0.0);
    assert_true(v.air_c == -40.0);
}

static void test_env_repeatable(void **state)
{
    (void)state;
    struct sim_rng r1, r2;
    struct sim_env e1, e2;
    sim_rng_seed(&r1, 99, 5);
    sim_rng_seed(&r2, 99, 5);
    sim_env_init(&e1, &r1);
    sim_env_init(&e2, &r2);
    for (int i = 0; i < 100; i++) {
        struct sim_env_values a, b;
        /* going back in time does not move the drift backwards, and does not break */
        double t = 1000.0 + (i % 10 == 9 ? -50.0 : i * 5.0);
        sim_env_step(&e1, &r1, t, &a);
        sim_env_step(&e2, &r2, t, &b);
        assert_true(a.air_c == b.air_c && a.humidity == b.humidity && a.chip_c == b.chip_c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_repeatable),    cmocka_unit_test(test_rng_ranges),
        cmocka_unit_test(test_env_plausible_day), cmocka_unit_test(test_env_clamped),
        cmocka_unit_test(test_env_repeatable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
