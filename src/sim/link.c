/* link.c - a simulated device's MQTT connection, driven by the caller's poll loop (see link.h). */
#include "link.h"

#include "core/log.h"
#include "core/timeutil.h"

#include <mosquitto.h>
#include <poll.h>
#include <string.h>

#define LINK_KEEPALIVE_S 60
#define LINK_MISC_MS 1000
#define LINK_BACKOFF_BASE_MS 500
#define LINK_BACKOFF_MAX_MS 30000

static void link_schedule_retry(struct link *l, int64_t now_ms)
{
    uint32_t delay = backoff_next_ms(&l->backoff);
    l->state = LINK_DOWN;
    l->ready = false;
    l->retry_at_ms = now_ms + delay;
    log_info("%s: reconnecting to %s:%d in %u ms", l->node->device, l->host, l->port, delay);
}

static void link_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    struct link *l = obj;
    if (rc != 0) {
        /* the broker closes the connection; link_on_disconnect schedules the retry */
        log_warn("%s: broker %s:%d refused the connection: %s", l->node->device, l->host, l->port,
                 mosquitto_connack_string(rc));
        return;
    }
    backoff_reset(&l->backoff);
    l->connects++;
    struct node_msg m;
    node_status(l->node, l->state != LINK_CLOSING, &m);
    if (l->state == LINK_CLOSING) {
        /* link_close() came while connecting: say goodbye right away */
        l->offline_acked = false;
    } else {
        l->state = LINK_ONLINE;
        l->ready = false;
    }
    int mid = 0;
    rc = mosquitto_publish(mosq, &mid, m.topic, (int)m.len, m.payload, m.qos, m.retain);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_warn("%s: publishing %s failed: %s", l->node->device, m.payload, mosquitto_strerror(rc));
        return;
    }
    l->status_mid = mid;
    log_info("%s: connected to %s:%d", l->node->device, l->host, l->port);
}

static void link_on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    (void)mosq;
    struct link *l = obj;
    if (l->status_mid && mid == l->status_mid) {
        l->status_mid = 0;
        if (l->state == LINK_ONLINE)
            l->ready = true;
        else if (l->state == LINK_CLOSING)
            l->offline_acked = true;
        return;
    }
    if (l->done < l->sent)
        l->done++;
}

static void link_on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    struct link *l = obj;
    int64_t now = time_mono_ms();
    if (l->qos == 0 && l->sent > l->done) {
        /* libmosquitto drops QoS 0 packets still queued when the socket closes */
        l->lost += l->sent - l->done;
        l->done = l->sent;
    }
    l->status_mid = 0;
    l->ready = false;
    if (l->state == LINK_CLOSING || l->state == LINK_CLOSED) {
        if (rc != 0)
            log_warn("%s: connection lost while closing: %s", l->node->device, mosquitto_strerror(rc));
        l->state = LINK_CLOSED;
        return;
    }
    if (l->state == LINK_ONLINE) {
        log_warn("%s: connection to %s:%d lost: %s", l->node->device, l->host, l->port,
                 rc == MOSQ_ERR_ERRNO ? "socket error" : mosquitto_strerror(rc));
        /* QoS 1/2: libmosquitto keeps them and resends them (DUP) once the next CONNACK arrives */
        if (l->qos > 0 && l->sent > l->done)
            log_info("%s: %llu readings not acknowledged yet: sent again after reconnecting", l->node->device,
                     (unsigned long long)(l->sent - l->done));
    } else {
        log_warn("%s: cannot connect to %s:%d: %s", l->node->device, l->host, l->port,
                 rc == MOSQ_ERR_ERRNO ? "socket error" : mosquitto_strerror(rc));
    }
    link_schedule_retry(l, now);
}

int link_init(struct link *l, const char *client_id, const struct node *node, const char *host, int port,
              uint8_t qos, uint32_t max_inflight, uint32_t seed)
{
    memset(l, 0, sizeof *l);
    l->node = node;
    l->host = host;
    l->port = port;
    l->qos = qos;
    l->state = LINK_DOWN;
    backoff_init(&l->backoff, LINK_BACKOFF_BASE_MS, LINK_BACKOFF_MAX_MS, seed);
    l->mosq = mosquitto_new(client_id, true, l);
    if (!l->mosq) {
        log_error("%s: cannot create an MQTT client", node->device);
        return -1;
    }
    struct node_msg will;
    node_status(node, false, &will);
    int rc = mosquitto_will_set(l->mosq, will.topic, (int)will.len, will.payload, will.qos, will.retain);
    if (rc == MOSQ_ERR_SUCCESS && max_inflight)
        rc = mosquitto_max_inflight_messages_set(l->mosq, max_inflight);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_error("%s: cannot set up the MQTT client: %s", node->device, mosquitto_strerror(rc));
        mosquitto_destroy(l->mosq);
        l->mosq = NULL;
        return -1;
    }
    mosquitto_connect_callback_set(l->mosq, link_on_connect);
    mosquitto_disconnect_callback_set(l->mosq, link_on_disconnect);
    mosquitto_publish_callback_set(l->mosq, link_on_publish);
    return 0;
}

