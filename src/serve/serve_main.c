/*
 * serve_main.c - `sensorpipe serve`: options, start-up, the one lws event loop, clean stop.
 *
 * Start-up: parse options (flags, SENSORPIPE_* environment, defaults), read
 * --db-password-file, migrate the schema (blocking, before the loop, unless
 * --no-migrate; as the schema's owner only: connected as another role, such
 * as sensorpipe_serve, it checks the schema's version instead), make the ring,
 * the lws context, and the database connections (LISTEN + the --db-pool query
 * connections), which connect asynchronously inside the loop, the event loop of
 * --event-loop (serve_loop.c). SIGTERM/SIGINT stop the loop; everything is freed and the
 * exit status is 0.
 */
#include "serve.h"

#include "core/config.h"
#include "core/log.h"
#include "core/migrate.h"
#include "core/secret.h"
#include "auth.h"
#include "conn_limits.h"
#include "forwarded.h"
#include "hub_feed.h"
#include "serve_lws.h"
#include "serve_state.h"
#include "ws_client.h"
#include "ws_group.h"
#include "ws_origin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define SCRATCH_MAX (64u << 20)
#define QUERY_QUEUE_MAX 4096 /* queued backfill/API queries before new ones get 503 / close */
#define LISTEN_QUEUE_MAX 64

/* pgc hooks of the query connection */
static void query_up(struct pgc *c, void *arg)
{
    (void)c;
    dbq_on_up(&((struct serve *)arg)->query_q);
}

static void query_input(struct pgc *c, void *arg)
{
    dbq_on_input(&((struct serve *)arg)->query_q, c);
}

static void query_down(struct pgc *c, void *arg, const char *why)
{
    struct serve *sv = arg;
    sv->m.db_reconnects[1]++;
    dbq_on_down(&sv->query_q, c, why);
}

/* Blocking migration (as the schema's owner) or version check (as another role) before the loop starts. 0 or -1. */
static int serve_migrate(const char *db, const char *password)
{
    const struct pgconn_config pcfg = {.conninfo = db, .app_name = "sensorpipe-serve", .password = password};
    PGconn *conn = pgconn_connect_blocking(&pcfg);
    int rc = -1;
    bool owner = false;
    char err[512], msg[512];
    if (PQstatus(conn) != CONNECTION_OK) {
        pgconn_flatten(msg, sizeof msg, PQerrorMessage(conn));
        log_error("cannot connect to the database to migrate: %s", msg);
    } else if ((rc = migrate_at_start(conn, &owner, err, sizeof err)) < 0) {
        pgconn_flatten(msg, sizeof msg, err);
        log_error("%s: %s", owner ? "migration failed" : "schema check failed", msg);
    } else {
        if (owner)
            log_info("schema up to date (%d migration%s applied)", rc, rc == 1 ? "" : "s");
        rc = 0;
    }
    PQfinish(conn);
    return rc;
}

static void serve_check_web_root(const char *root)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/index.html", root);
    if (stat(path, &st) != 0)
        log_warn("web root '%s' has no index.html: the dashboard will 404 (see --web-root)", root);
}

/* Is host (of --listen) a loopback address? A wildcard or a name other than localhost is not. */
static bool serve_loopback(const char *host)
{
    uint8_t b[16];
    static const uint8_t v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (!strcmp(host, "localhost"))
        return true;
    if (fwd_addr_parse(host, b))
        return false;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return !memcmp(b, v6_loop, 16) || (!memcmp(b, mapped, 12) && b[12] == 127);
}

/*
 * The HTTP side of the options (docs/SECURITY.md, "HTTP: HTTPS, hosts and origins"): TLS files
 * readable, plain HTTP only on loopback or behind --trusted-proxy, "*" origins only on
 * loopback, the effective --allowed-hosts into sv->allowed_hosts (owned by sv). 0, or -1 with
 * a reason in err.
 */
