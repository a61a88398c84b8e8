/* link.c - a simulated device's MQTT client, run by the device's conn (see link.h). */
#include "link.h"

#include "core/log.h"

#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define LINK_KEEPALIVE_S 60
#define LINK_MISC_MS 1000

static void link_on_connect(struct mosquitto *mosq, void *obj, int rc);
static void link_on_disconnect(struct mosquitto *mosq, void *obj, int rc);
static void link_on_publish(struct mosquitto *mosq, void *obj, int mid);
static void link__act(struct link *l, struct conn_actions *a, bool in_callback, bool connect_timed_out);

/* conn's clock: the low 32 bits of the monotonic ms clock (conn compares wrap-safe). */
static uint32_t link__now32(const struct link *l)
{
    return (uint32_t)l->now_ms;
}

static const char *link__strerror(int rc)
{
    return rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
}

/* libmosquitto's own errors (with TLS: why a handshake failed, e.g. "certificate verify failed") go to the log. */
static void link_on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
    (void)mosq;
    const struct link *l = obj;
    if (level == MOSQ_LOG_ERR)
        log_warn("%s: %s", l->dev->node.device, str);
}

/* TLS on mosq when the link has a CA file: verify the peer and its name, TLS 1.2+. Returns a MOSQ_ERR_*. */
static int link__tls_set(const struct link *l, struct mosquitto *mosq)
{
    if (!l->tls_cafile)
        return MOSQ_ERR_SUCCESS;
    int rc = mosquitto_tls_set(mosq, l->tls_cafile, NULL, NULL, NULL, NULL);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_tls_opts_set(mosq, 1 /* SSL_VERIFY_PEER */, "tlsv1.2", NULL);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_tls_insecure_set(mosq, false); /* the certificate must name the host */
    mosquitto_log_callback_set(mosq, link_on_log);
    return rc;
}

/* A new client with the will and the callbacks. Returns it (owned by the caller), or NULL (logged). */
static struct mosquitto *link__client_new(struct link *l)
{
    struct mosquitto *mosq = mosquitto_new(l->client_id, true, l);
    if (!mosq) {
        log_error("%s: cannot create an MQTT client", l->dev->node.device);
        return NULL;
    }
    struct node_msg will;
    conn_will(&l->dev->conn, &will);
    int rc = mosquitto_will_set(mosq, will.topic, (int)will.len, will.payload, will.qos, will.retain);
    if (rc == MOSQ_ERR_SUCCESS && l->username)
        rc = mosquitto_username_pw_set(mosq, l->username, l->password);
    if (rc == MOSQ_ERR_SUCCESS && l->max_inflight)
        rc = mosquitto_max_inflight_messages_set(mosq, l->max_inflight);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = link__tls_set(l, mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_error("%s: cannot set up the MQTT client: %s", l->dev->node.device, mosquitto_strerror(rc));
        mosquitto_destroy(mosq);
        return NULL;
    }
    mosquitto_connect_callback_set(mosq, link_on_connect);
    mosquitto_disconnect_callback_set(mosq, link_on_disconnect);
    mosquitto_publish_callback_set(mosq, link_on_publish);
    return mosq;
}

int link_init(struct link *l, const char *client_id, struct sim_device *dev, const char *host, int port, uint8_t qos,
              uint32_t max_inflight)
{
    memset(l, 0, sizeof *l);
    l->dev = dev;
    snprintf(l->client_id, sizeof l->client_id, "%s", client_id);
    l->host = host;
    l->port = port;
    l->qos = qos;
    l->max_inflight = max_inflight;
    l->phase = LINK_RUNNING;
    l->kick = true; /* conn's first step: connect at once */
    l->mosq = link__client_new(l);
    return l->mosq ? 0 : -1;
}

int link_login(struct link *l, const char *username, const char *password)
{
    l->username = username;
    l->password = password;
    int rc = l->mosq ? mosquitto_username_pw_set(l->mosq, username, password) : MOSQ_ERR_SUCCESS;
    if (rc != MOSQ_ERR_SUCCESS) {
        log_error("%s: cannot set the MQTT login: %s", l->dev->node.device, mosquitto_strerror(rc));
        return -1;
    }
    return 0;
}

int link_tls(struct link *l, const char *cafile)
{
    l->tls_cafile = cafile;
    int rc = l->mosq ? link__tls_set(l, l->mosq) : MOSQ_ERR_SUCCESS;
    if (rc != MOSQ_ERR_SUCCESS) {
        log_error("%s: cannot set up TLS with --mqtt-cafile %s: %s", l->dev->node.device, cafile,
                  rc == MOSQ_ERR_INVAL ? "unreadable file or bad setting" : mosquitto_strerror(rc));
        return -1;
    }
    return 0;
}

