/* mqtt_client.c - the ingest's MQTT subscriber: connect, subscribe, read, PUBACK after commit, keepalive (see
 * mqtt_client.h). */
#include "mqtt_client.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "mqtt_encode.h"
#include "mqtt_frame.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MC_BACKOFF_BASE_MS 250
#define MC_BACKOFF_MAX_MS 5000
#define MC_CLOSE_MS 2000    /* after our DISCONNECT, wait this long for the broker to close */
#define MC_READS_PER_WAKE 4 /* buffers read per wake-up, so the writer's results are read between them */
#define MC_SUBSCRIBE_MID 1  /* the one packet id we ever use: the client publishes nothing */
#define MC_HEAD_MAX (MQTT_FIXED_HEADER_MAX + 2 + 65535 + 2) /* fixed header, topic, packet id */

/* ---- buffers ---- */

static int buf_init(struct mqtt_client_buf *b, size_t cap)
{
    b->off = b->len = 0;
    b->cap = cap;
    b->data = malloc(cap);
    return b->data ? 0 : -1;
}

static void buf_free(struct mqtt_client_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = 0;
}

static void buf_clear(struct mqtt_client_buf *b)
{
    b->off = b->len = 0;
}

/* Room at the end, after moving the unconsumed bytes to the front when the end is reached. */
static size_t buf_room(struct mqtt_client_buf *b)
{
    if (!b->len)
        b->off = 0;
    else if (b->off && b->off + b->len == b->cap) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
    }
    return b->cap - b->off - b->len;
}

/* All the free space of b, contiguous at its end (what it holds moves to the front). */
static size_t buf_tail(struct mqtt_client_buf *b, uint8_t **tail)
{
    if (b->off) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
    }
    *tail = b->data + b->len;
    return b->cap - b->len;
}

static bool buf_append(struct mqtt_client_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len < n)
        return false;
    if (b->cap - b->off - b->len < n) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
    }
    memcpy(b->data + b->off + b->len, p, n);
    b->len += n;
    return true;
}

static void buf_consume(struct mqtt_client_buf *b, size_t n)
{
    b->off += n;
    b->len -= n;
    if (!b->len)
        b->off = 0;
}

/* ---- the connection's end ---- */

static bool can_take(const struct mqtt_client *c)
{
    return !c->hooks.can_read || c->hooks.can_read(c->hooks.ctx);
}

/* The transport holds bytes for read() that poll() will not announce (TLS: the rest of a decrypted record). */
static bool io_pending(const struct mqtt_client *c)
{
    return c->io.ops->pending && c->io.ops->pending(c->io.ctx);
}

/*
 * Forget the connection: socket, buffers, queued PUBACKs; the session ends in
 * the tracker. CLOSING ends in CLOSED, anything else waits for the next attempt.
 */
static void client_drop(struct mqtt_client *c, int64_t now_ms)
{
    c->io.ops->close(c->io.ctx);
    c->fd = -1;
    buf_clear(&c->in);
    buf_clear(&c->out);
    c->out_queued = c->out_sent = 0;
    c->skip = 0;
    c->stalled = c->ping_out = c->disconnect_queued = c->id_reuse_logged = false;
    c->stats.acks_discarded += c->ackq.count;
    fifo_pop(&c->ackq, c->ackq.count);
    c->acks_out = 0;
    if (c->session) {
        c->session = false;
        ack_tracker_disconnected(&c->acks);
        size_t orphans = ack_tracker_orphans(&c->acks);
        if (orphans)
            log_info("%zu messages received but not acknowledged on the lost connection: the broker sends them "
                     "again, and copies of those already queued are not stored twice",
                     orphans);
    }
    if (c->state == MC_CLOSING || c->state == MC_CLOSED) {
        c->state = MC_CLOSED;
        return;
    }
    c->state = MC_WAIT;
    c->retry_at_ms = now_ms + backoff_next_ms(&c->backoff);
}

