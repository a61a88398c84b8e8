/* run.c - the simulator's event loop: devices, their MQTT links, pacing, shutdown (see run.h). */
#include "run.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "core/topic.h"
#include "device.h"
#include "link.h"
#include "numbered.h"

#include <errno.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define RUN_BATCH_MAX 4096         /* readings published per loop turn before polling again */
#define RUN_POLL_MAX_MS 1000       /* longest sleep, so timers stay fresh */
#define RUN_DRAIN_TIMEOUT_MS 10000 /* after stopping: wait this long for outstanding readings */
#define RUN_CLOSE_TIMEOUT_MS 5000  /* then this long for "offline" and DISCONNECT */
#define RUN_WAIT_LOG_MS 5000       /* load mode: how often to report devices still connecting */
#define RUN_START_TIMEOUT_MS 15000 /* load mode: start without the devices not online by then */
#define RUN_TURN_MAX 64            /* load mode: most readings one device sends in a row */

enum run_phase {
    RUN_SEND,  /* producing readings */
    RUN_DRAIN, /* stopped producing; waiting for outstanding readings */
    RUN_CLOSE, /* "offline" sent; waiting for the disconnects */
};

/* A device's cycle not yet fully published (load mode). */
struct run_pending {
    struct node_msg msgs[NODE_MSGS_MAX];
    size_t n, next;
    uint32_t vclock_ms; /* the device's virtual clock in load mode */
};

/* The one state of a simulator run. */
struct run {
    const struct sim_config *cfg;
    size_t n;
    struct sim_device *devs;  /* owned, n */
    struct link *links;       /* owned, n; links[i] carries devs[i] */
    struct run_pending *pend; /* owned, n */
    struct pollfd *pfds;      /* owned, n */
    size_t *pfd_link;         /* owned, n: link index of pfds[k] */
    enum run_phase phase;
    uint64_t limit;     /* --count, or UINT64_MAX */
    uint64_t published; /* readings handed to the links */
    uint64_t window;    /* load mode: outstanding readings per link */
    /* load mode pacing */
    bool pacing;       /* all devices ready, clock started */
    int64_t t0_ms;     /* pacing start */
    uint64_t paced;    /* readings the pacer has released (sent or skipped) */
    uint64_t skipped;  /* released but not sent because the links were behind */
    size_t rr;         /* device whose turn it is */
    uint64_t turn;     /* readings it has sent in this turn */
    uint64_t turn_max; /* readings per turn (whole cycles are finished) */
    int64_t wait_log_ms;
    /* timing of the summary */
    int64_t start_ms, end_ms;
    int64_t deadline_ms; /* end of RUN_DRAIN or RUN_CLOSE */
};

static volatile sig_atomic_t run_signals;

static void run_on_signal(int sig)
{
    (void)sig;
    run_signals++;
}

uint64_t sim_window(long devices, long qos)
{
    uint64_t per = (uint64_t)(qos == 0 ? 262144 : 65536) / (uint64_t)(devices > 0 ? devices : 1);
    uint64_t lo = qos == 0 ? 64 : 16, hi = qos == 0 ? 4096 : 1000;
    return per < lo ? lo : per > hi ? hi : per;
}

/* A lone device without a prefix that logs in is the account's own device: named after it. */
static bool run_lone_account(const struct sim_config *c)
{
    return c->mqtt_username && c->devices == 1 && (!c->device_prefix || !*c->device_prefix);
}

/* Device i's id: <prefix>NNNN, "pico", or the account's name (run_lone_account). */
static int run_device_id(const struct sim_config *c, long i, char *id, size_t idlen)
{
    if (run_lone_account(c)) {
        int n = snprintf(id, idlen, "%s", c->mqtt_username);
        return n < 0 || (size_t)n >= idlen ? -1 : 0;
    }
    return sim_device_name(id, idlen, c->device_prefix, c->devices, i);
}

