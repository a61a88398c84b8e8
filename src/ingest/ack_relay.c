/* ack_relay.c - the ingest's broker connection: PUBLISH to the ingest, other packets to libmosquitto, PUBACKs after
 * commit (see ack_relay.h). */
#include "ack_relay.h"

#include "core/log.h"
#include "mqtt_frame.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RELAY_DRAIN_MS 2000 /* wait this long for the broker to close after our DISCONNECT */
#define RELAY_READS_PER_WAKE 16
/* broker buffers parsed per wake-up: at most ~256 KiB of messages, so the writer's results are read between them */
#define RELAY_BROKER_READS_PER_WAKE 4

/* A PUBACK in the queue: rebuilt from these fields when it goes out. */
struct relay_ack {
    uint64_t end; /* up_queued after its bytes (valid for the first held_out entries) */
    uint16_t mid;
    uint8_t reason;
    bool has_reason;
};

/* ---- buffers ---- */

static int rbuf_init(struct relay_buf *b)
{
    b->off = b->len = 0;
    b->data = malloc(RELAY_BUF);
    return b->data ? 0 : -1;
}

static void rbuf_free(struct relay_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = 0;
}

/* Room at the end, after moving the unconsumed bytes to the front when that helps. */
static size_t rbuf_room(struct relay_buf *b)
{
    if (b->off && b->off + b->len == RELAY_BUF) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
    }
    if (!b->len)
        b->off = 0;
    return RELAY_BUF - b->off - b->len;
}

/* Would n more bytes fit (after compaction)? */
static bool rbuf_fits(const struct relay_buf *b, size_t n)
{
    return RELAY_BUF - b->len >= n;
}

static bool rbuf_append(struct relay_buf *b, const void *p, size_t n)
{
    if (rbuf_room(b) < n) {
        if (b->off) {
            memmove(b->data, b->data + b->off, b->len);
            b->off = 0;
        }
        if (RELAY_BUF - b->len < n)
            return false;
    }
    memcpy(b->data + b->off + b->len, p, n);
    b->len += n;
    return true;
}

static void rbuf_consume(struct relay_buf *b, size_t n)
{
    b->off += n;
    b->len -= n;
    if (!b->len)
        b->off = 0;
}

/*
 * Send what b holds to fd until it is empty or the socket is full, adding the bytes
 * sent to *sent when given. Returns 0, or -1 on a dead socket (errno set).
 */