void link_destroy(struct link *l)
{
    if (l->mosq)
        mosquitto_destroy(l->mosq);
    l->mosq = NULL;
}

static void link_connect(struct link *l, int64_t now_ms)
{
    /* connect_async (not reconnect_async) every time: it also works when the last attempt failed early */
    int rc = mosquitto_connect_async(l->mosq, l->host, l->port, LINK_KEEPALIVE_S);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_warn("%s: cannot connect to %s:%d: %s", l->node->device, l->host, l->port,
                 rc == MOSQ_ERR_ERRNO ? "socket error" : mosquitto_strerror(rc));
        link_schedule_retry(l, now_ms);
        return;
    }
    l->state = LINK_CONNECTING;
    l->misc_at_ms = now_ms + LINK_MISC_MS;
}

int link_fd(const struct link *l)
{
    if (l->state != LINK_CONNECTING && l->state != LINK_ONLINE && l->state != LINK_CLOSING)
        return -1;
    return mosquitto_socket(l->mosq);
}

short link_events(const struct link *l)
{
    return (short)(POLLIN | (mosquitto_want_write(l->mosq) ? POLLOUT : 0));
}

void link_service(struct link *l, short revents, int64_t now_ms)
{
    if (l->state == LINK_DOWN) {
        if (now_ms >= l->retry_at_ms)
            link_connect(l, now_ms);
        return;
    }
    if (l->state == LINK_CLOSED)
        return;
    if (revents & (POLLIN | POLLERR | POLLHUP))
        mosquitto_loop_read(l->mosq, 1);
    if ((revents & POLLOUT) && link_fd(l) >= 0)
        mosquitto_loop_write(l->mosq, 1);
    if (now_ms >= l->misc_at_ms && link_fd(l) >= 0) {
        mosquitto_loop_misc(l->mosq);
        l->misc_at_ms = now_ms + LINK_MISC_MS;
    }
    if (l->state == LINK_CLOSING && l->offline_acked && !l->disconnect_sent && link_drained(l)) {
        l->disconnect_sent = true;
        if (mosquitto_disconnect(l->mosq) != MOSQ_ERR_SUCCESS)
            l->state = LINK_CLOSED;
    }
}

int64_t link_timer_ms(const struct link *l, int64_t now_ms)
{
    int64_t at;
    switch (l->state) {
    case LINK_DOWN:
        at = l->retry_at_ms;
        break;
    case LINK_CONNECTING:
    case LINK_ONLINE:
    case LINK_CLOSING:
        at = l->misc_at_ms;
        break;
    default:
        return INT32_MAX;
    }
    return at > now_ms ? at - now_ms : 0;
}

bool link_can_publish(const struct link *l, uint64_t window)
{
    return l->ready && l->sent - l->done < window;
}

int link_publish(struct link *l, const struct node_msg *m)
{
    if (!l->ready)
        return -1;
    /* counted first: a QoS 0 message written at once calls on_publish before mosquitto_publish returns */
    l->sent++;
    int rc = mosquitto_publish(l->mosq, NULL, m->topic, (int)m->len, m->payload, m->qos, m->retain);
    switch (rc) {
    case MOSQ_ERR_SUCCESS:
    case MOSQ_ERR_CONN_LOST: /* queued; the poll loop sees the broken socket next */
    case MOSQ_ERR_ERRNO:
        return 0;
    default:
        l->sent--;
        log_debug("%s: publish %s failed: %s", l->node->device, m->topic, mosquitto_strerror(rc));
        return -1;
    }
}

bool link_drained(const struct link *l)
{
    return l->done >= l->sent && !mosquitto_want_write(l->mosq);
}

void link_close(struct link *l)
{
    if (l->state == LINK_CLOSING || l->state == LINK_CLOSED)
        return;
    if (l->state == LINK_CONNECTING) {
        /* link_on_connect sends "offline" instead of "online" */
        l->state = LINK_CLOSING;
        l->offline_acked = false;
        return;
    }
    if (l->state != LINK_ONLINE) {
        l->state = LINK_CLOSED;
        return;
    }
    struct node_msg m;
    node_status(l->node, false, &m);
    int mid = 0;
    l->state = LINK_CLOSING;
    l->ready = false;
    l->offline_acked = false;
    if (mosquitto_publish(l->mosq, &mid, m.topic, (int)m.len, m.payload, m.qos, m.retain) != MOSQ_ERR_SUCCESS) {
        /* cannot say goodbye: the broker's copy of the will says it instead */
        l->state = LINK_CLOSED;
        return;
    }
    l->status_mid = mid;
}
