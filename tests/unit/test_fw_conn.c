/*
 * test_fw_conn.c - the device's connection state machine (firmware/core/conn): Wi-Fi and
 * broker connects, back-off with jitter, presence, the publish cycle, and the watchdog policy.
 *
 * A fake port carries out the actions against a scripted network and sensor, and a
 * fake hardware watchdog (8 s, as on the Pico) resets the board when it is not fed.
 */
#include "unit.h"

#include "firmware/core/conn.h"

#include <stdio.h>
#include <string.h>

#define HW_WATCHDOG_MS 8000u
#define TICK_MS 100u

enum answer {
    ANSWER_OK,   /* succeeds after `delay_ms` */
    ANSWER_FAIL, /* fails after `delay_ms` */
    ANSWER_NONE, /* never answers */
};

struct fake_port {
    struct conn c;
    struct node node;
    uint32_t now;
    /* the network */
    enum answer wifi, broker, publish;
    uint32_t delay_ms;
    int wifi_event_at, broker_event_at; /* -1: none pending; else the time of the answer */
    enum answer wifi_event, broker_event;
    /* the sensor */
    int dht_status;
    /* what the port saw */
    uint32_t joins, leaves, connects, disconnects, samples, feeds;
    uint32_t published, online, readings, internal_only;
    uint32_t last_feed;
    bool reset;    /* CONN_DO_RESET or the hardware watchdog */
    bool hw_reset; /* it was the hardware watchdog */
    uint32_t reset_at;
    uint32_t max_wake; /* largest wake_ms - now */
    struct node_msg last_msg;
};

static void port_init(struct fake_port *p, uint32_t start, uint32_t stuck_ms, uint32_t seed)
{
    memset(p, 0, sizeof *p);
    p->now = start;
    p->wifi = p->broker = p->publish = ANSWER_OK;
    p->delay_ms = 300;
    p->wifi_event_at = p->broker_event_at = -1;
    p->dht_status = DHT22_OK;
    p->last_feed = start;
    assert_int_equal(node_init(&p->node, "pico", 5000, 0, start), 0);
    struct conn_config cfg = conn_config_default();
    cfg.stuck_ms = stuck_ms;
    conn_init(&p->c, &p->node, &cfg, seed, start);
}

static void port_publish(struct fake_port *p, const struct conn_actions *a)
{
    for (size_t i = 0; i < a->n; i++) {
        const struct node_msg *m = &a->msgs[i];
        p->last_msg = *m;
        p->published++;
        if (strcmp(m->topic, "pico/status") == 0) {
            assert_string_equal(m->payload, "online");
            assert_true(m->retain);
            assert_int_equal(m->qos, 1);
            p->online++;
        } else {
            p->readings++;
        }
        if (p->publish != ANSWER_NONE)
            conn_published(&p->c, a->session, p->publish == ANSWER_OK, p->now);
    }
}

