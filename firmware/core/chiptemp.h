/*
 * chiptemp.h - the RP2040's internal temperature sensor (ADC input 4).
 *
 * The RP2040 datasheet gives T = 27 - (V - 0.706) / 0.001721 °C, with V the
 * ADC voltage: raw * 3.3 / 4096 for the 12-bit ADC at a 3.3 V reference. One
 * ADC step is about 0.47 °C. Integer arithmetic only (the Cortex-M0+ has no
 * FPU). Portable C11: the Pico W port and the host simulator build this file.
 */
#ifndef FW_CHIPTEMP_H
#define FW_CHIPTEMP_H

#include <stdint.h>

#define CHIPTEMP_RAW_MAX 4095u

/* Temperature in tenths of a degree, rounded to nearest, for a 12-bit reading (masked to 12 bits). */
int32_t chiptemp_dc_from_raw(uint16_t raw);

/* The 12-bit reading nearest to a temperature in tenths (clamped to 0..4095); for the simulator. */
uint16_t chiptemp_raw_from_dc(int32_t temp_dc);

#endif