static int serve_check_http(struct serve *sv, const char *host, int port, char *err, size_t errlen)
{
    struct serve_config *cfg = &sv->cfg;
    bool loop = serve_loopback(host);
    if (!*cfg->tls_cert != !*cfg->tls_key) {
        snprintf(err, errlen, "--tls-cert and --tls-key go together");
        return -1;
    }
    const char *files[2] = {cfg->tls_cert, cfg->tls_key};
    for (int i = 0; i < 2; i++) {
        FILE *f = *files[i] ? fopen(files[i], "r") : NULL;
        if (*files[i] && !f) {
            snprintf(err, errlen, "%s '%s': %s", i ? "--tls-key" : "--tls-cert", files[i], strerror(errno));
            return -1;
        }
        if (f)
            fclose(f);
    }
    if (*cfg->trusted_proxy) {
        if (fwd_addr_parse(cfg->trusted_proxy, sv->proxy_addr)) {
            snprintf(err, errlen, "--trusted-proxy must be an IPv4 or IPv6 address, got '%s'", cfg->trusted_proxy);
            return -1;
        }
        sv->proxy_set = true;
    }
    if (!loop && !*cfg->tls_cert && !sv->proxy_set) {
        snprintf(err, errlen,
                 "plain HTTP on a non-loopback --listen (%s) would send data and logins in clear: give --tls-cert and "
                 "--tls-key, or --trusted-proxy ADDR when a TLS reverse proxy is in front",
                 host);
        return -1;
    }
    if (ws_allow_has_star(cfg->allow_origin) && !loop) {
        snprintf(err, errlen, "--allow-origin '*' is refused on a non-loopback --listen: list the origins instead");
        return -1;
    }
    size_t cap = strlen(cfg->allowed_hosts) + strlen(host) + 128;
    sv->allowed_hosts = malloc(cap);
    if (!sv->allowed_hosts) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (*cfg->allowed_hosts) {
        snprintf(sv->allowed_hosts, cap, "%s", cfg->allowed_hosts);
        if (ws_hosts_check(sv->allowed_hosts)) {
            snprintf(err, errlen, "--allowed-hosts must be a comma list of host[:port] (no scheme, no *), got '%.200s'",
                     cfg->allowed_hosts);
            return -1;
        }
        return 0;
    }
    bool wild = !*host || !strcmp(host, "*") || !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
    bool v6 = strchr(host, ':') != NULL;
    int n = 0;
    if (!wild && strcmp(host, "localhost") && strcmp(host, "127.0.0.1") && strcmp(host, "::1"))
        n = snprintf(sv->allowed_hosts, cap, "%s%s%s:%d,", v6 ? "[" : "", host, v6 ? "]" : "", port);
    snprintf(sv->allowed_hosts + n, cap - (size_t)n, "localhost:%d,127.0.0.1:%d,[::1]:%d", port, port, port);
    return 0;
}

/*
 * Every connection is a descriptor, and libwebsockets sizes its tables to RLIMIT_NOFILE at start
 * (and stops accepting near it): raise the soft limit to the hard one, but to no more than
 * SERVE_NOFILE_MAX, which bounds what lws allocates (two 8-byte entries per descriptor).
 */
#define SERVE_NOFILE_MAX 65536

static void serve_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) {
        log_warn("cannot read the file limit: %s", strerror(errno));
        return;
    }
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > SERVE_NOFILE_MAX ? SERVE_NOFILE_MAX : rl.rlim_max;
    rlim_t was = rl.rlim_cur;
    if (was == want)
        return;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl)) {
        log_warn("cannot set the file limit from %llu to %llu: %s", (unsigned long long)was, (unsigned long long)want,
                 strerror(errno));
        return;
    }
    log_info("file limit set from %llu to %llu descriptors (hard limit %llu, at most %d)", (unsigned long long)was,
             (unsigned long long)want, (unsigned long long)rl.rlim_max, SERVE_NOFILE_MAX);
}