int sim_config_check(const struct sim_config *c, char *err, size_t errlen)
{
    if (c->interval_s < DHT22_MIN_INTERVAL_MS / 1000.0) {
        snprintf(err, errlen, "--interval must be at least %u seconds (the DHT22 allows one read every 2 s), got %g",
                 DHT22_MIN_INTERVAL_MS / 1000, c->interval_s);
        return -1;
    }
    bool cafile = c->mqtt_cafile && *c->mqtt_cafile;
    if (c->mqtt_tls != cafile) {
        snprintf(err, errlen,
                 c->mqtt_tls ? "--mqtt-tls needs --mqtt-cafile (the CA certificate that signed the broker's)"
                             : "--mqtt-cafile is for --mqtt-tls, which is off");
        return -1;
    }
    if (c->devices < 1) {
        snprintf(err, errlen, "--devices must be at least 1");
        return -1;
    }
    /* the last device has the longest id */
    char id[NODE_DEVICE_MAX + 2], topic[TOPIC_MAX + 1];
    if (run_device_id(c, c->devices - 1, id, sizeof id) || strlen(id) > NODE_DEVICE_MAX) {
        snprintf(err, errlen, "--device-prefix '%.64s' makes device ids longer than %d bytes", c->device_prefix,
                 NODE_DEVICE_MAX);
        return -1;
    }
    snprintf(topic, sizeof topic, "%s/temperature/internal", id);
    enum topic_kind kind;
    struct topic_parts parts;
    int rc = topic_parse(topic, strlen(topic), &kind, &parts);
    if (rc != TOPIC_OK || kind != TOPIC_READING) {
        snprintf(err, errlen, "--device-prefix '%.64s' does not make a valid topic level: %s", c->device_prefix,
                 rc != TOPIC_OK ? topic_strerror(rc) : "reserved name");
        return -1;
    }
    if (c->numbered) {
        if (c->rate <= 0) {
            snprintf(err, errlen, "--numbered needs load mode (--rate)");
            return -1;
        }
        uint64_t last = c->count > 0 ? sim_numbered_at(c->start, (uint64_t)c->count - 1) : c->start;
        if (c->start < 1 || last == 0 ||
            (uint64_t)snprintf(topic, sizeof topic, "%s/%s/%s", id, SIM_NUMBERED_METRIC, SIM_NUMBERED_SENSOR) >=
                sizeof topic) {
            snprintf(err, errlen, "--numbered: the numbers --start %" PRIu64 " .. + --count %ld must lie in 1..%llu",
                     c->start, c->count, (unsigned long long)SIM_NUMBER_MAX);
            return -1;
        }
    }
    return 0;
}

/* Make room for the sockets: each libmosquitto client holds three descriptors. */
static int run_raise_fd_limit(size_t devices)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)devices * 3 + 32;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return 0;
    if (rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        log_error("%zu devices need %llu file descriptors; the limit is %llu (ulimit -n)", devices,
                  (unsigned long long)need, (unsigned long long)rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl)) {
        log_error("cannot raise the open file limit to %llu: %s", (unsigned long long)need, strerror(errno));
        return -1;
    }
    return 0;
}

static void run_free(struct run *r)
{
    if (r->links)
        for (size_t i = 0; i < r->n; i++)
            link_destroy(&r->links[i]);
    free(r->links);
    free(r->devs);
    free(r->pend);
    free(r->pfds);
    free(r->pfd_link);
}

