/*
 * count_sub.c - the broker-only reference: an MQTT subscriber that does nothing
 * with a message but count it.
 *
 *   count_sub -p PORT [-h HOST] [-q QOS] [-t FILTER] [-n EXPECT] [-T IDLE_S] [-W WAIT_S] [-i CLIENT_ID] [-L] [-l]
 *             [-c CAFILE]
 *
 * Subscribes (MQTT 3.1.1, clean session) to FILTER (default +/+/+) at QOS,
 * prints "ready" on stdout once the broker acknowledged the subscription, then
 * counts messages (retained ones excepted) until EXPECT arrived, or nothing
 * arrived for IDLE_S seconds (default 5) after the first, or WAIT_S seconds
 * (default 120) passed without any. Prints one JSON line:
 * {"received":N,"first_us":T,"last_us":T,...} (wall clock, microseconds since
 * the epoch, of the first and last message received).
 *
 * Two clients:
 *   default  its own minimal MQTT client on a plain socket: 64 KiB reads, every
 *            PUBLISH in a read parsed in place, QoS 1 PUBACKs written together
 *            once per read. It costs next to nothing per message, so what it
 *            measures is the broker's (and the publisher's) ceiling.
 *   -l       libmosquitto, driven like the ingest drives it (poll, then
 *            mosquitto_loop_read while messages keep coming; libmosquitto
 *            acknowledges QoS 1 on receipt): the ceiling of the client library
 *            the ingest is built on (three recv() calls per message, one send()
 *            per PUBACK).
 *
 * -c CAFILE: MQTT over TLS (1.2+), the broker's certificate verified against
 * CAFILE and the host name: the raw client through OpenSSL (SSL_read/SSL_write
 * on the same 64 KiB buffers), -l through mosquitto_tls_set(). The TLS ceiling.
 *
 * -L (latency reference): payloads are latency_pub's {"value": n, "ts": "<send
 * time>"}, or its -f plain number (the send time, milliseconds since the epoch
 * with microsecond decimals); adds percentiles of receive time - ts over every message
 * (lat_p50_us, lat_p90_us, lat_p99_us, lat_max_us): what the broker hop costs.
 */
#include "stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <mosquitto.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct opts {
    const char *host, *filter, *client_id, *cafile;
    int port, qos;
    uint64_t expect;
    double idle_s, wait_s;
    bool latency, libmosq;
};

