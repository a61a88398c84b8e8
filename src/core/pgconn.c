/* pgconn.c - one libpq connection's life: parameters, non-blocking connect, back-off, one-line errors (see pgconn.h).
 */
#include "pgconn.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

/*
 * A peer that stops answering is given up within about a minute, idle or not:
 * keepalive probes after 30 s of silence, every 10 s, 3 unanswered ones; and
 * data left unacknowledged for 60 s (tcp_user_timeout).
 */
#define PGCONN_KEEPALIVES_IDLE "30"
#define PGCONN_KEEPALIVES_INTERVAL "10"
#define PGCONN_KEEPALIVES_COUNT "3"
#define PGCONN_TCP_USER_TIMEOUT "60000"

static bool pgconn_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t pgconn_flatten(char *out, size_t outlen, const char *msg)
{
    size_t n = 0;
    bool space = false;
    if (!outlen)
        return 0;
    for (const char *p = msg ? msg : ""; *p && n + 1 < outlen; p++) {
        if (pgconn_is_space(*p)) {
            space = n > 0;
            continue;
        }
        if (space) {
            if (n + 2 >= outlen)
                break; /* no room for the space and a character after it */
            out[n++] = ' ';
        }
        space = false;
        out[n++] = *p;
    }
    out[n] = '\0';
    return n;
}

int pgconn_params(const struct pgconn_config *cfg, const char **keys, const char **vals, size_t n)
{
    const char *kv[][2] = {
        {"fallback_application_name", cfg->app_name},
        {"keepalives_idle", PGCONN_KEEPALIVES_IDLE},
        {"keepalives_interval", PGCONN_KEEPALIVES_INTERVAL},
        {"keepalives_count", PGCONN_KEEPALIVES_COUNT},
        {"tcp_user_timeout", PGCONN_TCP_USER_TIMEOUT},
        {"options", cfg->options},
        {"dbname", cfg->conninfo ? cfg->conninfo : ""},
        {"client_encoding", cfg->client_encoding},
        {"password", cfg->password},
    };
    size_t k = 0;
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        if (!kv[i][1])
            continue;
        if (k + 1 >= n)
            return -1;
        keys[k] = kv[i][0];
        vals[k] = kv[i][1];
        k++;
    }
    if (k >= n)
        return -1;
    keys[k] = vals[k] = NULL;
    return (int)k;
}

PGconn *pgconn_connect_blocking(const struct pgconn_config *cfg)
{
    const char *keys[PGCONN_PARAMS_MAX], *vals[PGCONN_PARAMS_MAX];
    pgconn_params(cfg, keys, vals, PGCONN_PARAMS_MAX); /* cannot fail: the arrays are big enough */
    return PQconnectdbParams(keys, vals, 1);
}

void pgconn_init(struct pgconn *pc, const struct pgconn_config *cfg, uint32_t seed)
{
    memset(pc, 0, sizeof *pc);
    pc->cfg = *cfg;
    pc->state = PGCONN_DOWN;
    backoff_init(&pc->backoff, cfg->backoff_base_ms, cfg->backoff_max_ms, seed ? seed : 1);
    pc->retry_at_ms = 0; /* connect at once */
}

static void pgconn_notice(void *arg, const char *message)
{
    (void)arg;
    char line[512];
    pgconn_flatten(line, sizeof line, message);
    log_debug("database notice: %s", line);
}

/* Record why (before conn, which it may point into, is finished), go DOWN and draw the retry. */
static void pgconn_down(struct pgconn *pc, int64_t now_ms, const char *why)
{
    char prev[sizeof pc->last_error];
    memcpy(prev, pc->last_error, sizeof prev);
    if (!pgconn_flatten(pc->last_error, sizeof pc->last_error, why))
        snprintf(pc->last_error, sizeof pc->last_error, "unknown error");
    pc->repeated = !strcmp(prev, pc->last_error);
    if (pc->state == PGCONN_UP && now_ms - pc->up_at_ms >= pc->cfg.stable_ms)
        backoff_reset(&pc->backoff);
    PQfinish(pc->conn);
    pc->conn = NULL;
    pc->state = PGCONN_DOWN;
    pc->retry_ms = backoff_next_ms(&pc->backoff);
    pc->retry_at_ms = now_ms + pc->retry_ms;
}

