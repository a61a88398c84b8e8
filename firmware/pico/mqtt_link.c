/* mqtt_link.c - lwIP MQTT session: resolve, connect with will, publish, close (see mqtt_link.h). */
#include "mqtt_link.h"

#include "lwip/dns.h"
#include "pico/cyw43_arch.h"

#include <string.h>

static void mqtt_link__drop_reqs(struct mqtt_link *l)
{
    for (int i = 0; i < MQTT_LINK_REQS; i++)
        l->reqs[i].used = false;
}

static const char *mqtt_link__status_name(mqtt_connection_status_t st)
{
    switch (st) {
    case MQTT_CONNECT_ACCEPTED:
        return "accepted";
    case MQTT_CONNECT_REFUSED_PROTOCOL_VERSION:
        return "refused: protocol version";
    case MQTT_CONNECT_REFUSED_IDENTIFIER:
        return "refused: client id";
    case MQTT_CONNECT_REFUSED_SERVER:
        return "refused: server unavailable";
    case MQTT_CONNECT_REFUSED_USERNAME_PASS:
        return "refused: user name or password";
    case MQTT_CONNECT_REFUSED_NOT_AUTHORIZED_:
        return "refused: not authorized";
    case MQTT_CONNECT_DISCONNECTED:
        return "disconnected";
    case MQTT_CONNECT_TIMEOUT:
        return "timeout";
    }
    return "unknown status";
}

static void mqtt_link__on_connection(mqtt_client_t *client, void *arg, mqtt_connection_status_t status)
{
    (void)client;
    struct mqtt_link *l = arg;
    if (status == MQTT_CONNECT_ACCEPTED) {
        l->ev.up(l->ctx);
        return;
    }
    /* lwIP has closed the connection and dropped its pending requests */
    l->open = false;
    mqtt_link__drop_reqs(l);
    l->ev.down(l->ctx, mqtt_link__status_name(status));
}

static void mqtt_link__on_published(void *arg, err_t err)
{
    struct mqtt_link_req *r = arg;
    if (!r->used)
        return;
    r->used = false;
    r->link->ev.published(r->link->ctx, r->session, err == ERR_OK);
}

/* Connect to addr; on failure ends the attempt and returns the reason. */
static const char *mqtt_link__connect(struct mqtt_link *l, const ip_addr_t *addr)
{
    struct mqtt_connect_client_info_t ci;
    memset(&ci, 0, sizeof ci);
    ci.client_id = l->client_id;
    ci.keep_alive = l->keepalive_s;
    ci.will_topic = l->will.topic;
    ci.will_msg = l->will.payload;
    ci.will_msg_len = (u8_t)l->will.len;
    ci.will_qos = l->will.qos;
    ci.will_retain = l->will.retain;
    /* the CONNECT packet, will included, is built here: ci need not outlive the call */
    err_t err = mqtt_client_connect(l->client, addr, l->port, mqtt_link__on_connection, l, &ci);
    if (err == ERR_OK)
        return NULL;
    l->open = false;
    return err == ERR_MEM      ? "connect: out of memory"
           : err == ERR_ISCONN ? "connect: still connected"
                               : "connect failed";
}

static void mqtt_link__on_resolved(const char *name, const ip_addr_t *addr, void *arg)
{
    (void)name;
    struct mqtt_link *l = arg;
    if (!l->resolving)
        return; /* the attempt was closed meanwhile */
    l->resolving = false;
    const char *why = addr ? mqtt_link__connect(l, addr) : "broker name not resolved";
    if (why) {
        l->open = false;
        l->ev.down(l->ctx, why);
    }
}

int mqtt_link_init(struct mqtt_link *l, const char *host, uint16_t port, const char *client_id,
                   const struct node_msg *will, uint16_t keepalive_s, const struct mqtt_link_events *ev, void *ctx)
{
    memset(l, 0, sizeof *l);
    l->host = host;
    l->port = port;
    l->client_id = client_id;
    l->will = *will;
    l->keepalive_s = keepalive_s;
    l->ev = *ev;
    l->ctx = ctx;
    for (int i = 0; i < MQTT_LINK_REQS; i++)
        l->reqs[i].link = l;
    cyw43_arch_lwip_begin();
    l->client = mqtt_client_new();
    cyw43_arch_lwip_end();
    return l->client ? 0 : -1;
}

int mqtt_link_open(struct mqtt_link *l, const char **why)
{
    ip_addr_t addr;
    mqtt_link_close(l);
    l->open = true;
    if (ipaddr_aton(l->host, &addr)) {
        cyw43_arch_lwip_begin();
        *why = mqtt_link__connect(l, &addr);
        cyw43_arch_lwip_end();
        return *why ? -1 : 0;
    }
    cyw43_arch_lwip_begin();
    err_t err = dns_gethostbyname(l->host, &addr, mqtt_link__on_resolved, l);
    if (err == ERR_OK) {
        *why = mqtt_link__connect(l, &addr); /* cached */
    } else if (err == ERR_INPROGRESS) {
        l->resolving = true;
        *why = NULL;
    } else {
        l->open = false;
        *why = "broker name not resolvable";
    }
    cyw43_arch_lwip_end();
    return *why ? -1 : 0;
}

void mqtt_link_close(struct mqtt_link *l)
{
    l->resolving = false;
    l->open = false;
    cyw43_arch_lwip_begin();
    mqtt_disconnect(l->client); /* no-op when not connected; no callback */
    cyw43_arch_lwip_end();
    mqtt_link__drop_reqs(l);
}

int mqtt_link_publish(struct mqtt_link *l, const struct node_msg *m, uint32_t session)
{
    struct mqtt_link_req *r = NULL;
    for (int i = 0; i < MQTT_LINK_REQS && !r; i++)
        if (!l->reqs[i].used)
            r = &l->reqs[i];
    if (!r)
        return -1;
    r->used = true;
    r->session = session;
    cyw43_arch_lwip_begin();
    err_t err =
        mqtt_publish(l->client, m->topic, m->payload, (u16_t)m->len, m->qos, m->retain, mqtt_link__on_published, r);
    cyw43_arch_lwip_end();
    if (err != ERR_OK) {
        r->used = false;
        return -1;
    }
    return 0;
}