static struct opts o = {.host = "127.0.0.1", .filter = "+/+/+", .qos = 0, .idle_s = 5, .wait_s = 120};
static uint64_t received;
static int64_t first_us, last_us, start_us;
static bool subscribed;
static volatile sig_atomic_t stop;
static struct lat_set lat; /* microseconds, one per message (-L) */

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* days since 1970-01-01 of a civil date (Howard Hinnant's algorithm) */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* latency_pub's ts: 2026-11-27T10:00:00.123456Z. -1 if not that. */
static int64_t parse_ts(const char *s, size_t len)
{
    int v[7] = {0};
    static const int at[7] = {0, 5, 8, 11, 14, 17, 20}, n[7] = {4, 2, 2, 2, 2, 2, 6};
    if (len < 27 || s[26] != 'Z')
        return -1;
    for (int k = 0; k < 7; k++)
        for (int i = 0; i < n[k]; i++) {
            char ch = s[at[k] + i];
            if (ch < '0' || ch > '9')
                return -1;
            v[k] = v[k] * 10 + (ch - '0');
        }
    return ((days_from_civil(v[0], (unsigned)v[1], (unsigned)v[2]) * 24 + v[3]) * 60 + v[4]) * 60000000LL +
           v[5] * 1000000LL + v[6];
}

static void ready(void)
{
    subscribed = true;
    printf("ready\n");
    fflush(stdout);
}

/* One message arrived at now. */
static void count(const void *payload, size_t len, int64_t now)
{
    if (!received)
        first_us = now;
    last_us = now;
    received++;
    if (o.latency && payload) {
        const char *p = memmem(payload, len, "\"ts\": \"", 7);
        if (p) {
            const char *ts = p + 7;
            int64_t t = parse_ts(ts, (size_t)((const char *)payload + len - ts));
            if (t >= 0)
                lat_add(&lat, now - t);
        } else if (len < 64) { /* latency_pub -f: the payload is the send time in ms */
            char num[64], *end;
            memcpy(num, payload, len);
            num[len] = 0;
            double ms = strtod(num, &end);
            if (end != num && ms > 0)
                lat_add(&lat, now - (int64_t)(ms * 1000.0 + 0.5));
        }
    }
}

/* Should the loop end now? */
static bool finished(int64_t now)
{
    if (stop || (o.expect && received >= o.expect))
        return true;
    if (received && now - last_us > (int64_t)(o.idle_s * 1e6))
        return true;
    return !received && now - start_us > (int64_t)(o.wait_s * 1e6);
}

/* ---- default: a minimal MQTT 3.1.1 subscriber on a plain socket (or TLS with -c) ---- */

static SSL *ssl; /* -c: the TLS session over the socket */

/* -c: TLS on the connected, blocking socket fd; the broker verified. Returns 0 or -1 (said why). */
static int tls_start(int fd)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return -1;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY); /* a read timeout (SO_RCVTIMEO) ends SSL_read */
    if (SSL_CTX_load_verify_locations(ctx, o.cafile, NULL) != 1) {
        fprintf(stderr, "count_sub: cannot load %s\n", o.cafile);
        return -1;
    }
    ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL holds a reference */
    unsigned char a[16];
    if (inet_pton(AF_INET, o.host, a) == 1 || inet_pton(AF_INET6, o.host, a) == 1)
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), o.host);
    else {
        SSL_set1_host(ssl, o.host);
        SSL_set_tlsext_host_name(ssl, o.host);
    }
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        fprintf(stderr, "count_sub: TLS handshake failed: %s (verify: %s)\n", e,
                X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
        return -1;
    }
    return 0;
}

