/* mqtt_in.c - libmosquitto subscriber in our own poll loop: connect, subscribe, read, keepalive (see mqtt_in.h). */
#include "mqtt_in.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "core/topic.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MQTT_IN_BACKOFF_BASE_MS 250
#define MQTT_IN_BACKOFF_MAX_MS 5000
#define MQTT_IN_READS_PER_WAKE 64 /* loop_read calls per poll wake-up while messages keep coming */

/* ---- filters ---- */

bool mqtt_in_filter_valid(const char *filter)
{
    if (!strncmp(filter, "$share/", 7)) {
        const char *group = filter + 7;
        const char *slash = strchr(group, '/');
        if (!slash || slash == group)
            return false;
        for (const char *p = group; p < slash; p++)
            if (*p == '+' || *p == '#')
                return false;
        return topic_filter_valid(slash + 1);
    }
    return topic_filter_valid(filter);
}

void mqtt_in_free_filters(char **filters, int n)
{
    for (int i = 0; i < n; i++)
        free(filters[i]);
    free(filters);
}

int mqtt_in_parse_filters(const char *list, char ***out, int *n, char *err, size_t errlen)
{
    char **filters = calloc(MQTT_IN_MAX_FILTERS, sizeof *filters);
    int count = 0;
    if (!filters) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a == b) {
            snprintf(err, errlen, "--subscribe: empty filter in '%.200s'", list);
            goto fail;
        }
        if (count == MQTT_IN_MAX_FILTERS) {
            snprintf(err, errlen, "--subscribe: more than %d filters", MQTT_IN_MAX_FILTERS);
            goto fail;
        }
        filters[count] = strndup(a, (size_t)(b - a));
        if (!filters[count]) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (!mqtt_in_filter_valid(filters[count])) {
            snprintf(err, errlen, "--subscribe: '%.200s' is not a valid MQTT filter", filters[count]);
            count++;
            goto fail;
        }
        count++;
        if (!*end)
            break;
        p = end + 1;
    }
    *out = filters;
    *n = count;
    return 0;
fail:
    mqtt_in_free_filters(filters, count);
    return -1;
}

/* Text for a libmosquitto error code. */
static const char *mqtt_in_strerror(int rc)
{
    if (rc == MOSQ_ERR_ERRNO)
        return strerror(errno);
    if (rc == MOSQ_ERR_KEEPALIVE)
        return "keepalive timeout: no answer from the broker, or reading paused too long";
    return mosquitto_strerror(rc);
}

/* ---- callbacks (called from inside mosquitto_loop_*) ---- */

static void mqtt_in_schedule_retry(struct mqtt_in *m, int64_t now_ms)
{
    m->state = MQ_WAIT;
    m->retry_at_ms = now_ms + backoff_next_ms(&m->backoff);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags)
{
    struct mqtt_in *m = obj;
    if (rc != 0) {
        /* libmosquitto closes the socket after this and calls on_disconnect */
        log_error("broker %s:%d refused the connection: %s", m->cfg.host, m->cfg.port, mosquitto_connack_string(rc));
        return;
    }
    m->state = MQ_UP;
    if (m->ever_connected)
        m->stats->mqtt_reconnects++;
    m->ever_connected = true;
    bool session_present = flags & 1;
    log_info("connected to broker %s:%d as %s (%s session%s)", m->cfg.host, m->cfg.port, m->cfg.client_id,
             m->cfg.clean_session ? "clean" : "persistent",
             m->cfg.clean_session ? "" : session_present ? ", resumed" : ", new");
    int mid;
    rc = mosquitto_subscribe_multiple(mosq, &mid, m->cfg.nfilters, m->cfg.filters, m->cfg.qos, 0, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_error("broker %s:%d: cannot subscribe: %s", m->cfg.host, m->cfg.port, mqtt_in_strerror(rc));
        mosquitto_disconnect(mosq);
    }
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int qos_count, const int *granted)
{
    (void)mosq;
    (void)mid;
    struct mqtt_in *m = obj;
    for (int i = 0; i < qos_count && i < m->cfg.nfilters; i++) {
        if (granted[i] > 2)
            log_error("broker %s:%d refused the subscription to %s", m->cfg.host, m->cfg.port, m->cfg.filters[i]);
        else
            log_info("subscribed to %s (qos %d)", m->cfg.filters[i], granted[i]);
    }
    /* a successful session resets the backoff */
    backoff_reset(&m->backoff);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    struct mqtt_in *m = obj;
    int64_t now = time_mono_ms();
    if (m->state == MQ_CLOSING || m->state == MQ_CLOSED) {
        m->state = MQ_CLOSED;
        log_info("disconnected from broker %s:%d", m->cfg.host, m->cfg.port);
        return;
    }
    if (m->state == MQ_WAIT)
        return; /* already handled */
    const char *why = mqtt_in_strerror(rc);
    mqtt_in_schedule_retry(m, now);
    log_warn("broker %s:%d connection lost (%s); reconnecting in %lld ms", m->cfg.host, m->cfg.port, why,
             (long long)(m->retry_at_ms - now));
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    (void)mosq;
    struct mqtt_in *m = obj;
    m->delivered++;
    m->on_message(m->ctx, msg);
}