static int run_init(struct run *r, const struct sim_config *c, int64_t now)
{
    memset(r, 0, sizeof *r);
    r->cfg = c;
    r->n = (size_t)c->devices;
    r->limit = c->count > 0 ? (uint64_t)c->count : UINT64_MAX;
    if (c->numbered && c->count <= 0)
        r->limit = SIM_NUMBER_MAX - c->start + 1; /* until stopped, or the numbers run out */
    r->window = sim_window(c->devices, c->qos);
    /*
     * At high rates a device sends several cycles in a row: consecutive writes to
     * one socket share TCP segments, so the broker reads many messages per read()
     * instead of one message per connection per turn. At low rates one cycle each.
     */
    r->turn_max = (uint64_t)(c->rate / 2000);
    r->turn_max = r->turn_max < 1 ? 1 : r->turn_max > RUN_TURN_MAX ? RUN_TURN_MAX : r->turn_max;
    r->start_ms = now;
    r->wait_log_ms = now + RUN_WAIT_LOG_MS;
    r->devs = calloc(r->n, sizeof *r->devs);
    r->links = calloc(r->n, sizeof *r->links);
    r->pend = calloc(r->n, sizeof *r->pend);
    r->pfds = calloc(r->n, sizeof *r->pfds);
    r->pfd_link = calloc(r->n, sizeof *r->pfd_link);
    if (!r->devs || !r->links || !r->pend || !r->pfds || !r->pfd_link) {
        log_error("out of memory for %zu devices", r->n);
        goto fail;
    }
    uint32_t interval_ms = (uint32_t)(c->interval_s * 1000.0 + 0.5);
    bool load = c->rate > 0;
    struct conn_config cc = sim_device_conn_config((uint32_t)(c->stuck_s * 1000.0 + 0.5));
    cc.no_cycle = load; /* load mode publishes on its own clock (run_produce_load) */
    for (size_t i = 0; i < r->n; i++) {
        char id[NODE_DEVICE_MAX + 2], client_id[NODE_DEVICE_MAX + 32];
        run_device_id(c, (long)i, id, sizeof id);
        /* stagger the devices over one interval so their cycles do not all fall together */
        uint32_t first = (uint32_t)now + (uint32_t)((uint64_t)interval_ms * i / r->n);
        if (sim_device_init(&r->devs[i], id, interval_ms, (uint8_t)c->qos, first, c->fail_rate, c->seed, i)) {
            log_error("%s: invalid device", id);
            goto fail;
        }
        sim_device_boot(&r->devs[i], &cc, (uint32_t)now);
        /* the account's own device uses the client id the broker binds to it; others one of their own */
        if (run_lone_account(c))
            snprintf(client_id, sizeof client_id, "%s", id);
        else
            snprintf(client_id, sizeof client_id, "%s-%ld", id, (long)getpid());
        if (link_init(&r->links[i], client_id, &r->devs[i], c->mqtt_host, (int)c->mqtt_port, (uint8_t)c->qos,
                      load ? (uint32_t)r->window : 0) ||
            (c->mqtt_username && link_login(&r->links[i], c->mqtt_username, c->mqtt_password)))
            goto fail;
        if (c->mqtt_tls && link_tls(&r->links[i], c->mqtt_cafile))
            goto fail;
    }
    return 0;
fail:
    run_free(r);
    return -1;
}

/* Publish up to `room` messages of one cycle; returns how many went out. */
static size_t run_publish_msgs(struct run *r, size_t i, const struct node_msg *msgs, size_t n)
{
    size_t sent = 0;
    for (size_t k = 0; k < n && r->published < r->limit; k++)
        if (link_publish(&r->links[i], &msgs[k]) == 0) {
            r->published++;
            sent++;
        }
    return sent;
}

static double run_wall_s(void)
{
    return (double)time_now_us() / 1e6;
}

static void run_stop(struct run *r, int64_t now, const char *why);

/* Interval mode: device i's conn said SAMPLE: read its sensors and publish the cycle (within --count). */
static void run_sample(struct run *r, size_t i, int64_t now)
{
    struct sim_device *d = &r->devs[i];
    struct node_sample s;
    sim_device_sample(d, (uint32_t)now, run_wall_s(), &s);
    if (s.dht_status != DHT22_OK && s.dht_status != DHT22_CACHED)
        log_debug("%s: DHT22 read failed: %s", d->node.device, dht22_strerror(s.dht_status));
    size_t room = r->phase == RUN_SEND && r->published < r->limit ? (size_t)(r->limit - r->published) : 0;
    r->published += link_sampled(&r->links[i], &s, now, room < NODE_MSGS_MAX ? room : NODE_MSGS_MAX);
    if (r->published >= r->limit)
        run_stop(r, now, "count reached");
}

