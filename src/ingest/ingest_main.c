/*
 * ingest_main.c - `sensorpipe ingest`: options, the one poll() loop, signals, shutdown.
 *
 * Data flow: broker -> ack relay (parses PUBLISH itself) -> ingest_message ->
 * msg_classify -> one of three bounded queues (readings: batch.h, rejects:
 * reject.h, presence: presence.h) -> writer (libpq, non-blocking) -> PostgreSQL.
 * libmosquitto (mqtt_in) keeps CONNECT, SUBSCRIBE, keepalive and DISCONNECT,
 * through the relay; with --no-hold-acks there is no relay and its on_message
 * calls ingest_message.
 * Every network client is driven from the loop below: one poll() over the
 * signal pipe, libmosquitto's socket, the database socket and the relay's
 * sockets, with a timeout from the nearest timer.
 *
 * Acknowledgements (docs/RELIABILITY.md): each QoS 1 message is recorded in the
 * ack tracker (ack_tracker.h) by packet id; the rows it produces carry that
 * reference through the queues; the writer settles it when the row commits;
 * only then does the relay (ack_relay.h) send the PUBACK to the broker.
 */
#include "ingest.h"

#include "ack_relay.h"
#include "ack_tracker.h"
#include "core/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "message.h"
#include "mqtt_in.h"
#include "stats.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INGEST_SHUTDOWN_MS 10000  /* flush at most this long after SIGTERM/SIGINT */
#define INGEST_RELAY_CONNECT_MS 10000 /* the relay gives up a broker connection not made in this time */
#define INGEST_POLL_MAX_MS 1000   /* keepalive checks at least this often */
#define INGEST_REJECTS_MAX 1024   /* refused messages held in memory */
#define INGEST_PRESENCE_MAX 1024  /* devices with a presence update held in memory */
#define INGEST_PAUSE_LOG_MS 10000 /* at most one pause logged at warn per this period */
/*
 * QoS 1 messages unacknowledged at once, at most: half the packet id space.
 * The broker's inflight window should stop it long before (max_inflight_messages),
 * but mosquitto 2.0.11 does not enforce that window strictly (fixed in 2.0.13),
 * and a broker that runs out of free packet ids would have to reuse one.
 */
#define INGEST_ACKS_IN_USE_MAX 32768
#ifndef INGEST_KEEPALIVE_S
#define INGEST_KEEPALIVE_S 60 /* MQTT keepalive, seconds (overridable at build time for tests) */
#endif

struct ingest_options {
    char *db, *mqtt_host, *client_id, *subscribe, *log_level; /* owned via cfg_free */
    long mqtt_port, qos, queue_max, batch_max, retention_days, stats_interval;
    bool clean_session, migrate, hold_acks, qos0_async_commit;
};

/* The daemon's one state struct, passed to every callback. */
struct ingest {
    struct batchq readings;
    struct rejectq rejects;
    struct presenceq presence;
    struct ingest_stats stats, stats_logged;
    struct mqtt_in mqtt;
    struct writer writer;
    struct ack_tracker acks; /* QoS 1 messages by packet id (when hold_acks) */
    struct relay relay;      /* between libmosquitto and the broker (when hold_acks) */
    bool hold_acks;
    bool paused;   /* reading MQTT is held back (a queue is full) */
    int64_t pause_logged_ms; /* when a pause was last logged at warn */
    int64_t stats_every_ms;
    bool stopping; /* a stop signal came: flushing */
    bool disconnecting; /* flushed: the MQTT DISCONNECT is on its way */
};

/* ---- signals: a self-pipe so poll() wakes ---- */

static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t sig_count;

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    sig_count++;
    if (write(sig_pipe[1], &c, 1) < 0) {
        /* pipe full: a wake-up is already pending */
    }
    errno = saved;
}

static int signals_init(void)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void signals_close(void)
{
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    for (int i = 0; i < 2; i++)
        if (sig_pipe[i] >= 0)
            close(sig_pipe[i]);
    sig_pipe[0] = sig_pipe[1] = -1;
}

/* ---- messages into the queues ---- */

static bool ingest_can_read(void *ctx)
{
    struct ingest *in = ctx;
    return !in->stopping && !in->paused;
}

/* The message behind ref needs nothing more from us: its PUBACK may go. */
static void ingest_settle(void *ctx, struct ack_ref ref)
{
    struct ingest *in = ctx;
    if (in->hold_acks)
        ack_tracker_commit(&in->acks, ref);
}

