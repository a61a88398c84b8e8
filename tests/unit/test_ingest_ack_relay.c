/* test_ingest_ack_relay.c - the PUBACK-holding relay over real loopback sockets, with a fake client and broker. */
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
#include <unistd.h>

struct rig {
    struct ack_tracker acks;
    struct relay relay;
    int broker_listen; /* the fake broker's listening socket */
    int broker;        /* the fake broker's side of the relay's connection */
    int client;        /* the fake libmosquitto */
};

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

/* Read exactly n bytes from fd within about a second, pumping the relay meanwhile. */
static void expect_bytes(struct rig *g, int fd, const void *want, size_t n)
{
    uint8_t got[256];
    size_t have = 0;
    assert_true(n <= sizeof got);
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
    send_all(g->broker, CONNACK, sizeof CONNACK);
    expect_bytes(g, g->client, CONNACK, sizeof CONNACK);
    ack_tracker_connected(&g->acks, true);
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
    assert_int_equal(relay_init(&g.relay, &cfg, &g.acks, NULL, NULL, err, sizeof err), 0);
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
    /* broker -> client is untouched, whatever it is */
    const uint8_t publish[] = {0x32, 8, 0, 3, 'a', '/', 'b', 0, 2, '7'};
    send_all(g->broker, publish, sizeof publish);
    expect_bytes(g, g->client, publish, sizeof publish);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