/* Every device whose conn has something to decide: conn_step() and its actions (link.h). */
static void run_step_devices(struct run *r, int64_t now)
{
    for (size_t i = 0; i < r->n; i++) {
        struct link *l = &r->links[i];
        if (!link_due(l, now))
            continue;
        unsigned todo = link_step(l, now);
        if (todo & CONN_DO_RESET) {
            /* the device started again: its unfinished load-mode cycle went with it */
            r->pend[i].n = r->pend[i].next = 0;
        }
        if (todo & CONN_DO_SAMPLE)
            run_sample(r, i, now);
    }
}

static bool run_all_ready(const struct run *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (!link_ready(&r->links[i]))
            return false;
    return true;
}

/* Load mode: release what the clock allows, from the devices in turn. Returns ms until more is due. */
static int64_t run_produce_load(struct run *r, int64_t now)
{
    const struct sim_config *c = r->cfg;
    if (!r->pacing) {
        if (!run_all_ready(r) && now - r->start_ms < RUN_START_TIMEOUT_MS) {
            if (now >= r->wait_log_ms) {
                size_t waiting = 0;
                for (size_t i = 0; i < r->n; i++)
                    waiting += !link_ready(&r->links[i]);
                log_info("waiting for %zu of %zu devices to come online", waiting, r->n);
                r->wait_log_ms = now + RUN_WAIT_LOG_MS;
            }
            return RUN_POLL_MAX_MS;
        }
        r->pacing = true;
        r->t0_ms = now;
        r->start_ms = now;
        if (run_all_ready(r))
            log_info("all %zu devices online; sending %.0f readings/s", r->n, c->rate);
        else
            log_warn("starting without the devices not online after %d s; sending %.0f readings/s",
                     RUN_START_TIMEOUT_MS / 1000, c->rate);
    }
    uint64_t target = (uint64_t)(c->rate * (double)(now - r->t0_ms) / 1000.0) + 1;
    uint64_t due = target > r->paced ? target - r->paced : 0;
    /* do not burst to catch up more than a quarter second of backlog */
    uint64_t cap = (uint64_t)(c->rate / 4) + RUN_BATCH_MAX;
    if (due > cap) {
        r->skipped += due - cap;
        r->paced += due - cap;
        due = cap;
    }
    if (due > RUN_BATCH_MAX)
        due = RUN_BATCH_MAX;
    double wall = run_wall_s();
    size_t blocked = 0;
    while (due > 0 && r->published < r->limit && blocked < r->n) {
        size_t i = r->rr;
        struct run_pending *p = &r->pend[i];
        if (!link_can_publish(&r->links[i], r->window)) {
            blocked++;
            r->rr = (i + 1) % r->n;
            r->turn = 0;
            continue;
        }
        if (c->numbered) {
            /* the number is the count of readings handed over so far: no gap when a publish is refused */
            struct node_msg m;
            if (sim_numbered_msg(&m, r->devs[i].node.device, sim_numbered_at(c->start, r->published),
                                 (uint8_t)c->qos) == 0 &&
                run_publish_msgs(r, i, &m, 1) == 1) {
                blocked = 0;
                due--;
                r->paced++;
                r->turn++;
            } else {
                blocked++;
                r->turn = r->turn_max;
            }
            if (r->turn >= r->turn_max) {
                r->rr = (i + 1) % r->n;
                r->turn = 0;
            }
            continue;
        }
        if (p->next >= p->n) {
            struct sim_device *d = &r->devs[i];
            p->vclock_ms += d->node.interval_ms;
            p->n = sim_device_cycle(d, p->vclock_ms, wall, p->msgs);
            p->next = 0;
        }
        if (p->next < p->n && run_publish_msgs(r, i, &p->msgs[p->next], 1) == 1) {
            blocked = 0;
            due--;
            r->paced++;
            r->turn++;
        } else {
            blocked++;
        }
        p->next++;
        if (p->next >= p->n && r->turn >= r->turn_max) {
            r->rr = (i + 1) % r->n;
            r->turn = 0;
        }
    }
    if (r->published >= r->limit)
        return RUN_POLL_MAX_MS;
    if (due > 0)
        return blocked >= r->n ? 100 : 0; /* wait for the links to drain, or go on at once */
    /* the next reading is due at t0 + paced / rate */
    int64_t next = r->t0_ms + (int64_t)((double)r->paced * 1000.0 / c->rate);
    return next > now ? next - now : 1;
}

