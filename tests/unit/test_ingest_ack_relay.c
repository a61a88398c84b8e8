/* test_ingest_ack_relay.c - the ack relay over real loopback sockets, with a fake client, broker and ingest. */
#include "unit.h"

#include "core/timeutil.h"
#include "ingest/ack_relay.h"
#include "ingest/ack_tracker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

#define RIG_KEEP 64 /* messages whose content the fake ingest keeps */

/* One message as the fake ingest got it. */
struct rig_msg {
    char topic[32];
    char payload[32];
    uint8_t qos;
    uint16_t mid;
    bool retain;
    enum ack_action action; /* what the tracker said (QoS 1) */
    struct ack_ref ref;
};

struct rig {
    struct ack_tracker acks;
    struct relay relay;
    int broker_listen; /* the fake broker's listening socket */
    int broker;        /* the fake broker's side of the relay's connection */
    int client;        /* the fake libmosquitto */
    size_t got;        /* messages handed to the fake ingest */
    size_t take_max;   /* can_read says yes while got < take_max */
    struct rig_msg msgs[RIG_KEEP];
};

/* The fake ingest: keeps the message and tells the tracker, as ingest_message does. */
static void rig_on_publish(void *ctx, const struct mqtt_publish *m)
{
    struct rig *g = ctx;
    struct rig_msg e;
    memset(&e, 0, sizeof e);
    snprintf(e.topic, sizeof e.topic, "%.*s", (int)m->topic_len, (const char *)m->topic);
    snprintf(e.payload, sizeof e.payload, "%.*s", (int)m->payload_len, (const char *)m->payload);
    e.qos = m->qos;
    e.mid = m->mid;
    e.retain = m->retain;
    if (m->qos == 1)
        e.action = ack_tracker_received(
            &g->acks, m->mid, ack_hash((const char *)m->topic, m->topic_len, m->payload, m->payload_len), &e.ref);
    if (g->got < RIG_KEEP)
        g->msgs[g->got] = e;
    g->got++;
}

static bool rig_can_read(void *ctx)
{
    struct rig *g = ctx;
    return g->got < g->take_max;
}

/* One round of the ingest loop for the relay alone. */
static void pump_once(struct rig *g, int timeout_ms)
{
    struct pollfd fds[RELAY_FDS];
    relay_pollfds(&g->relay, fds);
    int n = poll(fds, RELAY_FDS, timeout_ms);
    if (n <= 0)
        for (int i = 0; i < RELAY_FDS; i++)
            fds[i].revents = 0;
    relay_service(&g->relay, fds, time_mono_ms());
    relay_flush(&g->relay);
}

static void pump(struct rig *g, int rounds)
{
    for (int i = 0; i < rounds; i++)
        pump_once(g, 5);
}

/* Read exactly n bytes from fd within about two seconds, pumping the relay meanwhile. */
static void expect_bytes(struct rig *g, int fd, const void *want, size_t n)
{
    uint8_t *got = malloc(n ? n : 1);
    size_t have = 0;
    assert_non_null(got);
    int64_t deadline = time_mono_ms() + 2000;
    while (have < n && time_mono_ms() < deadline) {
        pump_once(g, 2);
        ssize_t r = recv(fd, got + have, n - have, MSG_DONTWAIT);
        if (r > 0)
            have += (size_t)r;
        else if (r == 0)
            fail_msg("end of stream after %zu of %zu bytes", have, n);
    }
    assert_int_equal(have, n);
    assert_memory_equal(got, want, n);
    free(got);
}