void link_destroy(struct link *l)
{
    if (l->mosq)
        mosquitto_destroy(l->mosq);
    l->mosq = NULL;
    l->open = false;
}

/* After conn_broker_down() or a step: log the back-off conn chose, once per back-off. */
static void link__note_retry(struct link *l)
{
    const struct conn *c = &l->dev->conn;
    if (c->state != CONN_BROKER_CONNECTING || c->attempting || (l->retry_noted && l->retry_noted_at == c->at_ms))
        return;
    int32_t in = (int32_t)(c->at_ms - link__now32(l));
    log_info("%s: reconnecting to %s:%d in %d ms", l->dev->node.device, l->host, l->port, in > 0 ? (int)in : 0);
    l->retry_noted = true;
    l->retry_noted_at = c->at_ms;
}

/* The connection is gone (lost, or shut by us): what was in flight is lost (QoS 0) or resent later (QoS 1, 2). */
static void link__connection_gone(struct link *l)
{
    l->open = false;
    if (l->status_mid && l->phase == LINK_RUNNING)
        l->stale_status_mid = l->status_mid; /* an "online" libmosquitto resends: its ack is not a reading's */
    l->status_mid = 0;
    l->online_session = 0;
    if (l->sent > l->done) {
        if (l->qos == 0) {
            /* libmosquitto drops QoS 0 packets still queued when the socket closes */
            l->lost += l->sent - l->done;
            l->done = l->sent;
        } else {
            /* kept by libmosquitto and resent (DUP) after the next CONNACK, in the next session */
            l->stale = l->sent - l->done;
        }
    }
}

static void link_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    struct link *l = obj;
    if (l->phase != LINK_RUNNING)
        return;
    if (rc != 0) {
        /* the broker closes the connection: link_on_disconnect reports it to conn */
        log_warn("%s: broker %s:%d refused the connection: %s", l->dev->node.device, l->host, l->port,
                 mosquitto_connack_string(rc));
        return;
    }
    l->connects++;
    log_info("%s: connected to %s:%d", l->dev->node.device, l->host, l->port);
    conn_broker_up(&l->dev->conn, link__now32(l));
    /*
     * conn owes "online" now: hand it out here, before libmosquitto resends the
     * QoS 1/2 readings of the last session (it does so after this callback).
     */
    struct conn_actions a;
    conn_step(&l->dev->conn, link__now32(l), &a);
    link__act(l, &a, true, false);
}

static void link_on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    struct link *l = obj;
    bool was_open = l->open;
    link__connection_gone(l);
    if (l->phase != LINK_RUNNING) {
        if (rc != 0)
            log_warn("%s: connection lost while closing: %s", l->dev->node.device, link__strerror(rc));
        l->phase = LINK_CLOSED;
        return;
    }
    if (!was_open)
        return; /* a connection conn already dropped */
    if (l->dev->conn.state == CONN_PUBLISHING) {
        log_warn("%s: connection to %s:%d lost: %s", l->dev->node.device, l->host, l->port,
                 rc == MOSQ_ERR_ERRNO ? "socket error" : mosquitto_strerror(rc));
        if (l->stale)
            log_info("%s: %llu readings not acknowledged yet: sent again after reconnecting", l->dev->node.device,
                     (unsigned long long)l->stale);
    } else {
        log_warn("%s: cannot connect to %s:%d: %s", l->dev->node.device, l->host, l->port,
                 rc == MOSQ_ERR_ERRNO ? "socket error" : mosquitto_strerror(rc));
    }
    conn_broker_down(&l->dev->conn, link__now32(l));
    link__note_retry(l);
    l->kick = true;
}

static void link_on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    (void)mosq;
    struct link *l = obj;
    if (l->status_mid && mid == l->status_mid) {
        l->status_mid = 0;
        if (l->phase == LINK_RUNNING)
            conn_published(&l->dev->conn, l->status_session, true, link__now32(l));
        else if (l->phase == LINK_CLOSING)
            l->offline_acked = true;
        return;
    }
    if (l->stale_status_mid && mid == l->stale_status_mid) {
        l->stale_status_mid = 0;
        return;
    }
    if (l->done < l->sent)
        l->done++;
    if (l->phase != LINK_RUNNING)
        return;
    if (l->stale) {
        l->stale--; /* a reading of an earlier session: conn has forgotten it */
        return;
    }
    conn_published(&l->dev->conn, l->dev->conn.session, true, link__now32(l));
}