static int rbuf_drain(struct relay_buf *b, int fd, uint64_t *sent)
{
    while (b->len) {
        ssize_t n = send(fd, b->data + b->off, b->len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        rbuf_consume(b, (size_t)n);
        if (sent)
            *sent += (uint64_t)n;
    }
    return 0;
}

/* ---- sockets ---- */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void set_nodelay(int fd)
{
    int one = 1;
    /* PUBACKs and PINGREQs are tiny: never wait to coalesce them */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int relay_init(struct relay *r, const struct relay_config *cfg, struct ack_tracker *acks,
               const struct relay_hooks *hooks, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->acks = acks;
    r->hooks = *hooks;
    r->listen_fd = r->client_fd = r->broker_fd = -1;
    if (!hooks->on_publish) {
        snprintf(err, errlen, "ack relay: no message callback");
        return -1; /* nothing allocated yet */
    }
    r->state = RELAY_IDLE;
    snprintf(r->peer, sizeof r->peer, "%s:%d", cfg->broker_host, cfg->broker_port);
    fifo_init(&r->held, sizeof(struct relay_ack), ACK_MIDS);
    if (rbuf_init(&r->up_in) || rbuf_init(&r->up_out) || rbuf_init(&r->down) || rbuf_init(&r->down_out)) {
        snprintf(err, errlen, "ack relay: out of memory");
        goto fail;
    }
    r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (r->listen_fd < 0) {
        snprintf(err, errlen, "ack relay: socket: %s", strerror(errno));
        goto fail;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t alen = sizeof a;
    if (bind(r->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(r->listen_fd, 4) != 0 ||
        getsockname(r->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        snprintf(err, errlen, "ack relay: cannot listen on 127.0.0.1: %s", strerror(errno));
        goto fail;
    }
    r->port = ntohs(a.sin_port);
    return 0;
fail:
    relay_free(r);
    return -1;
}

/* Drop what waits for the client (it is gone, or the broker connection is). */
static void relay_clear_down(struct relay *r)
{
    r->down.off = r->down.len = 0;
    r->down_out.off = r->down_out.len = 0;
    r->down_pass = 0;
    r->down_stalled = false;
}

/* Forget the connection: sockets, buffers, queued PUBACKs; the session ends in the tracker. */
static void relay_teardown(struct relay *r)
{
    close_fd(&r->client_fd);
    close_fd(&r->broker_fd);
    r->up_in.off = r->up_in.len = 0;
    r->up_out.off = r->up_out.len = 0;
    relay_clear_down(r);
    r->up_queued = r->up_sent = 0;
    r->stats.acks_discarded += r->held.count;
    fifo_pop(&r->held, r->held.count);
    r->held_out = 0;
    r->disconnect_queued = false;
    r->shut_wr = false;
    r->state = RELAY_IDLE;
    if (r->session) {
        r->session = false;
        ack_tracker_disconnected(r->acks);
        size_t orphans = ack_tracker_orphans(r->acks);
        if (orphans)
            log_info("%zu messages received but not acknowledged on the lost connection: the broker sends them "
                     "again, and copies of those already queued are not stored twice",
                     orphans);
    }
}

void relay_free(struct relay *r)
{
    relay_teardown(r);
    close_fd(&r->listen_fd);
    rbuf_free(&r->up_in);
    rbuf_free(&r->up_out);
    rbuf_free(&r->down);
    rbuf_free(&r->down_out);
    fifo_free(&r->held);
}

/* Start the non-blocking connection to the broker for a freshly accepted client. */
static void relay_connect_broker(struct relay *r, int64_t now_ms)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof port, "%d", r->cfg.broker_port);
    /* blocking name resolution, as libmosquitto's own connect does */
    int rc = getaddrinfo(r->cfg.broker_host, port, &hints, &res);
    if (rc != 0) {
        log_warn("broker %s: cannot resolve: %s", r->peer, gai_strerror(rc));
        goto fail;
    }
    int err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            set_nodelay(fd);
            r->broker_fd = fd;
            break;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (r->broker_fd < 0) {
        log_warn("broker %s: cannot connect: %s", r->peer, strerror(err));
        goto fail;
    }
    r->state = RELAY_CONNECTING;
    r->deadline_ms = now_ms + r->cfg.connect_timeout_ms;
    return;
fail:
    r->stats.connect_failed++;
    relay_teardown(r); /* closing the client tells libmosquitto, which retries with backoff */
}

static void relay_accept(struct relay *r, int64_t now_ms)
{
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(r->listen_fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                log_warn("ack relay: accept: %s", strerror(errno));
            return;
        }
        if (r->hooks.peer_ok && !r->hooks.peer_ok(r->hooks.ctx, (struct sockaddr *)&peer, plen)) {
            r->stats.peers_refused++;
            log_warn("ack relay: refused a connection to port %d that is not the ingest's MQTT client", r->port);
            close(fd);
            continue;
        }
        if (r->state != RELAY_IDLE) {
            log_debug("ack relay: new client connection replaces the old one");
            relay_teardown(r);
        }
        set_nodelay(fd);
        r->client_fd = fd;
        r->stats.connections++;
        relay_connect_broker(r, now_ms);
    }
}

/* ---- client -> broker ---- */

/* Move queued PUBACKs that may go into up_out, in arrival order. */
static void relay_release(struct relay *r)
{
    if (r->disconnect_queued || (r->state != RELAY_UP && r->state != RELAY_CONNECTING && r->state != RELAY_DRAINING))
        return;
    while (r->held_out < r->held.count) {
        struct relay_ack *a = fifo_at(&r->held, r->held_out);
        if (!ack_tracker_may_send(r->acks, a->mid))
            return;
        uint8_t pkt[MQTT_PUBACK_MAX];
        struct mqtt_puback p = {.mid = a->mid, .reason = a->reason, .has_reason = a->has_reason};
        size_t n = mqtt_puback_build(pkt, &p);
        if (!rbuf_append(&r->up_out, pkt, n))
            return; /* up_out full: the rest goes after the next send */
        r->up_queued += n;
        a->end = r->up_queued;
        r->held_out++;
    }
}

/* A PUBACK for p->mid, libmosquitto's or the relay's own: queue it (held or not) or drop a duplicate. */
static void relay_on_puback(struct relay *r, const struct mqtt_puback *p)
{
    enum ack_action a = ack_tracker_puback(r->acks, p->mid);
    if (a == ACK_DO_DROP) {
        r->stats.acks_duplicate++;
        log_debug("ack relay: second PUBACK for packet id %u dropped", p->mid);
        return;
    }
    struct relay_ack *e = fifo_push(&r->held);
    if (!e) {
        /* one entry per outstanding packet id: only a broker reusing ids could fill it */
        log_error("ack relay: more than %d PUBACKs queued; closing the connection", ACK_MIDS);
        r->stats.protocol_errors++;
        relay_teardown(r);
        return;
    }
    memset(e, 0, sizeof *e);
    e->mid = p->mid;
    e->reason = p->reason;
    e->has_reason = p->has_reason;
    if (a == ACK_DO_HOLD)
        r->stats.acks_held++;
}

/* Cut up_in into packets and forward them (PUBACKs through the queue). Returns -1 when the connection was closed. */
static int relay_parse_up(struct relay *r)
{
    while (r->up_in.len && !r->disconnect_queued) {
        const uint8_t *p = r->up_in.data + r->up_in.off;
        struct mqtt_frame f;
        int rc = mqtt_frame_parse(p, r->up_in.len, RELAY_PACKET_MAX, &f);
        if (rc == MQTT_FRAME_MORE)
            return 0;
        if (rc != MQTT_FRAME_OK) {
            log_error("ack relay: %s packet from the MQTT client (first byte 0x%02x); closing the connection",
                      rc == MQTT_FRAME_TOO_BIG ? "oversized" : "malformed", p[0]);
            r->stats.protocol_errors++;
            relay_teardown(r);
            return -1;
        }
        struct mqtt_puback ack; /* only for a PUBLISH that went to libmosquitto */
        if (f.type == MQTT_PUBACK && mqtt_puback_parse(p, &f, &ack) == 0 && !ack.has_properties) {
            relay_on_puback(r, &ack);
            if (r->state == RELAY_IDLE)
                return -1;
        } else {
            /* everything else, in order, byte for byte; held PUBACKs stay behind */
            if (f.type == MQTT_DISCONNECT)
                relay_release(r); /* PUBACKs that may go, go before it */
            if (!rbuf_append(&r->up_out, p, f.total))
                return 0; /* up_out full: parse again after the next send */
            r->up_queued += f.total;
            if (f.type == MQTT_DISCONNECT)
                r->disconnect_queued = true;
        }
        rbuf_consume(&r->up_in, f.total);
    }
    return 0;
}

/* Hand up_out to the kernel; then PUBACKs whose bytes all went are SENT. Returns -1 on a dead socket. */
static int relay_send_up(struct relay *r)
{
    if (rbuf_drain(&r->up_out, r->broker_fd, &r->up_sent) != 0) {
        log_warn("broker %s: send: %s", r->peer, strerror(errno));
        return -1;
    }
    size_t done = 0;
    while (done < r->held_out) {
        const struct relay_ack *a = fifo_at(&r->held, done);
        if (a->end > r->up_sent)
            break;
        ack_tracker_sent(r->acks, a->mid);
        done++;
    }
    if (done) {
        fifo_pop(&r->held, done);
        r->held_out -= done;
        r->stats.acks_sent += done;
    }
    return 0;
}

/* rbuf_read_once's end of stream (distinct from -1, a socket error with errno set). */
#define RBUF_EOF (-2)

/* One recv from fd into b's free room: the bytes read, 0 when b is full or fd has nothing now, RBUF_EOF, or -1. */
static ssize_t rbuf_read_once(struct relay_buf *b, int fd)
{
    size_t room = rbuf_room(b);
    if (!room)
        return 0;
    for (;;) {
        ssize_t n = recv(fd, b->data + b->off + b->len, room, 0);
        if (n > 0) {
            b->len += (size_t)n;
            return n;
        }
        if (n == 0)
            return RBUF_EOF;
        if (errno != EINTR)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
}

/* Read from fd into b while there is room. Returns 1 on end of stream, -1 on error, 0 otherwise. */
static int rbuf_fill(struct relay_buf *b, int fd)
{
    for (int i = 0; i < RELAY_READS_PER_WAKE; i++) {
        ssize_t n = rbuf_read_once(b, fd);
        if (n == RBUF_EOF)
            return 1;
        if (n <= 0)
            return (int)n;
    }
    return 0;
}

/* Read what the client sent (see rbuf_fill). */
static int relay_read_client(struct relay *r)
{
    return rbuf_fill(&r->up_in, r->client_fd);
}

/* ---- broker -> ingest (PUBLISH) and broker -> client (the rest) ---- */

static bool relay_can_read(const struct relay *r)
{
    return !r->hooks.can_read || r->hooks.can_read(r->hooks.ctx);
}

/* A CONNACK from the broker, before libmosquitto sees it: an accepted one starts a session in the tracker. */
static void relay_on_connack(struct relay *r, const uint8_t *pkt, const struct mqtt_frame *f)
{
    bool session_present;
    uint8_t code;
    if (mqtt_connack_parse(pkt, f, &session_present, &code) != 0 || code != 0)
        return; /* refused or odd: libmosquitto says why and closes */
    size_t orphans = ack_tracker_orphans(r->acks);
    ack_tracker_connected(r->acks, session_present);
    r->session = true;
    if (orphans && !session_present)
        log_warn("the broker kept no session for this client id: %zu unacknowledged messages will not be "
                 "redelivered (those in the queue are still written)",
                 orphans);
}

/* A QoS 0 or 1 message: to the ingest; a QoS 1 one gets its PUBACK queued (held until its row commits). */
static void relay_on_publish(struct relay *r, const struct mqtt_publish *m)
{
    r->stats.publishes++;
    r->hooks.on_publish(r->hooks.ctx, m);
    if (m->qos == 1) {
        struct mqtt_puback ack = {.mid = m->mid};
        relay_on_puback(r, &ack); /* after on_publish: the tracker hears "received" before "PUBACK" */
    }
}

/*
 * Cut `down` into packets: PUBLISH to the ingest, the rest into down_out for
 * libmosquitto. Stops at a PUBLISH while can_read() says no (down_stalled), when
 * down_out is full, or at an incomplete packet. Returns -1 when the connection was closed.
 */
static int relay_parse_down(struct relay *r)
{
    r->down_stalled = false;
    while (r->state == RELAY_UP) {
        if (r->down_pass) {
            /* a packet too large for our buffer: stream it through as it comes */
            size_t n = r->down_pass < r->down.len ? r->down_pass : r->down.len;
            size_t room = RELAY_BUF - r->down_out.len;
            if (n > room)
                n = room;
            if (!n)
                return 0;
            rbuf_append(&r->down_out, r->down.data + r->down.off, n);
            rbuf_consume(&r->down, n);
            r->down_pass -= n;
            continue;
        }
        if (!r->down.len)
            return 0;
        const uint8_t *p = r->down.data + r->down.off;
        struct mqtt_frame f;
        int rc = mqtt_frame_parse(p, r->down.len, (size_t)MQTT_REMAINING_MAX + MQTT_FIXED_HEADER_MAX, &f);
        if (rc == MQTT_FRAME_MALFORMED) {
            log_error("broker %s: malformed packet (first byte 0x%02x); closing the connection", r->peer, p[0]);
            r->stats.protocol_errors++;
            relay_teardown(r);
            return -1;
        }
        if (rc == MQTT_FRAME_MORE && f.total <= RELAY_BUF)
            return 0; /* the rest is still to come (f.total 0: the header too) */
        if (f.type == MQTT_PUBLISH && !relay_can_read(r)) {
            r->down_stalled = true;
            return 0;
        }
        if (rc == MQTT_FRAME_MORE) {
            /* larger than the buffer (a payload far beyond what a reading may be): libmosquitto reads it */
            if (f.type == MQTT_PUBLISH)
                r->stats.publishes_passed++;
            log_debug("broker %s: %s of %zu bytes passed to the MQTT client", r->peer, mqtt_type_name(f.type), f.total);
            r->down_pass = f.total;
            continue;
        }
        if (f.type == MQTT_PUBLISH) {
            struct mqtt_publish m;
            int prc = mqtt_publish_parse(p, &f, &m);
            if (prc != MQTT_PUBLISH_OK) {
                log_error("broker %s: malformed PUBLISH (%s, %zu bytes); closing the connection", r->peer,
                          mqtt_publish_error(prc), f.total);
                r->stats.protocol_errors++;
                relay_teardown(r);
                return -1;
            }
            if (m.qos < 2) {
                relay_on_publish(r, &m);
                if (r->state != RELAY_UP)
                    return -1;
                rbuf_consume(&r->down, f.total);
                continue;
            }
            /* QoS 2: libmosquitto runs PUBREC/PUBREL/PUBCOMP (acknowledged on receipt, not held) */
            if (!rbuf_fits(&r->down_out, f.total))
                return 0;
            r->stats.publishes_passed++;
        } else {
            if (!rbuf_fits(&r->down_out, f.total))
                return 0; /* libmosquitto has not read what it was given yet */
            if (f.type == MQTT_CONNACK)
                relay_on_connack(r, p, &f);
        }
        rbuf_append(&r->down_out, p, f.total);
        rbuf_consume(&r->down, f.total);
    }
    return 0;
}

/*
 * Read the broker and cut what came into packets, a buffer at a time. Returns 0,
 * 1 on end of stream, -1 on a socket error (errno set), -2 when parsing closed the connection.
 */
static int relay_read_broker(struct relay *r)
{
    /* what waited (for can_read, or for room in down_out) first: it may free room */
    if (r->down.len && relay_parse_down(r) != 0)
        return -2;
    for (int i = 0; i < RELAY_BROKER_READS_PER_WAKE; i++) {
        size_t room = rbuf_room(&r->down);
        ssize_t n = rbuf_read_once(&r->down, r->broker_fd);
        if (n == RBUF_EOF)
            return 1;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (relay_parse_down(r) != 0)
            return -2;
        if ((size_t)n < room)
            break; /* the socket is empty for now: poll says when more comes (saves a recv that fails) */
    }
    return 0;
}

static int relay_send_down(struct relay *r)
{
    return rbuf_drain(&r->down_out, r->client_fd, NULL);
}

/* ---- the connection's life ---- */

/* The client ended: forward what it sent, shut our side to the broker, wait for the broker to close. */
static void relay_client_gone(struct relay *r, int64_t now_ms)
{
    close_fd(&r->client_fd);
    relay_clear_down(r); /* messages not handed over yet are not acknowledged: the broker keeps them */
    if (r->state != RELAY_UP) {
        relay_teardown(r);
        return;
    }
    relay_parse_up(r);
    if (r->state == RELAY_IDLE)
        return;
    relay_release(r);
    r->state = RELAY_DRAINING;
    r->deadline_ms = now_ms + RELAY_DRAIN_MS;
}

/* DRAINING: once up_out is out, send FIN; end when the broker closes (or the deadline passes). */
static void relay_drain(struct relay *r, short revents, int64_t now_ms)
{
    if (relay_send_up(r) != 0) {
        relay_teardown(r);
        return;
    }
    if (!r->up_out.len && !r->shut_wr) {
        /* all sent: FIN after it (PUBACKs still held stay unsent; the broker resends their messages) */
        if (shutdown(r->broker_fd, SHUT_WR) != 0 && errno != ENOTCONN) {
            relay_teardown(r);
            return;
        }
        r->shut_wr = true;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        char sink[4096];
        for (int i = 0; i < RELAY_READS_PER_WAKE; i++) {
            ssize_t n = recv(r->broker_fd, sink, sizeof sink, 0);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
                log_debug("broker %s: connection closed after the client's DISCONNECT", r->peer);
                relay_teardown(r);
                return;
            }
            if (n < 0)
                break;
        }
    }
    if (now_ms >= r->deadline_ms)
        relay_teardown(r);
}

void relay_pollfds(const struct relay *r, struct pollfd fds[RELAY_FDS])
{
    memset(fds, 0, sizeof(struct pollfd) * RELAY_FDS);
    fds[RELAY_FD_LISTEN].fd = r->listen_fd;
    fds[RELAY_FD_LISTEN].events = POLLIN;
    fds[RELAY_FD_CLIENT].fd = r->client_fd;
    fds[RELAY_FD_BROKER].fd = r->broker_fd;
    switch (r->state) {
    case RELAY_CONNECTING:
        fds[RELAY_FD_BROKER].events = POLLOUT;
        fds[RELAY_FD_CLIENT].events = r->up_in.len < RELAY_BUF ? POLLIN : 0;
        break;
    case RELAY_UP:
        fds[RELAY_FD_CLIENT].events =
            (short)((r->up_in.len < RELAY_BUF ? POLLIN : 0) | (r->down_out.len ? POLLOUT : 0));
        fds[RELAY_FD_BROKER].events = (short)((r->down.len < RELAY_BUF ? POLLIN : 0) | (r->up_out.len ? POLLOUT : 0));
        break;
    case RELAY_DRAINING:
        fds[RELAY_FD_BROKER].events = (short)(POLLIN | (r->up_out.len ? POLLOUT : 0));
        break;
    default:
        break;
    }
}

int64_t relay_next_timer(const struct relay *r)
{
    if (r->state == RELAY_UP && r->down_stalled && relay_can_read(r))
        return 0; /* backpressure is over: go on with what waits in `down` */
    return r->state == RELAY_CONNECTING || r->state == RELAY_DRAINING ? r->deadline_ms : INT64_MAX;
}

void relay_service(struct relay *r, const struct pollfd fds[RELAY_FDS], int64_t now_ms)
{
    if (fds[RELAY_FD_LISTEN].revents & POLLIN)
        relay_accept(r, now_ms);
    /* revents only for the sockets that were polled (accept may have replaced them) */
    short crev = fds[RELAY_FD_CLIENT].fd == r->client_fd && r->client_fd >= 0 ? fds[RELAY_FD_CLIENT].revents : 0;
    short brev = fds[RELAY_FD_BROKER].fd == r->broker_fd && r->broker_fd >= 0 ? fds[RELAY_FD_BROKER].revents : 0;

    if (r->state == RELAY_DRAINING) {
        relay_drain(r, brev, now_ms);
        return;
    }
    if (r->state == RELAY_CONNECTING) {
        if (brev & (POLLOUT | POLLERR | POLLHUP)) {
            int soerr = 0;
            socklen_t len = sizeof soerr;
            if (getsockopt(r->broker_fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
                soerr = errno;
            if (soerr) {
                log_warn("broker %s: cannot connect: %s", r->peer, strerror(soerr));
                r->stats.connect_failed++;
                relay_teardown(r);
                return;
            }
            r->state = RELAY_UP;
            log_debug("ack relay: 127.0.0.1:%d connected to broker %s", r->port, r->peer);
            brev = 0;
        } else if (now_ms >= r->deadline_ms) {
            log_warn("broker %s: no connection after %d ms", r->peer, r->cfg.connect_timeout_ms);
            r->stats.connect_failed++;
            relay_teardown(r);
            return;
        }
    }
    if (r->state == RELAY_IDLE)
        return;

    /* client -> broker: CONNECT, SUBSCRIBE, PINGREQ, DISCONNECT, and PUBACKs for what libmosquitto was passed */
    int rc = 0;
    if (crev & (POLLIN | POLLHUP | POLLERR))
        rc = relay_read_client(r);
    if (relay_parse_up(r) != 0)
        return;
    if (rc != 0) {
        relay_client_gone(r, now_ms);
        return;
    }
    if (r->state != RELAY_UP)
        return; /* still connecting: what the client sent waits in up_out */

    /* broker -> ingest and client */
    if (brev & (POLLIN | POLLHUP | POLLERR)) {
        rc = relay_read_broker(r);
        if (rc == -2)
            return; /* closed for malformed input */
        if (rc == 0 && (brev & (POLLHUP | POLLERR)) && !rbuf_room(&r->down)) {
            rc = -1; /* reset while our buffer is full: nothing more can be read, and poll would not wait */
            errno = ECONNRESET;
        }
        if (rc != 0) {
            const char *why = rc > 0 ? "closed by the broker" : strerror(errno);
            relay_send_down(r); /* a last CONNACK may say why */
            log_warn("broker %s: connection %s", r->peer, why);
            relay_teardown(r);
            return;
        }
    } else if (r->down.len && relay_parse_down(r) != 0)
        return;
    if (r->down_out.len && relay_send_down(r) != 0) {
        relay_client_gone(r, now_ms);
        return;
    }
    relay_flush(r);
}

void relay_flush(struct relay *r)
{
    if (r->state != RELAY_UP)
        return;
    relay_release(r);
    if (relay_send_up(r) != 0) {
        relay_teardown(r);
        return;
    }
    /* sending made room: release what waited for it, and parse what waited for up_out */
    if (r->held_out < r->held.count || r->up_in.len) {
        if (relay_parse_up(r) != 0)
            return;
        relay_release(r);
        if (relay_send_up(r) != 0)
            relay_teardown(r);
    }
}

bool relay_acks_flushed(const struct relay *r)
{
    if (r->state != RELAY_UP)
        return true;
    if (r->up_out.len)
        return false;
    /* the head of the queue is held (its row is not committed), or the queue is empty */
    if (r->held_out < r->held.count) {
        const struct relay_ack *a = fifo_at(&r->held, r->held_out);
        return !ack_tracker_may_send(r->acks, a->mid);
    }
    return true;
}

bool relay_idle(const struct relay *r)
{
    return r->state == RELAY_IDLE;
}

size_t relay_queued_acks(const struct relay *r)
{
    return r->held.count;
}
