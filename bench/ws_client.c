/*
 * ws_client.c - many WebSocket clients of `sensorpipe serve` in one process
 * (libwebsockets client), measuring delivery and latency.
 *
 *   ws_client -p PORT [-H HOST] [-u PATH] [-c CLIENTS] [-C CONCURRENT] [-n EXPECT]
 *             [-T IDLE_S] [-W MAX_S] [-S CONNECT_TIMEOUT_S] [-o ROWS_FILE] [-V]
 *
 * Opens CLIENTS connections to ws://HOST:PORT/PATH (default /ws?history=0), at
 * most CONCURRENT handshakes at a time. A client is live once its history frame
 * arrived. When every client is live or has failed, prints "ready <live>
 * <failed>" on stdout; the caller then starts publishing. From then on every
 * row in a reading/readings frame counts for its client, with latency =
 * receive time - the row's ts (the publisher put its send time there; same
 * host, same clock). Ends when every live client has EXPECT rows, when no row
 * arrived for IDLE_S seconds (default 5) after the first, or MAX_S seconds
 * (default 300) after ready. Prints one JSON line with the counts, the latency
 * percentiles (microseconds) over every delivered row of every client, and this
 * process's own CPU time (to show the client is not the bottleneck).
 * -o ROWS_FILE: also write "<id> <receive time µs>" for every counted row (the
 * bench joins it with the rows' commit timestamps: commit -> WebSocket).
 * -V: the send time is the row's value instead (latency_pub -f: milliseconds
 * since the epoch), and frames may also be the seed stack's (docs/BENCHMARKS.md,
 * "Beside the seed"): a {"type": "history", ...} frame, then each row as a bare
 * JSON object {"ts":...,"topic":...,"value":...} with no id (not checked for
 * duplicates). Both stacks are then measured by the same rule.
 */
#include "stats.h"

#include <libwebsockets.h>

#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum cstate { C_IDLE, C_CONNECTING, C_OPEN, C_LIVE, C_FAILED, C_CLOSED };

struct client {
    struct lws *wsi;
    enum cstate state;
    uint64_t rows, dups;
    int64_t last_id;
    char *buf; /* a message arriving in fragments */
    size_t len, cap;
};

static struct {
    const char *host, *path;
    int port, nclients, conc;
    uint64_t expect;
    double idle_s, max_s, connect_timeout_s;
    const char *rows_file;
    bool stamp_value;
} opt = {"127.0.0.1", "/ws?history=0", 0, 1, 200, 0, 5, 300, 60, NULL, false};
static FILE *rows_out;