/* The connection failed or ended: log why, drop it, retry after backoff. */
static void client_lost(struct mqtt_client *c, int64_t now_ms, const char *why)
{
    if (c->state == MC_CLOSING) {
        log_info("disconnected from broker %s", c->peer);
        client_drop(c, now_ms);
        return;
    }
    client_drop(c, now_ms);
    log_warn("broker %s: connection lost (%s); reconnecting in %lld ms", c->peer, why,
             (long long)(c->retry_at_ms - now_ms));
}

/* The broker sent what a 3.1.1 broker must not: count it, say what, close. */
static void client_protocol_error(struct mqtt_client *c, int64_t now_ms, const char *what)
{
    c->stats.protocol_errors++;
    log_error("broker %s: %s; closing the connection", c->peer, what);
    client_lost(c, now_ms, "protocol error");
}

/* ---- output ---- */

/* Move queued PUBACKs that may go into `out`, in arrival order. */
static void client_release(struct mqtt_client *c)
{
    if (c->disconnect_queued || (c->state != MC_UP && c->state != MC_CLOSING))
        return;
    while (c->acks_out < c->ackq.count) {
        struct mqtt_client_ack *a = fifo_at(&c->ackq, c->acks_out);
        if (!ack_tracker_may_send(&c->acks, a->mid))
            return;
        uint8_t pkt[MQTT_PUBACK_LEN];
        mqtt_puback_build(pkt, a->mid);
        if (!buf_append(&c->out, pkt, sizeof pkt))
            return; /* full: the rest goes after the next write */
        c->out_queued += sizeof pkt;
        a->end = c->out_queued;
        c->acks_out++;
    }
}

static bool client_queue(struct mqtt_client *c, const void *p, size_t n)
{
    if (!buf_append(&c->out, p, n))
        return false;
    c->out_queued += n;
    return true;
}

/* Hand `out` to the transport; PUBACKs whose bytes all went are SENT. Returns -1 when the connection was lost. */
static int client_send(struct mqtt_client *c, int64_t now_ms)
{
    while (c->out.len) {
        ssize_t n = c->io.ops->write(c->io.ctx, c->out.data + c->out.off, c->out.len);
        if (n < 0) {
            client_lost(c, now_ms, strerror(errno));
            return -1;
        }
        if (n == 0)
            break;
        buf_consume(&c->out, (size_t)n);
        c->out_sent += (uint64_t)n;
        c->last_tx_ms = now_ms;
    }
    size_t done = 0;
    while (done < c->acks_out) {
        const struct mqtt_client_ack *a = fifo_at(&c->ackq, done);
        if (a->end > c->out_sent)
            break;
        ack_tracker_sent(&c->acks, a->mid);
        done++;
    }
    if (done) {
        fifo_pop(&c->ackq, done);
        c->acks_out -= done;
        c->stats.acks_sent += done;
    }
    return 0;
}

/* ---- packets from the broker ---- */

static const char *connack_reason(uint8_t code)
{
    switch (code) {
    case 1:
        return "unacceptable protocol version";
    case 2:
        return "client id rejected";
    case 3:
        return "server unavailable";
    case 4:
        return "bad user name or password";
    case 5:
        return "not authorized";
    default:
        return "unknown return code";
    }
}

