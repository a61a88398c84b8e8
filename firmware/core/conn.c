/* conn.c - Wi-Fi / broker / publish state machine, back-off and watchdog policy (see conn.h). */
#include "conn.h"

#include "backoff.h"

#include <string.h>

/* a is at or after b on the wrapping 32-bit clock */
static bool conn_reached(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) >= 0;
}

struct conn_config conn_config_default(void)
{
    struct conn_config cfg = {
        .wifi = true,
        .backoff_base_ms = CONN_BACKOFF_BASE_MS,
        .backoff_max_ms = CONN_BACKOFF_MAX_MS,
        .wifi_timeout_ms = CONN_WIFI_TIMEOUT_MS,
        .broker_timeout_ms = CONN_BROKER_TIMEOUT_MS,
        .stuck_ms = CONN_STUCK_MS,
        .max_sleep_ms = CONN_MAX_SLEEP_MS,
        .publish_fails_max = CONN_PUBLISH_FAILS_MAX,
        .pending_max = CONN_PENDING_MAX,
    };
    return cfg;
}

void conn_init(struct conn *c, struct node *node, const struct conn_config *cfg, uint32_t seed, uint32_t now_ms)
{
    struct conn_config d = conn_config_default();
    memset(c, 0, sizeof *c);
    c->node = node;
    c->cfg = *cfg;
    if (!c->cfg.backoff_base_ms)
        c->cfg.backoff_base_ms = d.backoff_base_ms;
    if (!c->cfg.backoff_max_ms)
        c->cfg.backoff_max_ms = d.backoff_max_ms;
    if (c->cfg.backoff_max_ms < c->cfg.backoff_base_ms)
        c->cfg.backoff_max_ms = c->cfg.backoff_base_ms;
    if (!c->cfg.wifi_timeout_ms)
        c->cfg.wifi_timeout_ms = d.wifi_timeout_ms;
    if (!c->cfg.broker_timeout_ms)
        c->cfg.broker_timeout_ms = d.broker_timeout_ms;
    if (!c->cfg.max_sleep_ms)
        c->cfg.max_sleep_ms = d.max_sleep_ms;
    if (!c->cfg.publish_fails_max)
        c->cfg.publish_fails_max = d.publish_fails_max;
    if (!c->cfg.pending_max)
        c->cfg.pending_max = d.pending_max;
    c->state = c->cfg.wifi ? CONN_WIFI_CONNECTING : CONN_BROKER_CONNECTING;
    c->attempting = false;
    c->at_ms = now_ms; /* the first attempt starts at once */
    c->rng = seed ? seed : 0x9e3779b9u;
    c->progress_ms = now_ms;
    c->last_dht_status = 0;
}

/* Enter state s with no attempt in flight; the next attempt after a back-off for the stage's failure count. */
static void conn_retry_later(struct conn *c, enum conn_state s, uint32_t now_ms)
{
    uint32_t *failures = s == CONN_WIFI_CONNECTING ? &c->wifi_failures : &c->broker_failures;
    if (*failures < 32)
        (*failures)++;
    c->state = s;
    c->attempting = false;
    c->at_ms = now_ms + backoff_delay_ms(c->cfg.backoff_base_ms, c->cfg.backoff_max_ms, *failures - 1, &c->rng);
    c->pending = 0;
    c->publish_fails = 0;
    c->owed &= ~(unsigned)CONN_DO_PUBLISH; /* an "online" not yet handed out belongs to the lost session */
}

void conn_wifi_up(struct conn *c, uint32_t now_ms)
{
    if (c->state != CONN_WIFI_CONNECTING)
        return;
    /* also when backing off: the network came up anyway, so a pending leave is moot */
    c->owed &= ~(unsigned)CONN_DO_WIFI_LEAVE;
    c->stats.wifi_joins++;
    c->wifi_failures = 0;
    c->state = CONN_BROKER_CONNECTING;
    c->attempting = false;
    c->at_ms = now_ms;
}

void conn_wifi_down(struct conn *c, uint32_t now_ms)
{
    if (!c->cfg.wifi)
        return;
    switch (c->state) {
    case CONN_WIFI_CONNECTING:
        if (!c->attempting)
            return; /* a failure already counted, reported again */
        c->stats.wifi_failures++;
        conn_retry_later(c, CONN_WIFI_CONNECTING, now_ms);
        return;
    case CONN_BROKER_CONNECTING:
        if (c->attempting)
            c->owed |= CONN_DO_BROKER_DISCONNECT;
        break;
    case CONN_PUBLISHING:
        c->owed |= CONN_DO_BROKER_DISCONNECT;
        break;
    }
    c->stats.wifi_losses++;
    conn_retry_later(c, CONN_WIFI_CONNECTING, now_ms);
}

void conn_broker_up(struct conn *c, uint32_t now_ms)
{
    if (c->state != CONN_BROKER_CONNECTING || !c->attempting)
        return;
    c->stats.broker_connects++;
    c->broker_failures = 0;
    c->state = CONN_PUBLISHING;
    c->attempting = false;
    c->session++;
    c->pending = 0;
    c->publish_fails = 0;
    c->progress_ms = now_ms;
    c->owed |= CONN_DO_PUBLISH; /* "online", retained */
}

void conn_broker_down(struct conn *c, uint32_t now_ms)
{
    if (c->state == CONN_BROKER_CONNECTING && c->attempting)
        c->stats.broker_failures++;
    else if (c->state == CONN_PUBLISHING)
        c->stats.broker_losses++;
    else
        return;
    conn_retry_later(c, CONN_BROKER_CONNECTING, now_ms);
}