int pgconn_start(struct pgconn *pc, int64_t now_ms)
{
    const char *keys[PGCONN_PARAMS_MAX], *vals[PGCONN_PARAMS_MAX];
    if (pc->state != PGCONN_DOWN)
        return -1;
    pgconn_params(&pc->cfg, keys, vals, PGCONN_PARAMS_MAX); /* cannot fail: the arrays are big enough */
    pc->conn = PQconnectStartParams(keys, vals, 1);
    if (!pc->conn) {
        pgconn_down(pc, now_ms, "out of memory starting a connection");
        return -1;
    }
    if (PQstatus(pc->conn) == CONNECTION_BAD) {
        pgconn_down(pc, now_ms, PQerrorMessage(pc->conn));
        return -1;
    }
    pc->state = PGCONN_CONNECTING;
    pc->wait = PGCONN_WAIT_WRITE; /* libpq: after PQconnectStart, behave as if PQconnectPoll said WRITING */
    pc->deadline_ms = now_ms + PGCONN_CONNECT_TIMEOUT_MS;
    return 0;
}

enum pgconn_result pgconn_poll(struct pgconn *pc, bool ready, int64_t now_ms)
{
    if (pc->state == PGCONN_UP)
        return PGCONN_READY;
    if (pc->state != PGCONN_CONNECTING)
        return PGCONN_FAILED;
    if (ready) {
        switch (PQconnectPoll(pc->conn)) {
        case PGRES_POLLING_OK:
            if (PQsetnonblocking(pc->conn, 1) != 0) {
                pgconn_down(pc, now_ms, PQerrorMessage(pc->conn));
                return PGCONN_FAILED;
            }
            PQsetNoticeProcessor(pc->conn, pgconn_notice, NULL);
            pc->state = PGCONN_UP;
            pc->up_at_ms = now_ms;
            pc->last_error[0] = '\0';
            pc->repeated = false;
            return PGCONN_READY;
        case PGRES_POLLING_READING:
            pc->wait = PGCONN_WAIT_READ;
            break;
        case PGRES_POLLING_FAILED:
            pgconn_down(pc, now_ms, PQerrorMessage(pc->conn));
            return PGCONN_FAILED;
        default: /* WRITING (ACTIVE is never returned any more) */
            pc->wait = PGCONN_WAIT_WRITE;
            break;
        }
    }
    if (now_ms >= pc->deadline_ms) {
        pgconn_down(pc, now_ms, "connection attempt timed out");
        return PGCONN_TIMED_OUT;
    }
    return PGCONN_WAITING;
}

uint32_t pgconn_lost(struct pgconn *pc, int64_t now_ms, const char *why)
{
    if (pc->state != PGCONN_DOWN)
        pgconn_down(pc, now_ms, why);
    return pc->retry_ms;
}

void pgconn_close(struct pgconn *pc)
{
    PQfinish(pc->conn);
    pc->conn = NULL;
    pc->state = PGCONN_DOWN;
}

int64_t pgconn_next_timer(const struct pgconn *pc)
{
    switch (pc->state) {
    case PGCONN_DOWN:
        return pc->retry_at_ms;
    case PGCONN_CONNECTING:
        return pc->deadline_ms;
    default:
        return INT64_MAX;
    }
}

void pgconn_describe(const struct pgconn *pc, char *out, size_t outlen)
{
    const char *host = pc->conn ? PQhost(pc->conn) : NULL;
    const char *port = pc->conn ? PQport(pc->conn) : NULL;
    const char *db = pc->conn ? PQdb(pc->conn) : NULL;
    const char *user = pc->conn ? PQuser(pc->conn) : NULL;
    snprintf(out, outlen, "host=%s port=%s dbname=%s user=%s", host ? host : "?", port ? port : "?", db ? db : "?",
             user ? user : "?");
}
