/* dht22_gpio.c - DHT22 transfer by timing the data line in software (see dht22_gpio.h). */
#include "dht22_gpio.h"

#include "hardware/gpio.h"
#include "hardware/sync.h"
#include "hardware/timer.h"

#define DHT22_GPIO_START_US 1200u /* host start signal: at least 1 ms low */
#define DHT22_GPIO_SETTLE_US                                                                                           \
    10u /* after letting go: the pull-up's rise; the sensor answers after 20 µs at the earliest */

void dht22_gpio_init(struct dht22_gpio *b, unsigned pin)
{
    b->pin = pin;
    b->n = 0;
    gpio_init(pin);
    gpio_set_dir(pin, GPIO_IN);
    gpio_pull_up(pin);
    gpio_put(pin, 0); /* the output level used when the pin drives: low */
}

/* µs the line stays at level, counted from start; DHT22_LEVEL_TIMEOUT_US when it does not change in time. */
static uint16_t dht22_gpio_level(unsigned pin, bool level, uint32_t start)
{
    for (;;) {
        uint32_t now = time_us_32();
        uint32_t width = now - start;
        if (gpio_get(pin) != level)
            return (uint16_t)width;
        if (width >= DHT22_LEVEL_TIMEOUT_US)
            return (uint16_t)DHT22_LEVEL_TIMEOUT_US;
    }
}

int dht22_gpio_bus(void *ctx, uint8_t frame[DHT22_FRAME_LEN])
{
    struct dht22_gpio *b = ctx;
    b->n = 0;
    gpio_set_dir(b->pin, GPIO_OUT); /* drives low */
    busy_wait_us_32(DHT22_GPIO_START_US);

    uint32_t irq = save_and_disable_interrupts();
    gpio_set_dir(b->pin, GPIO_IN); /* let go: the pull-up takes the line high */
    uint32_t start = time_us_32();
    busy_wait_us_32(DHT22_GPIO_SETTLE_US);
    /* us[0] (high until the answer) counts from the release; a line already low is a 0 µs high */
    bool level = gpio_get(b->pin);
    if (!level)
        b->us[b->n++] = 0;
    while (b->n < DHT22_TRAIN_MAX) {
        uint16_t width = dht22_gpio_level(b->pin, level, start);
        b->us[b->n++] = width;
        if (width >= DHT22_LEVEL_TIMEOUT_US)
            break; /* the line is held: the train ends here */
        start += width;
        level = !level;
    }
    restore_interrupts(irq);

    return dht22_pulses_to_frame(b->us, b->n, frame);
}
