/* mqtt_io_tls.c - MQTT over TLS (OpenSSL) under the ingest's MQTT client (see mqtt_io_tls.h). */
#include "mqtt_io_tls.h"

#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The newest OpenSSL error as text ("what: reason"), or fallback when there is none. Clears the queue. */
static void tls_error_text(char *out, size_t outlen, const char *what, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    if (e) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        const char *reason = ERR_reason_error_string(e);
        snprintf(out, outlen, "%s: %s", what, reason ? reason : buf);
    } else
        snprintf(out, outlen, "%s: %s", what, fallback);
    ERR_clear_error();
}

/* A client context: TLS 1.2+, the peer verified against cafile, no renegotiation. Returns it (owned) or NULL. */
static SSL_CTX *tls_ctx_new(const char *cafile, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        tls_error_text(err, errlen, "TLS set-up failed", "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    long opts = SSL_OP_NO_RENEGOTIATION;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    opts |= SSL_OP_IGNORE_UNEXPECTED_EOF; /* a broker closing without close_notify is an end, not an error */
#endif
    SSL_CTX_set_options(ctx, opts);
    /* the client retries a write with its buffer compacted, and takes what a record carried */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
        char what[400];
        snprintf(what, sizeof what, "cannot load the CA certificate(s) of --mqtt-cafile %s", cafile);
        tls_error_text(err, errlen, what, "no certificate in it");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static void tls_close(void *ctx)
{
    struct mqtt_tls *t = ctx;
    if (t->ssl) {
        if (t->state == TLS_UP) {
            ERR_clear_error();
            (void)SSL_shutdown(t->ssl); /* close_notify, once, without waiting for the broker's */
        }
        SSL_free(t->ssl);
        t->ssl = NULL;
    }
    if (t->ctx) {
        SSL_CTX_free(t->ctx);
        t->ctx = NULL;
    }
    ERR_clear_error();
    t->tcp_io.ops->close(t->tcp_io.ctx);
    t->state = TLS_CLOSED;
    t->read_wants_write = t->write_wants_read = false;
}

static int tls_open(void *ctx, const char *host, int port, char *err, size_t errlen)
{
    struct mqtt_tls *t = ctx;
    tls_close(t);
    if (strlen(host) >= sizeof t->host) {
        snprintf(err, errlen, "host name too long for TLS");
        return -1;
    }
    snprintf(t->host, sizeof t->host, "%s", host);
    t->port = port;
    t->ctx = tls_ctx_new(t->cafile, err, errlen);
    if (!t->ctx)
        return -1;
    int fd = t->tcp_io.ops->open(t->tcp_io.ctx, host, port, err, errlen);
    if (fd < 0) {
        tls_close(t);
        return -1;
    }
    t->state = TLS_TCP;
    return fd;
}

/* The connected socket gets its SSL: SNI and the name to verify (an address: its IP entries). Returns 0 or -1. */
static int tls_start(struct mqtt_tls *t, char *err, size_t errlen)
{
    ERR_clear_error();
    t->ssl = SSL_new(t->ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, t->tcp.fd) != 1) {
        tls_error_text(err, errlen, "TLS set-up failed", "SSL_new");
        return -1;
    }
    unsigned char addr[sizeof(struct in6_addr)];
    bool is_ip = inet_pton(AF_INET, t->host, addr) == 1 || inet_pton(AF_INET6, t->host, addr) == 1;
    int ok;
    if (is_ip)
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), t->host);
    else {
        SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set1_host(t->ssl, t->host) == 1 && SSL_set_tlsext_host_name(t->ssl, t->host) == 1;
    }
    if (ok != 1) {
        tls_error_text(err, errlen, "TLS set-up failed", "cannot set the name to verify");
        return -1;
    }
    SSL_set_connect_state(t->ssl);
    t->state = TLS_HANDSHAKE;
    return 0;
}

/* Why the handshake failed, in words an operator can act on. */
static void tls_handshake_error(struct mqtt_tls *t, int sslerr, char *err, size_t errlen)
{
    long vr = SSL_get_verify_result(t->ssl);
    if (vr != X509_V_OK) {
        const char *hint = vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH
                               ? "the broker's certificate does not name"
                               : "check --mqtt-cafile and the broker's certificate for";
        snprintf(err, errlen, "TLS handshake failed: broker certificate not trusted: %s (%s %s)",
                 X509_verify_cert_error_string(vr), hint, t->host);
        ERR_clear_error();
    } else if (sslerr == SSL_ERROR_SYSCALL && !ERR_peek_last_error())
        snprintf(err, errlen, "TLS handshake failed: %s",
                 errno ? strerror(errno) : "the broker closed the connection (is this port TLS?)");
    else
        tls_error_text(err, errlen, "TLS handshake failed", "protocol error");
}

