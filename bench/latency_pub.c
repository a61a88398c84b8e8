/*
 * latency_pub.c - paced publisher whose readings carry their own send time.
 *
 *   latency_pub -p PORT [-h HOST] [-r RATE] [-n COUNT] [-q QOS] [-k TOPICS] [-P PREFIX] [-s START] [-f]
 *
 * Publishes COUNT readings at RATE per second (paced on the monotonic clock; a
 * late reading goes out at once, never skipped) round-robin over TOPICS topics
 * PREFIX/latency/pNNN, payload {"value": <n>, "ts": "<wall clock when sent, RFC
 * 3339 with microseconds>"}, n = START, START+1, ... The ingest stores that ts as
 * the row's ts, so a WebSocket client that reads the row computes the whole
 * pipeline's latency as its receive time minus ts (one host, one clock).
 * -f: the payload is a plain ASCII number instead, the send time in
 * milliseconds since the epoch with microsecond decimals ("1796616000123.456"):
 * what any stack that stores a Pico's float payload as the value keeps (the seed
 * stack of docs/BENCHMARKS.md stores its own now() as ts), so a WebSocket client
 * reads the send time from the row's value (ws_client -V). A double holds it to
 * well under a microsecond, and it stays inside the ingest's value bound (1e15).
 *
 * One thread, no library thread: mosquitto_publish writes the message to the
 * socket before it returns. Waits for every QoS 1/2 acknowledgement, then
 * prints one JSON line: {"sent":N,"seconds":S,"rate":R,"late_max_us":L}
 * (late_max_us: the most a publish started after its slot; large values mean the
 * publisher could not keep the pace).
 */
#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static bool connected;
static uint64_t acked;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* RFC 3339 UTC with microseconds: 2026-11-27T10:00:00.123456Z */
static void now_rfc3339(char out[96])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, 96, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    (void)m, (void)ud;
    if (rc) {
        fprintf(stderr, "latency_pub: connection refused: %s\n", mosquitto_connack_string(rc));
        stop = 1;
        return;
    }
    connected = true;
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
    (void)m, (void)ud, (void)mid;
    acked++;
}

/* Service the socket for up to timeout_ms: read, write what is queued, keepalive. */
static int service(struct mosquitto *m, int timeout_ms)
{
    struct pollfd p = {.fd = mosquitto_socket(m), .events = POLLIN};
    if (p.fd < 0)
        return -1;
    if (mosquitto_want_write(m))
        p.events |= POLLOUT;
    int rc = poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);
    if (rc < 0 && errno != EINTR)
        return -1;
    if (rc > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) && mosquitto_loop_read(m, 1) != MOSQ_ERR_SUCCESS)
        return -1;
    if (rc > 0 && (p.revents & POLLOUT) && mosquitto_loop_write(m, 1) != MOSQ_ERR_SUCCESS)
        return -1;
    if (mosquitto_loop_misc(m) != MOSQ_ERR_SUCCESS)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *prefix = "lat";
    int port = 0, qos = 0, topics = 10;
    double rate = 100;
    uint64_t count = 1000, start_n = 1;
    bool stamp_value = false;
    int c;
    while ((c = getopt(argc, argv, "h:p:r:n:q:k:P:s:f")) != -1) {
        switch (c) {
        case 'h':
            host = optarg;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'n':
            count = strtoull(optarg, NULL, 10);
            break;
        case 'q':
            qos = atoi(optarg);
            break;
        case 'k':
            topics = atoi(optarg);
            break;
        case 'P':
            prefix = optarg;
            break;
        case 's':
            start_n = strtoull(optarg, NULL, 10);
            break;
        case 'f':
            stamp_value = true;
            break;
        default:
            fprintf(stderr, "usage: latency_pub -p PORT [-h HOST] [-r RATE] [-n COUNT] [-q QOS] [-k TOPICS] "
                            "[-P PREFIX] [-s START] [-f]\n");
            return 2;
        }
    }
    if (port <= 0 || rate <= 0 || topics < 1 || topics > 999 || qos < 0 || qos > 2) {
        fprintf(stderr, "latency_pub: -p PORT is required; RATE > 0, 1 <= TOPICS <= 999, QOS 0..2\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(NULL, true, NULL);
    if (!m) {
        perror("latency_pub: mosquitto_new");
        return 1;
    }
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_max_inflight_messages_set(m, 0);        /* no cap: pacing, not the window, sets the rate */
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1); /* one reading is one segment, sent now */
    if (mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "latency_pub: cannot connect to %s:%d\n", host, port);
        return 1;
    }
    int64_t deadline = mono_ns() + 10 * 1000000000LL;
    while (!connected && !stop && mono_ns() < deadline)
        if (service(m, 50)) {
            fprintf(stderr, "latency_pub: connection failed\n");
            return 1;
        }
    if (!connected)
        return 1;

    char topic[128], payload[192], ts[96];
    int64_t t0 = mono_ns(), late_max = 0;
    double period_ns = 1e9 / rate;
    uint64_t sent = 0;
    while (!stop && sent < count) {
        int64_t due = t0 + (int64_t)(period_ns * (double)sent);
        int64_t now = mono_ns();
        if (now < due) {
            int64_t wait_ns = due - now;
            if (wait_ns > 2000000) {
                /* sleep in poll (serving the socket) until 1 ms before, then spin-sleep precisely */
                if (service(m, (int)((wait_ns - 1000000) / 1000000)))
                    break;
                continue;
            }
            struct timespec abs = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL);
            now = mono_ns();
        }
        if (now - due > late_max)
            late_max = now - due;
        snprintf(topic, sizeof topic, "%s/latency/p%03d", prefix, (int)(sent % (uint64_t)topics));
        int len;
        if (stamp_value) {
            struct timespec w;
            clock_gettime(CLOCK_REALTIME, &w);
            len = snprintf(payload, sizeof payload, "%lld.%03ld", (long long)w.tv_sec * 1000 + w.tv_nsec / 1000000,
                           (w.tv_nsec / 1000) % 1000);
        } else {
            now_rfc3339(ts);
            len = snprintf(payload, sizeof payload, "{\"value\": %llu, \"ts\": \"%s\"}",
                           (unsigned long long)(start_n + sent), ts);
        }
        int rc = mosquitto_publish(m, NULL, topic, len, payload, qos, false);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "latency_pub: publish failed: %s\n", mosquitto_strerror(rc));
            break;
        }
        sent++;
        if ((sent & 63) == 0 && service(m, 0))
            break;
    }
    double seconds = (double)(mono_ns() - t0) / 1e9;
    /* wait for everything to be written (QoS 0) or acknowledged (QoS 1/2) */
    deadline = mono_ns() + 10 * 1000000000LL;
    while ((mosquitto_want_write(m) || (qos > 0 && acked < sent)) && mono_ns() < deadline)
        if (service(m, 10))
            break;
    printf("{\"sent\":%llu,\"seconds\":%.3f,\"rate\":%.1f,\"late_max_us\":%lld}\n", (unsigned long long)sent, seconds,
           seconds > 0 ? (double)sent / seconds : 0.0, (long long)(late_max / 1000));
    fflush(stdout);
    mosquitto_disconnect(m);
    service(m, 10);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}