static void run_stop(struct run *r, int64_t now, const char *why)
{
    if (r->phase != RUN_SEND)
        return;
    log_info("stopping (%s) after %" PRIu64 " readings; waiting for outstanding messages", why, r->published);
    r->phase = RUN_DRAIN;
    r->deadline_ms = now + RUN_DRAIN_TIMEOUT_MS;
    /* conns go on (reconnects resend QoS 1/2 readings) but run no more cycles */
    for (size_t i = 0; i < r->n; i++)
        sim_device_stop_cycles(&r->devs[i]);
}

static bool run_drained(const struct run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct link *l = &r->links[i];
        /* a QoS 0 link without a connection has nothing left to send (see link.h) */
        if (l->phase == LINK_CLOSED || (!link_ready(l) && l->qos == 0))
            continue;
        if (!link_ready(l) || !link_drained(l))
            return false;
    }
    return true;
}

static uint64_t run_outstanding(const struct run *r)
{
    uint64_t out = 0;
    for (size_t i = 0; i < r->n; i++)
        out += r->links[i].sent - r->links[i].done;
    return out;
}

static void run_close_all(struct run *r, int64_t now)
{
    for (size_t i = 0; i < r->n; i++)
        link_close(&r->links[i]);
    r->phase = RUN_CLOSE;
    r->deadline_ms = now + RUN_CLOSE_TIMEOUT_MS;
}

static bool run_all_closed(const struct run *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->links[i].phase != LINK_CLOSED)
            return false;
    return true;
}

static void run_summary(const struct run *r)
{
    uint64_t failed = 0, lost = 0, done = 0, resets = 0, skipped = r->skipped;
    for (size_t i = 0; i < r->n; i++) {
        const struct sim_device *d = &r->devs[i];
        failed += d->failed_reads;
        resets += d->resets;
        skipped += d->cycles_skipped + d->conn.stats.cycles_skipped;
        lost += r->links[i].lost;
        done += r->links[i].done;
    }
    /* a QoS 0 reading dropped with its connection is counted done and lost (link.c) */
    uint64_t confirmed = done >= lost ? done - lost : 0;
    double seconds = (double)(r->end_ms - r->start_ms) / 1000.0;
    char numbers[64] = "";
    if (r->cfg->numbered && r->published > 0)
        snprintf(numbers, sizeof numbers, " numbers=%" PRIu64 "..%" PRIu64, r->cfg->start,
                 r->cfg->start + r->published - 1);
    else if (r->cfg->numbered)
        snprintf(numbers, sizeof numbers, " numbers=none");
    printf("sim: sent=%" PRIu64 " seconds=%.3f rate=%.1f qos=%ld devices=%zu failed_reads=%" PRIu64 " lost=%" PRIu64
           " unconfirmed=%" PRIu64 " skipped=%" PRIu64 " confirmed=%" PRIu64 " resets=%" PRIu64 "%s\n",
           r->published, seconds, seconds > 0 ? (double)r->published / seconds : 0.0, r->cfg->qos, r->n, failed, lost,
           run_outstanding(r), skipped, confirmed, resets, numbers);
    fflush(stdout);
}

