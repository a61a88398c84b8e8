/*
 * test_sim_link.c - the simulator's MQTT link follows its device's conn
 * (firmware/core/conn.h), as the Pico W port does: a real libmosquitto client
 * against a scripted broker on a loopback socket, with the link's clock faked.
 *
 *   - a broker drop: the link waits exactly conn's back-off (a second conn fed
 *     the same events computes it), does not connect a millisecond early, and
 *     connects when it ends; refused connects grow it; the jitter differs per
 *     seed; the 32-bit clock may wrap on the way
 *   - a connect without CONNACK: conn's timeout drops it, then its back-off
 *   - stuck (no connect / no confirmed publish for stuck_ms): the client is
 *     dropped, the device starts again (counted), and a new client connects
 *   - the publish cycle is conn's: "online" first, a cycle when conn says
 *     SAMPLE, none when too many publishes are unconfirmed
 *   - load mode (no_cycle): no SAMPLE, the caller's readings are progress
 *   - link_close(): "offline", then DISCONNECT
 */
#include "unit.h"

#include "core/log.h"
#include "sim/device.h"
#include "sim/link.h"

#include <errno.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a scripted broker: just enough MQTT 3.1.1 for one client ---- */

#define FB_CLIENTS 8
#define FB_MSGS 256

struct fb_client {
    int fd;
    uint8_t buf[8192];
    size_t len;
};

struct fb_msg {
    char topic[NODE_TOPIC_MAX];
    char payload[NODE_PAYLOAD_MAX];
    int qos;
    bool retain;
};

struct fb {
    int lfd;
    int port;
    struct fb_client cl[FB_CLIENTS];
    size_t ncl;
    unsigned accepted;    /* connections accepted */
    unsigned closed;      /* connections the client closed */
    unsigned disconnects; /* DISCONNECT packets */
    bool answer_connect;  /* false: swallow CONNECT (a broker that never answers) */
    uint8_t connack_rc;   /* 0 = accepted; else refused and closed */
    bool puback;          /* acknowledge QoS 1 publishes */
    struct fb_msg msgs[FB_MSGS];
    size_t nmsgs;
};