/* Carry out one conn_step() as firmware/pico/main.c does. */
static void port_step(struct fake_port *p)
{
    struct conn_actions a;
    conn_step(&p->c, p->now, &a);
    uint32_t wake = a.wake_ms - p->now;
    if (wake > p->max_wake)
        p->max_wake = wake;
    assert_true(wake <= CONN_MAX_SLEEP_MS);
    if (a.todo & CONN_DO_RESET) {
        assert_false(a.todo & CONN_DO_FEED_WATCHDOG);
        p->reset = true;
        p->reset_at = p->now;
        return;
    }
    if (a.todo & CONN_DO_WIFI_LEAVE) {
        p->leaves++;
        p->wifi_event_at = -1;
    }
    if (a.todo & CONN_DO_BROKER_DISCONNECT) {
        p->disconnects++;
        p->broker_event_at = -1;
    }
    if (a.todo & CONN_DO_WIFI_JOIN) {
        p->joins++;
        if (p->wifi != ANSWER_NONE) {
            p->wifi_event = p->wifi;
            p->wifi_event_at = (int)(p->now + p->delay_ms);
        }
    }
    if (a.todo & CONN_DO_BROKER_CONNECT) {
        p->connects++;
        struct node_msg will;
        conn_will(&p->c, &will);
        assert_string_equal(will.topic, "pico/status");
        assert_string_equal(will.payload, "offline");
        assert_true(will.retain);
        if (p->broker != ANSWER_NONE) {
            p->broker_event = p->broker;
            p->broker_event_at = (int)(p->now + p->delay_ms);
        }
    }
    if (a.todo & CONN_DO_PUBLISH)
        port_publish(p, &a);
    if (a.todo & CONN_DO_SAMPLE) {
        p->samples++;
        struct node_sample s = {.dht_status = p->dht_status, .dht = {215, 453}, .chip_ok = true, .chip_dc = 271};
        struct conn_actions r;
        conn_sampled(&p->c, &s, p->now, &r);
        if (r.n == 1)
            p->internal_only++;
        port_publish(p, &r);
    }
    if (a.todo & CONN_DO_FEED_WATCHDOG) {
        p->feeds++;
        p->last_feed = p->now;
    }
}

/* Run the port for ms milliseconds in TICK_MS steps, delivering the network's answers when due. */
static void port_run(struct fake_port *p, uint32_t ms)
{
    for (uint32_t t = 0; t < ms && !p->reset; t += TICK_MS) {
        p->now += TICK_MS;
        if (p->wifi_event_at >= 0 && (int32_t)(p->now - (uint32_t)p->wifi_event_at) >= 0) {
            p->wifi_event_at = -1;
            if (p->wifi_event == ANSWER_OK)
                conn_wifi_up(&p->c, p->now);
            else
                conn_wifi_down(&p->c, p->now);
        }
        if (p->broker_event_at >= 0 && (int32_t)(p->now - (uint32_t)p->broker_event_at) >= 0) {
            p->broker_event_at = -1;
            if (p->broker_event == ANSWER_OK)
                conn_broker_up(&p->c, p->now);
            else
                conn_broker_down(&p->c, p->now);
        }
        port_step(p);
        if (!p->reset && p->now - p->last_feed > HW_WATCHDOG_MS) {
            p->reset = p->hw_reset = true;
            p->reset_at = p->now;
        }
    }
}

static void test_happy_path(void **state)
{
    (void)state;
    struct fake_port p;
    port_init(&p, 1000, CONN_STUCK_MS, 42);
    assert_int_equal(p.c.state, CONN_WIFI_CONNECTING);
    port_step(&p); /* at once: join */
    assert_int_equal(p.joins, 1);
    assert_int_equal(p.connects, 0);
    port_run(&p, 300);
    assert_int_equal(p.c.state, CONN_BROKER_CONNECTING);
    assert_int_equal(p.connects, 1);
    port_run(&p, 300);
    assert_int_equal(p.c.state, CONN_PUBLISHING);
    /* "online" first, then the first cycle at once: 3 readings */
    assert_int_equal(p.online, 1);
    assert_int_equal(p.readings, 3);
    assert_string_equal(p.last_msg.topic, "pico/temperature/internal");
    assert_string_equal(p.last_msg.payload, "27.1");
    /* one cycle every 5 s */
    port_run(&p, 60000);
    assert_int_equal(p.samples, 13);
    assert_int_equal(p.readings, 39);
    assert_int_equal(p.online, 1);
    assert_int_equal(p.c.stats.published, 40);
    assert_int_equal(p.c.pending, 0);
    assert_false(p.reset);
    assert_true(p.max_wake <= CONN_MAX_SLEEP_MS);
    assert_int_equal(p.joins, 1);
    assert_int_equal(p.connects, 1);
    assert_int_equal(p.c.stats.broker_connects, 1);
    assert_string_equal(conn_state_name(p.c.state), "PUBLISHING");
}