/* One ppoll over every link with a socket; then every link's I/O (libmosquitto's callbacks: conn events). */
static void run_poll(struct run *r, int64_t timeout_ms, const sigset_t *mask)
{
    size_t k = 0;
    int64_t now = time_mono_ms();
    for (size_t i = 0; i < r->n; i++) {
        int64_t t = link_timer_ms(&r->links[i], now);
        if (t < timeout_ms)
            timeout_ms = t;
        int fd = link_fd(&r->links[i]);
        if (fd < 0)
            continue;
        r->pfds[k].fd = fd;
        r->pfds[k].events = link_events(&r->links[i]);
        r->pfds[k].revents = 0;
        r->pfd_link[k++] = i;
    }
    if (timeout_ms < 0)
        timeout_ms = 0;
    struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000};
    int rc = ppoll(r->pfds, k, &ts, mask);
    if (rc < 0 && errno != EINTR)
        log_warn("poll: %s", strerror(errno));
    now = time_mono_ms();
    size_t next = 0;
    for (size_t i = 0; i < r->n; i++) {
        short revents = 0;
        if (next < k && r->pfd_link[next] == i && rc > 0)
            revents = r->pfds[next].revents;
        if (next < k && r->pfd_link[next] == i)
            next++;
        link_io(&r->links[i], revents, now);
    }
}

int sim_run(const struct sim_config *c)
{
    if (run_raise_fd_limit((size_t)c->devices))
        return 1;
    struct run run;
    struct run *r = &run;
    if (run_init(r, c, time_mono_ms()))
        return 1;

    /* SIGINT/SIGTERM are blocked except inside ppoll, so none is missed between checks */
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &orig);
    struct sigaction sa = {0};
    sa.sa_handler = run_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* libmosquitto writes with send(..., 0) */
    sigset_t wait_mask = orig;
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);

    log_info("%zu device%s (%s%s) -> %s:%ld, %s", r->n, r->n == 1 ? "" : "s", r->devs[0].node.device,
             r->n > 1 ? ", ..." : "", c->mqtt_host, c->mqtt_port,
             c->numbered   ? "load mode, numbered readings"
             : c->rate > 0 ? "load mode"
                           : "interval mode");
    for (;;) {
        int64_t now = time_mono_ms();
        if (run_signals >= 2) {
            log_warn("second signal: leaving without waiting");
            break;
        }
        if (run_signals)
            run_stop(r, now, "signal");
        /* conn decides for every device with news or a deadline (interval mode: its cycles too) */
        run_step_devices(r, now);
        int64_t timeout = RUN_POLL_MAX_MS;
        if (r->phase == RUN_SEND && c->rate > 0) {
            timeout = run_produce_load(r, now);
            if (r->published >= r->limit)
                run_stop(r, now, "count reached");
        }
        if (r->phase == RUN_DRAIN) {
            if (run_drained(r) || now >= r->deadline_ms) {
                if (!run_drained(r))
                    log_warn("%" PRIu64 " readings not confirmed after %d s", run_outstanding(r),
                             RUN_DRAIN_TIMEOUT_MS / 1000);
                r->end_ms = now;
                run_close_all(r, now);
            }
            timeout = 10;
        }
        if (r->phase == RUN_CLOSE) {
            if (run_all_closed(r))
                break;
            if (now >= r->deadline_ms) {
                log_warn("devices did not disconnect cleanly within %d s", RUN_CLOSE_TIMEOUT_MS / 1000);
                break;
            }
            timeout = 10;
        }
        run_poll(r, timeout, &wait_mask);
    }
    if (!r->end_ms)
        r->end_ms = time_mono_ms();
    run_summary(r);
    run_free(r);
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return 0;
}
