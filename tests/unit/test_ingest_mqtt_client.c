/*
 * test_ingest_mqtt_client.c - the ingest's MQTT 3.1.1 client (mqtt_client.h) over its real plain TCP transport
 * (mqtt_io_tcp), against a fake broker: a listening socket on 127.0.0.1 that the test accepts on, reads the
 * client's packets from (mqtt_frame_parse) and writes hand-built bytes to. A fake ingest records every message
 * handed over and answers can_read. The client is driven by a pump (pollfd, poll, service, flush) in bounded
 * rounds; times in the future are passed as now_ms instead of sleeping.
 *
 * Covered: CONNECT and SUBSCRIBE bytes; PUBACK only after commit, in arrival order; QoS 0; streams cut at every
 * byte; backpressure; too-large PUBLISHes; refused CONNACK and reconnect; protocol errors; redelivery on a
 * persistent session; reused packet ids; refused subscriptions; keepalive; stop; broker loss; an unreachable
 * broker; init errors.
 */
#include "unit.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "ingest/ack_tracker.h"
#include "ingest/mqtt_client.h"
#include "ingest/mqtt_frame.h"
#include "ingest/mqtt_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define RIG_KEEP 64      /* messages whose content the fake ingest keeps */
#define RIG_WAIT_MS 5000 /* bound on any wait for the other side */
#define TOPIC "s/dev1/temp"

/* One message as the fake ingest got it. */
struct rig_msg {
    char topic[32];
    char payload[64]; /* the first bytes, NUL-terminated */
    size_t payload_len;
    uint64_t payload_hash; /* of all payload_len bytes */
    size_t packet_len;
    uint16_t mid;
    uint8_t qos;
    bool retain, truncated;
    struct ack_ref ref;
};

struct rig {
    struct mqtt_client c;
    bool started; /* c is initialised */
    struct mqtt_tcp tcp;
    struct mqtt_io io;
    struct mqtt_client_config cfg;
    char *filters[2];
    int lfd; /* the fake broker's listening socket */
    int bfd; /* the fake broker's side of the client's connection, -1 when none */
    uint8_t rx[4096];
    size_t rxlen;    /* bytes from the client not yet taken as packets */
    size_t got;      /* messages handed over */
    size_t take_max; /* can_read says yes while got < take_max */
    bool seq_check;  /* payloads must be "m00000", "m00001", ... in order */
    size_t seq_bad;
    struct rig_msg msgs[RIG_KEEP];
};

static uint64_t fnv(const void *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ull;
    return h;
}

/* ---- the fake ingest ---- */

static void rig_on_message(void *ctx, const struct mqtt_message *m, struct ack_ref ref)
{
    struct rig *g = ctx;
    if (g->seq_check) {
        char want[16];
        int n = snprintf(want, sizeof want, "m%05zu", g->got);
        if (m->payload_len != (size_t)n || memcmp(m->payload, want, (size_t)n) != 0)
            g->seq_bad++;
    }
    if (g->got < RIG_KEEP) {
        struct rig_msg *e = &g->msgs[g->got];
        memset(e, 0, sizeof *e);
        snprintf(e->topic, sizeof e->topic, "%.*s", (int)m->topic_len, m->topic);
        size_t keep = m->payload_len < sizeof e->payload - 1 ? m->payload_len : sizeof e->payload - 1;
        memcpy(e->payload, m->payload, keep);
        e->payload_len = m->payload_len;
        e->payload_hash = fnv(m->payload, m->payload_len);
        e->packet_len = m->packet_len;
        e->mid = m->mid;
        e->qos = m->qos;
        e->retain = m->retain;
        e->truncated = m->truncated;
        e->ref = ref;
    }
    g->got++;
}

static bool rig_can_read(void *ctx)
{
    struct rig *g = ctx;
    return g->got < g->take_max;
}

/* ---- the pump ---- */

/* One round of the ingest loop for the client alone: poll (at most timeout_ms), service, flush. */
static void pump_once(struct rig *g, int timeout_ms)
{
    short events = 0;
    struct pollfd p = {.fd = mqtt_client_pollfd(&g->c, &events)};
    p.events = events;
    int n = poll(&p, 1, timeout_ms); /* fd -1: poll only waits */
    mqtt_client_service(&g->c, n > 0 ? p.revents : 0, time_mono_ms());
    mqtt_client_flush(&g->c);
}

static void pump(struct rig *g, int rounds)
{
    for (int i = 0; i < rounds; i++)
        pump_once(g, 2);
}

/* Pump until cond holds, failing with what after RIG_WAIT_MS. */
#define PUMP_UNTIL(g, cond, what)                                                                                      \
    do {                                                                                                               \
        int64_t until_ = time_mono_ms() + RIG_WAIT_MS;                                                                 \
        while (!(cond) && time_mono_ms() < until_)                                                                     \
            pump_once((g), 5);                                                                                         \
        if (!(cond))                                                                                                   \
            fail_msg("timed out waiting for %s", (what));                                                              \
    } while (0)

/* ---- the fake broker ---- */

