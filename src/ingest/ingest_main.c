/*
 * ingest_main.c - `sensorpipe ingest`: options, the one poll() loop, signals, shutdown.
 *
 * Data flow: broker -> MQTT client (mqtt_client.h: our own 3.1.1 subscriber on
 * one socket) -> ingest_message -> msg_classify -> one of three bounded queues
 * (readings: batch.h, rejects: reject.h, presence: presence.h) -> writer
 * (libpq, non-blocking) -> PostgreSQL. One poll() over the signal pipe, the
 * broker socket and the database socket, with a timeout from the nearest timer.
 *
 * Acknowledgements (docs/RELIABILITY.md): the client records each QoS 1
 * message in its ack tracker (ack_tracker.h) by packet id; the rows it produces
 * carry that reference through the queues; the writer settles it when the row
 * commits (ingest_settle -> mqtt_client_commit); only then does the client
 * send the PUBACK.
 */
#include "ingest.h"

#include "ack_tracker.h"
#include "core/config.h"
#include "core/log.h"
#include "core/secret.h"
#include "core/timeutil.h"
#include "message.h"
#include "mqtt_client.h"
#include "mqtt_filters.h"
#include "mqtt_io.h"
#include "mqtt_io_tls.h"
#include "stats.h"
#include "rollup_keeper.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INGEST_SHUTDOWN_MS 10000  /* flush at most this long after SIGTERM/SIGINT */
#define INGEST_CONNECT_MS 10000   /* give up a broker connection (TCP and CONNACK) not made in this time */
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
    char *db, *db_password_file, *mqtt_host, *client_id, *subscribe, *log_level, *mqtt_username, *mqtt_password_file,
        *mqtt_cafile; /* cfg_free */
    long mqtt_port, qos, queue_max, batch_max, insert_max, retention_days, stats_interval, mqtt_max_packet;
    long ts_past_days, ts_future_minutes, max_devices, max_topics_per_device;
    bool clean_session, migrate, qos0_async_commit, mqtt_tls;
};

/* The daemon's one state struct, passed to every callback. */
struct ingest {
    struct batchq readings;
    struct rejectq rejects;
    struct presenceq presence;
    struct ingest_stats stats, stats_logged;
    struct mqtt_tcp tcp;     /* the broker connection's transport (plain) */
    struct mqtt_tls tls;     /* the broker connection's transport (--mqtt-tls) */
    struct mqtt_client mqtt; /* the subscriber; owns the ack tracker */
    struct writer writer;
    struct rollup_keeper rollup; /* the rollups' catch-up, on a connection of its own */
    uint64_t rollup_seen;        /* stats.written when the keeper was last told */
    struct known known;          /* the stored and admitted topics and devices, and their bounds */
    struct msg_bounds bounds;    /* --ts-past-days, --ts-future-minutes */
    long max_packet;             /* --mqtt-max-packet, for reject reasons */
    bool paused;                 /* reading MQTT is held back (a queue is full) */
    int64_t pause_logged_ms;     /* when a pause was last logged at warn */
    int64_t stats_every_ms;
    bool stopping;      /* a stop signal came: flushing */
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
    mqtt_client_commit(&in->mqtt, ref);
}