static int client_on_connack(struct mqtt_client *c, const uint8_t *pkt, const struct mqtt_frame *f, int64_t now_ms)
{
    bool session_present;
    uint8_t code;
    if (c->state != MC_CONNACK || mqtt_connack_parse(pkt, f, &session_present, &code) != 0) {
        client_protocol_error(c, now_ms, c->state != MC_CONNACK ? "a second CONNACK" : "malformed CONNACK");
        return -1;
    }
    if (code != 0) {
        c->stats.connect_failed++;
        log_error("broker %s refused the connection: %s (CONNACK %u)", c->peer, connack_reason(code), code);
        client_lost(c, now_ms, "refused");
        return -1;
    }
    size_t orphans = ack_tracker_orphans(&c->acks);
    ack_tracker_connected(&c->acks, session_present);
    c->session = true;
    if (c->stats.sessions++)
        log_debug("broker %s: session %llu", c->peer, (unsigned long long)c->stats.sessions);
    log_info("connected to broker %s as %s (%s session%s)", c->peer, c->cfg.client_id,
             c->cfg.clean_session ? "clean" : "persistent",
             c->cfg.clean_session ? ""
             : session_present    ? ", resumed"
                                  : ", new");
    if (orphans && !session_present)
        log_warn("the broker kept no session for this client id: %zu unacknowledged messages will not be "
                 "redelivered (those in the queue are still written)",
                 orphans);
    c->state = MC_UP;
    uint8_t *dst;
    size_t room = buf_tail(&c->out, &dst);
    long n = mqtt_subscribe_build(dst, room, MC_SUBSCRIBE_MID, c->cfg.filters, c->cfg.nfilters, c->cfg.qos);
    if (n <= 0) {
        /* checked at init to fit an empty buffer; only a full one could refuse it */
        client_lost(c, now_ms, "no room for SUBSCRIBE");
        return -1;
    }
    c->out.len += (size_t)n;
    c->out_queued += (size_t)n;
    c->sub_mid = MC_SUBSCRIBE_MID;
    return 0;
}

static int client_on_suback(struct mqtt_client *c, const uint8_t *pkt, const struct mqtt_frame *f, int64_t now_ms)
{
    uint16_t mid;
    const uint8_t *codes;
    size_t n;
    if (c->state != MC_UP || mqtt_suback_parse(pkt, f, &mid, &codes, &n) != 0 || mid != c->sub_mid ||
        n != (size_t)c->cfg.nfilters) {
        client_protocol_error(c, now_ms, "unexpected or malformed SUBACK");
        return -1;
    }
    c->sub_mid = 0;
    for (size_t i = 0; i < n; i++) {
        if (codes[i] == 0x80) {
            c->stats.subscriptions_refused++;
            log_error("broker %s refused the subscription to %s", c->peer, c->cfg.filters[i]);
        } else
            log_info("subscribed to %s (qos %u)", c->cfg.filters[i], codes[i]);
    }
    backoff_reset(&c->backoff); /* a session that got this far resets the backoff */
    return 0;
}

/* Queue the PUBACK for mid behind the earlier ones. Returns -1 when the connection was closed. */
static int client_queue_ack(struct mqtt_client *c, uint16_t mid, int64_t now_ms)
{
    struct mqtt_client_ack *a = fifo_push(&c->ackq);
    if (!a) {
        /* one entry per packet id in use: only a broker reusing ids without end could fill it */
        client_protocol_error(c, now_ms, "more than 65535 PUBACKs queued");
        return -1;
    }
    a->mid = mid;
    a->end = 0;
    return 0;
}

/*
 * A QoS 0 or 1 message, whole or (truncated) its head: ask the tracker, queue
 * its PUBACK, hand it over. Returns -1 when the connection was closed.
 */
static int client_on_message(struct mqtt_client *c, const struct mqtt_publish *p, size_t packet_len, bool truncated,
                             int64_t now_ms)
{
    c->stats.publishes++;
    if (truncated)
        c->stats.too_large++;
    struct mqtt_message m = {
        .topic = (const char *)p->topic,
        .topic_len = p->topic_len,
        .payload = p->payload,
        .payload_len = p->payload_len,
        .packet_len = packet_len,
        .mid = p->mid,
        .qos = p->qos,
        .retain = p->retain,
        .truncated = truncated,
    };
    struct ack_ref ref = {0, 0};
    if (p->qos == 1) {
        uint64_t h = ack_hash(m.topic, m.topic_len, m.payload, m.payload_len) ^ (truncated ? packet_len : 0);
        switch (ack_tracker_received(&c->acks, p->mid, h, &ref)) {
        case ACK_DO_STORE:
            break;
        case ACK_DO_SKIP:
            c->stats.duplicates++;
            log_debug("message with packet id %u is a redelivery of one already queued or stored: not stored again",
                      p->mid);
            return client_queue_ack(c, p->mid, now_ms);
        case ACK_DO_DROP:
            c->stats.duplicates++;
            log_debug("message with packet id %u is a copy of one whose PUBACK is queued: not stored again", p->mid);
            return 0;
        default: /* STORE_UNTRACKED: the PUBACK already queued for this id serves both */
            c->stats.id_reused++;
            log_msg(c->id_reuse_logged ? LOG_DEBUG : LOG_WARN,
                    "broker %s reused packet id %u before it was acknowledged: message stored, no PUBACK of its own",
                    c->peer, p->mid);
            c->id_reuse_logged = true;
            c->hooks.on_message(c->hooks.ctx, &m, ref);
            return 0;
        }
        if (client_queue_ack(c, p->mid, now_ms) != 0)
            return -1;
    }
    c->hooks.on_message(c->hooks.ctx, &m, ref);
    return 0;
}

