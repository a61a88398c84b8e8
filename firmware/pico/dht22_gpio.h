/*
 * dht22_gpio.h - the DHT22's one-wire bus on a GPIO pin, read by timing the
 * line in software (not PIO).
 *
 * One transfer: drive the pin low for 1.2 ms (the start signal), let go (the
 * pull-up takes the line high), then, with interrupts off for the ~5 ms the
 * answer takes, time every level of the line with the 1 µs timer into a pulse
 * train (dht22.h), each wait capped at DHT22_LEVEL_TIMEOUT_US. The train goes
 * to dht22_pulses_to_frame() in firmware/core, which turns widths into bits
 * and reports a stuck line, a short transfer or odd widths; what the wire
 * carried is then checked by dht22_decode() as in the simulator.
 */
#ifndef SENSORPIPE_DHT22_GPIO_H
#define SENSORPIPE_DHT22_GPIO_H

#include "firmware/core/dht22.h"

#include <stddef.h>
#include <stdint.h>

struct dht22_gpio {
    unsigned pin;
    uint16_t us[DHT22_TRAIN_MAX]; /* the last transfer's pulse train */
    size_t n;                     /* levels in us */
};

/* Set up the pin as an input with the internal pull-up (an external 4.7-10 kΩ one is still advised). */
void dht22_gpio_init(struct dht22_gpio *b, unsigned pin);

/* A dht22_bus_fn: run one transfer on b (ctx) and decode its pulse train into frame. */
int dht22_gpio_bus(void *ctx, uint8_t frame[DHT22_FRAME_LEN]);

#endif