/* conn: BROKER_CONNECT. */
static void link__connect(struct link *l)
{
    l->retry_noted = false;
    /* connect_async (not reconnect_async) every time: it also works when the last attempt failed early */
    int rc = mosquitto_connect_async(l->mosq, l->host, l->port, LINK_KEEPALIVE_S);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_warn("%s: cannot connect to %s:%d: %s", l->dev->node.device, l->host, l->port,
                 rc == MOSQ_ERR_ERRNO ? "socket error" : mosquitto_strerror(rc));
        conn_broker_down(&l->dev->conn, link__now32(l));
        link__note_retry(l);
        l->kick = true;
        return;
    }
    l->open = true;
    l->misc_at_ms = l->now_ms + LINK_MISC_MS;
}

/*
 * Close the socket without DISCONNECT, so the broker publishes the will; the
 * client and its QoS 1/2 messages stay for the next connect, which closes the
 * descriptor. The socket is not polled any more, so no callback of this
 * connection follows (conn expects none).
 */
static void link__shut(struct link *l)
{
    if (!l->open)
        return;
    int fd = mosquitto_socket(l->mosq);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    link__connection_gone(l);
}

/* conn: RESET. The board reboots: the client goes with everything it held, the device starts again. */
static void link__reset(struct link *l)
{
    struct sim_device *d = l->dev;
    log_warn("%s: no connect or confirmed publish for %u s (%s): resetting the device", d->node.device,
             (unsigned)(d->conn.cfg.stuck_ms / 1000), conn_state_name(d->conn.state));
    l->lost += l->sent - l->done;
    l->done = l->sent;
    l->stale = 0;
    link_destroy(l);
    l->status_mid = 0;
    l->stale_status_mid = 0;
    l->online_session = 0;
    l->deferred = 0;
    l->retry_noted = false;
    sim_device_restart(d, link__now32(l));
    l->mosq = link__client_new(l);
    if (!l->mosq) {
        l->phase = LINK_CLOSED;
        return;
    }
    l->kick = true; /* conn's first step after boot: connect at once */
    log_info("%s: started again (reset %llu)", d->node.device, (unsigned long long)d->resets);
}

/* A reading (or "online") for the session; a refusal is a failed publish for conn. Returns 0 or -1. */
static int link__publish(struct link *l, const struct node_msg *m, uint32_t session, bool status)
{
    int mid = 0;
    if (!status)
        l->sent++; /* counted first: a QoS 0 message written at once calls on_publish before mosquitto_publish returns
                    */
    int rc = mosquitto_publish(l->mosq, status ? &mid : NULL, m->topic, (int)m->len, m->payload, m->qos, m->retain);
    switch (rc) {
    case MOSQ_ERR_SUCCESS:
    case MOSQ_ERR_CONN_LOST: /* queued; the poll loop sees the broken socket next */
    case MOSQ_ERR_ERRNO:
        if (status) {
            l->status_mid = mid;
            l->status_session = session;
        }
        return 0;
    default:
        if (!status)
            l->sent--;
        log_debug("%s: publish %s failed: %s", l->dev->node.device, m->topic, mosquitto_strerror(rc));
        conn_published(&l->dev->conn, session, false, link__now32(l));
        l->kick = true; /* conn may end the session */
        return -1;
    }
}

/*
 * Carry out conn_step()'s actions. In a callback, what would touch the client's
 * connection waits for link_step(). connect_timed_out: a connect was in flight
 * before this step (so a BROKER_DISCONNECT is its timeout, not failed publishes).
 */
static void link__act(struct link *l, struct conn_actions *a, bool in_callback, bool connect_timed_out)
{
    struct conn *c = &l->dev->conn;
    if (a->todo & CONN_DO_RESET) {
        if (in_callback)
            l->kick = true; /* conn says RESET at every step from now on */
        else
            link__reset(l);
        return;
    }
    if (in_callback && (a->todo & (CONN_DO_BROKER_DISCONNECT | CONN_DO_BROKER_CONNECT))) {
        l->deferred |= a->todo & (CONN_DO_BROKER_DISCONNECT | CONN_DO_BROKER_CONNECT);
        l->kick = true;
    } else {
        if (a->todo & CONN_DO_BROKER_DISCONNECT) {
            if (connect_timed_out)
                log_warn("%s: no answer from %s:%d within %u ms: dropping the connection", l->dev->node.device, l->host,
                         l->port, (unsigned)c->cfg.broker_timeout_ms);
            else
                log_warn("%s: %u publishes failed in a row: dropping the connection to %s:%d", l->dev->node.device,
                         (unsigned)c->cfg.publish_fails_max, l->host, l->port);
            link__shut(l);
        }
        if (a->todo & CONN_DO_BROKER_CONNECT)
            link__connect(l);
    }
    if (a->todo & CONN_DO_PUBLISH) {
        /* conn_step() hands out the session's "online" */
        int rc = 0;
        for (size_t i = 0; i < a->n; i++)
            rc |= link__publish(l, &a->msgs[i], a->session, true);
        if (rc == 0)
            l->online_session = a->session;
    }
    l->step_at_ms = l->now_ms + (int32_t)(a->wake_ms - link__now32(l));
    link__note_retry(l);
}