static int client_on_publish(struct mqtt_client *c, const uint8_t *pkt, const struct mqtt_frame *f, int64_t now_ms)
{
    struct mqtt_publish p;
    int rc = mqtt_publish_parse(pkt, f, &p);
    char what[160];
    if (rc != MQTT_PUBLISH_OK || c->state != MC_UP || p.qos > c->cfg.qos) {
        if (rc != MQTT_PUBLISH_OK)
            snprintf(what, sizeof what, "malformed PUBLISH (%s, %zu bytes)", mqtt_publish_error(rc), f->total);
        else if (c->state != MC_UP)
            snprintf(what, sizeof what, "PUBLISH before CONNACK");
        else
            snprintf(what, sizeof what, "QoS %u PUBLISH on a QoS %u subscription", p.qos, c->cfg.qos);
        client_protocol_error(c, now_ms, what);
        return -1;
    }
    return client_on_message(c, &p, f->total, false, now_ms);
}

/*
 * A PUBLISH over max_packet, of which avail bytes are in the buffer: once its
 * head and sample are there, hand them over and throw the rest away as it comes.
 * Returns 0 (consumed), 1 (wait for more bytes) or -1 (connection closed).
 */
static int client_on_too_large(struct mqtt_client *c, const uint8_t *pkt, size_t avail, const struct mqtt_frame *f,
                               int64_t now_ms)
{
    struct mqtt_publish p;
    int rc = mqtt_publish_parse_head(pkt, avail, f, &p);
    if (rc == MQTT_PUBLISH_MORE)
        return 1;
    char what[160];
    if (rc != MQTT_PUBLISH_OK || c->state != MC_UP || p.qos > c->cfg.qos) {
        if (rc != MQTT_PUBLISH_OK)
            snprintf(what, sizeof what, "malformed PUBLISH (%s, %zu bytes)", mqtt_publish_error(rc), f->total);
        else
            snprintf(what, sizeof what, "%s PUBLISH of %zu bytes", c->state != MC_UP ? "unexpected" : "QoS 2",
                     f->total);
        client_protocol_error(c, now_ms, what);
        return -1;
    }
    size_t head = (size_t)(p.payload - pkt);
    size_t want = f->total - head < MQTT_CLIENT_SAMPLE ? f->total - head : MQTT_CLIENT_SAMPLE;
    if (p.payload_len < want)
        return 1; /* the sample is always the same bytes, so a redelivery hashes the same */
    p.payload_len = want;
    log_debug("broker %s: PUBLISH of %zu bytes is over --mqtt-max-packet %zu: rejected as too_large", c->peer, f->total,
              c->cfg.max_packet);
    if (client_on_message(c, &p, f->total, true, now_ms) != 0)
        return -1;
    size_t have = head + want;
    buf_consume(&c->in, have);
    c->skip = f->total - have;
    return 0;
}