/* A step's wake time: the next cycle, or the next second for the watchdog. */
static void test_wake_times(void **state)
{
    (void)state;
    struct fake_port p;
    port_init(&p, 0, CONN_STUCK_MS, 1);
    port_run(&p, 1000);
    assert_int_equal(p.c.state, CONN_PUBLISHING);
    struct conn_actions a;
    uint32_t next = p.node.next_ms;
    conn_step(&p.c, next - 300, &a);
    assert_int_equal(a.wake_ms, next);
    assert_false(a.todo & CONN_DO_SAMPLE);
    conn_step(&p.c, next - 3000, &a);
    assert_int_equal(a.wake_ms, next - 3000 + CONN_MAX_SLEEP_MS);
    conn_step(&p.c, next, &a);
    assert_true(a.todo & CONN_DO_SAMPLE);
}

static void test_broker_drop(void **state)
{
    (void)state;
    struct fake_port p;
    port_init(&p, 0, CONN_STUCK_MS, 7);
    port_run(&p, 20000);
    assert_int_equal(p.c.state, CONN_PUBLISHING);
    uint32_t session = p.c.session;
    uint32_t readings = p.readings;

    /* the broker goes away; connects are refused until it is back */
    p.broker = ANSWER_FAIL;
    conn_broker_down(&p.c, p.now);
    assert_int_equal(p.c.state, CONN_BROKER_CONNECTING);
    assert_int_equal(p.c.stats.broker_losses, 1);
    /* the first retry waits base/2..base, not at once */
    uint32_t connects = p.connects;
    port_step(&p);
    assert_int_equal(p.connects, connects);
    port_run(&p, CONN_BACKOFF_BASE_MS);
    assert_int_equal(p.connects, connects + 1);
    /* a result of the old session arriving late is ignored */
    uint32_t published = p.c.stats.published;
    conn_published(&p.c, session, true, p.now);
    assert_int_equal(p.c.stats.published, published);

    port_run(&p, 120000);
    assert_int_equal(p.readings, readings); /* nothing published while down */
    assert_true(p.c.stats.broker_failures >= 4);
    assert_int_equal(p.disconnects, 0); /* refused connects need no clean-up */
    assert_false(p.reset);              /* 2 minutes is under stuck_ms */

    /* back: a new session, "online" again, readings again */
    p.broker = ANSWER_OK;
    port_run(&p, 65000);
    assert_int_equal(p.c.state, CONN_PUBLISHING);
    assert_int_equal(p.c.session, session + 1);
    assert_int_equal(p.online, 2);
    assert_true(p.readings > readings);
    assert_int_equal(p.c.broker_failures, 0);
    assert_int_equal(p.joins, 1); /* Wi-Fi stayed up */
    assert_false(p.reset);
    assert_false(p.hw_reset);
}

/* Back-off delays after n failures in a row lie in [cap/2, cap] with cap = min(max, base * 2^(n-1)). */
static void test_backoff_jitter(void **state)
{
    (void)state;
    uint32_t firsts[2] = {0, 0};
    for (uint32_t seed = 1; seed <= 50; seed++) {
        struct node node;
        assert_int_equal(node_init(&node, "pico", 5000, 0, 0), 0);
        struct conn_config cfg = conn_config_default();
        cfg.stuck_ms = 0;
        struct conn c;
        conn_init(&c, &node, &cfg, seed, 0);
        uint32_t now = 0;
        struct conn_actions a;
        for (uint32_t n = 1; n <= 10; n++) {
            conn_step(&c, now, &a);
            assert_true(a.todo & CONN_DO_WIFI_JOIN);
            conn_wifi_down(&c, now);
            uint32_t delay = c.at_ms - now;
            uint64_t cap = (uint64_t)CONN_BACKOFF_BASE_MS << (n - 1);
            if (cap > CONN_BACKOFF_MAX_MS)
                cap = CONN_BACKOFF_MAX_MS;
            assert_true(delay >= cap / 2 && delay <= cap);
            if (n == 1 && seed <= 2)
                firsts[seed - 1] = delay;
            /* nothing before the delay is over */
            conn_step(&c, now + delay - 1, &a);
            assert_false(a.todo & CONN_DO_WIFI_JOIN);
            assert_int_equal(a.wake_ms, now + delay);
            now += delay;
        }
    }
    assert_true(firsts[0] != firsts[1]); /* devices do not retry in lockstep */
}

