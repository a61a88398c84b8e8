/*
 * test_ingest_mqtt_io_tls.c - the ingest's TLS transport (mqtt_io_tls.c) against a local OpenSSL server in
 * this process: certificates made here (a CA, another CA, server certificates for the right and a wrong
 * name), a listening socket on 127.0.0.1 (and ::1 on the same port when there is IPv6), both ends
 * non-blocking and stepped by one loop.
 *
 * What it shows: the handshake completes and verifies for an address and for a name; a certificate from
 * another CA, one for another name or address, and a server that offers only TLS 1.1 are refused with a
 * reason and nothing is read or written past the handshake; bytes OpenSSL holds after a short read are
 * announced by pending() while poll() on the socket says nothing; a write that fills the socket returns 0,
 * asks for POLLOUT and goes on from a moved buffer with every byte in order; close_notify reads as EOF;
 * and the MQTT client over this transport sends a QoS 1 PUBACK only after the commit, and reads bytes a
 * transport holds (pending()) with no poll event at all.
 */
#include "unit.h"

#include "core/log.h"
#include "ingest/mqtt_client.h"
#include "ingest/mqtt_io_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define STEPS 4000 /* loop turns of 5 ms at most before a test gives up */

/* ---- certificates ---- */

static long serial = 1;

static void add_ext(X509 *x, X509V3_CTX *c, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, c, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

/* A certificate for key: a CA (san NULL, self-signed when issuer is NULL) or a server certificate with san. */
static X509 *cert_new(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const char *san)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    if (san) {
        add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, &v3, NID_ext_key_usage, "serverAuth");
        add_ext(x, &v3, NID_subject_alt_name, san);
    } else {
        add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

struct pki {
    EVP_PKEY *ca_key, *other_ca_key, *key;
    X509 *ca, *other_ca, *good, *wrong_name;
    char cafile[64], other_cafile[64];
};

static void write_pem(char *path, X509 *x)
{
    strcpy(path, "/tmp/sp-tls-ca-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
}

static struct pki pki;

static int pki_setup(void **state)
{
    (void)state;
    pki.ca_key = EVP_EC_gen("P-256");
    pki.other_ca_key = EVP_EC_gen("P-256");
    pki.key = EVP_EC_gen("P-256");
    assert_true(pki.ca_key && pki.other_ca_key && pki.key);
    pki.ca = cert_new("test CA", pki.ca_key, NULL, NULL, NULL);
    pki.other_ca = cert_new("test CA", pki.other_ca_key, NULL, NULL, NULL); /* same name, other key */
    pki.good = cert_new("localhost", pki.key, pki.ca, pki.ca_key, "DNS:localhost,IP:127.0.0.1,IP:::1");
    pki.wrong_name = cert_new("wrong.example", pki.key, pki.ca, pki.ca_key, "DNS:wrong.example,IP:192.0.2.1");
    write_pem(pki.cafile, pki.ca);
    write_pem(pki.other_cafile, pki.other_ca);
    return 0;
}

static int pki_teardown(void **state)
{
    (void)state;
    unlink(pki.cafile);
    unlink(pki.other_cafile);
    X509_free(pki.ca);
    X509_free(pki.other_ca);
    X509_free(pki.good);
    X509_free(pki.wrong_name);
    EVP_PKEY_free(pki.ca_key);
    EVP_PKEY_free(pki.other_ca_key);
    EVP_PKEY_free(pki.key);
    return 0;
}

/* ---- the server: listening sockets, one accepted connection with its SSL ---- */

struct server {
    int lfd[2]; /* 127.0.0.1 and ::1 (-1 when there is no IPv6) */
    int port;
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    bool up;     /* handshake done */
    bool failed; /* handshake failed */
};

static int listen_on(int family, int port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc;
    if (family == AF_INET) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
        a.sin6_addr = in6addr_loopback;
        rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (rc != 0 || listen(fd, 4) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A server presenting cert; max_version 0 = any. */
static void server_start(struct server *s, X509 *cert, int max_version)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->lfd[0] = listen_on(AF_INET, 0);
    assert_true(s->lfd[0] >= 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(s->lfd[0], (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    s->lfd[1] = listen_on(AF_INET6, s->port);
    s->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(s->ctx);
    assert_int_equal(SSL_CTX_use_certificate(s->ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, pki.key), 1);
    if (max_version) {
        SSL_CTX_set_min_proto_version(s->ctx, TLS1_VERSION);
        SSL_CTX_set_max_proto_version(s->ctx, max_version);
        SSL_CTX_set_cipher_list(s->ctx, "DEFAULT:@SECLEVEL=0");
    }
}

static void server_stop(struct server *s)
{
    if (s->ssl)
        SSL_free(s->ssl);
    if (s->fd >= 0)
        close(s->fd);
    for (int i = 0; i < 2; i++)
        if (s->lfd[i] >= 0)
            close(s->lfd[i]);
    SSL_CTX_free(s->ctx);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

/* Accept and go on with the handshake, whatever can be done now. */
static void server_step(struct server *s)
{
    if (s->fd < 0) {
        for (int i = 0; i < 2 && s->fd < 0; i++)
            if (s->lfd[i] >= 0)
                s->fd = accept4(s->lfd[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (s->fd < 0)
            return;
        s->ssl = SSL_new(s->ctx);
        SSL_set_fd(s->ssl, s->fd);
        SSL_set_accept_state(s->ssl);
    }
    if (s->up || s->failed)
        return;
    ERR_clear_error();
    int r = SSL_do_handshake(s->ssl);
    if (r == 1)
        s->up = true;
    else {
        int e = SSL_get_error(s->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            s->failed = true;
        ERR_clear_error();
    }
}

/* Wait up to 5 ms for anything on the client's socket or the server's. */
static void wait_a_little(int cfd, const struct server *s)
{
    struct pollfd p[4];
    int n = 0;
    if (cfd >= 0)
        p[n++] = (struct pollfd){.fd = cfd, .events = POLLIN};
    if (s->fd >= 0)
        p[n++] = (struct pollfd){.fd = s->fd, .events = POLLIN};
    for (int i = 0; i < 2; i++)
        if (s->lfd[i] >= 0 && s->fd < 0)
            p[n++] = (struct pollfd){.fd = s->lfd[i], .events = POLLIN};
    poll(p, (nfds_t)n, 5);
}

/*
 * Connect the transport to host and run both handshakes to their end. Returns finish()'s last
 * result (1 or -1), with its reason in err.
 */
static int connect_tls(struct mqtt_io *io, struct server *s, const char *host, char *err, size_t errlen)
{
    int fd = io->ops->open(io->ctx, host, s->port, err, errlen);
    assert_true(fd >= 0);
    for (int i = 0; i < STEPS; i++) {
        short ev = 0;
        int rc = io->ops->finish(io->ctx, &ev, err, errlen);
        server_step(s);
        if (rc != 0) {
            /* let the server see the end of it (its handshake finishes or fails) */
            for (int j = 0; j < 200 && !s->up && !s->failed; j++) {
                wait_a_little(-1, s);
                server_step(s);
            }
            return rc;
        }
        wait_a_little(fd, s);
    }
    fail_msg("handshake did not end");
    return -1;
}

struct tls_rig {
    struct mqtt_tls t;
    struct mqtt_io io;
    struct server s;
};

static void rig_make(struct tls_rig *g, X509 *server_cert, int max_version, const char *cafile)
{
    char err[512] = "";
    memset(g, 0, sizeof *g);
    server_start(&g->s, server_cert, max_version);
    if (mqtt_io_tls(&g->io, &g->t, cafile, err, sizeof err) != 0)
        fail_msg("mqtt_io_tls: %s", err);
}

static void rig_free(struct tls_rig *g)
{
    mqtt_tls_free(&g->t);
    server_stop(&g->s);
}

/* Nothing past the handshake reached the server: no application data readable there. */
static void assert_server_got_nothing(struct server *s)
{
    if (!s->ssl)
        return;
    char b[16];
    ERR_clear_error();
    assert_true(SSL_read(s->ssl, b, sizeof b) <= 0);
    ERR_clear_error();
}

/* ---- tests ---- */

static void test_handshake_verified(void **state)
{
    (void)state;
    const char *hosts[] = {"127.0.0.1", "localhost", "::1"};
    for (size_t i = 0; i < sizeof hosts / sizeof *hosts; i++) {
        struct tls_rig g;
        rig_make(&g, pki.good, 0, pki.cafile);
        if (strcmp(hosts[i], "127.0.0.1") != 0 && g.s.lfd[1] < 0) {
            rig_free(&g); /* no IPv6 here: "localhost" may resolve to ::1 only */
            continue;
        }
        char err[512] = "";
        int rc = connect_tls(&g.io, &g.s, hosts[i], err, sizeof err);
        if (rc != 1)
            fail_msg("%s: %s", hosts[i], err);
        assert_true(g.s.up);
        assert_int_equal(g.t.state, TLS_UP);
        assert_true(SSL_version(g.t.ssl) >= TLS1_2_VERSION);
        /* a byte each way */
        assert_int_equal(g.io.ops->write(g.io.ctx, "x", 1), 1);
        char b[4];
        int n = -1;
        for (int k = 0; k < STEPS && n <= 0; k++) {
            n = SSL_read(g.s.ssl, b, sizeof b);
            if (n <= 0)
                wait_a_little(-1, &g.s);
        }
        assert_int_equal(n, 1);
        assert_int_equal(b[0], 'x');
        g.io.ops->close(g.io.ctx);
        assert_int_equal(g.t.state, TLS_CLOSED);
        rig_free(&g);
    }
}

static void test_refusals(void **state)
{
    (void)state;
    struct {
        X509 *cert;
        int max_version;
        const char *cafile, *host, *reason;
    } cases[] = {
        {pki.good, 0, pki.other_cafile, "127.0.0.1", "not trusted"},
        {pki.wrong_name, 0, pki.cafile, "127.0.0.1", "IP address mismatch"},
        {pki.wrong_name, 0, pki.cafile, "localhost", "hostname mismatch"},
        {pki.good, TLS1_1_VERSION, pki.cafile, "127.0.0.1", "TLS handshake failed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tls_rig g;
        rig_make(&g, cases[i].cert, cases[i].max_version, cases[i].cafile);
        if (!strcmp(cases[i].host, "localhost") && g.s.lfd[1] < 0) {
            rig_free(&g);
            continue;
        }
        char err[512] = "";
        int rc = connect_tls(&g.io, &g.s, cases[i].host, err, sizeof err);
        assert_int_equal(rc, -1);
        if (!strstr(err, cases[i].reason))
            fail_msg("case %zu: reason '%s' does not say '%s'", i, err, cases[i].reason);
        assert_true(g.s.failed || !g.s.up);
        assert_int_equal(g.t.state, TLS_BROKEN);
        /* the connection is unusable: nothing is read or written over it */
        char b[8];
        assert_int_equal(g.io.ops->write(g.io.ctx, "CONNECT", 7), MQTT_IO_ERROR);
        assert_int_equal(g.io.ops->read(g.io.ctx, b, sizeof b), MQTT_IO_ERROR);
        assert_server_got_nothing(&g.s);
        g.io.ops->close(g.io.ctx);
        rig_free(&g);
    }
}

static void test_bad_cafile(void **state)
{
    (void)state;
    struct mqtt_tls t;
    struct mqtt_io io;
    char err[512] = "";
    assert_int_equal(mqtt_io_tls(&io, &t, "/nonexistent/ca.crt", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/ca.crt"));
    mqtt_tls_free(&t);
}

/* Read into b until want bytes came or the loop gives up. */
static size_t read_some(struct tls_rig *g, char *b, size_t want)
{
    size_t got = 0;
    for (int i = 0; i < STEPS && got < want; i++) {
        ssize_t n = g->io.ops->read(g->io.ctx, b + got, want - got);
        assert_true(n >= 0);
        got += (size_t)n;
        if (!n)
            wait_a_little(g->t.tcp.fd, &g->s);
    }
    return got;
}

static void test_pending_after_short_read(void **state)
{
    (void)state;
    struct tls_rig g;
    rig_make(&g, pki.good, 0, pki.cafile);
    char err[512];
    assert_int_equal(connect_tls(&g.io, &g.s, "127.0.0.1", err, sizeof err), 1);
    char rec[1000];
    for (size_t i = 0; i < sizeof rec; i++)
        rec[i] = (char)('a' + i % 26);
    assert_int_equal(SSL_write(g.s.ssl, rec, sizeof rec), (int)sizeof rec); /* one record */
    char b[sizeof rec];
    assert_false(g.io.ops->pending(g.io.ctx));
    assert_int_equal(read_some(&g, b, 10), 10);
    /* the record's other 990 bytes are in OpenSSL: the socket is empty, pending() says so */
    struct pollfd p = {.fd = g.t.tcp.fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_true(g.io.ops->pending(g.io.ctx));
    assert_int_equal(g.io.ops->read(g.io.ctx, b + 10, sizeof b - 10), (ssize_t)(sizeof b - 10));
    assert_memory_equal(b, rec, sizeof rec);
    assert_false(g.io.ops->pending(g.io.ctx));
    assert_int_equal(g.io.ops->read(g.io.ctx, b, sizeof b), 0); /* nothing more: 0, not an error */
    rig_free(&g);
}

static void test_write_full_then_moved_buffer(void **state)
{
    (void)state;
    struct tls_rig g;
    rig_make(&g, pki.good, 0, pki.cafile);
    char err[512];
    assert_int_equal(connect_tls(&g.io, &g.s, "127.0.0.1", err, sizeof err), 1);
    /* small kernel buffers so the socket fills soon */
    int sz = 65536;
    setsockopt(g.t.tcp.fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(g.s.fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    size_t total = 4u << 20, sent = 0;
    uint8_t *a = malloc(total), *b = malloc(total), *got = malloc(total);
    assert_true(a && b && got);
    for (size_t i = 0; i < total; i++)
        a[i] = (uint8_t)(i % 251);
    memcpy(b, a, total);
    /* the server reads nothing yet: the socket fills and write() says 0 */
    bool full = false;
    while (sent < total && !full) {
        ssize_t n = g.io.ops->write(g.io.ctx, a + sent, total - sent);
        assert_true(n >= 0);
        if (!n)
            full = true;
        sent += (size_t)n;
    }
    assert_true(full);
    assert_int_equal(g.io.ops->events(g.io.ctx, POLLOUT), POLLOUT);
    assert_int_equal(g.io.ops->events(g.io.ctx, POLLIN), POLLIN);
    /* go on from the copy at another address, as the client does after compacting its buffer */
    memset(a, 0, total);
    size_t recvd = 0;
    for (int i = 0; i < 100000 && recvd < total; i++) {
        ssize_t n = 0;
        if (sent < total) {
            n = g.io.ops->write(g.io.ctx, b + sent, total - sent);
            assert_true(n >= 0);
            sent += (size_t)n;
        }
        int r = SSL_read(g.s.ssl, got + recvd, (int)(total - recvd));
        if (r > 0)
            recvd += (size_t)r;
        else
            ERR_clear_error();
        if (r <= 0 && n == 0) {
            struct pollfd p[2] = {{.fd = g.t.tcp.fd, .events = sent < total ? POLLOUT : 0},
                                  {.fd = g.s.fd, .events = POLLIN}};
            poll(p, 2, 5);
        }
    }
    assert_int_equal(recvd, total);
    assert_memory_equal(got, b, total);
    free(a);
    free(b);
    free(got);
    rig_free(&g);
}

static void test_close_notify_is_eof(void **state)
{
    (void)state;
    struct tls_rig g;
    rig_make(&g, pki.good, 0, pki.cafile);
    char err[512];
    assert_int_equal(connect_tls(&g.io, &g.s, "127.0.0.1", err, sizeof err), 1);
    SSL_shutdown(g.s.ssl);
    ssize_t n = 0;
    char b[16];
    for (int i = 0; i < STEPS && n == 0; i++) {
        n = g.io.ops->read(g.io.ctx, b, sizeof b);
        if (!n)
            wait_a_little(g.t.tcp.fd, &g.s);
    }
    assert_int_equal(n, MQTT_IO_EOF);
    rig_free(&g);
}

/* ---- the MQTT client over TLS: PUBACK after the commit ---- */

struct got_msg {
    int n;
    struct ack_ref ref;
    char payload[16];
};

static void on_message(void *ctx, const struct mqtt_message *m, struct ack_ref ref)
{
    struct got_msg *g = ctx;
    g->n++;
    g->ref = ref;
    snprintf(g->payload, sizeof g->payload, "%.*s", (int)m->payload_len, (const char *)m->payload);
}

/* Run the client for a while, the server stepping too; stop early when *until becomes true. */
static void client_run(struct mqtt_client *c, struct server *s, int turns, const bool *until)
{
    for (int i = 0; i < turns && !(until && *until); i++) {
        short ev = 0;
        int fd = mqtt_client_pollfd(c, &ev);
        struct pollfd p[2] = {{.fd = fd, .events = ev}, {.fd = s->fd, .events = POLLIN}};
        int timeout = mqtt_client_next_timer(c) == 0 ? 0 : 5;
        poll(p, 2, timeout);
        mqtt_client_service(c, fd >= 0 ? p[0].revents : 0, 0);
        server_step(s);
    }
}

/* Read exactly n bytes of application data at the server. */
static void server_read(struct server *s, struct mqtt_client *c, uint8_t *b, size_t n)
{
    size_t got = 0;
    for (int i = 0; i < STEPS && got < n; i++) {
        int r = s->up ? SSL_read(s->ssl, b + got, (int)(n - got)) : 0;
        if (r > 0)
            got += (size_t)r;
        else {
            ERR_clear_error();
            client_run(c, s, 1, NULL);
        }
    }
    assert_int_equal(got, n);
}

static void test_client_puback_after_commit(void **state)
{
    (void)state;
    struct tls_rig g;
    rig_make(&g, pki.good, 0, pki.cafile);
    char *filters[] = {"+/+/+"};
    struct mqtt_client_config cfg = {
        .host = "127.0.0.1",
        .port = g.s.port,
        .client_id = "tls-test",
        .qos = 1,
        .filters = filters,
        .nfilters = 1,
        .max_packet = 65536,
        .connect_timeout_ms = 5000,
    };
    struct got_msg got = {0};
    struct mqtt_client_hooks hooks = {.on_message = on_message, .ctx = &got};
    struct mqtt_client c;
    char err[256];
    assert_int_equal(mqtt_client_init(&c, &cfg, &g.io, &hooks, err, sizeof err), 0);

    uint8_t b[64];
    server_read(&g.s, &c, b, 2); /* CONNECT's fixed header */
    assert_int_equal(b[0], 0x10);
    server_read(&g.s, &c, b + 2, b[1]);
    const uint8_t connack[] = {0x20, 2, 0, 0};
    assert_int_equal(SSL_write(g.s.ssl, connack, sizeof connack), 4);
    server_read(&g.s, &c, b, 2); /* SUBSCRIBE */
    assert_int_equal(b[0], 0x82);
    server_read(&g.s, &c, b + 2, b[1]);
    const uint8_t suback[] = {0x90, 3, b[2], b[3], 1};
    /* SUBACK and a QoS 1 PUBLISH (mid 7) in one record */
    const uint8_t publish[] = {0x32, 13, 0, 5, 'a', '/', 'b', '/', 'c', 0, 7, '2', '1', '.', '5'};
    uint8_t rec[sizeof suback + sizeof publish];
    memcpy(rec, suback, sizeof suback);
    memcpy(rec + sizeof suback, publish, sizeof publish);
    assert_int_equal(SSL_write(g.s.ssl, rec, sizeof rec), (int)sizeof rec);
    bool delivered = false;
    for (int i = 0; i < STEPS && !got.n; i++)
        client_run(&c, &g.s, 1, &delivered);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.payload, "21.5");
    assert_int_equal(c.state, MC_UP);

    /* not committed: no PUBACK, however long the client runs */
    client_run(&c, &g.s, 40, NULL);
    mqtt_client_flush(&c);
    client_run(&c, &g.s, 10, NULL);
    ERR_clear_error();
    assert_true(SSL_read(g.s.ssl, b, sizeof b) <= 0);
    ERR_clear_error();
    assert_int_equal(c.stats.acks_sent, 0);

    /* committed: the PUBACK goes at the flush */
    mqtt_client_commit(&c, got.ref);
    mqtt_client_flush(&c);
    server_read(&g.s, &c, b, 4);
    const uint8_t puback[] = {0x40, 2, 0, 7};
    assert_memory_equal(b, puback, 4);
    assert_int_equal(c.stats.acks_sent, 1);
    mqtt_client_free(&c);
    rig_free(&g);
}

/*
 * A transport that holds its bytes (as OpenSSL does after a short read) and hands them out 3 at a time on a
 * socket poll() never reports: the client must read them because pending() says so, with no event at all.
 */
struct held {
    int pipefd[2];
    const uint8_t *data;
    size_t len, off;
};

static int held_open(void *ctx, const char *host, int port, char *err, size_t errlen)
{
    (void)host, (void)port, (void)err, (void)errlen;
    struct held *h = ctx;
    assert_int_equal(pipe(h->pipefd), 0);
    return h->pipefd[0];
}

static int held_finish(void *ctx, short *events, char *err, size_t errlen)
{
    (void)ctx, (void)events, (void)err, (void)errlen;
    return 1;
}

static ssize_t held_read(void *ctx, void *buf, size_t n)
{
    struct held *h = ctx;
    size_t k = h->len - h->off;
    k = k < n ? k : n;
    k = k < 3 ? k : 3;
    memcpy(buf, h->data + h->off, k);
    h->off += k;
    return (ssize_t)k;
}

static ssize_t held_write(void *ctx, const void *buf, size_t n)
{
    (void)ctx, (void)buf;
    return (ssize_t)n;
}

static void held_close(void *ctx)
{
    struct held *h = ctx;
    if (h->pipefd[0] > 0) {
        close(h->pipefd[0]);
        close(h->pipefd[1]);
    }
    h->pipefd[0] = h->pipefd[1] = -1;
}

static short held_events(void *ctx, short want)
{
    (void)ctx;
    return want;
}

static bool held_pending(void *ctx)
{
    struct held *h = ctx;
    return h->off < h->len;
}

static void test_client_reads_held_bytes(void **state)
{
    (void)state;
    static const struct mqtt_io_ops ops = {
        .open = held_open,
        .finish = held_finish,
        .read = held_read,
        .write = held_write,
        .close = held_close,
        .events = held_events,
        .pending = held_pending,
    };
    static const uint8_t stream[] = {0x20, 2,  0, 0,    /* CONNACK */
                                     0x90, 3,  0, 1, 1, /* SUBACK */
                                     0x32, 13, 0, 5, 'a', '/', 'b', '/', 'c', 0, 9, '2', '2', '.', '5'};
    struct held h = {.pipefd = {-1, -1}, .data = stream, .len = sizeof stream};
    struct mqtt_io io = {.ops = &ops, .ctx = &h};
    char *filters[] = {"+/+/+"};
    struct mqtt_client_config cfg = {.host = "held",
                                     .port = 1,
                                     .client_id = "held",
                                     .qos = 1,
                                     .filters = filters,
                                     .nfilters = 1,
                                     .max_packet = 65536,
                                     .connect_timeout_ms = 5000};
    struct got_msg got = {0};
    struct mqtt_client_hooks hooks = {.on_message = on_message, .ctx = &got};
    struct mqtt_client c;
    char err[256];
    assert_int_equal(mqtt_client_init(&c, &cfg, &io, &hooks, err, sizeof err), 0);
    mqtt_client_service(&c, 0, 0); /* connects: CONNECT written, waiting for the CONNACK */
    assert_int_equal(c.state, MC_CONNACK);
    int turns = 0;
    while (mqtt_client_next_timer(&c) == 0 && turns < 100) {
        mqtt_client_service(&c, 0, 0); /* no poll event: only pending() says there is something */
        turns++;
    }
    assert_int_equal(h.off, h.len);
    assert_int_equal(c.state, MC_UP);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.payload, "22.5");
    assert_true(turns > 1); /* 4 reads of 3 bytes per turn: the loop came back for the rest */
    assert_int_not_equal(mqtt_client_next_timer(&c), 0); /* nothing held: no busy loop */
    mqtt_client_free(&c);
}

int main(void)
{
    log_init("test", LOG_SILENT);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_verified),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_bad_cafile),
        cmocka_unit_test(test_pending_after_short_read),
        cmocka_unit_test(test_write_full_then_moved_buffer),
        cmocka_unit_test(test_close_notify_is_eof),
        cmocka_unit_test(test_client_puback_after_commit),
        cmocka_unit_test(test_client_reads_held_bytes),
    };
    return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