/* read() or SSL_read(): bytes, 0 at EOF, -1 with errno (EAGAIN: nothing yet). */
static ssize_t io_read(int fd, uint8_t *b, size_t n)
{
    if (!ssl)
        return read(fd, b, n);
    int r = SSL_read(ssl, b, (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE || (e == SSL_ERROR_SYSCALL && errno == EAGAIN)
                ? EAGAIN
                : EPROTO;
    ERR_clear_error();
    return -1;
}

static ssize_t io_write(int fd, const uint8_t *b, size_t n)
{
    if (!ssl)
        return write(fd, b, n);
    int w = SSL_write(ssl, b, (int)n);
    if (w > 0)
        return w;
    int e = SSL_get_error(ssl, w);
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : EPROTO;
    ERR_clear_error();
    return -1;
}

static int write_all(int fd, const uint8_t *b, size_t n)
{
    while (n) {
        ssize_t w = io_write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, 100);
            continue;
        }
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static size_t put_str(uint8_t *b, const char *s)
{
    size_t n = strlen(s);
    b[0] = (uint8_t)(n >> 8);
    b[1] = (uint8_t)n;
    memcpy(b + 2, s, n);
    return n + 2;
}

/* fixed header with the remaining length; returns its size */
static size_t put_head(uint8_t *b, uint8_t type, size_t rem)
{
    size_t i = 0;
    b[i++] = type;
    do {
        uint8_t d = rem % 128;
        rem /= 128;
        b[i++] = (uint8_t)(d | (rem ? 0x80 : 0));
    } while (rem);
    return i;
}

static int run_raw(void)
{
    char port[16];
    snprintf(port, sizeof port, "%d", o.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(o.host, port, &hints, &ai)) {
        fprintf(stderr, "count_sub: cannot resolve %s\n", o.host);
        return 1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
        fprintf(stderr, "count_sub: cannot connect to %s:%d: %s\n", o.host, o.port, strerror(errno));
        return 1;
    }
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o.cafile) {
        struct timeval tv = {.tv_usec = 100000}; /* SSL_read returns within 100 ms, so finished() is checked */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (tls_start(fd))
            return 1;
    }

    /* CONNECT (clean session, no keepalive) and SUBSCRIBE, sent together */
    char id[64];
    snprintf(id, sizeof id, "%s", o.client_id ? o.client_id : "");
    if (!id[0])
        snprintf(id, sizeof id, "count_sub-%d", (int)getpid());
    uint8_t out[8192], body[1024];
    size_t n = 0, bl = 0;
    bl += put_str(body, "MQTT");
    body[bl++] = 4;    /* 3.1.1 */
    body[bl++] = 0x02; /* clean session */
    body[bl++] = 0;
    body[bl++] = 0; /* keepalive off */
    bl += put_str(body + bl, id);
    n += put_head(out, 0x10, bl);
    memcpy(out + n, body, bl);
    n += bl;
    bl = 0;
    body[bl++] = 0;
    body[bl++] = 1; /* packet id */
    if (strlen(o.filter) > 900)
        return 2;
    bl += put_str(body + bl, o.filter);
    body[bl++] = (uint8_t)o.qos;
    n += put_head(out + n, 0x82, bl);
    memcpy(out + n, body, bl);
    n += bl;
    if (write_all(fd, out, n))
        return 1;

    size_t cap = 1 << 20, have = 0;
    uint8_t *buf = malloc(cap);
    uint8_t *acks = malloc(4 * 65536);
    if (!buf || !acks)
        return 1;
    while (!finished(wall_us())) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = ssl && SSL_pending(ssl) > 0 ? 1 : poll(&p, 1, 100); /* OpenSSL may hold the rest of a record */
        if (rc < 0 && errno != EINTR)
            break;
        if (rc <= 0)
            continue;
        ssize_t r = io_read(fd, buf + have, cap - have);
        if (r == 0) {
            fprintf(stderr, "count_sub: broker closed the connection\n");
            break;
        }
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            break;
        }
        have += (size_t)r;
        int64_t now = wall_us();
        size_t off = 0, nacks = 0;
        for (;;) {
            /* one packet: fixed header, remaining length (1..4 bytes), body */
            if (have - off < 2)
                break;
            size_t rem = 0, mult = 1, h = 1;
            bool complete = false;
            while (h < 5 && off + h < have) {
                uint8_t d = buf[off + h++];
                rem += (d & 0x7f) * mult;
                mult *= 128;
                if (!(d & 0x80)) {
                    complete = true;
                    break;
                }
            }
            if (!complete || have - off - h < rem)
                break;
            const uint8_t *pk = buf + off + h;
            uint8_t type = buf[off] >> 4, flags = buf[off] & 0x0f;
            if (type == 3 && rem >= 2) { /* PUBLISH */
                size_t tl = (size_t)pk[0] << 8 | pk[1], at = 2 + tl;
                int q = (flags >> 1) & 3;
                if (q > 0) {
                    if (nacks == 65536) {
                        if (write_all(fd, acks, nacks * 4))
                            goto out;
                        nacks = 0;
                    }
                    uint8_t *a = acks + nacks++ * 4;
                    a[0] = 0x40;
                    a[1] = 2;
                    a[2] = pk[at];
                    a[3] = pk[at + 1];
                    at += 2;
                }
                if (!(flags & 1) && at <= rem)
                    count(pk + at, rem - at, now);
            } else if (type == 9) { /* SUBACK */
                if (rem >= 3 && pk[2] == 0x80) {
                    fprintf(stderr, "count_sub: subscription refused\n");
                    goto out;
                }
                ready();
            } else if (type == 2 && rem >= 2 && pk[1] != 0) { /* CONNACK refused */
                fprintf(stderr, "count_sub: connection refused (code %d)\n", pk[1]);
                goto out;
            }
            off += h + rem;
        }
        if (nacks && write_all(fd, acks, nacks * 4))
            break;
        memmove(buf, buf + off, have - off);
        have -= off;
        if (have == cap) {
            fprintf(stderr, "count_sub: packet larger than %zu bytes\n", cap);
            break;
        }
    }
out:
    write_all(fd, (const uint8_t *)"\xe0\x00", 2); /* DISCONNECT */
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    close(fd);
    free(buf);
    free(acks);
    return 0;
}