static void test_wifi_loss(void **state)
{
    (void)state;
    struct fake_port p;
    port_init(&p, 0, CONN_STUCK_MS, 9);
    port_run(&p, 10000);
    assert_int_equal(p.c.state, CONN_PUBLISHING);
    uint32_t readings = p.readings;

    /* the access point goes away: close the MQTT session, rejoin with back-off */
    p.wifi = ANSWER_FAIL;
    conn_wifi_down(&p.c, p.now);
    assert_int_equal(p.c.state, CONN_WIFI_CONNECTING);
    port_step(&p);
    assert_int_equal(p.disconnects, 1);
    assert_int_equal(p.joins, 1);
    port_run(&p, 30000);
    assert_true(p.joins >= 4);
    assert_int_equal(p.readings, readings);
    assert_int_equal(p.c.stats.wifi_losses, 1);

    /* the join hangs: abandoned after its timeout, with a leave */
    p.wifi = ANSWER_NONE;
    uint32_t leaves = p.leaves;
    port_run(&p, CONN_WIFI_TIMEOUT_MS + CONN_BACKOFF_MAX_MS);
    assert_true(p.leaves > leaves);

    /* back: join, connect, "online", readings */
    p.wifi = ANSWER_OK;
    port_run(&p, CONN_BACKOFF_MAX_MS + CONN_WIFI_TIMEOUT_MS);
    assert_int_equal(p.c.state, CONN_PUBLISHING);
    assert_int_equal(p.online, 2);
    assert_true(p.readings > readings);
    assert_false(p.reset);

    /* Wi-Fi lost while connecting to the broker: the connect in flight is closed */
    p.broker = ANSWER_NONE;
    conn_broker_down(&p.c, p.now);
    port_run(&p, 2000);
    assert_int_equal(p.c.state, CONN_BROKER_CONNECTING);
    assert_true(p.c.attempting);
    uint32_t disconnects = p.disconnects;
    conn_wifi_down(&p.c, p.now);
    port_step(&p);
    assert_int_equal(p.disconnects, disconnects + 1);
    assert_int_equal(p.c.state, CONN_WIFI_CONNECTING);
}

static void test_broker_connect_timeout(void **state)
{
    (void)state;
    struct fake_port p;
    port_init(&p, 0, CONN_STUCK_MS, 3);
    p.broker = ANSWER_NONE; /* SYN lost, or no CONNACK */
    port_run(&p, 1000);
    assert_int_equal(p.connects, 1);
    port_run(&p, CONN_BROKER_TIMEOUT_MS);
    assert_int_equal(p.disconnects, 1);
    assert_int_equal(p.c.stats.broker_failures, 1);
    assert_int_equal(p.c.state, CONN_BROKER_CONNECTING);
    p.broker = ANSWER_OK;
    port_run(&p, 3000);
    assert_int_equal(p.c.state, CONN_PUBLISHING);
}