/* Accept a connection to the relay only from the socket libmosquitto opened. */
static bool ingest_relay_peer_ok(void *ctx, const struct sockaddr *peer, socklen_t len)
{
    struct ingest *in = ctx;
    int fd = mosquitto_socket(in->mqtt.mosq);
    struct sockaddr_in local;
    socklen_t llen = sizeof local;
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&local, &llen) != 0 || local.sin_family != AF_INET ||
        peer->sa_family != AF_INET || len < (socklen_t)sizeof(struct sockaddr_in))
        return false;
    const struct sockaddr_in *p = (const struct sockaddr_in *)peer;
    return p->sin_port == local.sin_port && p->sin_addr.s_addr == local.sin_addr.s_addr;
}

/* Re-evaluate backpressure after the queues changed; count each pause. */
static void ingest_update_pause(struct ingest *in)
{
    /* the readings queue has its own hysteresis; the small queues resume at half */
    bool small_full = in->paused ? rejectq_count(&in->rejects) > INGEST_REJECTS_MAX / 2 ||
                                       presenceq_count(&in->presence) > INGEST_PRESENCE_MAX / 2
                                 : rejectq_nearly_full(&in->rejects) || presenceq_nearly_full(&in->presence);
    size_t acks = in->hold_acks ? ack_tracker_in_use(&in->acks) : 0;
    bool acks_full = in->paused ? acks > INGEST_ACKS_IN_USE_MAX / 2 : acks >= INGEST_ACKS_IN_USE_MAX;
    bool full = batchq_paused(&in->readings) || small_full || acks_full;
    if (full == in->paused)
        return;
    in->paused = full;
    /* every pause is counted; under sustained pressure only one pause in a while is logged at warn */
    int64_t now = time_mono_ms();
    bool loud = now - in->pause_logged_ms >= INGEST_PAUSE_LOG_MS;
    if (full) {
        in->stats.queue_paused++;
        if (loud)
            in->pause_logged_ms = now;
        log_msg(loud ? LOG_WARN : LOG_DEBUG,
                "queue full (%zu readings, %zu rejects, %zu presence, %zu unacknowledged): pausing MQTT reads "
                "(%llu pauses so far)",
                batchq_count(&in->readings), rejectq_count(&in->rejects), presenceq_count(&in->presence), acks,
                (unsigned long long)in->stats.queue_paused);
    } else
        log_msg(loud ? LOG_INFO : LOG_DEBUG, "queue drained to %zu readings: resuming MQTT reads",
                batchq_count(&in->readings));
}

/* A topic for a log line: at most outlen-1 bytes, anything but printable ASCII shown as '?'. */
static const char *log_topic(const char *topic, size_t tlen, char *out, size_t outlen)
{
    size_t i = 0;
    for (; i < tlen && i + 1 < outlen; i++)
        out[i] = topic[i] >= 0x20 && topic[i] < 0x7f ? topic[i] : '?';
    out[i] = '\0';
    return out;
}

/* One MQTT message as the ingest sees it, from the relay or from libmosquitto; the bytes are borrowed. */
struct ingest_msg {
    const char *topic; /* tlen raw bytes, not NUL-terminated */
    size_t tlen;
    const void *payload; /* len bytes */
    size_t len;
    int qos;
    int mid; /* packet id, 0 for QoS 0 */
    bool retain;
};

static void ingest_reject(struct ingest *in, enum reject_class cls, const struct ingest_msg *msg, const char *reason,
                          int64_t now_us, struct ack_ref ref)
{
    in->stats.rejected[cls]++;
    char shown[201];
    log_debug("reject %s: %s", log_topic(msg->topic, msg->tlen, shown, sizeof shown), reason);
    if (rejectq_push(&in->rejects, cls, msg->topic, msg->tlen, msg->payload, msg->len, reason, now_us, ref) != 0) {
        in->stats.rejects_lost++;
        log_error("rejects queue full: refused message on %s not kept (%s)", shown, reason);
        ingest_settle(in, ref); /* counted as lost: holding its PUBACK would only block the broker */
    }
}