void conn_published(struct conn *c, uint32_t session, bool ok, uint32_t now_ms)
{
    if (c->state != CONN_PUBLISHING || session != c->session)
        return;
    if (c->pending)
        c->pending--;
    if (ok) {
        c->stats.published++;
        c->publish_fails = 0;
        c->progress_ms = now_ms;
        return;
    }
    c->stats.publish_failures++;
    if (++c->publish_fails < c->cfg.publish_fails_max)
        return;
    /* the session is broken even if TCP has not noticed yet: start over */
    c->stats.broker_losses++;
    conn_retry_later(c, CONN_BROKER_CONNECTING, now_ms);
    c->owed |= CONN_DO_BROKER_DISCONNECT;
}

/* The earliest time conn_step() has something to decide. */
static uint32_t conn_wake(const struct conn *c, uint32_t now_ms)
{
    uint32_t wake = now_ms + c->cfg.max_sleep_ms;
    uint32_t at = wake;
    switch (c->state) {
    case CONN_WIFI_CONNECTING:
        at = c->attempting ? c->at_ms + c->cfg.wifi_timeout_ms : c->at_ms;
        break;
    case CONN_BROKER_CONNECTING:
        at = c->attempting ? c->at_ms + c->cfg.broker_timeout_ms : c->at_ms;
        break;
    case CONN_PUBLISHING:
        if (!c->cfg.no_cycle)
            at = c->node->next_ms;
        break;
    }
    if (!conn_reached(at, wake))
        wake = at;
    if (c->cfg.stuck_ms && !conn_reached(c->progress_ms + c->cfg.stuck_ms, wake))
        wake = c->progress_ms + c->cfg.stuck_ms;
    return conn_reached(wake, now_ms) ? wake : now_ms;
}

void conn_step(struct conn *c, uint32_t now_ms, struct conn_actions *a)
{
    memset(a, 0, sizeof *a);
    a->session = c->session;
    if (c->cfg.stuck_ms && conn_reached(now_ms, c->progress_ms + c->cfg.stuck_ms))
        c->stuck = true;
    if (c->stuck) {
        /* nothing else matters now: no feeding, the board resets */
        a->todo = CONN_DO_RESET;
        a->wake_ms = now_ms + c->cfg.max_sleep_ms;
        return;
    }
    a->todo = c->owed;
    c->owed = 0;
    if (a->todo & CONN_DO_PUBLISH) {
        node_status(c->node, true, &a->msgs[0]);
        a->n = 1;
        c->pending++;
    }

    /* an attempt without an outcome in time has failed */
    if (c->attempting && c->state == CONN_WIFI_CONNECTING && conn_reached(now_ms, c->at_ms + c->cfg.wifi_timeout_ms)) {
        c->stats.wifi_failures++;
        conn_retry_later(c, CONN_WIFI_CONNECTING, now_ms);
        a->todo |= CONN_DO_WIFI_LEAVE;
    } else if (c->attempting && c->state == CONN_BROKER_CONNECTING &&
               conn_reached(now_ms, c->at_ms + c->cfg.broker_timeout_ms)) {
        c->stats.broker_failures++;
        conn_retry_later(c, CONN_BROKER_CONNECTING, now_ms);
        a->todo |= CONN_DO_BROKER_DISCONNECT;
    }

    /* the next attempt, when its back-off is over */
    if (c->state != CONN_PUBLISHING && !c->attempting && conn_reached(now_ms, c->at_ms)) {
        c->attempting = true;
        c->at_ms = now_ms;
        a->todo |= c->state == CONN_WIFI_CONNECTING ? CONN_DO_WIFI_JOIN : CONN_DO_BROKER_CONNECT;
    }

    if (c->state == CONN_PUBLISHING && !c->cfg.no_cycle && node_due(c->node, now_ms)) {
        if (c->pending >= c->cfg.pending_max) {
            /* the connection does not keep up: drop this cycle rather than queue without bound */
            c->stats.cycles_skipped++;
            node_advance(c->node, now_ms);
        } else {
            a->todo |= CONN_DO_SAMPLE;
        }
    }

    a->todo |= CONN_DO_FEED_WATCHDOG;
    a->wake_ms = conn_wake(c, now_ms);
}

void conn_sampled(struct conn *c, const struct node_sample *s, uint32_t now_ms, struct conn_actions *a)
{
    memset(a, 0, sizeof *a);
    a->session = c->session;
    if (c->state == CONN_PUBLISHING && node_due(c->node, now_ms)) {
        a->n = node_readings(c->node, s, a->msgs);
        node_advance(c->node, now_ms);
        c->stats.cycles++;
        c->last_dht_status = s->dht_status;
        if (s->dht_status != DHT22_OK && s->dht_status != DHT22_CACHED)
            c->stats.dht_faults++;
        c->pending += (uint32_t)a->n;
        if (a->n)
            a->todo = CONN_DO_PUBLISH;
    }
    a->wake_ms = conn_wake(c, now_ms);
}

void conn_will(const struct conn *c, struct node_msg *out)
{
    node_status(c->node, false, out);
}

const char *conn_state_name(enum conn_state s)
{
    switch (s) {
    case CONN_WIFI_CONNECTING:
        return "WIFI_CONNECTING";
    case CONN_BROKER_CONNECTING:
        return "BROKER_CONNECTING";
    case CONN_PUBLISHING:
        return "PUBLISHING";
    }
    return "?";
}