/* Dispatch one whole packet. Returns -1 when the connection was closed. */
static int client_on_packet(struct mqtt_client *c, const uint8_t *pkt, const struct mqtt_frame *f, int64_t now_ms)
{
    char what[64];
    switch (f->type) {
    case MQTT_PUBLISH:
        return client_on_publish(c, pkt, f, now_ms);
    case MQTT_CONNACK:
        return client_on_connack(c, pkt, f, now_ms);
    case MQTT_SUBACK:
        return client_on_suback(c, pkt, f, now_ms);
    case MQTT_PINGRESP:
        if (f->flags == 0 && f->body_len == 0 && c->state == MC_UP) {
            c->ping_out = false;
            return 0;
        }
        client_protocol_error(c, now_ms, "unexpected or malformed PINGRESP");
        return -1;
    default:
        snprintf(what, sizeof what, "unexpected %s packet", mqtt_type_name(f->type));
        client_protocol_error(c, now_ms, what);
        return -1;
    }
}

/*
 * Cut the input into packets and act on them. Stops at a PUBLISH while can_read()
 * says no (stalled), or at an incomplete packet. Returns -1 when the connection was closed.
 */
static int client_parse(struct mqtt_client *c, int64_t now_ms)
{
    c->stalled = false;
    while (c->state == MC_CONNACK || c->state == MC_UP) {
        if (c->skip) {
            size_t n = c->skip < c->in.len ? c->skip : c->in.len;
            buf_consume(&c->in, n);
            c->skip -= n;
            if (c->skip)
                return 0;
        }
        if (!c->in.len)
            return 0;
        const uint8_t *p = c->in.data + c->in.off;
        struct mqtt_frame f;
        int rc = mqtt_frame_parse(p, c->in.len, (size_t)MQTT_REMAINING_MAX + MQTT_FIXED_HEADER_MAX, &f);
        if (rc == MQTT_FRAME_MALFORMED) {
            char what[80];
            snprintf(what, sizeof what, "malformed packet (first byte 0x%02x)", p[0]);
            client_protocol_error(c, now_ms, what);
            return -1;
        }
        if (rc == MQTT_FRAME_MORE && !f.total)
            return 0; /* the fixed header is not complete */
        if (f.type == MQTT_PUBLISH && c->state == MC_UP && !can_take(c)) {
            c->stalled = true;
            return 0;
        }
        if (f.total > c->cfg.max_packet) {
            if (f.type != MQTT_PUBLISH) {
                char what[80];
                snprintf(what, sizeof what, "%s of %zu bytes", mqtt_type_name(f.type), f.total);
                client_protocol_error(c, now_ms, what);
                return -1;
            }
            int r = client_on_too_large(c, p, c->in.len, &f, now_ms);
            if (r != 0)
                return r < 0 ? -1 : 0;
            continue;
        }
        if (rc == MQTT_FRAME_MORE)
            return 0; /* it fits the buffer once all of it is there */
        if (client_on_packet(c, p, &f, now_ms) != 0)
            return -1;
        buf_consume(&c->in, f.total);
    }
    return 0;
}

/* CLOSING: throw away what comes (not acknowledged: the broker keeps it); the broker's close ends it. */
static void client_read_closing(struct mqtt_client *c, int64_t now_ms)
{
    for (int i = 0; i < MC_READS_PER_WAKE; i++) {
        ssize_t n = c->io.ops->read(c->io.ctx, c->in.data, c->in.cap);
        if (n == 0)
            return;
        if (n < 0) {
            client_lost(c, now_ms, "closed");
            return;
        }
    }
}