int link_fd(const struct link *l)
{
    return l->open && l->mosq ? mosquitto_socket(l->mosq) : -1;
}

short link_events(const struct link *l)
{
    return (short)(POLLIN | (mosquitto_want_write(l->mosq) ? POLLOUT : 0));
}

void link_io(struct link *l, short revents, int64_t now_ms)
{
    l->now_ms = now_ms;
    if (!l->open || l->phase == LINK_CLOSED)
        return;
    if (revents & (POLLIN | POLLERR | POLLHUP))
        mosquitto_loop_read(l->mosq, 1);
    if ((revents & POLLOUT) && l->open)
        mosquitto_loop_write(l->mosq, 1);
    if (now_ms >= l->misc_at_ms && l->open) {
        mosquitto_loop_misc(l->mosq); /* keepalive: a silent broker ends in on_disconnect */
        l->misc_at_ms = now_ms + LINK_MISC_MS;
    }
    if (l->phase == LINK_CLOSING && l->open && l->offline_acked && !l->disconnect_sent && link_drained(l)) {
        l->disconnect_sent = true;
        if (mosquitto_disconnect(l->mosq) != MOSQ_ERR_SUCCESS)
            l->phase = LINK_CLOSED;
    }
}

bool link_due(const struct link *l, int64_t now_ms)
{
    return l->phase == LINK_RUNNING && (l->kick || now_ms >= l->step_at_ms);
}

unsigned link_step(struct link *l, int64_t now_ms)
{
    if (l->phase != LINK_RUNNING)
        return 0;
    l->now_ms = now_ms;
    l->kick = false;
    const struct conn *c = &l->dev->conn;
    bool connecting = c->state == CONN_BROKER_CONNECTING && c->attempting;
    struct conn_actions a;
    conn_step(&l->dev->conn, link__now32(l), &a);
    if (!(a.todo & CONN_DO_RESET)) {
        /* decided inside a callback: disconnect before connect, as conn.h orders them */
        a.todo |= l->deferred;
        l->deferred = 0;
    }
    link__act(l, &a, false, connecting);
    return a.todo;
}

size_t link_sampled(struct link *l, const struct node_sample *s, int64_t now_ms, size_t max)
{
    l->now_ms = now_ms;
    struct conn_actions a;
    conn_sampled(&l->dev->conn, s, link__now32(l), &a);
    l->step_at_ms = now_ms + (int32_t)(a.wake_ms - link__now32(l));
    size_t sent = 0;
    if (!(a.todo & CONN_DO_PUBLISH))
        return 0;
    for (size_t i = 0; i < a.n && sent < max; i++)
        if (link__publish(l, &a.msgs[i], a.session, false) == 0)
            sent++;
    return sent;
}

int64_t link_timer_ms(const struct link *l, int64_t now_ms)
{
    int64_t at = INT64_MAX;
    if (l->phase == LINK_RUNNING)
        at = l->kick ? now_ms : l->step_at_ms;
    if (l->open && l->misc_at_ms < at)
        at = l->misc_at_ms;
    if (at == INT64_MAX)
        return INT32_MAX;
    return at > now_ms ? at - now_ms : 0;
}

bool link_ready(const struct link *l)
{
    const struct conn *c = &l->dev->conn;
    return l->phase == LINK_RUNNING && l->open && c->state == CONN_PUBLISHING && l->online_session == c->session;
}

bool link_can_publish(const struct link *l, uint64_t window)
{
    return link_ready(l) && l->sent - l->done < window;
}

int link_publish(struct link *l, const struct node_msg *m)
{
    if (!link_ready(l))
        return -1;
    return link__publish(l, m, l->dev->conn.session, false);
}

bool link_drained(const struct link *l)
{
    return l->done >= l->sent && !mosquitto_want_write(l->mosq);
}

void link_close(struct link *l)
{
    if (l->phase != LINK_RUNNING)
        return;
    if (!link_ready(l)) {
        link__shut(l);
        l->phase = LINK_CLOSED;
        return;
    }
    struct node_msg m;
    node_status(&l->dev->node, false, &m);
    int mid = 0;
    l->phase = LINK_CLOSING;
    l->offline_acked = false;
    if (mosquitto_publish(l->mosq, &mid, m.topic, (int)m.len, m.payload, m.qos, m.retain) != MOSQ_ERR_SUCCESS) {
        /* cannot say goodbye: the broker's copy of the will says it instead */
        link__shut(l);
        l->phase = LINK_CLOSED;
        return;
    }
    l->status_mid = mid;
}