/* One message from the broker: classify it, queue what it produces, and track its PUBACK (QoS 1). */
static void ingest_message(struct ingest *in, const struct ingest_msg *msg)
{
    int64_t now_us = time_now_us();
    struct msg_result r;
    char shown[201];
    in->stats.received++;
    log_debug("message on %s (%zu bytes%s, qos %d, id %d)", log_topic(msg->topic, msg->tlen, shown, sizeof shown),
              msg->len, msg->retain ? ", retained" : "", msg->qos, msg->mid);

    /* QoS 1: its PUBACK is held until what it produces is committed; a redelivered copy is not stored twice */
    struct ack_ref ref = {0, 0};
    if (in->hold_acks && msg->qos == 1 && msg->mid > 0 && msg->mid < ACK_MIDS) {
        uint64_t h = ack_hash(msg->topic, msg->tlen, msg->payload, msg->len);
        switch (ack_tracker_received(&in->acks, (uint16_t)msg->mid, h, &ref)) {
        case ACK_DO_SKIP:
            in->stats.duplicates_skipped++;
            log_debug("message on %s with packet id %d is a redelivery of one already queued or stored: not stored "
                      "again",
                      shown, msg->mid);
            return;
        case ACK_DO_STORE_UNTRACKED:
            log_warn("broker reused packet id %d before it was acknowledged (message on %s): stored, PUBACK not held",
                     msg->mid, shown);
            break;
        default:
            break;
        }
    }

    msg_classify(msg->topic, msg->tlen, msg->payload, msg->len, msg->retain, now_us, &r);
    struct ack_ref superseded;
    switch (r.kind) {
    case MSG_READING:
        r.reading.ack = ref;
        if (!batchq_push(&in->readings, &r.reading))
            ingest_reject(in, REJECT_OVERFLOW, msg, "ingest readings queue full", now_us, ref);
        break;
    case MSG_PRESENCE:
        if (presenceq_push(&in->presence, r.device, r.online, now_us, ref, &superseded) != 0)
            ingest_reject(in, REJECT_OVERFLOW, msg, "ingest presence queue full", now_us, ref);
        else
            ingest_settle(in, superseded); /* the queued update it replaced needs no row of its own */
        break;
    case MSG_REJECT:
        ingest_reject(in, r.cls, msg, r.reason, now_us, ref);
        break;
    case MSG_RETAINED:
        in->stats.retained_skipped++;
        log_debug("retained reading on %s replayed by the broker: not stored again", shown);
        ingest_settle(in, ref); /* nothing to write */
        break;
    }
    ingest_update_pause(in);
}

/* The relay parsed a QoS 0 or 1 PUBLISH (the usual path, with --hold-acks). */
static void ingest_on_publish(void *ctx, const struct mqtt_publish *p)
{
    struct ingest_msg msg = {
        .topic = (const char *)p->topic,
        .tlen = p->topic_len,
        .payload = p->payload,
        .len = p->payload_len,
        .qos = p->qos,
        .mid = p->mid,
        .retain = p->retain,
    };
    ingest_message(ctx, &msg);
}

/* libmosquitto delivered a message (--no-hold-acks; with the relay, QoS 2 and oversized messages). */
static void ingest_on_message(void *ctx, const struct mosquitto_message *m)
{
    struct ingest_msg msg = {
        .topic = m->topic,
        .tlen = strlen(m->topic),
        .payload = m->payload,
        .len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0,
        .qos = m->qos,
        .mid = m->mid,
        .retain = m->retain,
    };
    ingest_message(ctx, &msg);
}

/* ---- the loop ---- */

enum { FD_SIGNAL, FD_MQTT, FD_DB, FD_RELAY, FD_COUNT = FD_RELAY + RELAY_FDS };

/* Gauges and peaks of the stats, from the queues, the tracker and the relay. */
static void ingest_update_gauges(struct ingest *in)
{
    size_t queued = batchq_count(&in->readings);
    if (queued > in->stats.max_queued)
        in->stats.max_queued = queued;
    if (!in->hold_acks)
        return;
    in->stats.held_acks = ack_tracker_held(&in->acks);
    if (in->stats.held_acks > in->stats.max_held_acks)
        in->stats.max_held_acks = in->stats.held_acks;
    in->stats.acks_sent = in->relay.stats.acks_sent;
    in->stats.acks_discarded = in->relay.stats.acks_discarded;
    in->stats.protocol_errors = in->relay.stats.protocol_errors;
}

static void ingest_log_stats(struct ingest *in)
{
    char line[1024];
    ingest_update_gauges(in);
    stats_format(&in->stats, batchq_count(&in->readings), line, sizeof line);
    log_info("%s", line);
    in->stats_logged = in->stats;
}