static void fb_open(struct fb *b)
{
    memset(b, 0, sizeof *b);
    b->answer_connect = true;
    b->puback = true;
    b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(b->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(b->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(b->lfd, 8), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(b->lfd, (struct sockaddr *)&a, &alen), 0);
    b->port = ntohs(a.sin_port);
}

static void fb_drop(struct fb *b, size_t k)
{
    close(b->cl[k].fd);
    b->cl[k] = b->cl[--b->ncl];
}

/* The broker goes away: every connection closed from its side. */
static void fb_drop_all(struct fb *b)
{
    while (b->ncl)
        fb_drop(b, 0);
}

static void fb_close(struct fb *b)
{
    fb_drop_all(b);
    close(b->lfd);
}

static void fb_send(struct fb_client *c, const uint8_t *p, size_t n)
{
    assert_int_equal(send(c->fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Handle one whole packet. Returns false when the broker closed the connection. */
static bool fb_packet(struct fb *b, struct fb_client *c, uint8_t hdr, const uint8_t *p, size_t n)
{
    switch (hdr >> 4) {
    case 1: /* CONNECT */
        if (!b->answer_connect)
            return true;
        fb_send(c, (const uint8_t[]){0x20, 2, 0, b->connack_rc}, 4);
        return b->connack_rc == 0;
    case 3: { /* PUBLISH */
        assert_true(n >= 2);
        size_t tlen = (size_t)p[0] << 8 | p[1];
        int qos = (hdr >> 1) & 3;
        size_t at = 2 + tlen + (qos ? 2 : 0);
        assert_true(at <= n && tlen < NODE_TOPIC_MAX && n - at < NODE_PAYLOAD_MAX);
        assert_true(b->nmsgs < FB_MSGS);
        struct fb_msg *m = &b->msgs[b->nmsgs++];
        memcpy(m->topic, p + 2, tlen);
        m->topic[tlen] = '\0';
        memcpy(m->payload, p + at, n - at);
        m->payload[n - at] = '\0';
        m->qos = qos;
        m->retain = hdr & 1;
        if (qos == 1 && b->puback)
            fb_send(c, (const uint8_t[]){0x40, 2, p[2 + tlen], p[3 + tlen]}, 4);
        return true;
    }
    case 12: /* PINGREQ */
        fb_send(c, (const uint8_t[]){0xd0, 0}, 2);
        return true;
    case 14: /* DISCONNECT */
        b->disconnects++;
        return true;
    }
    return true;
}

/* Answer the whole packets in c's buffer. Returns false when the broker closed the connection. */
static bool fb_parse(struct fb *b, struct fb_client *c)
{
    for (;;) {
        /* fixed header: type, remaining length (1..4 bytes of 7 bits) */
        size_t rl = 0, i = 1;
        bool whole = false;
        for (unsigned shift = 0; i < c->len && i <= 4; i++, shift += 7) {
            rl |= (size_t)(c->buf[i] & 0x7f) << shift;
            if (!(c->buf[i] & 0x80)) {
                whole = true;
                i++;
                break;
            }
        }
        if (!whole || c->len < i + rl)
            return true;
        bool open = fb_packet(b, c, c->buf[0], c->buf + i, rl);
        memmove(c->buf, c->buf + i + rl, c->len - i - rl);
        c->len -= i + rl;
        if (!open)
            return false;
    }
}

/* Read what client c sent and answer it. Returns false when the connection is gone. */
static bool fb_read(struct fb *b, struct fb_client *c)
{
    for (;;) {
        ssize_t got = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (got <= 0 && !(got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) {
            fb_parse(b, c); /* what came before the end */
            b->closed++;
            return false;
        }
        if (got < 0)
            break;
        c->len += (size_t)got;
        /* ACK at once: the client's Nagle would hold its next small write for our delayed ACK (40 ms) */
        setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &(int){1}, sizeof(int));
    }
    return fb_parse(b, c);
}

static void fb_service(struct fb *b)
{
    int fd;
    while ((fd = accept4(b->lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        assert_true(b->ncl < FB_CLIENTS);
        b->cl[b->ncl++] = (struct fb_client){.fd = fd};
        b->accepted++;
    }
    for (size_t k = 0; k < b->ncl;)
        if (fb_read(b, &b->cl[k]))
            k++;
        else
            fb_drop(b, k);
}

/* ---- a device, its link and the broker; the time is the test's ---- */

struct rig {
    struct fb fb;
    struct sim_device d;
    struct link l;
    int64_t now;
    unsigned samples; /* SAMPLE answered */
};

static void rig_init(struct rig *r, int64_t start, uint64_t seed, uint8_t qos, uint32_t stuck_ms, bool no_cycle)
{
    memset(r, 0, sizeof *r);
    fb_open(&r->fb);
    r->now = start;
    assert_int_equal(sim_device_init(&r->d, "pico", 5000, qos, (uint32_t)start, 0.0, seed, 0), 0);
    struct conn_config cfg = sim_device_conn_config(stuck_ms);
    cfg.no_cycle = no_cycle;
    sim_device_boot(&r->d, &cfg, (uint32_t)start);
    assert_int_equal(link_init(&r->l, "pico-test", &r->d, "127.0.0.1", r->fb.port, qos, 0), 0);
}

static void rig_free(struct rig *r)
{
    link_destroy(&r->l);
    fb_close(&r->fb);
}

/* conn's decisions, as run.c carries them out (run_step_devices). */
static void rig_steps(struct rig *r)
{
    for (int i = 0; i < 8 && link_due(&r->l, r->now); i++) {
        unsigned todo = link_step(&r->l, r->now);
        if (todo & CONN_DO_SAMPLE) {
            struct node_sample s;
            sim_device_sample(&r->d, (uint32_t)r->now, 1795779600.0, &s);
            link_sampled(&r->l, &s, r->now, NODE_MSGS_MAX);
            r->samples++;
        }
    }
    assert_false(link_due(&r->l, r->now));
}

/* Run the link and the broker at the current time until nothing moves. */
static void rig_settle(struct rig *r)
{
    int quiet = 0;
    for (int round = 0; round < 500 && quiet < 4; round++) {
        rig_steps(r);
        struct pollfd p[2 + FB_CLIENTS];
        nfds_t n = 0;
        int lfd = link_fd(&r->l);
        if (lfd >= 0)
            p[n++] = (struct pollfd){.fd = lfd, .events = link_events(&r->l)};
        p[n++] = (struct pollfd){.fd = r->fb.lfd, .events = POLLIN};
        for (size_t k = 0; k < r->fb.ncl; k++)
            p[n++] = (struct pollfd){.fd = r->fb.cl[k].fd, .events = POLLIN};
        int rc = poll(p, n, 5);
        quiet = rc > 0 ? 0 : quiet + 1;
        link_io(&r->l, lfd >= 0 && rc > 0 ? p[0].revents : 0, r->now);
        fb_service(&r->fb);
    }
    rig_steps(r);
}

static void rig_advance(struct rig *r, int64_t ms)
{
    r->now += ms;
    rig_settle(r);
}

static void assert_msg(const struct fb_msg *m, const char *topic, const char *payload)
{
    assert_string_equal(m->topic, topic);
    if (payload)
        assert_string_equal(m->payload, payload);
}

/* ---- tests ---- */

/*
 * A dropped connection: the link waits exactly what conn decided. `shadow` is a
 * second conn with the same config and seed, fed the same events at the same times.
 */
static void test_backoff_is_conns(void **state)
{
    (void)state;
    static const struct {
        uint64_t seed;
        int64_t start;
    } rows[] = {
        {1, 5000000},
        {2, 5000000},
        {77, 4294967296LL - 1500}, /* conn's 32-bit clock wraps during the test */
        {12345, 123456789},
    };
    uint32_t first[4];
    for (size_t row = 0; row < 4; row++) {
        struct rig r;
        rig_init(&r, rows[row].start, rows[row].seed, 0, 0, false);
        struct node sn;
        assert_int_equal(node_init(&sn, "pico", 5000, 0, (uint32_t)r.now), 0);
        struct conn sc;
        conn_init(&sc, &sn, &r.d.conn_cfg, r.d.conn_seed, (uint32_t)r.now);
        struct conn_actions a;

        /* connect at once; "online" first, then the first cycle */
        rig_settle(&r);
        conn_step(&sc, (uint32_t)r.now, &a);
        assert_true(a.todo & CONN_DO_BROKER_CONNECT);
        conn_broker_up(&sc, (uint32_t)r.now);
        assert_int_equal(r.fb.accepted, 1);
        assert_int_equal(r.l.connects, 1);
        assert_int_equal(r.d.conn.state, CONN_PUBLISHING);
        assert_true(link_ready(&r.l));
        assert_int_equal(r.fb.nmsgs, 4);
        assert_msg(&r.fb.msgs[0], "pico/status", "online");
        assert_true(r.fb.msgs[0].retain);
        assert_int_equal(r.fb.msgs[0].qos, 1);
        assert_msg(&r.fb.msgs[1], "pico/temperature/dht22", NULL);
        assert_msg(&r.fb.msgs[3], "pico/temperature/internal", NULL);

        /* the broker drops the connection */
        r.fb.connack_rc = 5; /* and refuses the next connects */
        r.now += 1234;
        fb_drop_all(&r.fb);
        rig_settle(&r);
        conn_broker_down(&sc, (uint32_t)r.now);
        assert_int_equal(r.d.conn.state, CONN_BROKER_CONNECTING);
        assert_false(r.d.conn.attempting);
        assert_int_equal(r.d.conn.at_ms, sc.at_ms);
        uint32_t delay = sc.at_ms - (uint32_t)r.now;
        assert_true(delay >= CONN_BACKOFF_BASE_MS / 2 && delay <= CONN_BACKOFF_BASE_MS);
        assert_int_equal(link_fd(&r.l), -1);
        assert_int_equal(link_timer_ms(&r.l, r.now), delay); /* what the poll loop sleeps */
        first[row] = delay;

        /* refused connects: each back-off is conn's, cap doubling from 1 s */
        unsigned tries = 1;
        for (uint32_t cap = 2 * CONN_BACKOFF_BASE_MS; cap <= 16 * CONN_BACKOFF_BASE_MS; cap *= 2) {
            rig_advance(&r, delay - 1);
            assert_int_equal(r.fb.accepted, tries); /* not a millisecond early */
            assert_false(r.d.conn.attempting);
            rig_advance(&r, 1);
            assert_int_equal(r.fb.accepted, ++tries);
            conn_step(&sc, (uint32_t)r.now, &a);
            assert_true(a.todo & CONN_DO_BROKER_CONNECT);
            conn_broker_down(&sc, (uint32_t)r.now); /* CONNACK 5 */
            assert_int_equal(r.d.conn.at_ms, sc.at_ms);
            assert_int_equal(r.d.conn.broker_failures, sc.broker_failures);
            delay = sc.at_ms - (uint32_t)r.now;
            assert_true(delay >= cap / 2 && delay <= cap);
            assert_int_equal(link_timer_ms(&r.l, r.now), delay);
        }

        /* the broker accepts again: connected at the end of the back-off, failures forgotten */
        r.fb.connack_rc = 0;
        rig_advance(&r, delay);
        assert_int_equal(r.l.connects, 2);
        assert_int_equal(r.d.conn.state, CONN_PUBLISHING);
        assert_int_equal(r.d.conn.broker_failures, 0);
        assert_int_equal(r.d.conn.stats.broker_losses, 1);
        assert_int_equal(r.d.conn.stats.broker_failures, 4);
        assert_int_equal(r.d.resets, 0);
        assert_msg(&r.fb.msgs[r.fb.nmsgs - 4], "pico/status", "online");
        rig_free(&r);
    }
    /* the jitter is per device */
    assert_false(first[0] == first[1] && first[1] == first[2] && first[2] == first[3]);
}

/* A broker that accepts TCP but never answers CONNECT: conn's connect timeout drops it. */
static void test_connect_timeout(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 1000000, 3, 0, 0, false);
    r.fb.answer_connect = false;
    rig_settle(&r);
    assert_int_equal(r.fb.accepted, 1);
    assert_true(r.d.conn.attempting);
    rig_advance(&r, CONN_BROKER_TIMEOUT_MS - 1);
    assert_int_equal(r.fb.closed, 0);
    assert_true(link_fd(&r.l) >= 0);
    rig_advance(&r, 1);
    /* closed by the link (no DISCONNECT: the broker would publish the will) */
    assert_int_equal(r.fb.closed, 1);
    assert_int_equal(r.fb.disconnects, 0);
    assert_int_equal(link_fd(&r.l), -1);
    assert_int_equal(r.d.conn.stats.broker_failures, 1);
    uint32_t delay = r.d.conn.at_ms - (uint32_t)r.now;
    assert_true(delay >= 500 && delay <= 1000);
    assert_int_equal(link_timer_ms(&r.l, r.now), delay);

    r.fb.answer_connect = true;
    rig_advance(&r, delay);
    assert_int_equal(r.fb.accepted, 2);
    assert_int_equal(r.l.connects, 1);
    assert_int_equal(r.d.conn.state, CONN_PUBLISHING);
    /* the dropped connection reported nothing more */
    assert_int_equal(r.d.conn.stats.broker_failures, 1);
    assert_int_equal(r.d.resets, 0);
    rig_free(&r);
}

/* No connect for stuck_ms: conn says RESET; the client goes, the device starts again, a new client connects. */
static void test_stuck_resets(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 2000000, 4, 0, 5000, false);
    r.fb.answer_connect = false;
    rig_settle(&r);
    assert_int_equal(r.fb.accepted, 1);
    rig_advance(&r, 4999);
    assert_int_equal(r.d.resets, 0);
    rig_advance(&r, 1);
    assert_int_equal(r.d.resets, 1);
    assert_int_equal(r.fb.closed, 1);   /* the old client's socket */
    assert_int_equal(r.fb.accepted, 2); /* a new client, connecting at once */
    assert_int_equal(r.l.phase, LINK_RUNNING);
    /* from scratch: conn anew, the schedule from now */
    assert_int_equal(r.d.conn.state, CONN_BROKER_CONNECTING);
    assert_true(r.d.conn.attempting);
    assert_int_equal(r.d.conn.stats.broker_failures, 0);
    assert_int_equal(r.d.conn.session, 0);
    assert_int_equal(r.d.node.next_ms, (uint32_t)r.now);
    assert_int_equal(r.d.conn.progress_ms, (uint32_t)r.now);

    /* again, and then the broker answers */
    r.fb.answer_connect = true;
    rig_advance(&r, 5000);
    assert_int_equal(r.d.resets, 2);
    assert_int_equal(r.fb.accepted, 3);
    assert_int_equal(r.l.connects, 1);
    assert_int_equal(r.d.conn.state, CONN_PUBLISHING);
    assert_msg(&r.fb.msgs[0], "pico/status", "online");
    assert_int_equal(r.fb.nmsgs, 4);
    rig_free(&r);
}

/* Connected, but no publish is ever confirmed (QoS 1, no PUBACK): a reset drops the client and its readings. */
static void test_stuck_publishing_resets(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 3000000, 5, 1, 5000, false);
    r.fb.puback = false;
    rig_settle(&r);
    assert_int_equal(r.d.conn.state, CONN_PUBLISHING);
    assert_int_equal(r.l.sent, 3);
    for (int i = 0; i < 4; i++)
        rig_advance(&r, 1000);
    assert_int_equal(r.d.resets, 0);
    r.fb.answer_connect = false; /* the new client's connect stays unanswered */
    rig_advance(&r, 1000);       /* 5 s after the connect: the last progress */
    assert_int_equal(r.d.resets, 1);
    assert_int_equal(r.l.sent, 3);
    assert_int_equal(r.l.done, 3);
    assert_int_equal(r.l.lost, 3);
    assert_false(link_ready(&r.l));
    rig_free(&r);
}

/* Interval mode: the cycle is conn's: the link waits for conn's SAMPLE, and conn bounds unconfirmed publishes. */
static void test_cycle_is_conns(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 4000000, 6, 1, 0, false);
    r.fb.puback = false;
    rig_settle(&r);
    assert_int_equal(r.samples, 1);
    assert_int_equal(r.l.step_at_ms - r.now, 5000); /* conn's wake: the next cycle */
    rig_advance(&r, 4999);
    assert_int_equal(r.samples, 1);
    rig_advance(&r, 1);
    assert_int_equal(r.samples, 2);
    assert_int_equal(r.fb.nmsgs, 7);
    /* nothing is acknowledged: "online" + 3 cycles = 10 unconfirmed; the 4th cycle makes 13, then conn skips */
    for (int i = 0; i < 6; i++)
        rig_advance(&r, 5000);
    assert_int_equal(r.samples, 4);
    assert_int_equal(r.l.sent, 12);
    assert_int_equal(r.d.conn.stats.cycles_skipped, 4);
    assert_int_equal(r.fb.nmsgs, 13);
    rig_free(&r);
}

/* Load mode: conn runs no cycle; the caller's readings are publishes like any, and progress. */
static void test_no_cycle(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 5000000, 7, 0, 5000, true);
    assert_false(link_ready(&r.l));
    rig_settle(&r);
    assert_true(link_ready(&r.l));
    assert_int_equal(r.samples, 0);
    assert_int_equal(r.fb.nmsgs, 1); /* "online" only */
    assert_true(r.l.step_at_ms > r.now);
    struct node_sample s = {.dht_status = DHT22_OK, .dht = {215, 453}, .chip_ok = true, .chip_dc = 271};
    struct node_msg m[NODE_MSGS_MAX];
    assert_int_equal(node_readings(&r.d.node, &s, m), 3);
    for (int i = 0; i < 20; i++) {
        rig_advance(&r, 1000);
        assert_int_equal(link_publish(&r.l, &m[i % 3]), 0);
        rig_settle(&r);
    }
    assert_int_equal(r.samples, 0);
    assert_int_equal(r.d.resets, 0); /* 20 s > stuck_ms: the readings were progress */
    assert_int_equal(r.l.done, 20);
    assert_int_equal(r.d.conn.stats.published, 21);
    assert_int_equal(r.fb.nmsgs, 21);
    rig_advance(&r, 4999);
    assert_int_equal(r.d.resets, 0);
    rig_advance(&r, 1);
    assert_int_equal(r.d.resets, 1);
    rig_free(&r);
}

/* A clean goodbye: "offline" (retained, QoS 1), DISCONNECT after its PUBACK; conn is not stepped any more. */
static void test_close(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 6000000, 8, 0, 5000, false);
    rig_settle(&r);
    assert_true(link_ready(&r.l));
    link_close(&r.l);
    assert_int_equal(r.l.phase, LINK_CLOSING);
    assert_false(link_due(&r.l, r.now + 100000));
    rig_settle(&r);
    assert_int_equal(r.l.phase, LINK_CLOSED);
    assert_int_equal(r.fb.disconnects, 1);
    assert_msg(&r.fb.msgs[r.fb.nmsgs - 1], "pico/status", "offline");
    assert_true(r.fb.msgs[r.fb.nmsgs - 1].retain);
    rig_advance(&r, 60000); /* stuck_ms passes: closed is closed */
    assert_int_equal(r.d.resets, 0);
    assert_int_equal(r.fb.accepted, 1);

    /* a link that is not connected closes at once */
    struct rig q;
    rig_init(&q, 6000000, 9, 0, 0, false);
    q.fb.answer_connect = false;
    rig_settle(&q);
    link_close(&q.l);
    assert_int_equal(q.l.phase, LINK_CLOSED);
    assert_int_equal(link_fd(&q.l), -1);
    rig_free(&q);
    rig_free(&r);
}

int main(void)
{
    log_init("test_sim_link", LOG_ERROR); /* the link's connect/loss lines are expected here */
    mosquitto_lib_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_is_conns),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_stuck_resets),
        cmocka_unit_test(test_stuck_publishing_resets),
        cmocka_unit_test(test_cycle_is_conns),
        cmocka_unit_test(test_no_cycle),
        cmocka_unit_test(test_close),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mosquitto_lib_cleanup();
    return rc;
}
