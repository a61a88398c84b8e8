/* mqtt_link.c - lwIP MQTT session: resolve, connect with login and will (over TLS when built with SP_TLS),
 * publish, close (see mqtt_link.h). */
#include "mqtt_link.h"

#include "lwip/dns.h"
#include "pico/cyw43_arch.h"

#if SP_TLS
#include "lwip/altcp_tls.h"
#include "lwip/apps/altcp_tls_mbedtls_opts.h"
#include "lwip/apps/mqtt_priv.h" /* client->conn: the TLS connection, to name the server and watch the check */
#include "mbedtls/ssl.h"
#include "mbedtls/x509.h"
#if !LWIP_ALTCP || !LWIP_ALTCP_TLS
#error "SP_TLS needs LWIP_ALTCP and LWIP_ALTCP_TLS (lwipopts.h)"
#endif
#if ALTCP_MBEDTLS_AUTHMODE != MBEDTLS_SSL_VERIFY_REQUIRED
#error "ALTCP_MBEDTLS_AUTHMODE must be MBEDTLS_SSL_VERIFY_REQUIRED: lwIP's default accepts any certificate"
#endif
#endif

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
        return "refused: bad user name or password (the device's account, MQTT_PASSWORD)";
    case MQTT_CONNECT_REFUSED_NOT_AUTHORIZED_:
        return "refused: not authorized (no account for this device, or a wrong password)";
    case MQTT_CONNECT_DISCONNECTED:
        return "disconnected";
    case MQTT_CONNECT_TIMEOUT:
        return "timeout";
    }
    return "unknown status";
}

#if SP_TLS
/* mbedTLS's verdict on each certificate of the broker's chain; kept for the log, the verdict stands. */
static int mqtt_link__on_verify(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    (void)crt;
    (void)depth;
    struct mqtt_link *l = arg;
    l->tls_flags |= *flags;
    return 0; /* with MBEDTLS_SSL_VERIFY_REQUIRED any flag left set fails the handshake */
}

static const char *mqtt_link__tls_why(uint32_t flags)
{
    if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
        return "TLS: the broker's certificate is not signed by the CA compiled in";
    if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
        return "TLS: the broker's certificate does not name the broker (MQTT_TLS_NAME)";
    if (flags & (MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY))
        return "TLS: the broker's certificate uses a hash, key type or key size refused here";
    if (flags & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE))
        return "TLS: the broker's certificate is not for a TLS server";
    return "TLS: the broker's certificate was refused";
}
#endif

static void mqtt_link__on_connection(mqtt_client_t *client, void *arg, mqtt_connection_status_t status)
{
    (void)client;
    struct mqtt_link *l = arg;
    if (status == MQTT_CONNECT_ACCEPTED) {
        l->up = true;
        l->ev.up(l->ctx);
        return;
    }
    /* lwIP has closed the connection and dropped its pending requests */
    bool was_up = l->up;
    l->open = false;
    l->up = false;
    mqtt_link__drop_reqs(l);
    const char *why = mqtt_link__status_name(status);
#if SP_TLS
    if (l->tls && !was_up && l->tls_flags)
        why = mqtt_link__tls_why(l->tls_flags);
    else if (l->tls && !was_up && status == MQTT_CONNECT_DISCONNECTED)
        why = "closed before CONNACK (the TLS handshake failed, or the broker hung up)";
#else
    (void)was_up;
#endif
    l->ev.down(l->ctx, why);
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
    ci.client_user = l->auth.user;
    ci.client_pass = l->auth.pass;
    ci.keep_alive = l->keepalive_s;
    ci.will_topic = l->will.topic;
    ci.will_msg = l->will.payload;
    ci.will_msg_len = (u8_t)l->will.len;
    ci.will_qos = l->will.qos;
    ci.will_retain = l->will.retain;
#if SP_TLS
    ci.tls_config = l->tls;
    l->tls_flags = 0;
#endif
    /* the CONNECT packet, login and will included, is built here: ci need not outlive the call */
    err_t err = mqtt_client_connect(l->client, addr, l->port, mqtt_link__on_connection, l, &ci);
    if (err == ERR_OK) {
#if SP_TLS
        /* the TCP connect is under way; the handshake starts when it completes, in a later poll */
        mbedtls_ssl_context *ssl = l->tls ? altcp_tls_context(l->client->conn) : NULL;
        if (l->tls) {
            if (!ssl || mbedtls_ssl_set_hostname(ssl, l->auth.tls_name) != 0) {
                mqtt_disconnect(l->client); /* no callback */
                l->open = false;
                return "TLS: cannot set the server name to check";
            }
            mbedtls_ssl_set_verify(ssl, mqtt_link__on_verify, l);
        }
#endif
        return NULL;
    }
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
                   const struct mqtt_link_auth *auth, const struct node_msg *will, uint16_t keepalive_s,
                   const struct mqtt_link_events *ev, void *ctx, const char **why)
{
    memset(l, 0, sizeof *l);
    l->host = host;
    l->port = port;
    l->client_id = client_id;
    l->auth = *auth;
    l->will = *will;
    l->keepalive_s = keepalive_s;
    l->ev = *ev;
    l->ctx = ctx;
    for (int i = 0; i < MQTT_LINK_REQS; i++)
        l->reqs[i].link = l;
    if (auth->ca) {
#if SP_TLS
        /* parses the CA (once) and seeds the DRBG from the hardware entropy source */
        cyw43_arch_lwip_begin();
        l->tls = altcp_tls_create_config_client(auth->ca, auth->ca_len);
        cyw43_arch_lwip_end();
        if (!l->tls) {
            *why = "TLS: the CA certificate does not parse, or no memory for the TLS configuration";
            return -1;
        }
#else
        *why = "TLS: a CA was given to a firmware built without TLS";
        return -1;
#endif
    }
    cyw43_arch_lwip_begin();
    l->client = mqtt_client_new();
    cyw43_arch_lwip_end();
    if (!l->client) {
        *why = "no memory for the MQTT client";
        return -1;
    }
    return 0;
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
    l->up = false;
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