/* Returns the exit status: 0 when everything received was written. */
static int ingest_loop(struct ingest *in)
{
    int64_t now = time_mono_ms();
    int64_t stats_at = now + in->stats_every_ms;
    int64_t deadline = 0;
    unsigned handled_signals = 0;
    for (;;) {
        now = time_mono_ms();
        if ((unsigned)sig_count != handled_signals) {
            handled_signals = (unsigned)sig_count;
            if (!in->stopping) {
                /* stop reading MQTT, write what is queued, let its PUBACKs out, then DISCONNECT */
                in->stopping = true;
                deadline = now + INGEST_SHUTDOWN_MS;
                log_info("stopping: flushing %zu readings, %zu rejects, %zu presence updates (at most %d s)",
                         batchq_count(&in->readings), rejectq_count(&in->rejects), presenceq_count(&in->presence),
                         INGEST_SHUTDOWN_MS / 1000);
                writer_stop(&in->writer);
            } else {
                log_warn("second stop signal: not waiting for the flush");
                deadline = now;
            }
        }
        if (in->stopping) {
            if (!in->disconnecting && writer_drained(&in->writer) &&
                (!in->hold_acks || relay_acks_flushed(&in->relay))) {
                mqtt_in_stop(&in->mqtt);
                in->disconnecting = true;
            }
            if (in->disconnecting && mqtt_in_closed(&in->mqtt) && (!in->hold_acks || relay_idle(&in->relay)))
                return 0;
            if (now >= deadline)
                break;
        }

        struct pollfd fds[FD_COUNT];
        memset(fds, 0, sizeof fds);
        fds[FD_SIGNAL].fd = sig_pipe[0];
        fds[FD_SIGNAL].events = POLLIN;
        fds[FD_MQTT].fd = mqtt_in_pollfd(&in->mqtt, &fds[FD_MQTT].events);
        fds[FD_DB].fd = writer_pollfd(&in->writer, &fds[FD_DB].events);
        if (in->hold_acks)
            relay_pollfds(&in->relay, &fds[FD_RELAY]);
        else
            for (int i = FD_RELAY; i < FD_COUNT; i++)
                fds[i].fd = -1;

        int64_t wake = now + INGEST_POLL_MAX_MS;
        int64_t t = mqtt_in_next_timer(&in->mqtt);
        if (t < wake)
            wake = t;
        t = writer_next_timer(&in->writer);
        if (t < wake)
            wake = t;
        t = in->hold_acks ? relay_next_timer(&in->relay) : INT64_MAX;
        if (t < wake)
            wake = t;
        if (!in->stopping && stats_at < wake)
            wake = stats_at;
        if (in->stopping && deadline < wake)
            wake = deadline;
        int timeout = wake > now ? (int)(wake - now) : 0;

        int n = poll(fds, FD_COUNT, timeout);
        if (n < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            break;
        }
        if (n > 0 && fds[FD_SIGNAL].revents) {
            unsigned char buf[64];
            while (read(sig_pipe[0], buf, sizeof buf) > 0) {
            }
        }
        if (n <= 0)
            for (int i = 0; i < FD_COUNT; i++)
                fds[i].revents = 0;
        now = time_mono_ms();
        /*
         * Order: the broker's messages first, so they go out in this round's database write; then the
         * relay, which reads the PUBACKs libmosquitto wrote for them (held: their rows are not committed);
         * then the writer, whose commits release PUBACKs; then the relay again, to send those at once.
         */
        mqtt_in_service(&in->mqtt, fds[FD_MQTT].fd >= 0 ? fds[FD_MQTT].revents : 0, now);
        if (in->hold_acks)
            relay_service(&in->relay, &fds[FD_RELAY], now);
        writer_service(&in->writer, fds[FD_DB].fd >= 0 ? fds[FD_DB].revents : 0, now);
        if (in->hold_acks)
            relay_flush(&in->relay);
        ingest_update_pause(in);
        ingest_update_gauges(in);

        if (!in->stopping && now >= stats_at) {
            if (stats_changed(&in->stats, &in->stats_logged))
                ingest_log_stats(in);
            stats_at = now + in->stats_every_ms;
        }
    }
    size_t lost = batchq_count(&in->readings);
    log_error("shutdown: gave up flushing: %zu readings, %zu rejects and %zu presence updates not written", lost,
              rejectq_count(&in->rejects), presenceq_count(&in->presence));
    if (in->hold_acks && ack_tracker_unsettled(&in->acks))
        log_warn("%zu QoS 1 messages were not acknowledged: the broker delivers them again at the next start",
                 ack_tracker_unsettled(&in->acks));
    return 1;
}