static struct client *clients;
static struct lws_context *ctx;
static int next_connect, connecting, live, failed, closed_after_live, done_clients;
static uint64_t rows_total, dups_total, gaps, frames, history_rows, parse_errors;
static struct lat_set lat; /* microseconds, one per delivered row */
static int64_t ready_us, first_row_us, last_row_us, start_us;
static bool ready_printed;
static volatile sig_atomic_t stop;
static lws_sorted_usec_list_t tick;

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* days since 1970-01-01 of a civil date (Howard Hinnant's algorithm) */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* serve's row ts: 2026-11-27T10:00:00.123456+00:00 (always UTC, 6 digits). -1 if not that. */
static int64_t parse_ts(const char *s, const char *end)
{
    if (end - s < 32 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.')
        return -1;
    int y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2), h = num(s + 11, 2), mi = num(s + 14, 2),
        se = num(s + 17, 2), us = num(s + 20, 6);
    if (y < 0 || mo < 1 || d < 1 || h < 0 || mi < 0 || se < 0 || us < 0 || strncmp(s + 26, "+00:00", 6))
        return -1;
    return ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60000000LL + se * 1000000LL + us;
}

static void client_done_check(struct client *c)
{
    if (opt.expect && c->rows == opt.expect)
        done_clients++;
}

static void count_row(struct client *c, int64_t id, int64_t lat_us, int64_t now)
{
    c->rows++;
    rows_total++;
    client_done_check(c);
    lat_add(&lat, lat_us);
    if (rows_out)
        fprintf(rows_out, "%" PRId64 " %" PRId64 "\n", id, now);
    if (!first_row_us)
        first_row_us = now;
    last_row_us = now;
}

/* -V: the send time in ms from the row's "value" in [p, end); -1 if none */
static int64_t value_stamp_us(const char *p, const char *end)
{
    const char *v = memmem(p, (size_t)(end - p), "\"value\":", 8);
    if (!v)
        return -1;
    char num[64], *stop_at;
    size_t n = (size_t)(end - (v + 8));
    n = n < sizeof num - 1 ? n : sizeof num - 1;
    memcpy(num, v + 8, n);
    num[n] = 0;
    double ms = strtod(num, &stop_at);
    return stop_at == num || ms <= 0 ? -1 : (int64_t)(ms * 1000.0 + 0.5);
}

/* -V: one message of either stack */
static void on_message_stamped(struct client *c, const char *m, size_t len, int64_t now)
{
    const char *end = m + len;
    frames++;
    if (len > 17 && (!strncmp(m, "{\"type\":\"history\"", 17) || !strncmp(m, "{\"type\": \"history\"", 18))) {
        if (c->state == C_OPEN) {
            c->state = C_LIVE;
            live++;
        }
        return;
    }
    if (len > 13 && !strncmp(m, "{\"type\":\"gap\"", 13)) {
        gaps++;
        return;
    }
    if (!strncmp(m, "{\"ts\":", 6)) { /* the seed's: one row, no id */
        int64_t t = value_stamp_us(m, end);
        if (t < 0)
            parse_errors++;
        else if (ready_printed)
            count_row(c, 0, now - t, now);
        return;
    }
    if (strncmp(m, "{\"type\":\"reading", 16))
        return; /* presence */
    for (const char *p = m; (p = memmem(p, (size_t)(end - p), "{\"id\":", 6)); p += 6) {
        const char *next = memmem(p + 6, (size_t)(end - p - 6), "{\"id\":", 6);
        int64_t id = strtoll(p + 6, NULL, 10);
        int64_t t = value_stamp_us(p, next ? next : end);
        if (t < 0) {
            parse_errors++;
            continue;
        }
        if (id <= c->last_id) {
            c->dups++;
            dups_total++;
            continue;
        }
        c->last_id = id;
        if (ready_printed)
            count_row(c, id, now - t, now);
    }
}

/* One complete text message. */
static void on_message(struct client *c, const char *m, size_t len, int64_t now)
{
    if (opt.stamp_value) {
        on_message_stamped(c, m, len, now);
        return;
    }
    const char *end = m + len;
    frames++;
    if (len > 16 && !strncmp(m, "{\"type\":\"history\"", 17)) {
        for (const char *p = m; (p = memmem(p, (size_t)(end - p), "\"id\":", 5)); p += 5)
            history_rows++;
        if (c->state == C_OPEN) {
            c->state = C_LIVE;
            live++;
        }
        return;
    }
    if (len > 16 && !strncmp(m, "{\"type\":\"gap\"", 13)) {
        gaps++;
        return;
    }
    if (strncmp(m, "{\"type\":\"reading", 16))
        return; /* presence */
    for (const char *p = m; (p = memmem(p, (size_t)(end - p), "{\"id\":", 6)); p += 6) {
        int64_t id = strtoll(p + 6, NULL, 10);
        const char *t = memmem(p, (size_t)(end - p), "\"ts\":\"", 6);
        int64_t ts = t ? parse_ts(t + 6, end) : -1;
        if (ts < 0) {
            parse_errors++;
            continue;
        }
        if (id <= c->last_id) {
            c->dups++;
            dups_total++;
            continue;
        }
        c->last_id = id;
        if (!ready_printed)
            continue; /* before the measurement */
        count_row(c, id, now - ts, now);
    }
}

static void connect_more(void);

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct client *c = user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        /* serve lets no one in without credentials: a token from `sensorpipe token add` */
        const char *tok = getenv("SENSORPIPE_TOKEN");
        char v[256];
        unsigned char **p = (unsigned char **)in;
        if (tok && *tok && snprintf(v, sizeof v, "Bearer %s", tok) < (int)sizeof v &&
            lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, (unsigned char *)v, (int)strlen(v), p,
                                         *p + len))
            return -1;
        break;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c && c->state == C_CONNECTING) {
            connecting--;
            c->state = C_FAILED;
            c->wsi = NULL;
            failed++;
            if (failed <= 5)
                fprintf(stderr, "ws_client: connection failed: %.*s\n", in ? (int)len : 7,
                        in ? (const char *)in : "unknown");
            connect_more();
        }
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (c) {
            connecting--;
            c->state = C_OPEN;
            connect_more();
        }
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        if (!c)
            break;
        int64_t now = wall_us();
        bool final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
        if (final && c->len == 0) {
            on_message(c, in, len, now);
            break;
        }
        if (c->len + len > c->cap) {
            size_t nc = (c->len + len) * 2;
            char *nb = realloc(c->buf, nc);
            if (!nb)
                return -1;
            c->buf = nb;
            c->cap = nc;
        }
        memcpy(c->buf + c->len, in, len);
        c->len += len;
        if (final) {
            on_message(c, c->buf, c->len, now);
            c->len = 0;
            if (c->cap > 1 << 20) {
                free(c->buf);
                c->buf = NULL;
                c->cap = 0;
            }
        }
        break;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c) {
            if (c->state == C_LIVE) {
                live--;
                closed_after_live++;
            } else if (c->state == C_OPEN)
                failed++;
            c->state = C_CLOSED;
            c->wsi = NULL;
        }
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"bench", callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void connect_more(void)
{
    /* Host with the port: serve refuses any Host not in its --allowed-hosts (host:port) */
    static char host_port[300];
    if (!host_port[0])
        snprintf(host_port, sizeof host_port, "%s:%d", opt.host, opt.port);
    while (connecting < opt.conc && next_connect < opt.nclients) {
        struct client *c = &clients[next_connect++];
        struct lws_client_connect_info i;
        memset(&i, 0, sizeof i);
        i.context = ctx;
        i.address = opt.host;
        i.port = opt.port;
        i.path = opt.path;
        i.host = host_port;
        i.ietf_version_or_minus_one = -1;
        i.userdata = c;
        i.pwsi = &c->wsi;
        i.local_protocol_name = "bench";
        c->state = C_CONNECTING;
        connecting++;
        if (!lws_client_connect_via_info(&i) && c->state == C_CONNECTING) {
            /* refused at once (the error callback may or may not have run) */
            connecting--;
            c->state = C_FAILED;
            failed++;
        }
    }
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    connect_more();
    lws_sul_schedule(ctx, 0, &tick, on_tick, 20 * LWS_US_PER_MS);
}