static void test_sensor_faults(void **state)
{
    (void)state;
    struct fake_port p;
    port_init(&p, 0, CONN_STUCK_MS, 5);
    port_run(&p, 1000);
    assert_int_equal(p.c.state, CONN_PUBLISHING);
    /* a dead DHT22 for longer than stuck_ms: the chip temperature keeps the node alive */
    static const int faults[] = {DHT22_ERR_TIMEOUT, DHT22_ERR_BUS_LOW, DHT22_ERR_PULSE, DHT22_ERR_CHECKSUM};
    uint32_t cycles = p.c.stats.cycles;
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        p.dht_status = faults[i];
        port_run(&p, CONN_STUCK_MS / 2);
    }
    assert_false(p.reset);
    uint32_t faulty = p.c.stats.cycles - cycles;
    assert_true(faulty >= 4 * (CONN_STUCK_MS / 2 / 5000) - 1);
    assert_int_equal(p.c.stats.dht_faults, faulty);
    assert_int_equal(p.internal_only, faulty);
    assert_int_equal(p.c.last_dht_status, DHT22_ERR_CHECKSUM);
    assert_string_equal(p.last_msg.topic, "pico/temperature/internal");
    /* the sensor is back */
    p.dht_status = DHT22_CACHED;
    uint32_t readings = p.readings;
    port_run(&p, 5000);
    assert_int_equal(p.readings, readings + 3);
    assert_int_equal(p.c.stats.dht_faults, faulty);

    /* no values at all (no DHT22, no ADC): nothing is published, and that is no progress */
    struct conn_actions a;
    struct node_sample none = {.dht_status = DHT22_ERR_TIMEOUT, .chip_ok = false};
    conn_step(&p.c, p.node.next_ms, &a);
    assert_true(a.todo & CONN_DO_SAMPLE);
    conn_sampled(&p.c, &none, p.node.next_ms, &a);
    assert_int_equal(a.n, 0);
    assert_false(a.todo & CONN_DO_PUBLISH);
}

static void test_stuck_broker_down_resets(void **state)
{
    (void)state;
    struct fake_port p;
    port_init(&p, 0, CONN_STUCK_MS, 11);
    port_run(&p, 10000);
    assert_int_equal(p.c.state, CONN_PUBLISHING);
    uint32_t progress = p.c.progress_ms;
    /* the broker is gone for good */
    p.broker = ANSWER_FAIL;
    conn_broker_down(&p.c, p.now);
    port_run(&p, 2 * CONN_STUCK_MS);
    assert_true(p.reset);
    assert_false(p.hw_reset); /* the core said reset before the hardware watchdog had to */
    assert_true(p.reset_at >= progress + CONN_STUCK_MS);
    assert_true(p.reset_at <= progress + CONN_STUCK_MS + TICK_MS);
    /* and it stays: no more feeding, whatever happens next */
    struct conn_actions a;
    conn_broker_up(&p.c, p.now);
    conn_step(&p.c, p.now + 100, &a);
    assert_int_equal(a.todo, CONN_DO_RESET);
}

static void test_stuck_publishes_unconfirmed(void **state)
{
    (void)state;
    /* a half-open connection: publishes go out and nothing ever confirms them */
    struct fake_port p;
    port_init(&p, 0, 60000, 13);
    port_run(&p, 1000);
    assert_int_equal(p.c.state, CONN_PUBLISHING);
    p.publish = ANSWER_NONE;
    uint32_t start = p.now;
    port_run(&p, 120000);
    assert_true(p.reset);
    assert_false(p.hw_reset);
    assert_true(p.reset_at - start <= 60000 + TICK_MS);
    /* the unconfirmed queue stayed bounded: cycles were skipped, not queued */
    assert_true(p.c.pending <= CONN_PENDING_MAX + NODE_MSGS_MAX);
    assert_true(p.c.stats.cycles_skipped > 0);
}

static void test_stuck_wifi_never_joins(void **state)
{
    (void)state;
    struct fake_port p;
    port_init(&p, 0xffff0000u, 120000, 17); /* the 32-bit clock wraps on the way */
    p.wifi = ANSWER_NONE;
    port_run(&p, 200000);
    assert_true(p.reset);
    assert_false(p.hw_reset);
    assert_int_equal(p.reset_at - 0xffff0000u, 120000);
    assert_true(p.leaves >= 2);
    assert_int_equal(p.c.stats.wifi_joins, 0);
}