int ingest_main(int argc, char **argv)
{
    struct ingest_options o;
    memset(&o, 0, sizeof o);
    const struct cfg_opt opts[] = {
        {"db", CFG_STR, &o.db, "", 0, 0, "DATABASE_URL",
         "libpq connection string or URI (empty: PG* variables and libpq defaults)", false},
        {"mqtt-host", CFG_STR, &o.mqtt_host, "127.0.0.1", 0, 0, NULL, "MQTT broker host", false},
        {"mqtt-port", CFG_INT, &o.mqtt_port, "1883", 1, 65535, NULL, "MQTT broker port", false},
        {"mqtt-client-id", CFG_STR, &o.client_id, "sensorpipe-ingest", 0, 0, NULL,
         "MQTT client id; keep it fixed so a restart resumes the session (several ingests sharing "
         "$share/<group>/... need one id each)",
         false},
        {"subscribe", CFG_STR, &o.subscribe, "+/+/+,+/status", 0, 0, NULL,
         "comma-separated MQTT filters; $share/<group>/<filter> shares the load between ingests", false},
        {"qos", CFG_INT, &o.qos, "1", 0, 2, NULL, "subscription QoS (0, 1 or 2)", false},
        {"clean-session", CFG_BOOL, &o.clean_session, "false", 0, 0, NULL,
         "start a new MQTT session at every connection (false: the broker keeps QoS 1 messages for this client id "
         "while the ingest is away and sends unacknowledged ones again)",
         false},
        {"hold-acks", CFG_BOOL, &o.hold_acks, "true", 0, 0, NULL,
         "hold each QoS 1 PUBACK until the message's row is committed (an in-process relay to the broker); "
         "false: libmosquitto acknowledges on receipt",
         false},
        {"qos0-async-commit", CFG_BOOL, &o.qos0_async_commit, "true", 0, 0, NULL,
         "commit a write whose readings hold no PUBACK (all QoS 0) without waiting for the WAL flush "
         "(synchronous_commit off for that transaction; a PostgreSQL crash may lose its last fraction of a "
         "second); writes holding QoS 1 acknowledgements always wait",
         false},
        {"queue-max", CFG_INT, &o.queue_max, "100000", 1, 10000000, NULL,
         "readings held in memory at most; reading MQTT pauses when full", false},
        {"batch-max", CFG_INT, &o.batch_max, "10000", 1, 1000000, NULL, "readings per COPY statement at most",
         false},
        {"retention-days", CFG_INT, &o.retention_days, "-1", -1, 36500, NULL,
         "drop readings older than this many days (0 = keep; -1 = leave the stored setting)", false},
        {"migrate", CFG_BOOL, &o.migrate, "true", 0, 0, NULL,
         "create or upgrade the schema at the first database connection", false},
        {"log-level", CFG_STR, &o.log_level, "info", 0, 0, NULL, "error, warn, info or debug", false},
        {"stats-interval", CFG_INT, &o.stats_interval, "60", 1, 86400, NULL,
         "seconds between two stats lines (logged only when a counter moved)", false},
        {0},
    };
    char err[512];
    int rc = cfg_parse(opts, argc, argv, NULL, err, sizeof err);
    if (rc == CFG_HELP) {
        cfg_usage(stdout, "ingest", "Subscribe to the MQTT broker and write readings to PostgreSQL.", opts);
        cfg_free(opts);
        return 0;
    }
    if (rc != CFG_OK) {
        fprintf(stderr, "sensorpipe ingest: %s\n", err);
        cfg_free(opts);
        return 2;
    }
    int level = log_level_parse(o.log_level);
    if (level < 0) {
        fprintf(stderr, "sensorpipe ingest: --log-level must be error, warn, info or debug\n");
        cfg_free(opts);
        return 2;
    }
    char **filters = NULL;
    int nfilters = 0;
    if (mqtt_in_parse_filters(o.subscribe, &filters, &nfilters, err, sizeof err) != 0) {
        fprintf(stderr, "sensorpipe ingest: %s\n", err);
        cfg_free(opts);
        return 2;
    }
    if (!*o.mqtt_host) {
        fprintf(stderr, "sensorpipe ingest: --mqtt-host must not be empty\n");
        mqtt_in_free_filters(filters, nfilters);
        cfg_free(opts);
        return 2;
    }
    if (!*o.client_id) {
        fprintf(stderr, "sensorpipe ingest: --mqtt-client-id must not be empty\n");
        mqtt_in_free_filters(filters, nfilters);
        cfg_free(opts);
        return 2;
    }
    log_init("ingest", (enum log_level)level);
    cfg_log_effective(opts);
    if (o.hold_acks && o.qos == 2)
        log_warn("--qos 2: QoS 2 messages are acknowledged (PUBREC) on receipt; only QoS 1 messages are held "
                 "until their row is committed");
    if (o.clean_session)
        log_warn("--clean-session: what the broker holds for this client id is dropped at every connection; "
                 "messages in flight when the ingest stops or crashes can be lost");

    int status = 1;
    struct ingest *in = calloc(1, sizeof *in); /* owned here, freed at done */
    if (!in || signals_init() != 0 || ack_tracker_init(&in->acks) != 0) {
        log_error("start-up failed: %s", strerror(errno));
        if (in)
            ack_tracker_free(&in->acks);
        free(in);
        signals_close();
        mqtt_in_free_filters(filters, nfilters);
        cfg_free(opts);
        return 1;
    }
    in->hold_acks = o.hold_acks;
    in->stats_every_ms = o.stats_interval * 1000;
    batchq_init(&in->readings, (size_t)o.queue_max, (size_t)o.batch_max);
    rejectq_init(&in->rejects, INGEST_REJECTS_MAX);
    presenceq_init(&in->presence, INGEST_PRESENCE_MAX);
    struct writer_config wcfg = {.dsn = o.db,
                                 .migrate = o.migrate,
                                 .retention_days = o.retention_days,
                                 .qos0_async_commit = o.qos0_async_commit};
    writer_init(&in->writer, &wcfg, &in->readings, &in->rejects, &in->presence, &in->stats);
    writer_set_settle(&in->writer, ingest_settle, in);

    mosquitto_lib_init();
    bool relay_up = false;
    if (in->hold_acks) {
        struct relay_config rcfg = {
            .broker_host = o.mqtt_host,
            .broker_port = (int)o.mqtt_port,
            .connect_timeout_ms = INGEST_RELAY_CONNECT_MS,
        };
        struct relay_hooks hooks = {
            .peer_ok = ingest_relay_peer_ok,
            .on_publish = ingest_on_publish,
            .can_read = ingest_can_read,
            .ctx = in,
        };
        if (relay_init(&in->relay, &rcfg, &in->acks, &hooks, err, sizeof err) != 0) {
            log_error("%s", err);
            goto done;
        }
        relay_up = true;
        log_info("ack relay on 127.0.0.1:%d: QoS 1 PUBACKs go to broker %s:%ld once their rows are committed",
                 in->relay.port, o.mqtt_host, o.mqtt_port);
    }
    struct mqtt_in_config mcfg = {
        .host = o.mqtt_host,
        .port = (int)o.mqtt_port,
        .connect_host = in->hold_acks ? "127.0.0.1" : NULL,
        .connect_port = in->hold_acks ? in->relay.port : 0,
        .client_id = o.client_id,
        .clean_session = o.clean_session,
        .qos = (int)o.qos,
        .keepalive_s = INGEST_KEEPALIVE_S,
        .filters = filters,
        .nfilters = nfilters,
    };
    if (mqtt_in_init(&in->mqtt, &mcfg, ingest_on_message, ingest_can_read, in, &in->stats, err, sizeof err) != 0) {
        log_error("%s", err);
        goto done;
    }

    status = ingest_loop(in);
    ingest_log_stats(in);
    if (status == 0)
        log_info("stopped: everything received was written");

done:
    mqtt_in_free(&in->mqtt);
    if (relay_up)
        relay_free(&in->relay);
    ack_tracker_free(&in->acks);
    mosquitto_lib_cleanup();
    writer_free(&in->writer);
    batchq_free(&in->readings);
    rejectq_free(&in->rejects);
    presenceq_free(&in->presence);
    free(in);
    signals_close();
    mqtt_in_free_filters(filters, nfilters);
    cfg_free(opts);
    return status;
}
