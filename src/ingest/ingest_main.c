/*
 * ingest_main.c - `sensorpipe ingest`: options, the one poll() loop, signals, shutdown.
 *
 * Data flow: mqtt_in (libmosquitto) -> on_message -> msg_classify -> one of three
 * bounded queues (readings: batch.h, rejects: reject.h, presence: presence.h)
 * -> writer (libpq, non-blocking) -> PostgreSQL. Both network clients are
 * driven from the loop below: one poll() over the signal pipe, the broker
 * socket and the database socket, with a timeout from the nearest timer.
 */
#include "ingest.h"

#include "core/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "message.h"
#include "mqtt_in.h"
#include "stats.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INGEST_STATS_EVERY_MS 60000
#define INGEST_SHUTDOWN_MS 10000  /* flush at most this long after SIGTERM/SIGINT */
#define INGEST_POLL_MAX_MS 1000   /* keepalive checks at least this often */
#define INGEST_REJECTS_MAX 1024   /* refused messages held in memory */
#define INGEST_PRESENCE_MAX 1024  /* devices with a presence update held in memory */
#define INGEST_PAUSE_LOG_MS 10000 /* at most one pause logged at warn per this period */
#ifndef INGEST_KEEPALIVE_S
#define INGEST_KEEPALIVE_S 60 /* MQTT keepalive, seconds (overridable at build time for tests) */
#endif

struct ingest_options {
    char *db, *mqtt_host, *client_id, *subscribe, *log_level; /* owned via cfg_free */
    long mqtt_port, qos, queue_max, batch_max, retention_days;
    bool clean_session, migrate;
};

/* The daemon's one state struct, passed to every callback. */
struct ingest {
    struct batchq readings;
    struct rejectq rejects;
    struct presenceq presence;
    struct ingest_stats stats, stats_logged;
    struct mqtt_in mqtt;
    struct writer writer;
    bool paused;   /* reading MQTT is held back (a queue is full) */
    int64_t pause_logged_ms; /* when a pause was last logged at warn */
    bool stopping; /* a stop signal came: flushing */
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

/* Re-evaluate backpressure after the queues changed; count each pause. */
static void ingest_update_pause(struct ingest *in)
{
    /* the readings queue has its own hysteresis; the small queues resume at half */
    bool small_full = in->paused ? rejectq_count(&in->rejects) > INGEST_REJECTS_MAX / 2 ||
                                       presenceq_count(&in->presence) > INGEST_PRESENCE_MAX / 2
                                 : rejectq_nearly_full(&in->rejects) || presenceq_nearly_full(&in->presence);
    bool full = batchq_paused(&in->readings) || small_full;
    if (full == in->paused)
        return;
    in->paused = full;
    /* every pause is counted; under sustained pressure only one pause in a while is logged at warn */
    int64_t now = time_mono_ms();
    bool loud = now - in->pause_logged_ms >= INGEST_PAUSE_LOG_MS;
    if (full) {
        in->stats.queue_full++;
        if (loud)
            in->pause_logged_ms = now;
        log_msg(loud ? LOG_WARN : LOG_DEBUG,
                "queue full (%zu readings, %zu rejects, %zu presence): pausing MQTT reads (%llu pauses so far)",
                batchq_count(&in->readings), rejectq_count(&in->rejects), presenceq_count(&in->presence),
                (unsigned long long)in->stats.queue_full);
    } else
        log_msg(loud ? LOG_INFO : LOG_DEBUG, "queue drained to %zu readings: resuming MQTT reads",
                batchq_count(&in->readings));
}

/* A topic for a log line: at most outlen-1 bytes, anything but printable ASCII shown as '?'. */
static const char *log_topic(const char *topic, char *out, size_t outlen)
{
    size_t i = 0;
    for (; topic[i] && i + 1 < outlen; i++)
        out[i] = topic[i] >= 0x20 && topic[i] < 0x7f ? topic[i] : '?';
    out[i] = '\0';
    return out;
}

static void ingest_reject(struct ingest *in, enum reject_class cls, const struct mosquitto_message *msg,
                          const char *reason, int64_t now_us)
{
    in->stats.rejected[cls]++;
    size_t tlen = strlen(msg->topic);
    char shown[201];
    log_debug("reject %s: %s", log_topic(msg->topic, shown, sizeof shown), reason);
    if (rejectq_push(&in->rejects, cls, msg->topic, tlen, msg->payload, msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0,
                     reason, now_us) != 0) {
        in->stats.rejects_lost++;
        log_error("rejects queue full: refused message on %s not kept (%s)", shown, reason);
    }
}

static void ingest_on_message(void *ctx, const struct mosquitto_message *msg)
{
    struct ingest *in = ctx;
    int64_t now_us = time_now_us();
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    struct msg_result r;
    size_t tlen = strlen(msg->topic);
    char shown[201];
    log_debug("message on %s (%zu bytes%s)", log_topic(msg->topic, shown, sizeof shown), len,
              msg->retain ? ", retained" : "");
    msg_classify(msg->topic, tlen, msg->payload, len, msg->retain, now_us, &r);
    switch (r.kind) {
    case MSG_READING:
        if (!batchq_push(&in->readings, &r.reading))
            ingest_reject(in, REJECT_OVERFLOW, msg, "ingest readings queue full", now_us);
        break;
    case MSG_PRESENCE:
        if (presenceq_push(&in->presence, r.device, r.online, now_us) != 0)
            ingest_reject(in, REJECT_OVERFLOW, msg, "ingest presence queue full", now_us);
        break;
    case MSG_REJECT:
        ingest_reject(in, r.cls, msg, r.reason, now_us);
        break;
    case MSG_RETAINED:
        in->stats.retained_skipped++;
        log_debug("retained reading on %s replayed by the broker: not stored again", shown);
        break;
    }
    ingest_update_pause(in);
}

/* ---- options ---- */

static void default_client_id(char **client_id)
{
    char host[256] = "host";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "host");
    host[sizeof host - 1] = '\0';
    char id[320];
    snprintf(id, sizeof id, "sensorpipe-ingest-%s-%ld", host, (long)getpid());
    char *copy = strdup(id);
    if (copy) {
        free(*client_id); /* the option's string, owned by the table (cfg_free) */
        *client_id = copy;
    }
}

