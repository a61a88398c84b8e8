/*
 * main.c - sensorpipe on a Raspberry Pi Pico W: a DHT22 on GPIO 15 and the
 * RP2040's own temperature sensor, published over MQTT every 5 s.
 *
 * One loop, one state struct. firmware/core decides (conn.c: Wi-Fi, broker,
 * back-off, the publish cycle, the watchdog policy; node.c: topics and
 * payloads; dht22.c: the sensor's wire protocol); this file only turns the
 * radio's and lwIP's news into conn events and carries out conn's actions:
 *
 *   poll the radio and lwIP -> Wi-Fi link status -> conn_wifi_up/down
 *   conn_step(now)          -> leave/disconnect, join, connect, publish, sample,
 *                              feed the watchdog or reset, wake time
 *   sleep (WFE) until the wake time or until the radio has work
 *
 * lwIP runs in poll mode (pico_cyw43_arch_lwip_poll), so its callbacks
 * (mqtt_link.c) run inside cyw43_arch_poll() on this loop and may call conn
 * directly. No network error panics: each one is an event, and conn answers
 * it with a reconnect after a back-off, or, when nothing has worked for
 * STUCK_MINUTES, with a reset.
 */
#include "sensorpipe_config.h"

#include "dht22_gpio.h"
#include "mqtt_link.h"

#include "firmware/core/chiptemp.h"
#include "firmware/core/conn.h"
#include "firmware/core/dht22.h"
#include "firmware/core/node.h"

#include "hardware/adc.h"
#include "hardware/watchdog.h"
#include "pico/cyw43_arch.h"
#include "pico/stdlib.h"
#include "pico/unique_id.h"

#if SP_TLS
#include "sensorpipe_ca.h" /* sp_ca_pem: the CA certificate, from SENSORPIPE_CA_FILE at build time */
#endif

#include <stdio.h>
#include <string.h>

#define FW_WATCHDOG_MS 8000u /* hardware watchdog; the RP2040 allows up to ~8.3 s. conn feeds it every second */
#define FW_KEEPALIVE_S 60
#define FW_ADC_TEMP_INPUT 4

struct fw {
    struct node node;
    struct dht22 dht;
    struct dht22_gpio bus;
    struct conn conn;
    struct mqtt_link link;
    char device[NODE_DEVICE_MAX + 1];
    int wifi_status;           /* last cyw43_tcpip_link_status(), for logs */
    enum conn_state logged;    /* last state logged */
    int last_dht_status;       /* for logs: only changes are printed */
    struct conn_actions act;   /* conn_step()'s actions; here, not on the 2 KB main stack */
    struct conn_actions cycle; /* conn_sampled()'s readings */
};

static struct fw fw; /* one state struct, static */

static uint32_t fw_now_ms(void)
{
    return to_ms_since_boot(get_absolute_time());
}

/* FNV-1a of the unique id: a per-board seed, so boards behind one access point do not retry in step. */
static uint32_t fw_seed(void)
{
    pico_unique_board_id_t id;
    pico_get_unique_board_id(&id);
    uint32_t h = 2166136261u;
    for (int i = 0; i < PICO_UNIQUE_BOARD_ID_SIZE_BYTES; i++)
        h = (h ^ id.id[i]) * 16777619u;
    return h ^ time_us_32();
}

static const char *fw_link_name(int st)
{
    switch (st) {
    case CYW43_LINK_DOWN:
        return "down";
    case CYW43_LINK_JOIN:
        return "joined, no address yet";
    case CYW43_LINK_NOIP:
        return "joined, no IP";
    case CYW43_LINK_UP:
        return "up";
    case CYW43_LINK_FAIL:
        return "join failed";
    case CYW43_LINK_NONET:
        return "network not found";
    case CYW43_LINK_BADAUTH:
        return "wrong password";
    }
    return "unknown";
}

/* The Wi-Fi link's state as conn events: up; a failed join; a lost link. */
static void fw_poll_wifi(struct fw *f, uint32_t now)
{
    int st = cyw43_tcpip_link_status(&cyw43_state, CYW43_ITF_STA);
    if (st != f->wifi_status) {
        printf("wifi: %s\n", fw_link_name(st));
        f->wifi_status = st;
    }
    if (st == CYW43_LINK_UP)
        conn_wifi_up(&f->conn, now);
    else if (st < 0 || f->conn.state != CONN_WIFI_CONNECTING)
        conn_wifi_down(&f->conn, now); /* ignored by conn while it is backing off */
}