/* Read what the broker sent, a buffer at a time, parsing as it comes. */
static void client_read(struct mqtt_client *c, short revents, int64_t now_ms)
{
    if (c->state == MC_CLOSING) {
        client_read_closing(c, now_ms);
        return;
    }
    /* what waited (for can_read) first */
    if (c->in.len && client_parse(c, now_ms) != 0)
        return;
    /* an error or hang-up shows only by reading: do it even when stalled, or poll would spin */
    bool broken = revents & (POLLERR | POLLHUP);
    for (int i = 0; i < MC_READS_PER_WAKE && (!c->stalled || broken); i++) {
        size_t room = buf_room(&c->in);
        if (!room)
            break;
        ssize_t n = c->io.ops->read(c->io.ctx, c->in.data + c->in.off + c->in.len, room);
        if (n == 0)
            return;
        if (n < 0) {
            client_lost(c, now_ms, n == MQTT_IO_EOF ? "closed by the broker" : strerror(errno));
            return;
        }
        c->in.len += (size_t)n;
        if (client_parse(c, now_ms) != 0)
            return;
        if ((size_t)n < room && !io_pending(c))
            return; /* the socket is empty for now: poll says when more comes (saves a read that fails) */
    }
    if (broken && !buf_room(&c->in))
        client_lost(c, now_ms, "reset while reading was paused"); /* poll would not wait, nothing can be read */
}

/* ---- connecting ---- */

/* The transport is ready: queue CONNECT and wait for the CONNACK. */
static void client_start_session(struct mqtt_client *c, int64_t now_ms)
{
    struct mqtt_connect conn = {
        .client_id = c->cfg.client_id,
        .username = c->cfg.username,
        .password = c->cfg.password,
        .password_len = c->cfg.password_len,
        .clean_session = c->cfg.clean_session,
        .keepalive_s = c->cfg.keepalive_s,
    };
    long n = mqtt_connect_build(c->out.data, c->out.cap, &conn); /* out is empty at a new connection */
    c->out.off = 0;
    c->out.len = n > 0 ? (size_t)n : 0;
    c->out_queued = c->out.len;
    c->state = MC_CONNACK;
    c->deadline_ms = now_ms + c->cfg.connect_timeout_ms;
    c->last_tx_ms = now_ms;
    client_send(c, now_ms);
}

static void client_finish_connect(struct mqtt_client *c, int64_t now_ms)
{
    char err[256];
    short events = 0;
    int rc = c->io.ops->finish(c->io.ctx, &events, err, sizeof err);
    if (rc > 0) {
        client_start_session(c, now_ms);
        return;
    }
    if (rc == 0 && now_ms < c->deadline_ms) {
        c->want = events;
        return;
    }
    if (rc == 0)
        snprintf(err, sizeof err, "no connection after %d ms", c->cfg.connect_timeout_ms);
    c->stats.connect_failed++;
    client_drop(c, now_ms);
    log_warn("broker %s: %s; retrying in %lld ms", c->peer, err, (long long)(c->retry_at_ms - now_ms));
}

static void client_connect(struct mqtt_client *c, int64_t now_ms)
{
    char err[256];
    int fd = c->io.ops->open(c->io.ctx, c->cfg.host, c->cfg.port, err, sizeof err);
    if (fd < 0) {
        c->stats.connect_failed++;
        c->io.ops->close(c->io.ctx);
        c->retry_at_ms = now_ms + backoff_next_ms(&c->backoff);
        log_warn("broker %s: %s; retrying in %lld ms", c->peer, err, (long long)(c->retry_at_ms - now_ms));
        return;
    }
    c->fd = fd;
    c->state = MC_CONNECTING;
    c->deadline_ms = now_ms + c->cfg.connect_timeout_ms;
    client_finish_connect(c, now_ms);
}

/* ---- keepalive and deadlines ---- */

static void client_timers(struct mqtt_client *c, int64_t now_ms)
{
    if (c->state == MC_CONNACK && now_ms >= c->deadline_ms) {
        c->stats.connect_failed++;
        client_lost(c, now_ms, "no CONNACK in time");
        return;
    }
    if (c->state == MC_CLOSING && now_ms >= c->deadline_ms) {
        client_drop(c, now_ms);
        return;
    }
    if (c->state != MC_UP || !c->cfg.keepalive_s)
        return;
    int64_t keepalive_ms = (int64_t)c->cfg.keepalive_s * 1000;
    if (c->ping_out && !c->stalled && now_ms - c->ping_at_ms >= keepalive_ms) {
        client_lost(c, now_ms, "keepalive timeout: no PINGRESP from the broker");
        return;
    }
    if (!c->ping_out && now_ms - c->last_tx_ms >= keepalive_ms && client_queue(c, mqtt_pingreq, MQTT_PINGREQ_LEN)) {
        c->ping_out = true;
        c->ping_at_ms = now_ms;
        client_send(c, now_ms);
    }
}