/* ---- the loop ---- */

enum { FD_SIGNAL, FD_MQTT, FD_DB, FD_COUNT };

static void ingest_log_stats(struct ingest *in)
{
    char line[768];
    stats_format(&in->stats, batchq_count(&in->readings), line, sizeof line);
    log_info("%s", line);
    in->stats_logged = in->stats;
}

/* Returns the exit status: 0 when everything received was written. */
static int ingest_loop(struct ingest *in)
{
    int64_t now = time_mono_ms();
    int64_t stats_at = now + INGEST_STATS_EVERY_MS;
    int64_t deadline = 0;
    unsigned handled_signals = 0;
    for (;;) {
        now = time_mono_ms();
        if ((unsigned)sig_count != handled_signals) {
            handled_signals = (unsigned)sig_count;
            if (!in->stopping) {
                in->stopping = true;
                deadline = now + INGEST_SHUTDOWN_MS;
                log_info("stopping: flushing %zu readings, %zu rejects, %zu presence updates (at most %d s)",
                         batchq_count(&in->readings), rejectq_count(&in->rejects), presenceq_count(&in->presence),
                         INGEST_SHUTDOWN_MS / 1000);
                mqtt_in_stop(&in->mqtt);
                writer_stop(&in->writer);
            } else {
                log_warn("second stop signal: not waiting for the flush");
                deadline = now;
            }
        }
        if (in->stopping) {
            if (writer_drained(&in->writer) && mqtt_in_closed(&in->mqtt))
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

        int64_t wake = now + INGEST_POLL_MAX_MS;
        int64_t t = mqtt_in_next_timer(&in->mqtt);
        if (t < wake)
            wake = t;
        t = writer_next_timer(&in->writer);
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
        now = time_mono_ms();
        /* broker first, so what it delivered goes out in this round's database write */
        mqtt_in_service(&in->mqtt, n > 0 && fds[FD_MQTT].fd >= 0 ? fds[FD_MQTT].revents : 0, now);
        writer_service(&in->writer, n > 0 && fds[FD_DB].fd >= 0 ? fds[FD_DB].revents : 0, now);
        ingest_update_pause(in);

        if (!in->stopping && now >= stats_at) {
            if (stats_changed(&in->stats, &in->stats_logged))
                ingest_log_stats(in);
            stats_at = now + INGEST_STATS_EVERY_MS;
        }
    }
    size_t lost = batchq_count(&in->readings);
    log_error("shutdown: gave up flushing: %zu readings, %zu rejects and %zu presence updates not written", lost,
              rejectq_count(&in->rejects), presenceq_count(&in->presence));
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
        {"mqtt-client-id", CFG_STR, &o.client_id, "", 0, 0, NULL,
         "MQTT client id (empty: sensorpipe-ingest-<hostname>-<pid>)", false},
        {"subscribe", CFG_STR, &o.subscribe, "+/+/+,+/status", 0, 0, NULL,
         "comma-separated MQTT filters; $share/<group>/<filter> shares the load between ingests", false},
        {"qos", CFG_INT, &o.qos, "1", 0, 2, NULL, "subscription QoS (0, 1 or 2)", false},
        {"clean-session", CFG_BOOL, &o.clean_session, "true", 0, 0, NULL,
         "start a new MQTT session (false: the broker keeps messages for this client id while it is away)", false},
        {"queue-max", CFG_INT, &o.queue_max, "100000", 1, 10000000, NULL,
         "readings held in memory at most; reading MQTT pauses when full", false},
        {"batch-max", CFG_INT, &o.batch_max, "10000", 1, 1000000, NULL, "readings per COPY statement at most",
         false},
        {"retention-days", CFG_INT, &o.retention_days, "0", 0, 36500, NULL,
         "drop readings older than this many days (0 = keep)", false},
        {"migrate", CFG_BOOL, &o.migrate, "true", 0, 0, NULL,
         "create or upgrade the schema at the first database connection", false},
        {"log-level", CFG_STR, &o.log_level, "info", 0, 0, NULL, "error, warn, info or debug", false},
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
    if (!*o.client_id)
        default_client_id(&o.client_id);
    log_init("ingest", (enum log_level)level);
    cfg_log_effective(opts);

    int status = 1;
    struct ingest *in = calloc(1, sizeof *in); /* owned here, freed at done */
    if (!in || signals_init() != 0) {
        log_error("start-up failed: %s", strerror(errno));
        free(in);
        signals_close();
        mqtt_in_free_filters(filters, nfilters);
        cfg_free(opts);
        return 1;
    }
    batchq_init(&in->readings, (size_t)o.queue_max, (size_t)o.batch_max);
    rejectq_init(&in->rejects, INGEST_REJECTS_MAX);
    presenceq_init(&in->presence, INGEST_PRESENCE_MAX);
    struct writer_config wcfg = {.dsn = o.db, .migrate = o.migrate, .retention_days = o.retention_days};
    writer_init(&in->writer, &wcfg, &in->readings, &in->rejects, &in->presence, &in->stats);

    mosquitto_lib_init();
    struct mqtt_in_config mcfg = {
        .host = o.mqtt_host,
        .port = (int)o.mqtt_port,
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