static void broker_accept(struct rig *g)
{
    assert_int_equal(g->bfd, -1);
    int64_t until = time_mono_ms() + RIG_WAIT_MS;
    while (g->bfd < 0 && time_mono_ms() < until) {
        pump_once(g, 5);
        g->bfd = accept4(g->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    if (g->bfd < 0)
        fail_msg("the client did not connect (state %d)", g->c.state);
    g->rxlen = 0;
}

static void broker_close(struct rig *g)
{
    if (g->bfd >= 0)
        close(g->bfd);
    g->bfd = -1;
    g->rxlen = 0;
}

/* Read one whole packet from the client into pkt (pumping meanwhile); returns its length. */
static size_t broker_packet(struct rig *g, uint8_t *pkt, size_t cap, struct mqtt_frame *f)
{
    int64_t until = time_mono_ms() + RIG_WAIT_MS;
    for (;;) {
        int rc = mqtt_frame_parse(g->rx, g->rxlen, sizeof g->rx, f);
        if (rc == MQTT_FRAME_OK) {
            assert_true(f->total <= cap);
            memcpy(pkt, g->rx, f->total);
            memmove(g->rx, g->rx + f->total, g->rxlen - f->total);
            g->rxlen -= f->total;
            return f->total;
        }
        assert_int_equal(rc, MQTT_FRAME_MORE);
        if (time_mono_ms() >= until)
            fail_msg("no whole packet from the client (%zu bytes)", g->rxlen);
        pump_once(g, 2);
        ssize_t r = recv(g->bfd, g->rx + g->rxlen, sizeof g->rx - g->rxlen, MSG_DONTWAIT);
        if (r == 0)
            fail_msg("the client closed the connection");
        if (r > 0)
            g->rxlen += (size_t)r;
    }
}

/* The next packet from the client is exactly want. */
static void broker_expect(struct rig *g, const uint8_t *want, size_t n)
{
    uint8_t pkt[1024];
    struct mqtt_frame f;
    size_t len = broker_packet(g, pkt, sizeof pkt, &f);
    if (len != n || memcmp(pkt, want, n) != 0)
        fail_msg("expected a packet 0x%02x of %zu bytes, got 0x%02x of %zu bytes", want[0], n, pkt[0], len);
}

static void broker_expect_puback(struct rig *g, uint16_t mid)
{
    const uint8_t want[] = {0x40, 2, (uint8_t)(mid >> 8), (uint8_t)mid};
    broker_expect(g, want, sizeof want);
}

/* Nothing more comes from the client for a few rounds. */
static void broker_expect_nothing(struct rig *g)
{
    pump(g, 10);
    uint8_t b;
    ssize_t r = recv(g->bfd, &b, 1, MSG_DONTWAIT);
    if (g->rxlen || r >= 0)
        fail_msg("unexpected %s (byte 0x%02x)", r == 0 ? "end of stream" : "data", g->rxlen ? g->rx[0] : b);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* The client closes the connection, sending nothing more before. */
static void broker_expect_closed(struct rig *g)
{
    int64_t until = time_mono_ms() + RIG_WAIT_MS;
    while (time_mono_ms() < until) {
        uint8_t b;
        ssize_t r = recv(g->bfd, &b, 1, MSG_DONTWAIT);
        if (r > 0 || g->rxlen)
            fail_msg("data before the close (byte 0x%02x)", r > 0 ? b : g->rx[0]);
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            broker_close(g);
            return;
        }
        pump_once(g, 5);
    }
    fail_msg("the client kept the connection open");
}

/* Send n bytes to the client, pumping while the socket is full. */
static void broker_send(struct rig *g, const void *p, size_t n)
{
    size_t done = 0;
    int64_t until = time_mono_ms() + RIG_WAIT_MS;
    while (done < n && time_mono_ms() < until) {
        ssize_t r = send(g->bfd, (const uint8_t *)p + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r > 0)
            done += (size_t)r;
        else
            pump_once(g, 2);
    }
    assert_int_equal(done, n);
}

/* Pump until the client has read everything sent to it. */
static void client_drain(struct rig *g)
{
    int64_t until = time_mono_ms() + RIG_WAIT_MS;
    for (;;) {
        pump_once(g, 0);
        int pending = 0;
        if (g->tcp.fd < 0 || ioctl(g->tcp.fd, FIONREAD, &pending) != 0 || pending == 0)
            return;
        if (time_mono_ms() >= until)
            fail_msg("the client left %d bytes unread", pending);
    }
}

/* ---- packets built by hand ---- */

/* The remaining length as a variable byte integer; returns its bytes. */
static size_t put_len(uint8_t *out, size_t n)
{
    size_t i = 0;
    do {
        uint8_t b = n & 0x7f;
        n >>= 7;
        out[i++] = n ? (uint8_t)(b | 0x80) : b;
    } while (n);
    return i;
}

static size_t put_str(uint8_t *out, const char *s, size_t n)
{
    out[0] = (uint8_t)(n >> 8);
    out[1] = (uint8_t)n;
    memcpy(out + 2, s, n);
    return 2 + n;
}

/* Bytes a PUBLISH of plen payload bytes on topic needs. */
static size_t publish_size(const char *topic, size_t plen)
{
    return 5 + 2 + strlen(topic) + 2 + plen;
}

/* A PUBLISH (flags: DUP 0x08, QoS << 1, RETAIN 0x01) into out (publish_size bytes); returns its length. */
static size_t build_publish(uint8_t *out, uint8_t flags, uint16_t mid, const char *topic, const void *payload,
                            size_t plen)
{
    size_t tlen = strlen(topic), qos = (flags >> 1) & 3;
    size_t n = 0;
    out[n++] = (uint8_t)(0x30 | flags);
    n += put_len(out + n, 2 + tlen + (qos ? 2 : 0) + plen);
    n += put_str(out + n, topic, tlen);
    if (qos) {
        out[n++] = (uint8_t)(mid >> 8);
        out[n++] = (uint8_t)mid;
    }
    memcpy(out + n, payload, plen);
    return n + plen;
}

/* Send one PUBLISH of a string payload on TOPIC. */
static void send_publish(struct rig *g, uint8_t flags, uint16_t mid, const char *payload)
{
    uint8_t pkt[256];
    broker_send(g, pkt, build_publish(pkt, flags, mid, TOPIC, payload, strlen(payload)));
}

static void send_connack(struct rig *g, bool session_present, uint8_t code)
{
    const uint8_t pkt[] = {0x20, 2, session_present ? 1 : 0, code};
    broker_send(g, pkt, sizeof pkt);
}

static void send_suback(struct rig *g, uint16_t mid, const uint8_t *codes, size_t n)
{
    uint8_t pkt[16] = {0x90, (uint8_t)(2 + n), (uint8_t)(mid >> 8), (uint8_t)mid};
    assert_true(n <= sizeof pkt - 4);
    memcpy(pkt + 4, codes, n);
    broker_send(g, pkt, 4 + n);
}

/* ---- the rig ---- */

static void rig_start(struct rig *g)
{
    struct mqtt_client_hooks hooks = {.on_message = rig_on_message, .can_read = rig_can_read, .ctx = g};
    char err[256] = "";
    mqtt_io_tcp(&g->io, &g->tcp);
    if (mqtt_client_init(&g->c, &g->cfg, &g->io, &hooks, err, sizeof err) != 0)
        fail_msg("mqtt_client_init: %s", err);
    g->started = true;
    g->got = 0;
    g->seq_bad = 0;
}

static void rig_stop(struct rig *g)
{
    if (g->started)
        mqtt_client_free(&g->c);
    g->started = false;
    broker_close(g);
}

/* A new client with the current g->cfg (the old one and its connection gone). */
static void rig_restart(struct rig *g)
{
    rig_stop(g);
    rig_start(g);
}

/* The client connects; the broker accepts and reads its CONNECT (into pkt, when not NULL). */
static size_t rig_accept_connect(struct rig *g, uint8_t *pkt, size_t cap)
{
    uint8_t buf[1024];
    struct mqtt_frame f;
    broker_accept(g);
    size_t n = broker_packet(g, pkt ? pkt : buf, pkt ? cap : sizeof buf, &f);
    assert_int_equal(f.type, MQTT_CONNECT);
    assert_int_equal(g->c.state, MC_CONNACK);
    return n;
}

/* CONNACK accepted; the client subscribes; SUBACK with codes (NULL: every filter granted at cfg.qos). */
static void rig_session(struct rig *g, bool session_present, const uint8_t *codes)
{
    uint64_t sessions = g->c.stats.sessions;
    send_connack(g, session_present, 0);
    uint8_t pkt[1024];
    struct mqtt_frame f;
    broker_packet(g, pkt, sizeof pkt, &f);
    assert_int_equal(f.type, MQTT_SUBSCRIBE);
    assert_int_equal(g->c.state, MC_UP);
    assert_int_equal(g->c.stats.sessions, sessions + 1);
    uint8_t granted[2] = {g->cfg.qos, g->cfg.qos};
    uint16_t mid = (uint16_t)(pkt[f.header_len] << 8 | pkt[f.header_len + 1]);
    send_suback(g, mid, codes ? codes : granted, (size_t)g->cfg.nfilters);
    PUMP_UNTIL(g, g->c.sub_mid == 0 || g->c.state != MC_UP, "the SUBACK");
    assert_int_equal(g->c.state, MC_UP);
}

static void rig_up(struct rig *g)
{
    rig_accept_connect(g, NULL, 0);
    rig_session(g, false, NULL);
}

static int rig_setup(void **state)
{
    static struct rig g;
    memset(&g, 0, sizeof g);
    g.bfd = -1;
    g.tcp.fd = -1;
    g.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(g.lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(g.lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(g.lfd, 4), 0);
    assert_int_equal(getsockname(g.lfd, (struct sockaddr *)&a, &alen), 0);
    g.filters[0] = "s/#";
    g.filters[1] = "cmd/+/x";
    g.cfg = (struct mqtt_client_config){
        .host = "127.0.0.1",
        .port = ntohs(a.sin_port),
        .client_id = "sp-test",
        .clean_session = true,
        .qos = 1,
        .keepalive_s = 0,
        .filters = g.filters,
        .nfilters = 2,
        .max_packet = 16384,
        .connect_timeout_ms = 2000,
    };
    g.take_max = SIZE_MAX;
    rig_start(&g);
    *state = &g;
    return 0;
}

static int rig_teardown(void **state)
{
    struct rig *g = *state;
    rig_stop(g);
    close(g->lfd);
    return 0;
}

/* ---- 1. CONNECT and SUBSCRIBE ---- */

/* CONNECT carries client id, clean session, keepalive, user name and password; SUBSCRIBE every filter at qos. */
static void test_connect_and_subscribe_bytes(void **state)
{
    struct rig *g = *state;
    static const struct {
        bool clean;
        uint16_t keepalive;
        const char *user, *pass;
        size_t pass_len;
        uint8_t qos;
        int nfilters;
    } rows[] = {
        {true, 60, NULL, NULL, 0, 1, 2},
        {false, 0, "ingest", NULL, 0, 0, 1},
        {true, 300, "ingest", "p\0ss", 4, 1, 2}, /* a password is bytes, not a C string */
        {false, 1, "u", "", 0, 0, 2},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        g->cfg.clean_session = rows[i].clean;
        g->cfg.keepalive_s = rows[i].keepalive;
        g->cfg.username = rows[i].user;
        g->cfg.password = rows[i].pass;
        g->cfg.password_len = rows[i].pass_len;
        g->cfg.qos = rows[i].qos;
        g->cfg.nfilters = rows[i].nfilters;
        rig_restart(g);

        uint8_t want[256], got[256];
        size_t n = 0, body = 10 + 2 + strlen(g->cfg.client_id);
        if (rows[i].user)
            body += 2 + strlen(rows[i].user);
        if (rows[i].pass)
            body += 2 + rows[i].pass_len;
        want[n++] = 0x10;
        n += put_len(want + n, body);
        n += put_str(want + n, "MQTT", 4);
        want[n++] = 4; /* protocol level 3.1.1 */
        want[n++] = (uint8_t)((rows[i].clean ? 0x02 : 0) | (rows[i].user ? 0x80 : 0) | (rows[i].pass ? 0x40 : 0));
        want[n++] = (uint8_t)(rows[i].keepalive >> 8);
        want[n++] = (uint8_t)rows[i].keepalive;
        n += put_str(want + n, g->cfg.client_id, strlen(g->cfg.client_id));
        if (rows[i].user)
            n += put_str(want + n, rows[i].user, strlen(rows[i].user));
        if (rows[i].pass)
            n += put_str(want + n, rows[i].pass, rows[i].pass_len);
        size_t len = rig_accept_connect(g, got, sizeof got);
        assert_int_equal(len, n);
        assert_memory_equal(got, want, n);

        send_connack(g, false, 0);
        struct mqtt_frame f;
        len = broker_packet(g, got, sizeof got, &f);
        assert_int_equal(got[0], 0x82); /* SUBSCRIBE, flags 0x2 */
        uint16_t mid = (uint16_t)(got[f.header_len] << 8 | got[f.header_len + 1]);
        assert_true(mid != 0);
        n = 0;
        want[n++] = 0x82;
        body = 2;
        for (int k = 0; k < rows[i].nfilters; k++)
            body += 2 + strlen(g->filters[k]) + 1;
        n += put_len(want + n, body);
        want[n++] = (uint8_t)(mid >> 8);
        want[n++] = (uint8_t)mid;
        for (int k = 0; k < rows[i].nfilters; k++) {
            n += put_str(want + n, g->filters[k], strlen(g->filters[k]));
            want[n++] = rows[i].qos;
        }
        assert_int_equal(len, n);
        assert_memory_equal(got, want, n);
        uint8_t codes[2] = {rows[i].qos, rows[i].qos};
        send_suback(g, mid, codes, (size_t)rows[i].nfilters);
        PUMP_UNTIL(g, g->c.sub_mid == 0, "the SUBACK");
        assert_int_equal(g->c.state, MC_UP);
        assert_int_equal(g->c.stats.sessions, 1);
        assert_int_equal(g->c.stats.protocol_errors, 0);
    }
}

/* ---- 2-4. PUBACK after commit, in arrival order; QoS 0 ---- */

/* A QoS 1 message is handed over with a ref; its one PUBACK goes only after commit + flush. */
static void test_puback_after_commit(void **state)
{
    struct rig *g = *state;
    rig_up(g);
    uint8_t pkt[64];
    size_t plen = build_publish(pkt, 0x02, 7, TOPIC, "21.5", 4);
    broker_send(g, pkt, plen);
    PUMP_UNTIL(g, g->got == 1, "the message");
    const struct rig_msg *m = &g->msgs[0];
    assert_string_equal(m->topic, TOPIC);
    assert_string_equal(m->payload, "21.5");
    assert_int_equal(m->payload_len, 4);
    assert_int_equal(m->packet_len, plen);
    assert_int_equal(m->qos, 1);
    assert_int_equal(m->mid, 7);
    assert_false(m->retain);
    assert_false(m->truncated);
    assert_int_equal(m->ref.mid, 7);
    assert_int_not_equal(m->ref.gen, 0);
    assert_int_equal(mqtt_client_unacked(&g->c), 1);

    broker_expect_nothing(g);                     /* held: its row is not committed */
    assert_true(mqtt_client_acks_flushed(&g->c)); /* nothing that may go is waiting */
    mqtt_client_commit(&g->c, m->ref);
    assert_false(mqtt_client_acks_flushed(&g->c)); /* released, not sent yet */
    assert_int_equal(g->c.stats.acks_sent, 0);
    mqtt_client_flush(&g->c);
    assert_int_equal(g->c.stats.acks_sent, 1);
    assert_true(mqtt_client_acks_flushed(&g->c));
    broker_expect_puback(g, 7);
    /* exactly one, even when the same row commits again */
    mqtt_client_commit(&g->c, m->ref);
    mqtt_client_flush(&g->c);
    broker_expect_nothing(g);
    assert_int_equal(g->c.stats.acks_sent, 1);
    assert_int_equal(mqtt_client_unacked(&g->c), 0);
    assert_int_equal(g->got, 1);
}

/* PUBACKs leave in arrival order whatever order their rows commit in. */
static void test_pubacks_in_arrival_order(void **state)
{
    struct rig *g = *state;
    static const uint16_t mids[3] = {300, 5, 42}; /* arrival order, not id order */
    static const int orders[][3] = {{0, 1, 2}, {1, 0, 2}, {2, 1, 0}, {1, 2, 0}, {2, 0, 1}};
    for (size_t row = 0; row < sizeof orders / sizeof orders[0]; row++) {
        rig_restart(g);
        rig_up(g);
        uint8_t stream[256];
        size_t n = 0;
        for (int i = 0; i < 3; i++)
            n += build_publish(stream + n, 0x02, mids[i], TOPIC, "v", 1);
        broker_send(g, stream, n); /* one write */
        PUMP_UNTIL(g, g->got == 3, "three messages");
        bool committed[3] = {false, false, false};
        int sent = 0;
        for (int k = 0; k < 3; k++) {
            int idx = orders[row][k];
            assert_int_equal(g->msgs[idx].mid, mids[idx]);
            mqtt_client_commit(&g->c, g->msgs[idx].ref);
            committed[idx] = true;
            mqtt_client_flush(&g->c);
            int may = 0; /* the committed prefix in arrival order */
            while (may < 3 && committed[may])
                may++;
            assert_int_equal(g->c.stats.acks_sent, (uint64_t)may); /* one flush sent them all */
            for (; sent < may; sent++)
                broker_expect_puback(g, mids[sent]);
            broker_expect_nothing(g);
        }
        assert_int_equal(sent, 3);
    }
}

/* QoS 0: handed over with ref.mid 0, never acknowledged; a QoS 1 message between them is. */
static void test_qos0_no_puback(void **state)
{
    struct rig *g = *state;
    rig_up(g);
    uint8_t stream[256];
    size_t n = build_publish(stream, 0x00, 0, TOPIC, "a", 1);
    n += build_publish(stream + n, 0x02, 9, TOPIC, "b", 1);
    n += build_publish(stream + n, 0x01, 0, TOPIC, "c", 1); /* QoS 0, retained */
    broker_send(g, stream, n);
    PUMP_UNTIL(g, g->got == 3, "three messages");
    for (int i = 0; i < 3; i += 2) {
        assert_int_equal(g->msgs[i].qos, 0);
        assert_int_equal(g->msgs[i].mid, 0);
        assert_int_equal(g->msgs[i].ref.mid, 0);
        assert_int_equal(g->msgs[i].ref.gen, 0);
    }
    assert_string_equal(g->msgs[0].payload, "a");
    assert_false(g->msgs[0].retain);
    assert_string_equal(g->msgs[2].payload, "c");
    assert_true(g->msgs[2].retain);
    assert_int_equal(g->msgs[1].ref.mid, 9);
    assert_int_equal(mqtt_client_unacked(&g->c), 1);
    broker_expect_nothing(g);
    for (int i = 0; i < 3; i++)
        mqtt_client_commit(&g->c, g->msgs[i].ref);
    mqtt_client_flush(&g->c);
    broker_expect_puback(g, 9);
    broker_expect_nothing(g);
    assert_int_equal(g->c.stats.acks_sent, 1);
    assert_int_equal(g->c.stats.publishes, 3);
    assert_int_equal(g->c.stats.id_reused, 0); /* QoS 0 never reaches the tracker */
    assert_int_equal(g->c.stats.duplicates, 0);
}

/* ---- 5. a stream cut anywhere ---- */

/* The same messages come out whether the broker writes one byte at a time, a few, or the whole burst at once. */
static void test_stream_cut_at_every_byte(void **state)
{
    struct rig *g = *state;
    static const struct {
        uint8_t flags;
        uint16_t mid;
        size_t plen;
    } want[] = {
        {0x02, 1, 4},      /* QoS 1 */
        {0x00, 0, 3},      /* QoS 0 */
        {0x03, 0x0102, 5}, /* QoS 1, retained, a packet id of two non-zero bytes */
        {0x00, 0, 300},    /* two length bytes */
        {0x02, 65535, 0},  /* empty payload */
    };
    enum { NWANT = sizeof want / sizeof want[0] };
    uint8_t payload[300];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    uint8_t stream[1024];
    size_t n = 0, lens[NWANT];
    for (int i = 0; i < NWANT; i++) {
        lens[i] = build_publish(stream + n, want[i].flags, want[i].mid, TOPIC, payload, want[i].plen);
        n += lens[i];
        if (i == 1) { /* a PINGRESP between messages */
            stream[n++] = 0xd0;
            stream[n++] = 0;
        }
    }
    static const size_t cuts[] = {1, 2, 3, 7, 64, 0}; /* 0: the whole burst in one write */
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        rig_restart(g);
        rig_up(g);
        size_t step = cuts[c] ? cuts[c] : n;
        for (size_t off = 0; off < n; off += step) {
            broker_send(g, stream + off, off + step <= n ? step : n - off);
            client_drain(g); /* the client reads each piece on its own */
        }
        PUMP_UNTIL(g, g->got == NWANT, "every message");
        pump(g, 3);
        assert_int_equal(g->got, NWANT);
        for (int i = 0; i < NWANT; i++) {
            const struct rig_msg *m = &g->msgs[i];
            assert_string_equal(m->topic, TOPIC);
            assert_int_equal(m->qos, (want[i].flags >> 1) & 3);
            assert_int_equal(m->mid, want[i].mid);
            assert_int_equal(m->retain, want[i].flags & 1);
            assert_int_equal(m->payload_len, want[i].plen);
            assert_true(m->payload_hash == fnv(payload, want[i].plen));
            assert_int_equal(m->packet_len, lens[i]);
        }
        assert_int_equal(g->c.stats.publishes, NWANT);
        assert_int_equal(g->c.stats.protocol_errors, 0);
        assert_int_equal(g->c.state, MC_UP);
    }
}

/* ---- 6. backpressure ---- */

/* While can_read says no nothing is handed over; once it says yes, next_timer asks for a wake-up at once. */
static void test_backpressure(void **state)
{
    struct rig *g = *state;
    enum { COUNT = 2000, FIRST = 100 }; /* about 40 kB, the socket buffers hold it */
    rig_up(g);
    g->seq_check = true;
    g->take_max = FIRST;
    size_t one = build_publish((uint8_t[64]){0}, 0x00, 0, TOPIC, "m00000", 6);
    uint8_t *stream = malloc(one * COUNT);
    assert_non_null(stream);
    for (size_t i = 0; i < COUNT; i++) {
        char p[8];
        snprintf(p, sizeof p, "m%05zu", i);
        build_publish(stream + i * one, 0x00, 0, TOPIC, p, 6);
    }
    broker_send(g, stream, one * COUNT);
    free(stream);
    PUMP_UNTIL(g, g->got == FIRST, "the first messages");
    pump(g, 20);
    assert_int_equal(g->got, FIRST);
    assert_true(g->c.stalled);
    short events = 0;
    assert_true(mqtt_client_pollfd(&g->c, &events) >= 0);
    assert_false(events & POLLIN);                              /* TCP holds the rest */
    assert_int_equal(mqtt_client_next_timer(&g->c), INT64_MAX); /* no keepalive, nothing to wake for */

    g->take_max = FIRST + 1; /* room for exactly one */
    assert_int_equal(mqtt_client_next_timer(&g->c), 0);
    pump(g, 5);
    assert_int_equal(g->got, FIRST + 1);
    assert_true(g->c.stalled);

    g->take_max = SIZE_MAX;
    assert_int_equal(mqtt_client_next_timer(&g->c), 0);
    PUMP_UNTIL(g, g->got == COUNT, "the rest of the messages");
    pump(g, 5);
    assert_int_equal(g->got, COUNT);
    assert_int_equal(g->seq_bad, 0); /* in order, none lost, none twice */
    assert_false(g->c.stalled);
    assert_int_equal(g->c.stats.publishes, COUNT);
    assert_int_equal(mqtt_client_next_timer(&g->c), INT64_MAX);
}

/* No connection is made while reading is paused, and the client asks for no wake-up meanwhile. */
static void test_backpressure_no_connect(void **state)
{
    struct rig *g = *state;
    g->take_max = 0;
    mqtt_client_service(&g->c, 0, time_mono_ms());
    assert_int_equal(g->c.state, MC_WAIT);
    assert_true(mqtt_client_next_timer(&g->c) > time_mono_ms() + 60000); /* not a timer in the past */
    pump(g, 3);
    assert_int_equal(accept(g->lfd, NULL, NULL), -1);
    g->take_max = SIZE_MAX;
    assert_true(mqtt_client_next_timer(&g->c) <= time_mono_ms());
    rig_up(g);
}

/* ---- 7. too large ---- */

/* A 200 KB QoS 1 PUBLISH over max_packet: its head once, truncated; the next one intact; both acknowledged. */
static void test_too_large(void **state)
{
    struct rig *g = *state;
    enum { BIG = 200 * 1024 };
    g->cfg.max_packet = MQTT_CLIENT_MAX_PACKET_MIN;
    rig_restart(g);
    rig_up(g);
    uint8_t *payload = malloc(BIG);
    uint8_t *stream = malloc(publish_size(TOPIC, BIG) + 64);
    assert_non_null(payload);
    assert_non_null(stream);
    for (size_t i = 0; i < BIG; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    size_t big = build_publish(stream, 0x02, 3, TOPIC, payload, BIG);
    assert_true(big > 2 * g->c.in.cap); /* far more than the client can hold */
    size_t n = big + build_publish(stream + big, 0x02, 4, TOPIC, "ok", 2);
    broker_send(g, stream, n);
    PUMP_UNTIL(g, g->got == 2, "both messages");
    pump(g, 3);
    assert_int_equal(g->got, 2);

    const struct rig_msg *m = &g->msgs[0];
    assert_true(m->truncated);
    assert_int_equal(m->packet_len, big);
    assert_int_equal(m->payload_len, MQTT_CLIENT_SAMPLE);
    assert_true(m->payload_hash == fnv(payload, MQTT_CLIENT_SAMPLE));
    assert_string_equal(m->topic, TOPIC);
    assert_int_equal(m->mid, 3);
    assert_int_equal(m->ref.mid, 3);
    m = &g->msgs[1];
    assert_false(m->truncated);
    assert_string_equal(m->payload, "ok");
    assert_int_equal(m->packet_len, n - big);
    assert_int_equal(m->ref.mid, 4);
    assert_int_equal(g->c.stats.too_large, 1);
    assert_int_equal(g->c.stats.publishes, 2);
    assert_int_equal(g->c.stats.protocol_errors, 0);

    broker_expect_nothing(g);
    mqtt_client_commit(&g->c, g->msgs[0].ref);
    mqtt_client_flush(&g->c);
    broker_expect_puback(g, 3);
    broker_expect_nothing(g);
    mqtt_client_commit(&g->c, g->msgs[1].ref);
    mqtt_client_flush(&g->c);
    broker_expect_puback(g, 4);
    assert_int_equal(g->c.state, MC_UP);
    free(payload);
    free(stream);
}

/* ---- 8. refused CONNACK ---- */

/* CONNACK 5: nothing handed over, connection closed, WAIT, counted; the next attempt is at retry_at_ms. */
static void test_connack_refused(void **state)
{
    struct rig *g = *state;
    rig_accept_connect(g, NULL, 0);
    send_connack(g, false, 5);
    send_publish(g, 0x00, 0, "x"); /* must not be read as a message */
    PUMP_UNTIL(g, g->c.state == MC_WAIT, "the client to give up");
    broker_expect_closed(g);
    assert_int_equal(g->got, 0);
    assert_int_equal(g->c.stats.connect_failed, 1);
    assert_int_equal(g->c.stats.sessions, 0);
    assert_int_equal(mqtt_client_pollfd(&g->c, &(short){0}), -1);
    int64_t retry = g->c.retry_at_ms;
    assert_true(retry > time_mono_ms());
    assert_int_equal(mqtt_client_next_timer(&g->c), retry);

    mqtt_client_service(&g->c, 0, retry - 1); /* not yet */
    assert_int_equal(g->c.state, MC_WAIT);
    mqtt_client_service(&g->c, 0, retry);
    assert_int_not_equal(g->c.state, MC_WAIT);
    rig_accept_connect(g, NULL, 0);
    rig_session(g, false, NULL);
    assert_int_equal(g->c.stats.sessions, 1);
    send_publish(g, 0x00, 0, "y");
    PUMP_UNTIL(g, g->got == 1, "a message on the new connection");
    assert_string_equal(g->msgs[0].payload, "y");
}

/* ---- 9. protocol errors ---- */

/* What a 3.1.1 broker must not send closes the connection and is counted. */
static void test_protocol_errors(void **state)
{
    struct rig *g = *state;
    static const uint8_t len5[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t type0[] = {0x00, 0};
    static const uint8_t puback[] = {0x40, 2, 0, 1};
    static const uint8_t pubrec[] = {0x50, 2, 0, 1};
    static const uint8_t pubrel[] = {0x62, 2, 0, 1};
    static const uint8_t subscribe[] = {0x82, 6, 0, 1, 0, 1, 'a', 1};
    static const uint8_t unsuback[] = {0xb0, 2, 0, 1};
    static const uint8_t pingreq[] = {0xc0, 0};
    static const uint8_t disconnect[] = {0xe0, 0};
    static const uint8_t connack[] = {0x20, 2, 0, 0};
    static const uint8_t suback[] = {0x90, 4, 0, 1, 1, 1};
    static const uint8_t pingresp[] = {0xd0, 0};
    static const uint8_t qos2[] = {0x34, 5, 0, 1, 'a', 0, 1};
    static const uint8_t qos3[] = {0x36, 5, 0, 1, 'a', 0, 1};
    static const uint8_t mid0[] = {0x32, 5, 0, 1, 'a', 0, 0};
    static const uint8_t topic_past_end[] = {0x30, 3, 0, 9, 'a'};
    static const uint8_t qos0[] = {0x30, 4, 0, 1, 'a', 'x'};
    static uint8_t big_publish[2048], big_suback[2048];
    size_t big_publish_len = build_publish(big_publish, 0x00, 0, "a", big_suback, 1900); /* over max_packet */
    big_suback[0] = 0x90;
    size_t big_suback_len = 1 + put_len(big_suback + 1, 1900);
    big_suback[big_suback_len++] = 0;
    big_suback[big_suback_len++] = 1;
    memset(big_suback + big_suback_len, 1, 1898);
    big_suback_len += 1898;
    const struct {
        const char *name;
        const uint8_t *bytes;
        size_t n;
        bool before_connack;
    } rows[] = {
        {"remaining length of five bytes", len5, sizeof len5, false},
        {"packet type 0", type0, sizeof type0, false},
        {"PUBACK", puback, sizeof puback, false},
        {"PUBREC", pubrec, sizeof pubrec, false},
        {"PUBREL", pubrel, sizeof pubrel, false},
        {"SUBSCRIBE", subscribe, sizeof subscribe, false},
        {"UNSUBACK", unsuback, sizeof unsuback, false},
        {"PINGREQ", pingreq, sizeof pingreq, false},
        {"DISCONNECT", disconnect, sizeof disconnect, false},
        {"second CONNACK", connack, sizeof connack, false},
        {"second SUBACK", suback, sizeof suback, false},
        {"QoS 2 PUBLISH on a QoS 1 subscription", qos2, sizeof qos2, false},
        {"QoS 3 PUBLISH", qos3, sizeof qos3, false},
        {"QoS 1 PUBLISH with packet id 0", mid0, sizeof mid0, false},
        {"PUBLISH topic past its end", topic_past_end, sizeof topic_past_end, false},
        {"SUBACK over max_packet", big_suback, big_suback_len, false},
        {"PUBLISH before CONNACK", qos0, sizeof qos0, true},
        {"too-large PUBLISH before CONNACK", big_publish, big_publish_len, true},
        {"SUBACK before CONNACK", suback, sizeof suback, true},
        {"PINGRESP before CONNACK", pingresp, sizeof pingresp, true},
    };
    g->cfg.max_packet = MQTT_CLIENT_MAX_PACKET_MIN;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        print_message("      %s\n", rows[i].name);
        rig_restart(g);
        rig_accept_connect(g, NULL, 0);
        if (!rows[i].before_connack)
            rig_session(g, false, NULL);
        broker_send(g, rows[i].bytes, rows[i].n);
        PUMP_UNTIL(g, g->c.state == MC_WAIT, rows[i].name);
        broker_expect_closed(g);
        assert_int_equal(g->c.stats.protocol_errors, 1);
        assert_int_equal(g->c.stats.connect_failed, 0);
        assert_int_equal(g->got, 0);
    }
}

/* ---- 10-11. redelivery, reused ids ---- */

/*
 * Persistent session: messages received and not acknowledged when the connection died come again (same id and
 * content, DUP) after a CONNACK with session present; they are not handed over again, and each PUBACK goes when
 * the original row commits. Without session present everything is new.
 */
static void test_redelivery_after_reconnect(void **state)
{
    struct rig *g = *state;
    for (int session_present = 1; session_present >= 0; session_present--) {
        g->cfg.clean_session = false;
        rig_restart(g);
        rig_up(g);
        uint8_t stream[256];
        size_t n = build_publish(stream, 0x02, 1, TOPIC, "r1", 2);
        n += build_publish(stream + n, 0x02, 2, TOPIC, "r2", 2);
        n += build_publish(stream + n, 0x02, 3, TOPIC, "r3", 2);
        broker_send(g, stream, n);
        PUMP_UNTIL(g, g->got == 3, "three messages");
        struct ack_ref r1 = g->msgs[0].ref, r2 = g->msgs[1].ref, r3 = g->msgs[2].ref;
        mqtt_client_commit(&g->c, r1);
        mqtt_client_flush(&g->c);
        broker_expect_puback(g, 1);

        broker_close(g); /* the connection dies with 2 and 3 unacknowledged */
        PUMP_UNTIL(g, g->c.state == MC_WAIT, "the client to see the close");
        assert_int_equal(g->c.stats.acks_discarded, 2);
        mqtt_client_commit(&g->c, r2); /* 2's row commits while disconnected; 3's is still queued */

        mqtt_client_service(&g->c, 0, g->c.retry_at_ms);
        uint8_t connect[256];
        rig_accept_connect(g, connect, sizeof connect);
        assert_int_equal(connect[9] & 0x02, 0); /* persistent */
        rig_session(g, session_present, NULL);
        n = build_publish(stream, 0x0a, 2, TOPIC, "r2", 2); /* DUP */
        n += build_publish(stream + n, 0x0a, 3, TOPIC, "r3", 2);
        n += build_publish(stream + n, 0x02, 4, TOPIC, "r4", 2);
        broker_send(g, stream, n);

        if (session_present) {
            PUMP_UNTIL(g, g->c.stats.publishes == 6, "the redelivery");
            assert_int_equal(g->got, 4); /* only r4 is new */
            assert_string_equal(g->msgs[3].payload, "r4");
            assert_int_equal(g->msgs[3].ref.mid, 4);
            assert_int_equal(g->c.stats.duplicates, 2);
            broker_expect_puback(g, 2); /* its row is committed: it goes at once */
            broker_expect_nothing(g);   /* 3 waits for its original row, 4 behind it */
            mqtt_client_commit(&g->c, g->msgs[3].ref);
            mqtt_client_flush(&g->c);
            broker_expect_nothing(g);
            mqtt_client_commit(&g->c, r3);
            mqtt_client_flush(&g->c);
            broker_expect_puback(g, 3);
            broker_expect_puback(g, 4);
        } else {
            PUMP_UNTIL(g, g->got == 6, "all three handed over again");
            assert_int_equal(g->c.stats.duplicates, 0);
            for (int i = 3; i < 6; i++) {
                char want[4];
                snprintf(want, sizeof want, "r%d", i - 1);
                assert_string_equal(g->msgs[i].payload, want);
                assert_int_equal(g->msgs[i].ref.mid, i - 1);
                assert_int_not_equal(g->msgs[i].ref.gen, r1.gen);
            }
            mqtt_client_commit(&g->c, r3); /* the old rows release nothing on the new session */
            mqtt_client_flush(&g->c);
            broker_expect_nothing(g);
            for (int i = 3; i < 6; i++)
                mqtt_client_commit(&g->c, g->msgs[i].ref);
            mqtt_client_flush(&g->c);
            broker_expect_puback(g, 2);
            broker_expect_puback(g, 3);
            broker_expect_puback(g, 4);
        }
        broker_expect_nothing(g);
        assert_int_equal(mqtt_client_unacked(&g->c), 0);
    }
}

/* A different PUBLISH on an id still unacknowledged: stored without a ref; a resend of the same one is dropped. */
static void test_reused_packet_id(void **state)
{
    struct rig *g = *state;
    rig_up(g);
    uint8_t stream[256];
    size_t n = build_publish(stream, 0x02, 5, TOPIC, "a", 1);
    n += build_publish(stream + n, 0x02, 5, TOPIC, "a", 1); /* the same again: a copy */
    n += build_publish(stream + n, 0x02, 5, TOPIC, "b", 1); /* another message on id 5 */
    broker_send(g, stream, n);
    PUMP_UNTIL(g, g->c.stats.publishes == 3, "three PUBLISHes");
    assert_int_equal(g->got, 2);
    assert_string_equal(g->msgs[0].payload, "a");
    assert_int_equal(g->msgs[0].ref.mid, 5);
    assert_string_equal(g->msgs[1].payload, "b");
    assert_int_equal(g->msgs[1].mid, 5);
    assert_int_equal(g->msgs[1].ref.mid, 0);
    assert_int_equal(g->c.stats.id_reused, 1);
    assert_int_equal(g->c.stats.duplicates, 1);
    mqtt_client_commit(&g->c, g->msgs[1].ref);
    mqtt_client_flush(&g->c);
    broker_expect_nothing(g);
    mqtt_client_commit(&g->c, g->msgs[0].ref);
    mqtt_client_flush(&g->c);
    broker_expect_puback(g, 5);
    broker_expect_nothing(g);
    assert_int_equal(g->c.stats.acks_sent, 1);
    assert_int_equal(g->c.state, MC_UP);
}

/* ---- 12. refused subscription ---- */

static void test_suback_refused(void **state)
{
    struct rig *g = *state;
    rig_accept_connect(g, NULL, 0);
    static const uint8_t codes[] = {0x01, 0x80};
    rig_session(g, false, codes);
    assert_int_equal(g->c.stats.subscriptions_refused, 1);
    assert_int_equal(g->c.stats.protocol_errors, 0);
    send_publish(g, 0x00, 0, "still up");
    PUMP_UNTIL(g, g->got == 1, "a message");
    assert_int_equal(g->c.state, MC_UP);
}

/* ---- 13. keepalive ---- */

enum ka_case { KA_NO_PINGRESP, KA_PINGRESP, KA_STALLED };

/* keepalive 1 s: PINGREQ after 1 s of silence; no PINGRESP within another second drops the connection. */
static void test_keepalive(void **state)
{
    struct rig *g = *state;
    static const uint8_t pingreq[] = {0xc0, 0}, pingresp[] = {0xd0, 0};
    for (int row = KA_NO_PINGRESP; row <= KA_STALLED; row++) {
        g->cfg.keepalive_s = 1;
        g->take_max = SIZE_MAX;
        rig_restart(g);
        rig_up(g);
        int64_t t = g->c.last_tx_ms;
        assert_int_equal(mqtt_client_next_timer(&g->c), t + 1000);
        mqtt_client_service(&g->c, 0, t + 999);
        broker_expect_nothing(g);
        mqtt_client_service(&g->c, 0, t + 1000);
        broker_expect(g, pingreq, sizeof pingreq);
        assert_int_equal(mqtt_client_next_timer(&g->c), t + 2000);
        mqtt_client_service(&g->c, 0, t + 1999);
        assert_int_equal(g->c.state, MC_UP);
        switch (row) {
        case KA_NO_PINGRESP:
            mqtt_client_service(&g->c, 0, t + 2000);
            assert_int_equal(g->c.state, MC_WAIT);
            broker_expect_closed(g);
            break;
        case KA_PINGRESP:
            broker_send(g, pingresp, sizeof pingresp);
            PUMP_UNTIL(g, !g->c.ping_out, "the PINGRESP");
            mqtt_client_service(&g->c, 0, t + 2000);
            assert_int_equal(g->c.state, MC_UP);
            broker_expect(g, pingreq, sizeof pingreq); /* the next one, a second after the first */
            mqtt_client_service(&g->c, 0, t + 2999);
            assert_int_equal(g->c.state, MC_UP);
            break;
        case KA_STALLED: /* the PINGRESP waits behind a message the ingest cannot take yet */
            g->take_max = 0;
            send_publish(g, 0x00, 0, "m");
            broker_send(g, pingresp, sizeof pingresp);
            PUMP_UNTIL(g, g->c.stalled, "the stall");
            mqtt_client_service(&g->c, 0, t + 10000);
            assert_int_equal(g->c.state, MC_UP);
            assert_true(mqtt_client_next_timer(&g->c) > t + 10000); /* nothing due while stalled */
            g->take_max = SIZE_MAX;
            PUMP_UNTIL(g, !g->c.ping_out, "the PINGRESP behind the message");
            assert_int_equal(g->got, 1);
            assert_int_equal(g->c.state, MC_UP);
            break;
        }
        assert_int_equal(g->c.stats.protocol_errors, 0);
    }
}

/* ---- 14. stop ---- */

/* DISCONNECT goes after the PUBACKs that may go, none held goes after it; the broker's close ends in CLOSED. */
static void test_stop(void **state)
{
    struct rig *g = *state;
    rig_up(g);
    uint8_t stream[256];
    size_t n = 0;
    for (uint16_t mid = 1; mid <= 4; mid++)
        n += build_publish(stream + n, 0x02, mid, TOPIC, "s", 1);
    broker_send(g, stream, n);
    PUMP_UNTIL(g, g->got == 4, "four messages");
    mqtt_client_commit(&g->c, g->msgs[0].ref);
    mqtt_client_commit(&g->c, g->msgs[1].ref);
    mqtt_client_commit(&g->c, g->msgs[3].ref); /* behind 3, which is held */
    assert_false(mqtt_client_acks_flushed(&g->c));
    mqtt_client_stop(&g->c, time_mono_ms());
    assert_int_equal(g->c.state, MC_CLOSING);
    assert_false(mqtt_client_closed(&g->c));
    assert_true(mqtt_client_acks_flushed(&g->c));
    static const uint8_t disconnect[] = {0xe0, 0};
    broker_expect_puback(g, 1);
    broker_expect_puback(g, 2);
    broker_expect(g, disconnect, sizeof disconnect);
    mqtt_client_commit(&g->c, g->msgs[2].ref); /* too late: nothing goes after DISCONNECT */
    mqtt_client_flush(&g->c);
    send_publish(g, 0x02, 9, "ignored");
    broker_expect_nothing(g);
    assert_int_equal(g->got, 4);
    broker_close(g);
    PUMP_UNTIL(g, mqtt_client_closed(&g->c), "CLOSED");
    assert_int_equal(g->c.state, MC_CLOSED);
    assert_int_equal(g->c.stats.acks_sent, 2);
    assert_int_equal(g->c.stats.acks_discarded, 2);
    assert_int_equal(mqtt_client_pollfd(&g->c, &(short){0}), -1);
    assert_int_equal(mqtt_client_next_timer(&g->c), INT64_MAX);
    mqtt_client_service(&g->c, 0, time_mono_ms() + 100000);
    assert_int_equal(g->c.state, MC_CLOSED); /* for good */
    assert_int_equal(accept(g->lfd, NULL, NULL), -1);
}

/* A broker that never closes after DISCONNECT: closed by the client at its deadline. Stopped while WAIT: CLOSED. */
static void test_stop_deadline_and_wait(void **state)
{
    struct rig *g = *state;
    rig_up(g);
    mqtt_client_stop(&g->c, time_mono_ms());
    static const uint8_t disconnect[] = {0xe0, 0};
    broker_expect(g, disconnect, sizeof disconnect);
    int64_t deadline = mqtt_client_next_timer(&g->c);
    assert_true(deadline > time_mono_ms());
    mqtt_client_service(&g->c, 0, deadline - 1);
    assert_int_equal(g->c.state, MC_CLOSING);
    mqtt_client_service(&g->c, 0, deadline);
    assert_int_equal(g->c.state, MC_CLOSED);
    broker_expect_closed(g);

    rig_restart(g); /* a new client, not connected yet */
    assert_int_equal(g->c.state, MC_WAIT);
    mqtt_client_stop(&g->c, time_mono_ms());
    assert_true(mqtt_client_closed(&g->c));
    pump(g, 3);
    assert_int_equal(accept(g->lfd, NULL, NULL), -1);
}

/* ---- 15. connection lost, broker unreachable ---- */

/* The broker closes: WAIT, queued PUBACKs discarded, later commits harmless; the client reconnects. */
static void test_broker_closes(void **state)
{
    struct rig *g = *state;
    rig_up(g);
    uint8_t stream[64];
    size_t n = build_publish(stream, 0x02, 1, TOPIC, "a", 1);
    n += build_publish(stream + n, 0x02, 2, TOPIC, "b", 1);
    broker_send(g, stream, n);
    PUMP_UNTIL(g, g->got == 2, "two messages");
    broker_close(g);
    int64_t before = time_mono_ms();
    PUMP_UNTIL(g, g->c.state == MC_WAIT, "the client to see the close");
    assert_int_equal(g->c.stats.acks_discarded, 2);
    assert_int_equal(mqtt_client_pollfd(&g->c, &(short){0}), -1);
    assert_int_equal(mqtt_client_unacked(&g->c), 0);
    assert_true(g->c.retry_at_ms >= before + 125); /* backoff: the first delay is 125-250 ms */
    assert_true(mqtt_client_acks_flushed(&g->c));
    mqtt_client_commit(&g->c, g->msgs[0].ref);
    mqtt_client_commit(&g->c, g->msgs[1].ref);
    mqtt_client_flush(&g->c);
    assert_int_equal(g->c.stats.acks_sent, 0);
    assert_int_equal(g->c.state, MC_WAIT);
    mqtt_client_service(&g->c, 0, g->c.retry_at_ms);
    rig_up(g);
    assert_int_equal(g->c.stats.sessions, 2);
}

/* Nobody listening: the connection fails, WAIT with a growing backoff. */
static void test_broker_unreachable(void **state)
{
    struct rig *g = *state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
    close(s); /* a port nobody listens on */
    g->cfg.port = ntohs(a.sin_port);
    rig_restart(g);
    int64_t before = time_mono_ms();
    PUMP_UNTIL(g, g->c.stats.connect_failed == 1, "the first failure");
    assert_int_equal(g->c.state, MC_WAIT);
    assert_int_equal(mqtt_client_pollfd(&g->c, &(short){0}), -1);
    int64_t first = g->c.retry_at_ms;
    assert_true(first >= before + 125);
    assert_true(first <= time_mono_ms() + 250);
    mqtt_client_service(&g->c, 0, first);
    PUMP_UNTIL(g, g->c.stats.connect_failed == 2, "the second failure");
    assert_int_equal(g->c.state, MC_WAIT);
    assert_true(g->c.retry_at_ms >= time_mono_ms()); /* waits again */
    assert_int_equal(g->c.stats.sessions, 0);
    assert_int_equal(g->got, 0);
}

/* ---- 16. init errors ---- */

static void ignore_message(void *ctx, const struct mqtt_message *m, struct ack_ref ref)
{
    (void)ctx, (void)m, (void)ref;
}

static void test_init_errors(void **state)
{
    (void)state;
    static char *filters[] = {"s/#"};
    const struct mqtt_client_config ok = {
        .host = "127.0.0.1",
        .port = 1,
        .client_id = "x",
        .qos = 1,
        .filters = filters,
        .nfilters = 1,
        .max_packet = MQTT_CLIENT_MAX_PACKET_MIN,
        .connect_timeout_ms = 100,
    };
    enum { NO_CALLBACK, QOS2, SMALL_PACKET, PASSWORD_ONLY, NO_FILTERS, OK };
    static const struct {
        int what;
        const char *err; /* in the message; NULL: init succeeds */
    } rows[] = {
        {NO_CALLBACK, "callback"},   {QOS2, "QoS"},           {SMALL_PACKET, "packet limit"},
        {PASSWORD_ONLY, "password"}, {NO_FILTERS, "filters"}, {OK, NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct mqtt_client_config cfg = ok;
        struct mqtt_client_hooks hooks = {.on_message = ignore_message};
        switch (rows[i].what) {
        case NO_CALLBACK:
            hooks.on_message = NULL;
            break;
        case QOS2:
            cfg.qos = 2;
            break;
        case SMALL_PACKET:
            cfg.max_packet = MQTT_CLIENT_MAX_PACKET_MIN - 1;
            break;
        case PASSWORD_ONLY:
            cfg.password = "secret";
            cfg.password_len = 6;
            break;
        case NO_FILTERS:
            cfg.nfilters = 0;
            break;
        }
        struct mqtt_tcp tcp;
        struct mqtt_io io;
        mqtt_io_tcp(&io, &tcp);
        struct mqtt_client c;
        char err[256] = "";
        int rc = mqtt_client_init(&c, &cfg, &io, &hooks, err, sizeof err);
        if (!rows[i].err) {
            assert_int_equal(rc, 0);
            assert_int_equal(c.state, MC_WAIT);
            mqtt_client_free(&c);
            continue;
        }
        assert_int_equal(rc, -1); /* and nothing to free: ASan would report a leak */
        if (!strstr(err, rows[i].err))
            fail_msg("row %zu: \"%s\" does not say \"%s\"", i, err, rows[i].err);
        assert_null(strstr(err, "secret")); /* never the password */
    }
}

int main(void)
{
    log_init("test", LOG_SILENT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_and_subscribe_bytes, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_puback_after_commit, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_pubacks_in_arrival_order, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_qos0_no_puback, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_stream_cut_at_every_byte, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_backpressure_no_connect, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_too_large, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_connack_refused, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_protocol_errors, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_redelivery_after_reconnect, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_reused_packet_id, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_suback_refused, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_keepalive, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_stop, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_stop_deadline_and_wait, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_broker_closes, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_broker_unreachable, rig_setup, rig_teardown),
        cmocka_unit_test(test_init_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