int main(int argc, char **argv)
{
    int ch;
    while ((ch = getopt(argc, argv, "H:p:u:c:C:n:T:W:S:o:V")) != -1) {
        switch (ch) {
        case 'H':
            opt.host = optarg;
            break;
        case 'p':
            opt.port = atoi(optarg);
            break;
        case 'u':
            opt.path = optarg;
            break;
        case 'c':
            opt.nclients = atoi(optarg);
            break;
        case 'C':
            opt.conc = atoi(optarg);
            break;
        case 'n':
            opt.expect = strtoull(optarg, NULL, 10);
            break;
        case 'T':
            opt.idle_s = atof(optarg);
            break;
        case 'W':
            opt.max_s = atof(optarg);
            break;
        case 'S':
            opt.connect_timeout_s = atof(optarg);
            break;
        case 'o':
            opt.rows_file = optarg;
            break;
        case 'V':
            opt.stamp_value = true;
            break;
        default:
            fprintf(stderr, "usage: ws_client -p PORT [-H HOST] [-u PATH] [-c CLIENTS] [-C CONCURRENT] [-n EXPECT] "
                            "[-T IDLE_S] [-W MAX_S] [-S CONNECT_TIMEOUT_S] [-o ROWS_FILE] [-V]\n");
            return 2;
        }
    }
    if (opt.port <= 0 || opt.nclients < 1 || opt.conc < 1) {
        fprintf(stderr, "ws_client: -p PORT is required; CLIENTS and CONCURRENT at least 1\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.nclients + 64) {
        fprintf(stderr, "ws_client: %d clients need %d file descriptors; the limit is %llu (ulimit -n)\n", opt.nclients,
                opt.nclients + 64, (unsigned long long)rl.rlim_cur);
        return 1;
    }
    if (opt.rows_file && !(rows_out = fopen(opt.rows_file, "w"))) {
        perror(opt.rows_file);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(LLL_ERR, NULL);
    clients = calloc((size_t)opt.nclients, sizeof *clients);
    if (!clients)
        return 1;

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.gid = -1;
    info.uid = -1;
    info.timeout_secs = (unsigned)opt.connect_timeout_s;
    ctx = lws_create_context(&info);
    if (!ctx) {
        fprintf(stderr, "ws_client: lws_create_context failed\n");
        return 1;
    }
    start_us = wall_us();
    connect_more();
    lws_sul_schedule(ctx, 0, &tick, on_tick, 20 * LWS_US_PER_MS);

    while (!stop) {
        if (lws_service(ctx, 0) < 0)
            break;
        int64_t now = wall_us();
        if (!ready_printed && next_connect == opt.nclients && connecting == 0 &&
            live + failed + closed_after_live >= opt.nclients) {
            ready_printed = true;
            ready_us = now;
            printf("ready %d %d %.3f\n", live, failed + closed_after_live, (double)(now - start_us) / 1e6);
            fflush(stdout);
        }
        if (!ready_printed && now - start_us > (int64_t)(opt.max_s * 1e6)) {
            fprintf(stderr, "ws_client: clients not all connected after %.0f s (live %d, failed %d, connecting %d)\n",
                    opt.max_s, live, failed, connecting);
            ready_printed = true; /* report what there is */
            ready_us = now;
            printf("ready %d %d %.3f\n", live, failed + closed_after_live, (double)(now - start_us) / 1e6);
            fflush(stdout);
        }
        if (ready_printed) {
            if (opt.expect && live > 0 && done_clients >= live)
                break;
            if (first_row_us && now - last_row_us > (int64_t)(opt.idle_s * 1e6))
                break;
            if (now - ready_us > (int64_t)(opt.max_s * 1e6))
                break;
        }
    }
    lws_sul_cancel(&tick);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                   (double)ru.ru_stime.tv_usec / 1e6;
    uint64_t complete = 0, min_rows = UINT64_MAX, max_rows = 0;
    int counted = 0;
    for (int i = 0; i < opt.nclients; i++) {
        struct client *c = &clients[i];
        if (c->state != C_LIVE && !(c->state == C_CLOSED && c->rows))
            continue;
        counted++;
        complete += opt.expect && c->rows >= opt.expect;
        if (c->rows < min_rows)
            min_rows = c->rows;
        if (c->rows > max_rows)
            max_rows = c->rows;
    }
    if (!counted)
        min_rows = 0;
    lat_sort(&lat);
    double mean = lat_mean(&lat);
    printf("{\"clients\":%d,\"live\":%d,\"failed\":%d,\"closed\":%d,\"expect_per_client\":%" PRIu64 ",\"rows\":%" PRIu64
           ",\"complete_clients\":%" PRIu64 ",\"min_rows\":%" PRIu64 ",\"max_rows\":%" PRIu64 ",\"dups\":%" PRIu64
           ",\"gaps\":%" PRIu64 ",\"parse_errors\":%" PRIu64 ",\"frames\":%" PRIu64
           ",\"lat_n\":%zu,\"lat_mean_us\":%.0f,\"lat_p50_us\":%d,\"lat_p90_us\":%d,\"lat_p99_us\":%d,"
           "\"lat_max_us\":%d,\"rows_seconds\":%.3f,\"cpu_s\":%.3f,\"max_rss_kb\":%ld}\n",
           opt.nclients, live, failed, closed_after_live, opt.expect, rows_total, complete, min_rows, max_rows,
           dups_total, gaps, parse_errors, frames, lat.n, mean, lat_pct(&lat, 50), lat_pct(&lat, 90), lat_pct(&lat, 99),
           lat_max(&lat), first_row_us ? (double)(last_row_us - first_row_us) / 1e6 : 0.0, cpu_s, ru.ru_maxrss);
    fflush(stdout);
    lws_context_destroy(ctx);
    if (rows_out)
        fclose(rows_out);
    for (int i = 0; i < opt.nclients; i++)
        free(clients[i].buf);
    free(clients);
    lat_free(&lat);
    return 0;
}