/* Re-evaluate backpressure after the queues changed; count each pause. */
static void ingest_update_pause(struct ingest *in)
{
    /* every queue keeps its own hysteresis (rowq: pause at the high mark, resume at half); so do the acks */
    bool small_full = rowq_paused(&in->rejects.q) || rowq_paused(&in->presence.q);
    size_t acks = mqtt_client_unacked(&in->mqtt);
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

static void ingest_reject(struct ingest *in, enum reject_class cls, const struct mqtt_message *msg, const char *reason,
                          int64_t now_us, struct ack_ref ref)
{
    in->stats.rejected[cls]++;
    char shown[201];
    log_debug("reject %s: %s", log_topic(msg->topic, msg->topic_len, shown, sizeof shown), reason);
    if (rejectq_push(&in->rejects, cls, msg->topic, msg->topic_len, msg->payload, msg->payload_len, reason, now_us,
                     ref) != 0) {
        in->stats.rejects_lost++;
        log_error("rejects queue full: refused message on %s not kept (%s)", shown, reason);
        ingest_settle(in, ref); /* counted as lost: holding its PUBACK would only block the broker */
    }
}

/* One message from the broker (ref: its QoS 1 PUBACK, settled when its row is): classify it, queue what it makes. */
static void ingest_message(void *ctx, const struct mqtt_message *msg, struct ack_ref ref)
{
    struct ingest *in = ctx;
    int64_t now_us = time_now_us();
    struct msg_result r;
    char shown[201];
    in->stats.received++;
    log_debug("message on %s (%zu bytes%s, qos %d, id %d)", log_topic(msg->topic, msg->topic_len, shown, sizeof shown),
              msg->packet_len, msg->retain ? ", retained" : "", msg->qos, msg->mid);
    if (msg->truncated) {
        char reason[160];
        snprintf(reason, sizeof reason, "too_large: MQTT packet of %zu bytes is over --mqtt-max-packet %ld",
                 msg->packet_len, in->max_packet);
        ingest_reject(in, REJECT_TOO_LARGE, msg, reason, now_us, ref);
        ingest_update_pause(in);
        return;
    }

    msg_classify(msg->topic, msg->topic_len, msg->payload, msg->payload_len, msg->retain, now_us, &in->bounds, &r);
    struct ack_ref superseded;
    const char *why;
    switch (r.kind) {
    case MSG_READING:
        r.reading.ack = ref;
        if (known_admit_reading(&in->known, r.reading.topic, msg->topic_len, &why) != 0)
            ingest_reject(in, REJECT_LIMIT, msg, why, now_us, ref);
        else if (!batchq_push(&in->readings, &r.reading))
            ingest_reject(in, REJECT_OVERFLOW, msg, "ingest readings queue full", now_us, ref);
        break;
    case MSG_PRESENCE:
        if (known_admit_device(&in->known, r.device, strlen(r.device), &why) != 0)
            ingest_reject(in, REJECT_LIMIT, msg, why, now_us, ref);
        else if (presenceq_push(&in->presence, r.device, r.online, now_us, ref, &superseded) != 0)
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

/* ---- the loop ---- */

enum { FD_SIGNAL, FD_MQTT, FD_DB, FD_ROLLUP, FD_COUNT };

/* Gauges and peaks of the stats, from the queues and the MQTT client. */
static void ingest_update_gauges(struct ingest *in)
{
    size_t queued = batchq_count(&in->readings);
    if (queued > in->stats.max_queued)
        in->stats.max_queued = queued;
    const struct mqtt_client_stats *m = &in->mqtt.stats;
    in->stats.held_acks = ack_tracker_held(&in->mqtt.acks);
    if (in->stats.held_acks > in->stats.max_held_acks)
        in->stats.max_held_acks = in->stats.held_acks;
    in->stats.acks_sent = m->acks_sent;
    in->stats.acks_discarded = m->acks_discarded;
    in->stats.protocol_errors = m->protocol_errors;
    in->stats.duplicates_skipped = m->duplicates;
    in->stats.mqtt_reconnects = m->sessions > 1 ? m->sessions - 1 : 0;
}

static void ingest_log_stats(struct ingest *in)
{
    char line[1024];
    ingest_update_gauges(in);
    stats_format(&in->stats, batchq_count(&in->readings), line, sizeof line);
    log_info("%s", line);
    in->stats_logged = in->stats;
}

/* A stop signal came: stop reading MQTT, write what is queued, let its PUBACKs out, then DISCONNECT. */
static void ingest_begin_stop(struct ingest *in)
{
    in->stopping = true;
    log_info("stopping: flushing %zu readings, %zu rejects, %zu presence updates (at most %d s)",
             batchq_count(&in->readings), rejectq_count(&in->rejects), presenceq_count(&in->presence),
             INGEST_SHUTDOWN_MS / 1000);
    writer_stop(&in->writer);
    rollup_keeper_stop(&in->rollup);
}

/* The nearest timer of everything in the loop, as a poll() timeout. */
static int ingest_poll_timeout(struct ingest *in, int64_t now, int64_t stats_at, int64_t deadline)
{
    int64_t wake = now + INGEST_POLL_MAX_MS;
    int64_t t = mqtt_client_next_timer(&in->mqtt);
    if (t < wake)
        wake = t;
    t = writer_next_timer(&in->writer);
    if (t < wake)
        wake = t;
    t = rollup_keeper_next_timer(&in->rollup);
    if (t < wake)
        wake = t;
    if (!in->stopping && stats_at < wake)
        wake = stats_at;
    if (in->stopping && deadline < wake)
        wake = deadline;
    return wake > now ? (int)(wake - now) : 0;
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
                ingest_begin_stop(in);
                deadline = now + INGEST_SHUTDOWN_MS;
            } else {
                log_warn("second stop signal: not waiting for the flush");
                deadline = now;
            }
        }
        if (in->stopping) {
            if (!in->disconnecting && writer_drained(&in->writer) && mqtt_client_acks_flushed(&in->mqtt)) {
                mqtt_client_stop(&in->mqtt, now);
                in->disconnecting = true;
            }
            if (in->disconnecting && mqtt_client_closed(&in->mqtt))
                return 0;
            if (now >= deadline)
                break;
        }

        struct pollfd fds[FD_COUNT];
        memset(fds, 0, sizeof fds);
        fds[FD_SIGNAL].fd = sig_pipe[0];
        fds[FD_SIGNAL].events = POLLIN;
        fds[FD_MQTT].fd = mqtt_client_pollfd(&in->mqtt, &fds[FD_MQTT].events);
        fds[FD_DB].fd = writer_pollfd(&in->writer, &fds[FD_DB].events);
        fds[FD_ROLLUP].fd = rollup_keeper_pollfd(&in->rollup, &fds[FD_ROLLUP].events);
        int n = poll(fds, FD_COUNT, ingest_poll_timeout(in, now, stats_at, deadline));
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
         * writer, whose commits release PUBACKs; then the client again, to send those at once; then the
         * rollups' catch-up, told when readings were committed.
         */
        mqtt_client_service(&in->mqtt, fds[FD_MQTT].fd >= 0 ? fds[FD_MQTT].revents : 0, now);
        writer_service(&in->writer, fds[FD_DB].fd >= 0 ? fds[FD_DB].revents : 0, now);
        mqtt_client_flush(&in->mqtt);
        if (in->stats.written != in->rollup_seen) {
            in->rollup_seen = in->stats.written;
            rollup_keeper_rows_committed(&in->rollup);
        }
        rollup_keeper_service(&in->rollup, fds[FD_ROLLUP].fd >= 0 ? fds[FD_ROLLUP].revents : 0, now);
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
    if (ack_tracker_unsettled(&in->mqtt.acks))
        log_warn("%zu QoS 1 messages were not acknowledged: the broker delivers them again at the next start",
                 ack_tracker_unsettled(&in->mqtt.acks));
    return 1;
}

/* ---- start-up ---- */

/* Checks cfg_parse cannot make. Returns 0, or -1 with a reason in err. */
static int ingest_check_options(const struct ingest_options *o, char *err, size_t errlen)
{
    if (o->qos == 2)
        snprintf(err, errlen,
                 "--qos 2 is not supported: the ingest subscribes at QoS 1 and sends each PUBACK only after the "
                 "message's row is committed, and drops redelivered copies itself (docs/RELIABILITY.md)");
    else if (!*o->mqtt_host)
        snprintf(err, errlen, "--mqtt-host must not be empty");
    else if (!*o->client_id)
        snprintf(err, errlen, "--mqtt-client-id must not be empty");
    else if (*o->mqtt_password_file && !*o->mqtt_username)
        snprintf(err, errlen,
                 "--mqtt-password-file needs --mqtt-username (MQTT sends a password only with a user name)");
    else if (o->mqtt_tls && !*o->mqtt_cafile)
        snprintf(err, errlen, "--mqtt-tls needs --mqtt-cafile (the CA certificate that signed the broker's)");
    else if (!o->mqtt_tls && *o->mqtt_cafile)
        snprintf(err, errlen, "--mqtt-cafile is for --mqtt-tls, which is off");
    else if (log_level_parse(o->log_level) < 0)
        snprintf(err, errlen, "--log-level must be error, warn, info or debug");
    else
        return 0;
    return -1;
}

int ingest_main(int argc, char **argv)
{
    struct ingest_options o;
    memset(&o, 0, sizeof o);
    const struct cfg_opt opts[] = {
        {"db", CFG_STR, &o.db, "", 0, 0, "DATABASE_URL",
         "libpq connection string or URI (empty: PG* variables and libpq defaults)", false},
        {"db-password-file", CFG_STR, &o.db_password_file, "", 0, 0, NULL,
         "file whose first line is the database password (readable by this service only; never on the command line)",
         false},
        {"mqtt-host", CFG_STR, &o.mqtt_host, "127.0.0.1", 0, 0, NULL, "MQTT broker host", false},
        {"mqtt-port", CFG_INT, &o.mqtt_port, "1883", 1, 65535, NULL, "MQTT broker port", false},
        {"mqtt-tls", CFG_BOOL, &o.mqtt_tls, "false", 0, 0, NULL,
         "MQTT over TLS (1.2 or later): the broker's certificate must chain to --mqtt-cafile and name --mqtt-host "
         "(use the broker's TLS port, e.g. --mqtt-port 8883)",
         false},
        {"mqtt-cafile", CFG_STR, &o.mqtt_cafile, "", 0, 0, NULL,
         "PEM file of the CA certificate(s) trusted for the broker (e.g. var/tls/ca.crt); read again at each "
         "connection",
         false},
        {"mqtt-username", CFG_STR, &o.mqtt_username, "", 0, 0, NULL, "MQTT user name (empty: none)", false},
        {"mqtt-password-file", CFG_STR, &o.mqtt_password_file, "", 0, 0, NULL,
         "file whose first line is the MQTT password (readable by this service only; never on the command line)",
         false},
        {"mqtt-client-id", CFG_STR, &o.client_id, "sensorpipe-ingest", 0, 0, NULL,
         "MQTT client id; keep it fixed so a restart resumes the session (several ingests sharing "
         "$share/<group>/... need one id each)",
         false},
        {"mqtt-max-packet", CFG_INT, &o.mqtt_max_packet, "65536", MQTT_CLIENT_MAX_PACKET_MIN, 16777216, NULL,
         "largest MQTT packet taken whole, in bytes; a larger PUBLISH is acknowledged and kept in rejects "
         "(reason too_large) with its first bytes",
         false},
        {"subscribe", CFG_STR, &o.subscribe, "+/+/+,+/status", 0, 0, NULL,
         "comma-separated MQTT filters; $share/<group>/<filter> shares the load between ingests", false},
        {"qos", CFG_INT, &o.qos, "1", 0, 2, NULL,
         "subscription QoS: 1 (each PUBACK after its row is committed) or 0; 2 is refused", false},
        {"clean-session", CFG_BOOL, &o.clean_session, "false", 0, 0, NULL,
         "start a new MQTT session at every connection (false: the broker keeps QoS 1 messages for this client id "
         "while the ingest is away and sends unacknowledged ones again)",
         false},
        {"qos0-async-commit", CFG_BOOL, &o.qos0_async_commit, "true", 0, 0, NULL,
         "commit a write whose readings hold no PUBACK (all QoS 0) without waiting for the WAL flush "
         "(synchronous_commit off for that transaction; a PostgreSQL crash may lose its last fraction of a "
         "second); writes holding QoS 1 acknowledgements always wait",
         false},
        {"queue-max", CFG_INT, &o.queue_max, "100000", 1, 10000000, NULL,
         "readings held in memory at most; reading MQTT pauses when full", false},
        {"batch-max", CFG_INT, &o.batch_max, "10000", 1, 1000000, NULL, "readings per COPY statement at most", false},
        {"insert-max", CFG_INT, &o.insert_max, "16", 0, 1000, NULL,
         "a batch of at most this many readings goes in one INSERT (one round trip), a larger one by COPY (two); 0: "
         "always COPY",
         false},
        {"retention-days", CFG_INT, &o.retention_days, "-1", -1, 36500, NULL,
         "drop readings, rejects, readings_default rows and offline devices older than this many days (0 = keep; "
         "-1 = leave the stored setting)",
         false},
        {"ts-past-days", CFG_INT, &o.ts_past_days, "30", 0, 36500, NULL,
         "a payload \"ts\" more than this many days before the receive time goes to rejects", false},
        {"ts-future-minutes", CFG_INT, &o.ts_future_minutes, "10", 0, 1440, NULL,
         "a payload \"ts\" more than this many minutes after the receive time goes to rejects", false},
        {"max-devices", CFG_INT, &o.max_devices, "10000", 1, 1000000, NULL,
         "devices (stored and new) at most; a reading or presence of one more goes to rejects", false},
        {"max-topics-per-device", CFG_INT, &o.max_topics_per_device, "64", 1, 100000, NULL,
         "reading topics of one device at most; a reading on one more goes to rejects", false},
        {"migrate", CFG_BOOL, &o.migrate, "true", 0, 0, NULL,
         "create or upgrade the schema at the first database connection", false},
        {"log-level", CFG_STR, &o.log_level, "info", 0, 0, NULL, "error, warn, info or debug", false},
        {"stats-interval", CFG_INT, &o.stats_interval, "60", 1, 86400, NULL,
         "seconds between two stats lines (logged only when a counter moved)", false},
        {0},
    };
    char err[512];
    char **filters = NULL;
    int nfilters = 0;
    char password[SECRET_MAX + 1] = "", db_password[SECRET_MAX + 1] = "";
    size_t password_len = 0, db_password_len = 0;
    struct ingest *in = NULL; /* owned here, freed at done */
    bool started = false;     /* everything in *in was initialised */
    int status = 2;           /* usage errors until the options are read */

    int rc = cfg_parse(opts, argc, argv, NULL, err, sizeof err);
    if (rc == CFG_HELP) {
        cfg_usage(stdout, "ingest", "Subscribe to the MQTT broker and write readings to PostgreSQL.", opts);
        status = 0;
        goto done;
    }
    if (rc != CFG_OK || ingest_check_options(&o, err, sizeof err) != 0 ||
        mqtt_filters_parse(o.subscribe, &filters, &nfilters, err, sizeof err) != 0 ||
        (*o.mqtt_password_file && secret_read_file(o.mqtt_password_file, password, &password_len, err, sizeof err)) ||
        (*o.db_password_file && secret_read_file(o.db_password_file, db_password, &db_password_len, err, sizeof err))) {
        fprintf(stderr, "sensorpipe ingest: %s\n", err);
        goto done;
    }
    log_init("ingest", (enum log_level)log_level_parse(o.log_level));
    cfg_log_effective(opts);
    if (o.clean_session)
        log_warn("--clean-session: what the broker holds for this client id is dropped at every connection; "
                 "messages in flight when the ingest stops or crashes can be lost");

    status = 1;
    in = calloc(1, sizeof *in);
    if (!in || signals_init() != 0) {
        log_error("start-up failed: %s", strerror(errno));
        goto done;
    }
    in->stats_every_ms = o.stats_interval * 1000;
    in->max_packet = o.mqtt_max_packet;
    in->bounds.ts_past_us = (int64_t)o.ts_past_days * 86400 * 1000000;
    in->bounds.ts_future_us = (int64_t)o.ts_future_minutes * 60 * 1000000;
    known_init(&in->known, (size_t)o.max_devices, (size_t)o.max_topics_per_device);
    batchq_init(&in->readings, (size_t)o.queue_max, (size_t)o.batch_max);
    rejectq_init(&in->rejects, INGEST_REJECTS_MAX);
    presenceq_init(&in->presence, INGEST_PRESENCE_MAX);
    struct writer_config wcfg = {.dsn = o.db,
                                 .db_password = *o.db_password_file ? db_password : NULL,
                                 .migrate = o.migrate,
                                 .retention_days = o.retention_days,
                                 .qos0_async_commit = o.qos0_async_commit,
                                 .insert_max = (size_t)o.insert_max};
    writer_init(&in->writer, &wcfg, &in->readings, &in->rejects, &in->presence, &in->stats);
    writer_set_settle(&in->writer, ingest_settle, in);
    writer_set_known(&in->writer, &in->known);
    const struct pgconn_config rcfg = writer_pgconn_config(&wcfg, "sensorpipe-ingest-rollup");
    rollup_keeper_init(&in->rollup, &rcfg, &in->stats);

    started = true; /* the queues and the writer are set up; the client frees itself when its init fails */

    struct mqtt_io io;
    if (o.mqtt_tls) {
        if (mqtt_io_tls(&io, &in->tls, o.mqtt_cafile, err, sizeof err) != 0) {
            log_error("%s", err);
            status = 2;
            goto done;
        }
    } else
        mqtt_io_tcp(&io, &in->tcp);
    struct mqtt_client_config mcfg = {
        .host = o.mqtt_host,
        .port = (int)o.mqtt_port,
        .client_id = o.client_id,
        .username = *o.mqtt_username ? o.mqtt_username : NULL,
        .password = *o.mqtt_password_file ? password : NULL,
        .password_len = password_len,
        .clean_session = o.clean_session,
        .qos = (uint8_t)o.qos,
        .keepalive_s = INGEST_KEEPALIVE_S,
        .filters = filters,
        .nfilters = nfilters,
        .max_packet = (size_t)o.mqtt_max_packet,
        .connect_timeout_ms = INGEST_CONNECT_MS,
    };
    struct mqtt_client_hooks hooks = {.on_message = ingest_message, .can_read = ingest_can_read, .ctx = in};
    rc = mqtt_client_init(&in->mqtt, &mcfg, &io, &hooks, err, sizeof err);
    if (rc != 0) {
        log_error("%s", err);
        goto done;
    }

    status = ingest_loop(in);
    ingest_log_stats(in);
    if (status == 0)
        log_info("stopped: everything received was written");
    mqtt_client_free(&in->mqtt);

done:
    if (in)
        mqtt_tls_free(&in->tls);
    if (started) {
        writer_free(&in->writer);
        rollup_keeper_free(&in->rollup);
        batchq_free(&in->readings);
        rejectq_free(&in->rejects);
        presenceq_free(&in->presence);
        known_free(&in->known);
    }
    free(in);
    signals_close();
    secret_wipe(password, sizeof password);
    secret_wipe(db_password, sizeof db_password);
    mqtt_filters_free(filters, nfilters);
    cfg_free(opts);
    return status;
}