/* ---- the interface ---- */

int mqtt_client_init(struct mqtt_client *c, const struct mqtt_client_config *cfg, const struct mqtt_io *io,
                     const struct mqtt_client_hooks *hooks, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    c->io = *io;
    c->hooks = *hooks;
    c->fd = -1;
    c->state = MC_WAIT;
    snprintf(c->peer, sizeof c->peer, "%s:%d", cfg->host, cfg->port);
    fifo_init(&c->ackq, sizeof(struct mqtt_client_ack), ACK_MIDS);
    if (!hooks->on_message || cfg->qos > 1 || cfg->max_packet < MQTT_CLIENT_MAX_PACKET_MIN ||
        cfg->max_packet > MQTT_REMAINING_MAX) {
        snprintf(err, errlen, "MQTT client: %s",
                 !hooks->on_message ? "no message callback"
                 : cfg->qos > 1     ? "QoS 0 or 1 only"
                                    : "packet limit out of range");
        return -1;
    }
    struct mqtt_connect conn = {.client_id = cfg->client_id,
                                .username = cfg->username,
                                .password = cfg->password,
                                .password_len = cfg->password_len};
    long clen = mqtt_connect_build(NULL, 0, &conn);
    long slen = mqtt_subscribe_build(NULL, 0, MC_SUBSCRIBE_MID, cfg->filters, cfg->nfilters, cfg->qos);
    if (clen < 0 || slen < 0 || clen > MQTT_CLIENT_OUT_MAX / 2 || slen > MQTT_CLIENT_OUT_MAX / 2) {
        snprintf(err, errlen, "MQTT client: %s",
                 clen < 0 || clen > MQTT_CLIENT_OUT_MAX / 2
                     ? "client id, user name or password too long (or a password without a user name)"
                     : "subscription filters too long, or none");
        return -1;
    }
    size_t in_cap = MC_HEAD_MAX + MQTT_CLIENT_SAMPLE;
    if (cfg->max_packet > in_cap)
        in_cap = cfg->max_packet;
    if (buf_init(&c->in, in_cap) != 0 || buf_init(&c->out, MQTT_CLIENT_OUT_MAX) != 0 ||
        ack_tracker_init(&c->acks) != 0) {
        snprintf(err, errlen, "MQTT client: out of memory");
        mqtt_client_free(c);
        return -1;
    }
    backoff_init(&c->backoff, MC_BACKOFF_BASE_MS, MC_BACKOFF_MAX_MS, (uint32_t)time_now_us() ^ 0x5bd1e995u);
    return 0;
}

void mqtt_client_free(struct mqtt_client *c)
{
    if (c->fd >= 0)
        c->io.ops->close(c->io.ctx);
    c->fd = -1;
    buf_free(&c->in);
    buf_free(&c->out);
    fifo_free(&c->ackq);
    ack_tracker_free(&c->acks);
}

int mqtt_client_pollfd(const struct mqtt_client *c, short *events)
{
    short ev = 0;
    switch (c->state) {
    case MC_CONNECTING:
        ev = c->want;
        break;
    case MC_CONNACK:
    case MC_CLOSING:
        ev = POLLIN;
        break;
    case MC_UP:
        if (!c->stalled && c->in.len < c->in.cap)
            ev = POLLIN;
        break;
    default:
        *events = 0;
        return -1;
    }
    if (c->out.len)
        ev |= POLLOUT;
    if (c->io.ops->events && c->state != MC_CONNECTING)
        ev = c->io.ops->events(c->io.ctx, ev); /* TLS: a read may wait for POLLOUT, a write for POLLIN */
    *events = ev;
    return c->fd;
}