int serve_main(int argc, char **argv)
{
    struct serve *sv = calloc(1, sizeof *sv);
    if (!sv) {
        fprintf(stderr, "sensorpipe serve: out of memory\n");
        return 1;
    }
    struct serve_config *cfg = &sv->cfg;
    const struct cfg_opt opts[] = {
        {"listen", CFG_STR, &cfg->listen, "127.0.0.1:8000", 0, 0, NULL, "HTTP address host:port", false},
        {"db", CFG_STR, &cfg->db, "", 0, 0, "DATABASE_URL", "libpq connection string or URI (PG* variables apply)",
         false},
        {"db-password-file", CFG_STR, &cfg->db_password_file, "", 0, 0, NULL,
         "file whose first line is the database password (readable by this service only; never on the command line)",
         false},
        {"web-root", CFG_STR, &cfg->web_root, "web", 0, 0, NULL, "directory of the dashboard files", false},
        {"allow-origin", CFG_STR, &cfg->allow_origin, "", 0, 0, NULL,
         "extra WebSocket origins allowed besides --allowed-hosts (comma list; * only on a loopback --listen)", false},
        {"ring-size", CFG_INT, &cfg->ring_size, "16384", 16, 10000000, NULL,
         "recent readings kept in memory for the live tail", false},
        {"client-max-lag", CFG_INT, &cfg->client_max_lag, "8192", 1, 10000000, NULL,
         "rows a client that stopped reading may fall behind before it gets a gap", false},
        {"client-stall-ms", CFG_INT, &cfg->client_stall_ms, "2000", 10, 3600000, NULL,
         "a client with rows waiting whose socket stays full this long has stopped reading", false},
        {"client-hold-ms", CFG_INT, &cfg->client_hold_ms, "250", 10, 3600000, NULL,
         "longest the live feed waits for a client that holds it up and takes no data (then it gets a gap)", false},
        {"history-max", CFG_INT, &cfg->history_max, "10000", 0, 100000, NULL, "largest ?history= a client may ask",
         false},
        {"max-clients", CFG_INT, &cfg->max_clients, "4096", 1, 1000000, NULL, "WebSocket clients at most", false},
        {"query-timeout-ms", CFG_INT, &cfg->query_timeout_ms, "30000", 100, 3600000, NULL,
         "statement_timeout of backfill and API queries", false},
        {"http-timeout-s", CFG_INT, &cfg->http_timeout_s, "10", 1, 3600, NULL,
         "an idle kept-alive connection, or one waiting for a header slot, is closed after this", false},
        {"http-head-timeout-s", CFG_INT, &cfg->http_head_timeout_s, "3", 1, 3600, NULL,
         "a connection must send a complete request head within this (slow-loris defence)", false},
        {"max-conns-per-addr", CFG_INT, &cfg->max_conns_per_addr, "64", 1, 1000000, NULL,
         "open connections one client address may hold (not counted for --trusted-proxy; more are closed at accept)",
         false},
        {"max-ws-per-addr", CFG_INT, &cfg->max_ws_per_addr, "32", 1, 1000000, NULL,
         "WebSocket clients one client address may have (at most half of --max-clients; more get 429)", false},
        {"max-requests-per-addr", CFG_INT, &cfg->max_requests_per_addr, "16", 1, 1000000, NULL,
         "API requests one client address may have in flight (more get 429)", false},
        {"socket-sndbuf", CFG_INT, &cfg->socket_sndbuf, "65536", 0, 16777216, NULL,
         "SO_SNDBUF of accepted connections in bytes: kernel memory a client that stops reading can hold (0 = the "
         "kernel's auto-tuning)",
         false},
        {"socket-rcvbuf", CFG_INT, &cfg->socket_rcvbuf, "65536", 0, 16777216, NULL,
         "SO_RCVBUF of accepted connections in bytes (0 = the kernel's auto-tuning)", false},
        {"client-close-ms", CFG_INT, &cfg->client_close_ms, "1000", 100, 60000, NULL,
         "a WebSocket client being closed (gap, error) that does not take its close frame this long is reset", false},
        {"http-header-pool", CFG_INT, &cfg->http_header_pool, "4096", 16, 32768, NULL,
         "request heads parsed at once (~9 KB each while in use); more connections wait for one", false},
        {"db-pool", CFG_INT, &cfg->db_pool, "3", 1, DBQ_POOL_MAX, NULL,
         "database connections for backfills and the API (heavy queries use at most all but one)", false},
        {"api-max-bytes", CFG_INT, &cfg->api_max_bytes, "4194304", 65536, 1073741824, NULL,
         "largest /api/readings response body; larger answers get 413 (narrow the range or lower limit)", false},
        {"session-hours", CFG_INT, &cfg->session_hours, "12", 1, 8760, NULL,
         "a dashboard login lasts this many hours (the session cookie's expiry)", false},
        {"notify-rows", CFG_BOOL, &cfg->notify_rows, "true", 0, 0, NULL,
         "send the rows a new_reading NOTIFY carries without reading them back (false: every NOTIFY is a doorbell; "
         "any database login can NOTIFY, see docs/SECURITY.md)",
         false},
        {"migrate", CFG_BOOL, &cfg->migrate, "true", 0, 0, NULL, "create/upgrade the schema at start", false},
        {"log-level", CFG_STR, &cfg->log_level, "info", 0, 0, NULL, "error, warn, info or debug", false},
        {"event-loop", CFG_STR, &cfg->event_loop, "uv", 0, 0, NULL,
         "uv: libuv (epoll) through libwebsockets' libuv plugin (package " SERVE_LOOP_UV_PACKAGE
         "); poll: libwebsockets' own poll() loop",
         false},
        {"allowed-hosts", CFG_STR, &cfg->allowed_hosts, "", 0, 0, NULL,
         "Host values served (comma list of host[:port]); default: the --listen host, localhost, 127.0.0.1 and [::1] "
         "with its port; others get 421",
         false},
        {"tls-cert", CFG_STR, &cfg->tls_cert, "", 0, 0, NULL, "PEM certificate chain: serve HTTPS (with --tls-key)",
         false},
        {"tls-key", CFG_STR, &cfg->tls_key, "", 0, 0, NULL, "PEM private key of --tls-cert", false},
        {"trusted-proxy", CFG_STR, &cfg->trusted_proxy, "", 0, 0, NULL,
         "address of the reverse proxy whose X-Forwarded-For/-Proto are believed (allows plain HTTP off loopback)",
         false},
        {0},
    };
    char err[512], host[256], options[64];
    char password[SECRET_MAX + 1] = "";
    size_t password_len = 0;
    int port, status = 1;
    int rc = cfg_parse(opts, argc, argv, NULL, err, sizeof err);
    if (rc == CFG_HELP) {
        cfg_usage(stdout, "serve",
                  "Serve the dashboard, the live WebSocket feed (/ws) and the REST API (/api/...) over HTTP or HTTPS.",
                  opts);
        status = 0;
        goto out_cfg;
    }
    if (rc != CFG_OK) {
        fprintf(stderr, "sensorpipe serve: %s\n", err);
        status = 2;
        goto out_cfg;
    }
    int level = log_level_parse(cfg->log_level);
    if (level < 0) {
        fprintf(stderr, "sensorpipe serve: --log-level must be error, warn, info or debug\n");
        status = 2;
        goto out_cfg;
    }
    enum serve_loop_kind loop_kind;
    if (serve_loop_parse(cfg->event_loop, &loop_kind)) {
        fprintf(stderr, "sensorpipe serve: --event-loop must be uv or poll, got '%s'\n", cfg->event_loop);
        status = 2;
        goto out_cfg;
    }
    if (cfg_split_hostport(cfg->listen, host, sizeof host, &port) || port == 0) {
        fprintf(stderr, "sensorpipe serve: --listen must be host:port, got '%s'\n", cfg->listen);
        status = 2;
        goto out_cfg;
    }
    if (*cfg->db_password_file && secret_read_file(cfg->db_password_file, password, &password_len, err, sizeof err)) {
        fprintf(stderr, "sensorpipe serve: %s\n", err);
        status = 2;
        goto out_cfg;
    }
    if (serve_check_http(sv, host, port, err, sizeof err)) {
        fprintf(stderr, "sensorpipe serve: %s\n", err);
        status = 2;
        goto out_cfg;
    }
    const char *db_password = *cfg->db_password_file ? password : NULL;
    log_init("serve", (enum log_level)level);
    serve_lws_log_init(level);
    cfg_log_effective(opts);
    if (cfg->max_clients > 1 && cfg->max_ws_per_addr > cfg->max_clients / 2) {
        /* one address must leave room for the others */
        log_info("--max-ws-per-addr %ld is more than half of --max-clients %ld: using %ld", cfg->max_ws_per_addr,
                 cfg->max_clients, cfg->max_clients / 2);
        cfg->max_ws_per_addr = cfg->max_clients / 2;
    }
    serve_check_web_root(cfg->web_root);

    if (cfg->migrate && serve_migrate(cfg->db, db_password))
        goto out_cfg;

    if (conn_limits_init(sv)) {
        log_error("cannot allocate the per-address table");
        goto out_cfg;
    }
    if (hub_ring_init(&sv->ring, (size_t)cfg->ring_size)) {
        log_error("cannot allocate a ring of %ld readings", cfg->ring_size);
        goto out_cfg;
    }
    hub_presence_init(&sv->presence);
    sbuf_init(&sv->scratch, LWS_PRE, SCRATCH_MAX);
    for (int i = 0; i < WS_FANOUT_SLOTS; i++)
        sbuf_init(&sv->fanout[i].frame, LWS_PRE, SCRATCH_MAX);

    if (serve_loop_init(&sv->loop, loop_kind, err, sizeof err)) {
        log_error("%s", err);
        goto out_loop;
    }
    serve_raise_nofile();
    if (serve_lws_start(sv, host, port))
        goto out_loop;

    static const struct pgc_hooks listen_hooks = {hub_feed_up, hub_feed_input, hub_feed_down};
    static const struct pgc_hooks query_hooks = {query_up, query_input, query_down};
    snprintf(options, sizeof options, "-c statement_timeout=%ld", cfg->query_timeout_ms);
    pgc_init(&sv->listen_conn, "listen", cfg->db, db_password, "sensorpipe-serve-listen", NULL, sv->ctx, sv->vh,
             &listen_hooks, sv);
    for (int i = 0; i < (int)cfg->db_pool; i++)
        pgc_init(&sv->query_conns[i], "query", cfg->db, db_password, "sensorpipe-serve", options, sv->ctx, sv->vh,
                 &query_hooks, sv);
    dbq_init(&sv->listen_q, &sv->listen_conn, 1, LISTEN_QUEUE_MAX, &sv->m.db_query_errors, &sv->m.db_queue_full,
             &sv->m.db_cancelled);
    dbq_init(&sv->query_q, sv->query_conns, (int)cfg->db_pool, QUERY_QUEUE_MAX, &sv->m.db_query_errors,
             &sv->m.db_queue_full, &sv->m.db_cancelled);
    pgc_start(&sv->listen_conn);
    for (int i = 0; i < (int)cfg->db_pool; i++)
        pgc_start(&sv->query_conns[i]);
    auth_start(sv);
    ws_clients_timer_start(sv);

    bool v6 = strchr(host, ':') != NULL;
    log_info("listening on %s://%s%s%s:%d (dashboard from %s, WebSocket /ws; hosts %s; %s event loop)",
             *cfg->tls_cert ? "https" : "http", v6 ? "[" : "", host, v6 ? "]" : "", port, cfg->web_root,
             sv->allowed_hosts, cfg->event_loop);
    status = serve_loop_run(&sv->loop, sv->ctx) ? 1 : 0;
    log_info("stopping");

    hub_feed_stop(sv);
    ws_clients_timer_stop(sv);
    auth_stop(sv);
    pgc_stop(&sv->listen_conn);
    for (int i = 0; i < (int)cfg->db_pool; i++)
        pgc_stop(&sv->query_conns[i]);
    dbq_free(&sv->listen_q);
    dbq_free(&sv->query_q);
out_loop:
    serve_loop_destroy(&sv->loop, &sv->ctx); /* closes every client: their close callbacks run now */
    ws_groups_free(sv);
    sbuf_free(&sv->scratch);
    for (int i = 0; i < WS_FANOUT_SLOTS; i++)
        sbuf_free(&sv->fanout[i].frame);
    hub_presence_free(&sv->presence);
    hub_ring_free(&sv->ring);
out_cfg:
    secret_wipe(password, sizeof password);
    conn_limits_free(sv);
    cfg_free(opts);
    free(sv->allowed_hosts);
    free(sv);
    return status;
}