/* ---- -l: libmosquitto ---- */

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    (void)ud;
    if (rc) {
        fprintf(stderr, "count_sub: connection refused: %s\n", mosquitto_connack_string(rc));
        stop = 1;
        return;
    }
    mosquitto_subscribe(m, NULL, o.filter, o.qos);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
    (void)m, (void)ud, (void)mid, (void)n, (void)granted;
    ready();
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void)m, (void)ud;
    if (!msg->retain) /* presence replayed on subscribe is not part of the load */
        count(msg->payload, (size_t)msg->payloadlen, wall_us());
}

static int run_libmosquitto(void)
{
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(o.client_id, true, NULL);
    if (!m) {
        perror("count_sub: mosquitto_new");
        return 1;
    }
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    if (o.cafile && (mosquitto_tls_set(m, o.cafile, NULL, NULL, NULL, NULL) != MOSQ_ERR_SUCCESS ||
                     mosquitto_tls_opts_set(m, 1, "tlsv1.2", NULL) != MOSQ_ERR_SUCCESS)) {
        fprintf(stderr, "count_sub: cannot set up TLS with %s\n", o.cafile);
        return 1;
    }
    if (mosquitto_connect(m, o.host, o.port, 60) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "count_sub: cannot connect to %s:%d\n", o.host, o.port);
        return 1;
    }
    while (!finished(wall_us())) {
        struct pollfd p = {.fd = mosquitto_socket(m), .events = POLLIN};
        if (p.fd < 0)
            break;
        if (mosquitto_want_write(m))
            p.events |= POLLOUT;
        int rc = poll(&p, 1, 100);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && (p.revents & (POLLIN | POLLERR | POLLHUP))) {
            /* like the ingest: read while whole messages keep coming */
            for (;;) {
                uint64_t before = received;
                if (mosquitto_loop_read(m, 1) != MOSQ_ERR_SUCCESS)
                    goto out;
                if (received == before && subscribed)
                    break;
                if (!subscribed)
                    break;
            }
        }
        if (mosquitto_want_write(m))
            mosquitto_loop_write(m, 1);
        mosquitto_loop_misc(m);
    }
out:
    mosquitto_disconnect(m);
    mosquitto_loop_write(m, 1);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "h:p:q:t:n:T:W:i:Llc:")) != -1) {
        switch (c) {
        case 'h':
            o.host = optarg;
            break;
        case 'p':
            o.port = atoi(optarg);
            break;
        case 'q':
            o.qos = atoi(optarg);
            break;
        case 't':
            o.filter = optarg;
            break;
        case 'n':
            o.expect = strtoull(optarg, NULL, 10);
            break;
        case 'T':
            o.idle_s = atof(optarg);
            break;
        case 'W':
            o.wait_s = atof(optarg);
            break;
        case 'i':
            o.client_id = optarg;
            break;
        case 'L':
            o.latency = true;
            break;
        case 'l':
            o.libmosq = true;
            break;
        case 'c':
            o.cafile = optarg;
            break;
        default:
            fprintf(stderr, "usage: count_sub -p PORT [-h HOST] [-q QOS] [-t FILTER] [-n EXPECT] [-T IDLE_S] "
                            "[-W WAIT_S] [-i CLIENT_ID] [-L] [-l] [-c CAFILE]\n");
            return 2;
        }
    }
    if (o.port <= 0 || o.qos < 0 || o.qos > 1) {
        fprintf(stderr, "count_sub: -p PORT is required and -q must be 0 or 1\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    start_us = wall_us();
    int rc = o.libmosq ? run_libmosquitto() : run_raw();
    lat_sort(&lat);
    printf("{\"received\":%llu,\"first_us\":%lld,\"last_us\":%lld,\"subscribed\":%s,\"client\":\"%s%s\",\"lat_n\":%zu,"
           "\"lat_p50_us\":%d,\"lat_p90_us\":%d,\"lat_p99_us\":%d,\"lat_max_us\":%d}\n",
           (unsigned long long)received, (long long)first_us, (long long)last_us, subscribed ? "true" : "false",
           o.libmosq ? "libmosquitto" : "raw", o.cafile ? "+tls" : "", lat.n, lat_pct(&lat, 50), lat_pct(&lat, 90),
           lat_pct(&lat, 99), lat_max(&lat));
    fflush(stdout);
    lat_free(&lat);
    return rc;
}