int64_t mqtt_client_next_timer(const struct mqtt_client *c)
{
    switch (c->state) {
    case MC_WAIT:
        /* no connection is made while reading is paused: a retry time in the past would only spin the loop */
        return can_take(c) ? c->retry_at_ms : INT64_MAX;
    case MC_CONNECTING:
        return c->deadline_ms;
    case MC_CONNACK:
    case MC_CLOSING:
        return io_pending(c) ? 0 : c->deadline_ms;
    case MC_UP:
        if (c->stalled && can_take(c))
            return 0; /* backpressure is over: go on with what waits in the buffer */
        if (!c->stalled && io_pending(c))
            return 0; /* the transport holds bytes poll() will not announce */
        if (!c->cfg.keepalive_s)
            return INT64_MAX;
        if (c->ping_out) /* the PINGRESP check is suspended while stalled: no timer, or the loop would spin */
            return c->stalled ? INT64_MAX : c->ping_at_ms + (int64_t)c->cfg.keepalive_s * 1000;
        return c->last_tx_ms + (int64_t)c->cfg.keepalive_s * 1000;
    default:
        return INT64_MAX;
    }
}

void mqtt_client_service(struct mqtt_client *c, short revents, int64_t now_ms)
{
    switch (c->state) {
    case MC_CLOSED:
        return;
    case MC_WAIT:
        if (now_ms >= c->retry_at_ms && can_take(c))
            client_connect(c, now_ms);
        return;
    case MC_CONNECTING:
        if (revents || now_ms >= c->deadline_ms)
            client_finish_connect(c, now_ms);
        return;
    default:
        break;
    }
    /* a transport with its own events (TLS) may need any socket event to go on reading; held bytes need none */
    bool readable = (revents & (POLLIN | POLLERR | POLLHUP)) || (revents && c->io.ops->events);
    if (readable || (c->stalled ? can_take(c) : io_pending(c)))
        client_read(c, revents, now_ms);
    if (c->state == MC_WAIT || c->state == MC_CLOSED)
        return;
    client_release(c);
    if (c->out.len && client_send(c, now_ms) != 0)
        return;
    client_timers(c, now_ms);
}

void mqtt_client_commit(struct mqtt_client *c, struct ack_ref ref)
{
    ack_tracker_commit(&c->acks, ref);
}

void mqtt_client_flush(struct mqtt_client *c)
{
    if (c->state != MC_UP && c->state != MC_CLOSING)
        return;
    int64_t now = time_mono_ms();
    client_release(c);
    if (c->out.len && client_send(c, now) != 0)
        return;
    if (c->acks_out < c->ackq.count) {
        /* sending made room: release what waited for it */
        client_release(c);
        client_send(c, now);
    }
}

void mqtt_client_stop(struct mqtt_client *c, int64_t now_ms)
{
    if (c->state != MC_UP) {
        if (c->state != MC_CLOSED) {
            c->state = MC_CLOSING;
            client_drop(c, now_ms);
        }
        return;
    }
    client_release(c); /* the PUBACKs that may go, go before it */
    c->state = MC_CLOSING;
    c->deadline_ms = now_ms + MC_CLOSE_MS;
    if (!client_queue(c, mqtt_disconnect, MQTT_DISCONNECT_LEN)) {
        client_drop(c, now_ms);
        return;
    }
    c->disconnect_queued = true;
    client_send(c, now_ms);
}

bool mqtt_client_closed(const struct mqtt_client *c)
{
    return c->state == MC_CLOSED;
}

bool mqtt_client_acks_flushed(const struct mqtt_client *c)
{
    if (c->state != MC_UP)
        return true;
    if (c->out.len)
        return false;
    /* the head of the queue waits for its commit, or the queue is empty */
    if (c->acks_out < c->ackq.count) {
        const struct mqtt_client_ack *a = fifo_at(&c->ackq, c->acks_out);
        return !ack_tracker_may_send(&c->acks, a->mid);
    }
    return true;
}

size_t mqtt_client_unacked(const struct mqtt_client *c)
{
    return ack_tracker_in_use(&c->acks);
}