/* Nothing more arrives on fd for a while. */
static void expect_nothing(struct rig *g, int fd)
{
    pump(g, 10);
    uint8_t b;
    ssize_t r = recv(fd, &b, 1, MSG_DONTWAIT);
    if (r >= 0)
        fail_msg("unexpected %s (byte 0x%02x)", r == 0 ? "end of stream" : "data", r > 0 ? b : 0);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* fd reaches end of stream (or a reset) within about a second. */
static void expect_closed(struct rig *g, int fd)
{
    int64_t deadline = time_mono_ms() + 2000;
    while (time_mono_ms() < deadline) {
        pump_once(g, 2);
        uint8_t b[64];
        ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            return;
    }
    fail_msg("connection still open");
}

static void send_all(int fd, const void *p, size_t n)
{
    assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Send n bytes on a non-blocking socket, pumping the relay while the socket is full. */
static void send_pumping(struct rig *g, int fd, const uint8_t *p, size_t n)
{
    size_t done = 0;
    int64_t deadline = time_mono_ms() + 5000;
    while (done < n && time_mono_ms() < deadline) {
        ssize_t r = send(fd, p + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r > 0)
            done += (size_t)r;
        else
            pump_once(g, 2);
    }
    assert_int_equal(done, n);
}

/* Pump until the fake ingest has got want messages (or two seconds passed). */
static void pump_until_got(struct rig *g, size_t want)
{
    int64_t deadline = time_mono_ms() + 2000;
    while (g->got < want && time_mono_ms() < deadline)
        pump_once(g, 2);
    assert_int_equal(g->got, want);
}

/* A PUBLISH of topic "a/b/c" with a payload, into out; returns its length. */
static size_t publish(uint8_t *out, uint8_t flags, uint16_t mid, const char *payload)
{
    size_t plen = strlen(payload), qos = (flags >> 1) & 3;
    size_t n = 0;
    out[n++] = (uint8_t)(0x30 | flags);
    out[n++] = (uint8_t)(2 + 5 + (qos ? 2 : 0) + plen);
    out[n++] = 0;
    out[n++] = 5;
    memcpy(out + n, "a/b/c", 5);
    n += 5;
    if (qos) {
        out[n++] = (uint8_t)(mid >> 8);
        out[n++] = (uint8_t)mid;
    }
    memcpy(out + n, payload, plen);
    return n + plen;
}

static const uint8_t CONNECT[] = {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x00, 0, 60, 0, 1, 'a'};
static const uint8_t CONNACK[] = {0x20, 2, 0x01, 0x00};
static const uint8_t PINGREQ[] = {0xc0, 0};
static const uint8_t DISCONNECT[] = {0xe0, 0};

static void puback(uint8_t out[4], uint16_t mid)
{
    out[0] = 0x40;
    out[1] = 2;
    out[2] = (uint8_t)(mid >> 8);
    out[3] = (uint8_t)mid;
}

/* A client connects to the relay; the relay connects to the fake broker; CONNECT and CONNACK pass. */
static void rig_connect(struct rig *g)
{
    g->client = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g->relay.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(g->client, (struct sockaddr *)&a, sizeof a), 0);
    g->broker = -1;
    for (int i = 0; i < 200 && g->broker < 0; i++) {
        pump_once(g, 5);
        g->broker = accept4(g->broker_listen, NULL, NULL, SOCK_NONBLOCK);
    }
    assert_true(g->broker >= 0);
    send_all(g->client, CONNECT, sizeof CONNECT);
    expect_bytes(g, g->broker, CONNECT, sizeof CONNECT);
    uint32_t gen = g->acks.gen;
    send_all(g->broker, CONNACK, sizeof CONNACK);
    expect_bytes(g, g->client, CONNACK, sizeof CONNACK);
    /* the relay started the session in the tracker as the CONNACK went by */
    assert_true(g->acks.connected);
    assert_int_equal(g->acks.gen, gen + 1);
}

static int rig_setup(void **state)
{
    static struct rig g;
    memset(&g, 0, sizeof g);
    assert_int_equal(ack_tracker_init(&g.acks), 0);
    g.broker_listen = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(g.broker_listen, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(g.broker_listen, 4), 0);
    assert_int_equal(getsockname(g.broker_listen, (struct sockaddr *)&a, &alen), 0);
    struct relay_config cfg = {
        .broker_host = "127.0.0.1", .broker_port = ntohs(a.sin_port), .connect_timeout_ms = 2000};
    char err[256];
    struct relay_hooks hooks = {.on_publish = rig_on_publish, .can_read = rig_can_read, .ctx = &g};
    g.take_max = SIZE_MAX;
    assert_int_equal(relay_init(&g.relay, &cfg, &g.acks, &hooks, err, sizeof err), 0);
    assert_true(g.relay.port > 0);
    g.client = g.broker = -1;
    *state = &g;
    return 0;
}

static int rig_teardown(void **state)
{
    struct rig *g = *state;
    if (g->client >= 0)
        close(g->client);
    if (g->broker >= 0)
        close(g->broker);
    close(g->broker_listen);
    relay_free(&g->relay);
    ack_tracker_free(&g->acks);
    return 0;
}

static void receive(struct rig *g, uint16_t mid, struct ack_ref *ref)
{
    char payload[16];
    int n = snprintf(payload, sizeof payload, "%u", mid);
    assert_int_equal(ack_tracker_received(&g->acks, mid, ack_hash("a/b/c", 5, payload, (size_t)n), ref), ACK_DO_STORE);
}

/* libmosquitto's own PUBACK (for a message the relay passed on) is held like the relay's. */
static void test_puback_held_until_commit(void **state)
{
    struct rig *g = *state;
    rig_connect(g);
    struct ack_ref r1;
    receive(g, 1, &r1);
    uint8_t pa[4];
    puback(pa, 1);
    /* the PUBACK is held, the PINGREQ behind it passes */
    send_all(g->client, pa, sizeof pa);
    send_all(g->client, PINGREQ, sizeof PINGREQ);
    expect_bytes(g, g->broker, PINGREQ, sizeof PINGREQ);
    expect_nothing(g, g->broker);
    assert_int_equal(ack_tracker_state(&g->acks, 1), ACK_HELD);
    assert_int_equal(relay_queued_acks(&g->relay), 1);
    assert_true(relay_acks_flushed(&g->relay)); /* nothing that may go is waiting */
    /* committed: it goes, and the tracker hears it went */
    assert_int_equal(ack_tracker_commit(&g->acks, r1), ACK_DO_RELEASE);
    assert_false(relay_acks_flushed(&g->relay));
    relay_flush(&g->relay);
    expect_bytes(g, g->broker, pa, sizeof pa);
    assert_int_equal(ack_tracker_state(&g->acks, 1), ACK_IDLE);
    assert_int_equal(relay_queued_acks(&g->relay), 0);
    assert_int_equal(g->relay.stats.acks_held, 1);
    assert_int_equal(g->relay.stats.acks_sent, 1);
}

/* QoS 0 and 1 PUBLISHes go to the ingest, not to the client; the rest reaches the client in order. */
static void test_publish_to_ingest(void **state)
{
    struct rig *g = *state;
    rig_connect(g);
    uint8_t stream[128];
    size_t n = publish(stream, 0x00, 0, "21.5");
    n += publish(stream + n, 0x02, 7, "22");
    n += publish(stream + n, 0x03, 8, "23"); /* QoS 1, retained */
    const uint8_t pingresp[] = {0xd0, 0};
    memcpy(stream + n, pingresp, 2);
    n += 2;
    send_all(g->broker, stream, n);
    expect_bytes(g, g->client, pingresp, sizeof pingresp);
    pump_until_got(g, 3);
    assert_string_equal(g->msgs[0].topic, "a/b/c");
    assert_string_equal(g->msgs[0].payload, "21.5");
    assert_int_equal(g->msgs[0].qos, 0);
    assert_int_equal(g->msgs[1].qos, 1);
    assert_int_equal(g->msgs[1].mid, 7);
    assert_string_equal(g->msgs[1].payload, "22");
    assert_false(g->msgs[1].retain);
    assert_int_equal(g->msgs[2].mid, 8);
    assert_true(g->msgs[2].retain);
    assert_int_equal(g->msgs[1].action, ACK_DO_STORE);
    assert_int_equal(g->relay.stats.publishes, 3);
    expect_nothing(g, g->client); /* no PUBLISH reached libmosquitto */
    /* both PUBACKs are held until their rows commit, then leave in one send */
    assert_int_equal(ack_tracker_state(&g->acks, 7), ACK_HELD);
    assert_int_equal(ack_tracker_state(&g->acks, 8), ACK_HELD);
    expect_nothing(g, g->broker);
    ack_tracker_commit(&g->acks, g->msgs[2].ref);
    expect_nothing(g, g->broker); /* 8 is committed but 7 is first */
    ack_tracker_commit(&g->acks, g->msgs[1].ref);
    relay_flush(&g->relay);
    /* both are in the kernel after this one flush: one send() */
    assert_int_equal(g->relay.stats.acks_sent, 2);
    uint8_t want[8];
    puback(want, 7);
    puback(want + 4, 8);
    expect_bytes(g, g->broker, want, sizeof want);
    assert_int_equal(ack_tracker_state(&g->acks, 7), ACK_IDLE);
    assert_int_equal(ack_tracker_state(&g->acks, 8), ACK_IDLE);
}

/* A packet cut at every byte across reads: the same messages come out. */
static void test_publish_split_reads(void **state)
{
    struct rig *g = *state;
    rig_connect(g);
    uint8_t stream[64];
    size_t n = publish(stream, 0x02, 11, "1.5");
    n += publish(stream + n, 0x00, 0, "2.5");
    for (size_t i = 0; i < n; i++) {
        send_all(g->broker, stream + i, 1);
        pump(g, 1);
    }
    pump_until_got(g, 2);
    assert_int_equal(g->msgs[0].mid, 11);
    assert_string_equal(g->msgs[0].payload, "1.5");
    assert_string_equal(g->msgs[1].payload, "2.5");
}

/* While can_read says no, nothing is handed over and reading the broker stops at a full buffer. */
static void test_publish_backpressure(void **state)
{
    struct rig *g = *state;
    rig_connect(g);
    enum { COUNT = 10000 }; /* 18 bytes each: 180 kB, well over the relay's 64 KiB */
    size_t one = publish((uint8_t[32]){0}, 0x00, 0, "12345");
    uint8_t *stream = malloc(one * COUNT);
    assert_non_null(stream);
    for (size_t i = 0; i < COUNT; i++)
        publish(stream + i * one, 0x00, 0, "12345");
    g->take_max = 0;
    send_pumping(g, g->broker, stream, one * COUNT);
    pump(g, 10);
    assert_int_equal(g->got, 0);
    assert_true(g->relay.down_stalled);
    assert_int_equal(g->relay.down.len, RELAY_BUF); /* full: no more is read */
    assert_int_equal(relay_next_timer(&g->relay), INT64_MAX);
    /* room for exactly 100: the 101st stays unparsed */
    g->take_max = 100;
    assert_int_equal(relay_next_timer(&g->relay), 0); /* may go on now: wake at once */
    pump(g, 5);
    assert_int_equal(g->got, 100);
    assert_true(g->relay.down_stalled);
    /* resume: all of them, none twice */
    g->take_max = SIZE_MAX;
    pump_until_got(g, COUNT);
    assert_false(g->relay.down_stalled);
    assert_int_equal(g->relay.down.len, 0);
    assert_int_equal(g->relay.stats.publishes, COUNT);
    free(stream);
}

/* QoS 2 goes to libmosquitto, byte for byte (it runs PUBREC/PUBREL/PUBCOMP); so does a packet larger than the buffer.
 */
static void test_publish_passed_to_client(void **state)
{
    struct rig *g = *state;
    rig_connect(g);
    uint8_t q2[32];
    size_t n = publish(q2, 0x04, 9, "x");
    send_all(g->broker, q2, n);
    expect_bytes(g, g->client, q2, n);
    assert_int_equal(g->got, 0);
    /* 70,000 bytes of payload: remaining length 70,009 in three bytes */
    size_t body = 2 + 5 + 2 + 70000, total = 4 + body;
    uint8_t *big = malloc(total);
    assert_non_null(big);
    big[0] = 0x32;
    big[1] = (uint8_t)(0x80 | (body & 0x7f));
    big[2] = (uint8_t)(0x80 | ((body >> 7) & 0x7f));
    big[3] = (uint8_t)(body >> 14);
    memcpy(big + 4, "\0\5a/b/c\0\x0c", 9);
    memset(big + 13, '7', 70000);
    send_pumping(g, g->broker, big, total);
    /* a small one behind it is the relay's again */
    n = publish(q2, 0x00, 0, "after");
    send_all(g->broker, q2, n);
    expect_bytes(g, g->client, big, total);
    pump_until_got(g, 1);
    assert_string_equal(g->msgs[0].payload, "after");
    assert_int_equal(g->relay.stats.publishes_passed, 2);
    free(big);
}

/* Malformed packets from the broker: an error and a counter, the connection closed, the relay ready again. */
static void test_publish_malformed_closes(void **state)
{
    struct rig *g = *state;
    static const struct {
        const char *name;
        uint8_t bytes[12];
        size_t len;
    } bad[] = {
        {"qos 3", {0x36, 8, 0, 3, 'a', '/', 'b', 0, 1, '7'}, 10},
        {"topic length past the end", {0x30, 5, 0, 9, 'a', '/', 'b'}, 7},
        {"remaining length shorter than the topic", {0x32, 4, 0, 3, 'a', '/', 'b', 0, 1, '7'}, 10},
        {"no topic length", {0x30, 1, 0}, 3},
        {"empty topic", {0x30, 3, 0, 0, '1'}, 5},
        {"qos 1 packet id 0", {0x32, 8, 0, 3, 'a', '/', 'b', 0, 0, '7'}, 10},
        {"five length bytes", {0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, 6},
        {"type 0", {0x00, 0}, 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        print_message("%s\n", bad[i].name);
        rig_connect(g);
        send_all(g->broker, bad[i].bytes, bad[i].len);
        expect_closed(g, g->client);
        assert_true(relay_idle(&g->relay));
        assert_int_equal(g->relay.stats.protocol_errors, i + 1);
        assert_false(g->acks.connected); /* the session ended with the connection */
        close(g->client);
        close(g->broker);
        g->client = g->broker = -1;
    }
    assert_int_equal(g->got, 0);
}

/* A held message's connection dies; the broker redelivers it: not stored twice, PUBACK after the original's commit. */
static void test_redelivery_after_reconnect(void **state)
{
    struct rig *g = *state;
    rig_connect(g);
    uint8_t pkt[32];
    size_t n = publish(pkt, 0x02, 5, "42");
    send_all(g->broker, pkt, n);
    pump_until_got(g, 1);
    assert_int_equal(g->msgs[0].action, ACK_DO_STORE);
    struct ack_ref original = g->msgs[0].ref;
    assert_int_equal(ack_tracker_state(&g->acks, 5), ACK_HELD);
    /* the broker goes away: the held PUBACK is discarded, the message becomes an orphan */
    close(g->broker);
    g->broker = -1;
    expect_closed(g, g->client);
    close(g->client);
    g->client = -1;
    assert_int_equal(g->relay.stats.acks_discarded, 1);
    assert_int_equal(ack_tracker_state(&g->acks, 5), ACK_ORPHAN_QUEUED);
    /* session resumed (CONNACK session present): the same message again, with DUP */
    rig_connect(g);
    n = publish(pkt, 0x0a, 5, "42");
    send_all(g->broker, pkt, n);
    pump_until_got(g, 2);
    assert_int_equal(g->msgs[1].action, ACK_DO_SKIP);
    expect_nothing(g, g->broker); /* its PUBACK waits for the original row */
    assert_int_equal(ack_tracker_commit(&g->acks, original), ACK_DO_RELEASE);
    relay_flush(&g->relay);
    uint8_t want[4];
    puback(want, 5);
    expect_bytes(g, g->broker, want, sizeof want);
    /* the same id resent on this connection while held is skipped and gets no second PUBACK */
    n = publish(pkt, 0x02, 6, "43");
    send_all(g->broker, pkt, n);
    n = publish(pkt, 0x0a, 6, "43");
    send_all(g->broker, pkt, n);
    pump_until_got(g, 4);
    assert_int_equal(g->msgs[3].action, ACK_DO_SKIP);
    assert_int_equal(g->relay.stats.acks_duplicate, 1);
    ack_tracker_commit(&g->acks, g->msgs[2].ref);
    relay_flush(&g->relay);
    puback(want, 6);
    expect_bytes(g, g->broker, want, sizeof want);
    expect_nothing(g, g->broker);
}

/* A CONNACK without "session present": orphans are forgotten, no redelivery is expected. */
static void test_connack_new_session_drops_orphans(void **state)
{
    struct rig *g = *state;
    rig_connect(g);
    uint8_t pkt[32];
    size_t n = publish(pkt, 0x02, 3, "1");
    send_all(g->broker, pkt, n);
    pump_until_got(g, 1);
    close(g->broker);
    g->broker = -1;
    expect_closed(g, g->client);
    close(g->client);
    g->client = -1;
    assert_int_equal(ack_tracker_orphans(&g->acks), 1);
    /* reconnect by hand with a CONNACK that says the session is new */
    g->client = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g->relay.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(g->client, (struct sockaddr *)&a, sizeof a), 0);
    for (int i = 0; i < 200 && g->broker < 0; i++) {
        pump_once(g, 5);
        g->broker = accept4(g->broker_listen, NULL, NULL, SOCK_NONBLOCK);
    }
    assert_true(g->broker >= 0);
    send_all(g->client, CONNECT, sizeof CONNECT);
    expect_bytes(g, g->broker, CONNECT, sizeof CONNECT);
    const uint8_t fresh[] = {0x20, 2, 0x00, 0x00};
    send_all(g->broker, fresh, sizeof fresh);
    expect_bytes(g, g->client, fresh, sizeof fresh);
    assert_true(g->acks.connected);
    assert_int_equal(ack_tracker_orphans(&g->acks), 0);
    /* a refused CONNACK starts nothing */
    const uint8_t refused[] = {0x20, 2, 0x00, 0x05};
    uint32_t gen = g->acks.gen;
    send_all(g->broker, refused, sizeof refused);
    expect_bytes(g, g->client, refused, sizeof refused);
    assert_int_equal(g->acks.gen, gen);
}

static void test_pubacks_leave_in_order(void **state)
{
    struct rig *g = *state;
    rig_connect(g);
    struct ack_ref r2, r3;
    receive(g, 2, &r2);
    receive(g, 3, &r3);
    uint8_t pa[12];
    puback(pa, 2);
    puback(pa + 4, 3);
    puback(pa + 8, 9); /* an id nobody tracks: may go, but not before 2 and 3 */
    send_all(g->client, pa, sizeof pa);
    pump(g, 5);
    ack_tracker_commit(&g->acks, r3);
    expect_nothing(g, g->broker); /* 3 is committed but 2 is first */
    ack_tracker_commit(&g->acks, r2);
    relay_flush(&g->relay);
    expect_bytes(g, g->broker, pa, sizeof pa);
    /* a second PUBACK for an id already sent is a new untracked one: it passes */
    send_all(g->client, pa, 4);
    expect_bytes(g, g->broker, pa, 4);
    /* a duplicate PUBACK for an id still held is dropped */
    struct ack_ref r4;
    receive(g, 4, &r4);
    puback(pa, 4);
    send_all(g->client, pa, 4);
    send_all(g->client, pa, 4);
    pump(g, 5);
    assert_int_equal(g->relay.stats.acks_duplicate, 1);
    ack_tracker_commit(&g->acks, r4);
    relay_flush(&g->relay);
    expect_bytes(g, g->broker, pa, 4);
    expect_nothing(g, g->broker);
}

static void test_disconnect_flushes_then_closes(void **state)
{
    struct rig *g = *state;
    rig_connect(g);
    struct ack_ref r5, r6;
    receive(g, 5, &r5);
    receive(g, 6, &r6);
    uint8_t pa[8];
    puback(pa, 5);
    puback(pa + 4, 6);
    send_all(g->client, pa, sizeof pa);
    pump(g, 5);
    ack_tracker_commit(&g->acks, r5); /* 6 stays uncommitted: its PUBACK must not go */
    send_all(g->client, DISCONNECT, sizeof DISCONNECT);
    close(g->client);
    g->client = -1;
    uint8_t want[6];
    memcpy(want, pa, 4);
    memcpy(want + 4, DISCONNECT, 2);
    expect_bytes(g, g->broker, want, sizeof want);
    /* then end of stream from the relay (its FIN), and the relay waits for the broker to close */
    expect_closed(g, g->broker);
    assert_false(relay_idle(&g->relay));
    close(g->broker);
    g->broker = -1;
    for (int i = 0; i < 100 && !relay_idle(&g->relay); i++)
        pump_once(g, 5);
    assert_true(relay_idle(&g->relay));
    assert_int_equal(g->relay.stats.acks_discarded, 1); /* 6: the broker sends it again */
    ack_tracker_disconnected(&g->acks);
    assert_int_equal(ack_tracker_state(&g->acks, 6), ACK_ORPHAN_QUEUED);
}

static void test_broker_close_closes_client(void **state)
{
    struct rig *g = *state;
    rig_connect(g);
    close(g->broker);
    g->broker = -1;
    expect_closed(g, g->client);
    assert_true(relay_idle(&g->relay));
}

static void test_malformed_closes(void **state)
{
    struct rig *g = *state;
    rig_connect(g);
    const uint8_t bad[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x01};
    send_all(g->client, bad, sizeof bad);
    expect_closed(g, g->client);
    assert_true(relay_idle(&g->relay));
    assert_int_equal(g->relay.stats.protocol_errors, 1);
}

static void test_new_client_replaces_old(void **state)
{
    struct rig *g = *state;
    rig_connect(g);
    int old_client = g->client, old_broker = g->broker;
    rig_connect(g);
    expect_closed(g, old_client);
    expect_closed(g, old_broker);
    close(old_client);
    close(old_broker);
    /* the new pair works */
    send_all(g->client, PINGREQ, sizeof PINGREQ);
    expect_bytes(g, g->broker, PINGREQ, sizeof PINGREQ);
}

static void test_broker_unreachable(void **state)
{
    struct rig *g = *state;
    /* nobody listens there any more */
    close(g->broker_listen);
    g->broker_listen = socket(AF_INET, SOCK_STREAM, 0);
    g->client = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g->relay.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(g->client, (struct sockaddr *)&a, sizeof a), 0);
    expect_closed(g, g->client);
    assert_true(relay_idle(&g->relay));
    assert_int_equal(g->relay.stats.connect_failed, 1);
}

/* The message callback is required: without it relay_init refuses, with a reason, and holds nothing. */
static void test_init_needs_on_publish(void **state)
{
    (void)state;
    struct ack_tracker acks;
    assert_int_equal(ack_tracker_init(&acks), 0);
    struct relay r;
    struct relay_config cfg = {.broker_host = "127.0.0.1", .broker_port = 1, .connect_timeout_ms = 100};
    struct relay_hooks none = {0};
    char err[128] = "";
    assert_int_equal(relay_init(&r, &cfg, &acks, &none, err, sizeof err), -1);
    assert_non_null(strstr(err, "callback"));
    assert_int_equal(r.listen_fd, -1);
    relay_free(&r); /* safe after a failed init */
    ack_tracker_free(&acks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_puback_held_until_commit, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_pubacks_leave_in_order, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_flushes_then_closes, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_broker_close_closes_client, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_closes, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_new_client_replaces_old, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_broker_unreachable, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_publish_to_ingest, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_publish_split_reads, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_publish_backpressure, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_publish_passed_to_client, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_publish_malformed_closes, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_redelivery_after_reconnect, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_connack_new_session_drops_orphans, rig_setup, rig_teardown),
        cmocka_unit_test(test_init_needs_on_publish),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