/* ---- lifecycle ---- */

int mqtt_in_init(struct mqtt_in *m, const struct mqtt_in_config *cfg, mqtt_in_message_fn on_msg,
                 mqtt_in_can_read_fn can_read, void *ctx, struct ingest_stats *stats, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->on_message = on_msg;
    m->can_read = can_read;
    m->ctx = ctx;
    m->stats = stats;
    m->state = MQ_WAIT;
    m->retry_at_ms = 0;
    backoff_init(&m->backoff, MQTT_IN_BACKOFF_BASE_MS, MQTT_IN_BACKOFF_MAX_MS, (uint32_t)time_now_us() ^ 0x5bd1e995u);
    m->mosq = mosquitto_new(cfg->client_id, cfg->clean_session, m);
    if (!m->mosq) {
        snprintf(err, errlen, "cannot create the MQTT client: %s", strerror(errno));
        return -1;
    }
    mosquitto_connect_with_flags_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_subscribe_callback_set(m->mosq, on_subscribe);
    mosquitto_message_callback_set(m->mosq, on_message);
    return 0;
}

void mqtt_in_free(struct mqtt_in *m)
{
    if (m->mosq)
        mosquitto_destroy(m->mosq);
    m->mosq = NULL;
}

int mqtt_in_pollfd(struct mqtt_in *m, short *events)
{
    int fd = mosquitto_socket(m->mosq);
    if (fd < 0)
        return -1;
    short ev = 0;
    /* CONNACK and SUBACK must be read even when paused; only a session that is up is held back */
    if (m->state == MQ_CONNECTING || (m->state == MQ_UP && m->can_read(m->ctx)))
        ev |= POLLIN;
    if (mosquitto_want_write(m->mosq))
        ev |= POLLOUT;
    *events = ev;
    return fd;
}

int64_t mqtt_in_next_timer(const struct mqtt_in *m)
{
    return m->state == MQ_WAIT ? m->retry_at_ms : INT64_MAX;
}

static void mqtt_in_connect(struct mqtt_in *m, int64_t now_ms)
{
    /* resolves the host name (blocking getaddrinfo), then a non-blocking TCP connect */
    const char *host = m->cfg.connect_host ? m->cfg.connect_host : m->cfg.host;
    int port = m->cfg.connect_host ? m->cfg.connect_port : m->cfg.port;
    int rc = m->attempted ? mosquitto_reconnect_async(m->mosq)
                          : mosquitto_connect_async(m->mosq, host, port, m->cfg.keepalive_s);
    m->attempted = true;
    if (rc != MOSQ_ERR_SUCCESS) {
        const char *why = mqtt_in_strerror(rc);
        mqtt_in_schedule_retry(m, now_ms);
        log_warn("broker %s:%d: cannot connect (%s); retrying in %lld ms", m->cfg.host, m->cfg.port, why,
                 (long long)(m->retry_at_ms - now_ms));
        return;
    }
    m->state = MQ_CONNECTING;
}

void mqtt_in_service(struct mqtt_in *m, short revents, int64_t now_ms)
{
    if (m->state == MQ_CLOSED)
        return;
    if (m->state == MQ_WAIT) {
        /* no new session while reading is paused: it could only sit unread */
        if (now_ms >= m->retry_at_ms && m->can_read(m->ctx))
            mqtt_in_connect(m, now_ms);
        return;
    }
    bool readable = revents & POLLIN;
    /* an error or hang-up shows up only by reading: do it even when paused, or poll would spin */
    bool broken = revents & (POLLERR | POLLHUP | POLLNVAL);
    if (readable || broken) {
        for (int i = 0; i < MQTT_IN_READS_PER_WAKE; i++) {
            if (mosquitto_socket(m->mosq) < 0)
                break;
            if (i > 0 && (m->state != MQ_UP || !m->can_read(m->ctx)))
                break;
            uint64_t before = m->delivered;
            if (mosquitto_loop_read(m->mosq, 1) != MOSQ_ERR_SUCCESS)
                break; /* on_disconnect has run */
            if (m->delivered == before)
                break; /* a partial packet or a control packet: wait for poll */
        }
    }
    if (mosquitto_socket(m->mosq) >= 0 && ((revents & POLLOUT) || mosquitto_want_write(m->mosq)))
        mosquitto_loop_write(m->mosq, 1);
    if (mosquitto_socket(m->mosq) >= 0)
        mosquitto_loop_misc(m->mosq); /* keepalive: PINGREQ, or give up on a silent broker */
    if (m->state == MQ_CLOSING && mosquitto_socket(m->mosq) < 0)
        m->state = MQ_CLOSED;
}

void mqtt_in_stop(struct mqtt_in *m)
{
    if (m->state == MQ_UP || m->state == MQ_CONNECTING) {
        m->state = MQ_CLOSING;
        if (mosquitto_disconnect(m->mosq) != MOSQ_ERR_SUCCESS || mosquitto_socket(m->mosq) < 0)
            m->state = MQ_CLOSED;
    } else
        m->state = MQ_CLOSED;
}

bool mqtt_in_closed(const struct mqtt_in *m)
{
    return m->state == MQ_CLOSED;
}