static void fw_on_broker_up(void *ctx)
{
    struct fw *f = ctx;
    printf("mqtt: connected to %s:%d as %s\n", SP_MQTT_BROKER, SP_MQTT_PORT, f->device);
    conn_broker_up(&f->conn, fw_now_ms());
}

static void fw_on_broker_down(void *ctx, const char *why)
{
    struct fw *f = ctx;
    printf("mqtt: %s:%d: %s\n", SP_MQTT_BROKER, SP_MQTT_PORT, why);
    conn_broker_down(&f->conn, fw_now_ms());
}

static void fw_on_published(void *ctx, uint32_t session, bool ok)
{
    struct fw *f = ctx;
    conn_published(&f->conn, session, ok, fw_now_ms());
}

static void fw_publish(struct fw *f, const struct conn_actions *a, uint32_t now)
{
    for (size_t i = 0; i < a->n; i++)
        if (mqtt_link_publish(&f->link, &a->msgs[i], a->session) != 0)
            conn_published(&f->conn, a->session, false, now); /* refused at once: lwIP out of room */
}

/* One cycle's sensor values: the DHT22 (through the 2 s gate) and ADC input 4. */
static void fw_sample(struct fw *f, uint32_t now, struct node_sample *s)
{
    memset(s, 0, sizeof *s);
    s->dht_status = dht22_read(&f->dht, now, &s->dht);
    if (s->dht_status != f->last_dht_status && s->dht_status != DHT22_CACHED) {
        printf("dht22: %s\n", dht22_strerror(s->dht_status));
        f->last_dht_status = s->dht_status;
    }
    adc_select_input(FW_ADC_TEMP_INPUT);
    s->chip_dc = chiptemp_dc_from_raw(adc_read());
    s->chip_ok = true;
}

static void fw_reset(struct fw *f)
{
    printf("watchdog: no publish or connect for %u min (state %s): resetting\n", (unsigned)SP_STUCK_MINUTES,
           conn_state_name(f->conn.state));
    stdio_flush();
    watchdog_reboot(0, 0, 10);
    for (;;)
        tight_loop_contents(); /* not fed: the watchdog resets the board */
}

/* Carry out conn's actions, in the order conn.h lists them. */
static void fw_act(struct fw *f, const struct conn_actions *a, uint32_t now)
{
    if (a->todo & CONN_DO_RESET)
        fw_reset(f);
    if (a->todo & CONN_DO_WIFI_LEAVE) {
        printf("wifi: join timed out, leaving\n");
        cyw43_wifi_leave(&cyw43_state, CYW43_ITF_STA);
    }
    if (a->todo & CONN_DO_BROKER_DISCONNECT)
        mqtt_link_close(&f->link);
    if (a->todo & CONN_DO_WIFI_JOIN) {
        printf("wifi: joining '%s'\n", SP_WIFI_SSID);
        uint32_t auth = SP_WIFI_PASSWORD[0] ? CYW43_AUTH_WPA2_AES_PSK : CYW43_AUTH_OPEN;
        if (cyw43_arch_wifi_connect_async(SP_WIFI_SSID, SP_WIFI_PASSWORD[0] ? SP_WIFI_PASSWORD : NULL, auth) != 0) {
            printf("wifi: cannot start the join\n");
            conn_wifi_down(&f->conn, now);
        }
    }
    if (a->todo & CONN_DO_BROKER_CONNECT) {
        const char *why = NULL;
        if (mqtt_link_open(&f->link, &why) != 0) {
            printf("mqtt: %s:%d: %s\n", SP_MQTT_BROKER, SP_MQTT_PORT, why);
            conn_broker_down(&f->conn, now);
        }
    }
    if (a->todo & CONN_DO_PUBLISH)
        fw_publish(f, a, now);
    if (a->todo & CONN_DO_SAMPLE) {
        struct node_sample s;
        fw_sample(f, now, &s);
        conn_sampled(&f->conn, &s, now, &f->cycle);
        fw_publish(f, &f->cycle, now);
    }
    if (a->todo & CONN_DO_FEED_WATCHDOG)
        watchdog_update();
}