static void test_never_stuck_when_disabled(void **state)
{
    (void)state;
    struct fake_port p;
    port_init(&p, 0, 0, 19);
    p.wifi = ANSWER_FAIL;
    port_run(&p, 30 * 60 * 1000);
    assert_false(p.reset);
    assert_false(p.hw_reset); /* fed every second the whole time */
    assert_true(p.feeds >= 30 * 60 - 1);
}

static void test_publish_failures_end_session(void **state)
{
    (void)state;
    struct fake_port p;
    port_init(&p, 0, CONN_STUCK_MS, 23);
    port_run(&p, 1000);
    assert_int_equal(p.c.state, CONN_PUBLISHING);
    p.publish = ANSWER_FAIL;
    /* the next cycle's (at 5 s) three readings fail: the session is closed and opened again */
    port_run(&p, 4100);
    assert_int_equal(p.c.stats.publish_failures, 3);
    assert_int_equal(p.disconnects, 1);
    assert_int_equal(p.c.stats.broker_losses, 1);
    p.publish = ANSWER_OK;
    port_run(&p, 3000);
    assert_int_equal(p.c.state, CONN_PUBLISHING);
    assert_int_equal(p.online, 2);
    /* two failures in a row are tolerated */
    assert_int_equal(conn_state_name(CONN_WIFI_CONNECTING)[0], 'W');
    uint32_t s = p.c.session;
    conn_published(&p.c, s, false, p.now);
    conn_published(&p.c, s, false, p.now);
    conn_published(&p.c, s, true, p.now);
    conn_published(&p.c, s, false, p.now);
    assert_int_equal(p.c.state, CONN_PUBLISHING);
}

static void test_no_wifi_stage(void **state)
{
    (void)state;
    struct node node;
    assert_int_equal(node_init(&node, "sim0001", 2000, 1, 0), 0);
    struct conn_config cfg = {.wifi = false};
    struct conn c;
    conn_init(&c, &node, &cfg, 0, 0);
    assert_int_equal(c.state, CONN_BROKER_CONNECTING);
    assert_int_equal(c.cfg.backoff_max_ms, CONN_BACKOFF_MAX_MS); /* zero fields took their defaults */
    struct conn_actions a;
    conn_step(&c, 0, &a);
    assert_true(a.todo & CONN_DO_BROKER_CONNECT);
    assert_false(a.todo & CONN_DO_WIFI_JOIN);
    conn_wifi_down(&c, 10); /* no Wi-Fi: ignored */
    conn_wifi_up(&c, 10);
    assert_int_equal(c.state, CONN_BROKER_CONNECTING);
    conn_broker_up(&c, 20);
    conn_step(&c, 20, &a);
    assert_true(a.todo & CONN_DO_PUBLISH);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.msgs[0].topic, "sim0001/status");
    assert_true(a.todo & CONN_DO_SAMPLE);
    /* events that do not fit are ignored */
    conn_broker_up(&c, 30);
    assert_int_equal(c.session, 1);
    conn_step(&c, 30, &a);
    assert_false(a.todo & CONN_DO_PUBLISH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path),
        cmocka_unit_test(test_wake_times),
        cmocka_unit_test(test_broker_drop),
        cmocka_unit_test(test_backoff_jitter),
        cmocka_unit_test(test_wifi_loss),
        cmocka_unit_test(test_broker_connect_timeout),
        cmocka_unit_test(test_sensor_faults),
        cmocka_unit_test(test_stuck_broker_down_resets),
        cmocka_unit_test(test_stuck_publishes_unconfirmed),
        cmocka_unit_test(test_stuck_wifi_never_joins),
        cmocka_unit_test(test_never_stuck_when_disabled),
        cmocka_unit_test(test_publish_failures_end_session),
        cmocka_unit_test(test_no_wifi_stage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