static int tls_finish(void *ctx, short *events, char *err, size_t errlen)
{
    struct mqtt_tls *t = ctx;
    if (t->state == TLS_TCP) {
        int rc = t->tcp_io.ops->finish(t->tcp_io.ctx, events, err, errlen);
        if (rc <= 0)
            return rc;
        if (tls_start(t, err, errlen) != 0) {
            t->state = TLS_BROKEN;
            return -1;
        }
    }
    if (t->state != TLS_HANDSHAKE) {
        snprintf(err, errlen, "TLS: no connection under way");
        return -1;
    }
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->state = TLS_UP;
        log_info("broker %s:%d: %s (%s), certificate verified for %s", t->host, t->port, SSL_get_version(t->ssl),
                 SSL_get_cipher_name(t->ssl), t->host);
        return 1;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return 0;
    }
    tls_handshake_error(t, e, err, errlen);
    t->state = TLS_BROKEN;
    return -1;
}

/* A failed SSL_read/SSL_write: say why once, and leave errno for the client's log line. */
static ssize_t tls_failed(struct mqtt_tls *t, int sslerr, const char *what)
{
    int saved = errno;
    if (sslerr == SSL_ERROR_SYSCALL && !ERR_peek_last_error() && saved) {
        t->state = TLS_BROKEN;
        errno = saved;
        return MQTT_IO_ERROR;
    }
    char msg[300];
    tls_error_text(msg, sizeof msg, what, "connection failed");
    log_warn("broker %s:%d: %s", t->host, t->port, msg);
    t->state = TLS_BROKEN;
    errno = EPROTO;
    return MQTT_IO_ERROR;
}

static ssize_t tls_read(void *ctx, void *buf, size_t n)
{
    struct mqtt_tls *t = ctx;
    if (t->state != TLS_UP) {
        errno = ENOTCONN;
        return MQTT_IO_ERROR;
    }
    t->read_wants_write = false;
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(t->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(t->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return 0;
    case SSL_ERROR_WANT_WRITE:
        t->read_wants_write = true;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return MQTT_IO_EOF;
    case SSL_ERROR_SYSCALL:
        if (!ERR_peek_last_error() && !errno)
            return MQTT_IO_EOF; /* closed without close_notify (older OpenSSL) */
        /* fall through */
    default:
        return tls_failed(t, e, "TLS read failed");
    }
}

static ssize_t tls_write(void *ctx, const void *buf, size_t n)
{
    struct mqtt_tls *t = ctx;
    if (t->state != TLS_UP) {
        errno = ENOTCONN;
        return MQTT_IO_ERROR;
    }
    t->write_wants_read = false;
    if (!n)
        return 0;
    ERR_clear_error();
    errno = 0;
    int r = SSL_write(t->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(t->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_WRITE:
        return 0;
    case SSL_ERROR_WANT_READ:
        t->write_wants_read = true;
        return 0;
    default:
        return tls_failed(t, e, "TLS write failed");
    }
}

static short tls_events(void *ctx, short want)
{
    struct mqtt_tls *t = ctx;
    short ev = 0;
    if (want & POLLIN)
        ev |= t->read_wants_write ? POLLOUT : POLLIN;
    if (want & POLLOUT)
        ev |= t->write_wants_read ? POLLIN : POLLOUT;
    return ev;
}

static bool tls_pending(void *ctx)
{
    struct mqtt_tls *t = ctx;
    return t->state == TLS_UP && SSL_pending(t->ssl) > 0;
}

static const struct mqtt_io_ops tls_ops = {
    .open = tls_open,
    .finish = tls_finish,
    .read = tls_read,
    .write = tls_write,
    .close = tls_close,
    .events = tls_events,
    .pending = tls_pending,
};

int mqtt_io_tls(struct mqtt_io *io, struct mqtt_tls *t, const char *cafile, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    mqtt_io_tcp(&t->tcp_io, &t->tcp);
    t->state = TLS_CLOSED;
    SSL_CTX *probe = tls_ctx_new(cafile, err, errlen);
    if (!probe)
        return -1;
    SSL_CTX_free(probe);
    t->cafile = strdup(cafile);
    if (!t->cafile) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    io->ops = &tls_ops;
    io->ctx = t;
    return 0;
}

void mqtt_tls_free(struct mqtt_tls *t)
{
    if (t->tcp_io.ops)
        tls_close(t);
    free(t->cafile);
    t->cafile = NULL;
}