/* Bring-up that cannot go on failed: say so, and let a reset try again (no panic). */
static void fw_restart(const char *why)
{
    printf("%s: restarting in 5 s\n", why);
    stdio_flush();
    watchdog_reboot(0, 0, 5000);
    for (;;)
        tight_loop_contents();
}

/* Bring up the sensors, the radio, conn and the MQTT client. */
static void fw_start(struct fw *f)
{
    stdio_init_all();
    printf("\nsensorpipe firmware %s%s\n", SP_VERSION, watchdog_caused_reboot() ? " (reset by the watchdog)" : "");

    adc_init();
    adc_set_temp_sensor_enabled(true);
    dht22_gpio_init(&f->bus, SP_DHT22_GPIO);
    dht22_init(&f->dht, dht22_gpio_bus, &f->bus);
    f->last_dht_status = DHT22_OK;

    snprintf(f->device, sizeof f->device, "%s", SP_DEVICE_ID); /* also the MQTT user name */
    if (node_init(&f->node, f->device, SP_PUBLISH_INTERVAL_MS, SP_MQTT_QOS, fw_now_ms()) != 0)
        fw_restart("device id or interval refused"); /* CMake checks both; not reached */

    if (cyw43_arch_init_with_country(CYW43_COUNTRY_WORLDWIDE) != 0)
        fw_restart("cyw43: radio init failed");
    cyw43_arch_enable_sta_mode();
    if (SP_WIFI_POWERSAVE)
        cyw43_wifi_pm(&cyw43_state, CYW43_AGGRESSIVE_PM);

    struct conn_config cfg = conn_config_default();
    cfg.stuck_ms = (uint32_t)SP_STUCK_MINUTES * 60u * 1000u;
    conn_init(&f->conn, &f->node, &cfg, fw_seed(), fw_now_ms());

    struct node_msg will;
    conn_will(&f->conn, &will);
    static const struct mqtt_link_events ev = {fw_on_broker_up, fw_on_broker_down, fw_on_published};
    /* the login: user name = the device name, the password compiled in (never printed) */
    struct mqtt_link_auth auth = {.user = f->device, .pass = SP_MQTT_PASSWORD};
#if SP_TLS
    auth.ca = sp_ca_pem;
    auth.ca_len = sizeof sp_ca_pem; /* the NUL included, as mbedTLS wants for PEM */
    auth.tls_name = SP_MQTT_TLS_NAME;
#endif
    const char *why = NULL;
    if (mqtt_link_init(&f->link, SP_MQTT_BROKER, SP_MQTT_PORT, f->device, &auth, &will, FW_KEEPALIVE_S, &ev, f, &why) !=
        0)
        fw_restart(why);

    printf("device %s, DHT22 on GPIO %d, broker %s:%d, every %d ms, QoS %d, reset after %d min without progress\n",
           f->device, SP_DHT22_GPIO, SP_MQTT_BROKER, SP_MQTT_PORT, SP_PUBLISH_INTERVAL_MS, SP_MQTT_QOS,
           SP_STUCK_MINUTES);
#if SP_TLS
    printf("mqtt: TLS, the broker's certificate must chain to the CA compiled in and name '%s'; user %s\n",
           SP_MQTT_TLS_NAME, f->device);
#else
    printf("mqtt: plain TCP, no TLS (a trusted network only); user %s\n", f->device);
#endif
    f->wifi_status = CYW43_LINK_DOWN;
    f->logged = f->conn.state;
}

int main(void)
{
    struct fw *f = &fw;
    fw_start(f);
    watchdog_enable(FW_WATCHDOG_MS, true);

    for (;;) {
        cyw43_arch_poll(); /* radio and lwIP work; lwIP callbacks run here */
        uint32_t now = fw_now_ms();
        fw_poll_wifi(f, now);
        conn_step(&f->conn, now, &f->act);
        fw_act(f, &f->act, now);
        if (f->conn.state != f->logged) {
            printf("conn: %s -> %s\n", conn_state_name(f->logged), conn_state_name(f->conn.state));
            f->logged = f->conn.state;
        }
        /* sleep until conn's next deadline, an lwIP timer, or the radio's interrupt */
        uint32_t left = f->act.wake_ms - fw_now_ms();
        if ((int32_t)left > 0)
            cyw43_arch_wait_for_work_until(make_timeout_time_ms(left));
    }
}
