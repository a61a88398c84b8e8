/*
 * test_core_pgconn.c - the shared libpq connection manager without a database:
 * one-line errors, the parameters both daemons connect with, and the state
 * machine against refusals, a silent listener (timeout) and a peer that hangs up.
 */
#include "unit.h"

#include "core/pgconn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- pgconn_flatten ---- */

static const struct {
    const char *in;
    size_t outlen;
    const char *want;
} flatten_cases[] = {
    {NULL, 64, ""},
    {"", 64, ""},
    {"  \n\t", 64, ""},
    {"FATAL:  database \"x\" does not exist\n", 64, "FATAL: database \"x\" does not exist"},
    {"\n  leading and trailing \r\n", 64, "leading and trailing"},
    {"connection to server failed:\n\tConnection refused\n\tIs the server running?\n", 128,
     "connection to server failed: Connection refused Is the server running?"},
    {"abcdef", 4, "abc"}, /* truncated, NUL-terminated */
    {"ab cd", 4, "ab"},   /* no trailing space, no words run together */
    {"ab cd", 5, "ab c"},
    {"abc", 1, ""},
};

static void test_flatten(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof flatten_cases / sizeof flatten_cases[0]; i++) {
        char out[256];
        memset(out, 'x', sizeof out);
        size_t n = pgconn_flatten(out, flatten_cases[i].outlen, flatten_cases[i].in);
        if (strcmp(out, flatten_cases[i].want) || n != strlen(out))
            fail_msg("case %zu: got '%s' (%zu), want '%s'", i, out, n, flatten_cases[i].want);
        assert_int_equal(out[sizeof out - 1], 'x'); /* wrote nothing past outlen */
    }
    char one = 'x';
    assert_int_equal(pgconn_flatten(&one, 0, "abc"), 0); /* outlen 0 writes nothing */
    assert_int_equal(one, 'x');
}

/* ---- pgconn_params ---- */

static const char *find(const char **keys, const char **vals, const char *key, int *at)
{
    for (int i = 0; keys[i]; i++)
        if (!strcmp(keys[i], key)) {
            *at = i;
            return vals[i];
        }
    *at = -1;
    return NULL;
}

/* serve's query connection: options, no encoding; keepalives all the same */
static void test_params_serve(void **state)
{
    (void)state;
    struct pgconn_config cfg = {
        .conninfo = "postgresql:///sp", .app_name = "sensorpipe-serve", .options = "-c statement_timeout=30000"};
    const char *keys[PGCONN_PARAMS_MAX], *vals[PGCONN_PARAMS_MAX];
    int n = pgconn_params(&cfg, keys, vals, PGCONN_PARAMS_MAX);
    assert_int_equal(n, 7);
    assert_null(keys[n]);
    assert_null(vals[n]);
    int at, db;
    assert_string_equal(find(keys, vals, "dbname", &db), "postgresql:///sp");
    assert_string_equal(find(keys, vals, "fallback_application_name", &at), "sensorpipe-serve");
    assert_true(at < db);
    assert_string_equal(find(keys, vals, "options", &at), "-c statement_timeout=30000");
    assert_true(at < db); /* the user's conninfo may override ours */
    assert_string_equal(find(keys, vals, "keepalives_idle", &at), "30");
    assert_true(at < db);
    assert_string_equal(find(keys, vals, "keepalives_interval", &at), "10");
    assert_string_equal(find(keys, vals, "keepalives_count", &at), "3");
    assert_string_equal(find(keys, vals, "tcp_user_timeout", &at), "60000");
    assert_true(at < db);
    assert_null(find(keys, vals, "client_encoding", &at));
}

/* the ingest's: client_encoding after the conninfo (it always sends UTF-8), no options */
static void test_params_ingest(void **state)
{
    (void)state;
    struct pgconn_config cfg = {.conninfo = "", .app_name = "sensorpipe-ingest", .client_encoding = "UTF8"};
    const char *keys[PGCONN_PARAMS_MAX], *vals[PGCONN_PARAMS_MAX];
    int n = pgconn_params(&cfg, keys, vals, PGCONN_PARAMS_MAX);
    assert_int_equal(n, 7);
    int at, db;
    assert_string_equal(find(keys, vals, "dbname", &db), "");
    assert_null(find(keys, vals, "options", &at));
    assert_string_equal(find(keys, vals, "client_encoding", &at), "UTF8");
    assert_true(at > db);
    assert_string_equal(find(keys, vals, "tcp_user_timeout", &at), "60000");

    /* too small: refused, not overrun */
    assert_int_equal(pgconn_params(&cfg, keys, vals, 7), -1);
    assert_int_equal(pgconn_params(&cfg, keys, vals, 8), 7);
    assert_int_equal(pgconn_params(&cfg, keys, vals, 0), -1);
}

/* --db-password-file: the password after the conninfo, so it wins over one written there */
static void test_params_password(void **state)
{
    (void)state;
    struct pgconn_config cfg = {.conninfo = "host=127.0.0.1 user=sensorpipe_ingest password=old",
                                .app_name = "sensorpipe-ingest",
                                .options = "-c statement_timeout=1000",
                                .client_encoding = "UTF8",
                                .password = "s3cret"};
    const char *keys[PGCONN_PARAMS_MAX], *vals[PGCONN_PARAMS_MAX];
    int n = pgconn_params(&cfg, keys, vals, PGCONN_PARAMS_MAX);
    assert_int_equal(n, 9); /* every key at once */
    assert_null(keys[n]);
    int at, db;
    find(keys, vals, "dbname", &db);
    assert_string_equal(find(keys, vals, "password", &at), "s3cret");
    assert_true(at > db);
    cfg.password = NULL;
    assert_int_equal(pgconn_params(&cfg, keys, vals, PGCONN_PARAMS_MAX), 8);
    assert_null(find(keys, vals, "password", &at));
}

/* ---- the state machine ---- */

static const struct pgconn_config test_cfg = {
    .app_name = "sensorpipe-test", .backoff_base_ms = 100, .backoff_max_ms = 1000, .stable_ms = 5000};

static void test_refused_at_once(void **state)
{
    (void)state;
    struct pgconn_config cfg = test_cfg;
    cfg.conninfo = "nosuchoption=1";
    struct pgconn pc;
    pgconn_init(&pc, &cfg, 42);
    assert_int_equal(pc.state, PGCONN_DOWN);
    assert_int_equal(pgconn_next_timer(&pc), 0); /* the first attempt is due at once */

    assert_int_equal(pgconn_start(&pc, 1000), -1);
    assert_int_equal(pc.state, PGCONN_DOWN);
    assert_null(pc.conn);
    assert_non_null(strstr(pc.last_error, "nosuchoption"));
    assert_null(strchr(pc.last_error, '\n'));
    assert_false(pc.repeated);
    /* first delay: [base/2, base] */
    assert_in_range(pc.retry_ms, 50, 100);
    assert_int_equal(pc.retry_at_ms, 1000 + pc.retry_ms);
    assert_int_equal(pgconn_next_timer(&pc), pc.retry_at_ms);

    /* the same refusal again: the back-off doubles, the error is marked repeated */
    assert_int_equal(pgconn_start(&pc, 2000), -1);
    assert_true(pc.repeated);
    assert_in_range(pc.retry_ms, 100, 200);
    for (int i = 0; i < 10; i++)
        pgconn_start(&pc, 3000);
    assert_in_range(pc.retry_ms, 500, 1000); /* capped */

    /* lost while DOWN: nothing happens */
    uint32_t before = pc.retry_ms;
    assert_int_equal(pgconn_lost(&pc, 4000, "again"), before);
    assert_true(pc.repeated);
    pgconn_close(&pc);
}

/* A TCP listener on 127.0.0.1 that never accepts: the kernel completes the handshake, nobody answers. */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Drive pgconn_poll from poll() as a daemon's loop would, until it stops waiting or waits to read. */
static enum pgconn_result drive(struct pgconn *pc, bool until_read)
{
    for (int i = 0; i < 200; i++) {
        struct pollfd p = {.fd = PQsocket(pc->conn), .events = pc->wait == PGCONN_WAIT_READ ? POLLIN : POLLOUT};
        if (until_read && pc->wait == PGCONN_WAIT_READ)
            return PGCONN_WAITING;
        int r = poll(&p, 1, 20);
        assert_true(r >= 0);
        enum pgconn_result res = pgconn_poll(pc, r > 0, 0);
        if (res != PGCONN_WAITING)
            return res;
    }
    return PGCONN_WAITING;
}

static void setup_conninfo(char *buf, size_t len, int port)
{
    /* no SSL or GSS negotiation: one connection, one startup packet */
    snprintf(buf, len, "host=127.0.0.1 port=%d dbname=sp user=sp sslmode=disable gssencmode=disable connect_timeout=0",
             port);
}

static const char *conninfo_value(PGconn *conn, const char *key, char *out, size_t len)
{
    PQconninfoOption *opts = PQconninfo(conn);
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, key) && o->val)
            snprintf(out, len, "%s", o->val);
    PQconninfoFree(opts);
    return out;
}

static void test_timeout_with_keepalives(void **state)
{
    (void)state;
    int port, lfd = listener(&port);
    char conninfo[256], v[64];
    setup_conninfo(conninfo, sizeof conninfo, port);
    struct pgconn_config cfg = test_cfg;
    cfg.conninfo = conninfo;
    struct pgconn pc;
    pgconn_init(&pc, &cfg, 7);

    assert_int_equal(pgconn_start(&pc, 0), 0);
    assert_int_equal(pc.state, PGCONN_CONNECTING);
    assert_int_equal(pc.wait, PGCONN_WAIT_WRITE);
    assert_int_equal(pgconn_next_timer(&pc), PGCONN_CONNECT_TIMEOUT_MS);
    /* the connection really carries the settings (serve's LISTEN connection had none) */
    assert_string_equal(conninfo_value(pc.conn, "keepalives_idle", v, sizeof v), "30");
    assert_string_equal(conninfo_value(pc.conn, "keepalives_interval", v, sizeof v), "10");
    assert_string_equal(conninfo_value(pc.conn, "keepalives_count", v, sizeof v), "3");
    assert_string_equal(conninfo_value(pc.conn, "tcp_user_timeout", v, sizeof v), "60000");
    char peer[160];
    pgconn_describe(&pc, peer, sizeof peer);
    assert_non_null(strstr(peer, "host=127.0.0.1"));
    assert_non_null(strstr(peer, "dbname=sp user=sp"));

    /* connected, startup packet sent: now it waits for the server's answer */
    assert_int_equal(drive(&pc, true), PGCONN_WAITING);
    assert_int_equal(pc.wait, PGCONN_WAIT_READ);
    assert_int_equal(pgconn_poll(&pc, false, PGCONN_CONNECT_TIMEOUT_MS - 1), PGCONN_WAITING);
    assert_int_equal(pc.state, PGCONN_CONNECTING);

    assert_int_equal(pgconn_poll(&pc, false, PGCONN_CONNECT_TIMEOUT_MS), PGCONN_TIMED_OUT);
    assert_int_equal(pc.state, PGCONN_DOWN);
    assert_null(pc.conn);
    assert_string_equal(pc.last_error, "connection attempt timed out");
    assert_int_equal(pgconn_next_timer(&pc), PGCONN_CONNECT_TIMEOUT_MS + pc.retry_ms);
    close(lfd);
}

static void test_peer_hangs_up(void **state)
{
    (void)state;
    int port, lfd = listener(&port);
    char conninfo[256];
    setup_conninfo(conninfo, sizeof conninfo, port);
    struct pgconn_config cfg = test_cfg;
    cfg.conninfo = conninfo;
    struct pgconn pc;
    pgconn_init(&pc, &cfg, 7);
    assert_int_equal(pgconn_start(&pc, 0), 0);
    int s = accept(lfd, NULL, NULL);
    assert_true(s >= 0);
    close(s);
    assert_int_equal(drive(&pc, false), PGCONN_FAILED);
    assert_int_equal(pc.state, PGCONN_DOWN);
    assert_null(pc.conn);
    assert_true(pc.last_error[0] != '\0');
    assert_null(strchr(pc.last_error, '\n'));
    assert_in_range(pc.retry_ms, 50, 100);
    close(lfd);
}

/*
 * Losing a connection: a short-lived one keeps climbing the back-off, one
 * that was UP for stable_ms starts again from the base. (UP is set by hand:
 * there is no server here; PQfinish(NULL) is a no-op.)
 */
static void test_lost_and_backoff(void **state)
{
    (void)state;
    struct pgconn_config cfg = test_cfg;
    cfg.conninfo = "nosuchoption=1";
    struct pgconn pc;
    pgconn_init(&pc, &cfg, 99);
    for (int i = 0; i < 4; i++)
        pgconn_start(&pc, 0); /* attempt 4: cap 1000 */

    pc.state = PGCONN_UP;
    pc.up_at_ms = 10000;
    pc.last_error[0] = '\0';
    assert_int_equal(pgconn_next_timer(&pc), INT64_MAX);
    uint32_t ms = pgconn_lost(&pc, 10000 + cfg.stable_ms - 1, "server closed\n\tthe connection");
    assert_int_equal(pc.state, PGCONN_DOWN);
    assert_string_equal(pc.last_error, "server closed the connection");
    assert_false(pc.repeated);
    assert_in_range(ms, 500, 1000); /* not stable: no reset */

    pc.state = PGCONN_UP;
    pc.up_at_ms = 20000;
    ms = pgconn_lost(&pc, 20000 + cfg.stable_ms, "");
    assert_string_equal(pc.last_error, "unknown error");
    assert_in_range(ms, 50, 100); /* stable: from the base again */
    assert_int_equal(pc.retry_at_ms, 20000 + cfg.stable_ms + ms);

    /* stable_ms 0 (serve): any loss after UP restarts from the base */
    pc.cfg.stable_ms = 0;
    for (int i = 0; i < 4; i++)
        pgconn_start(&pc, 0);
    pc.state = PGCONN_UP;
    pc.up_at_ms = 30000;
    assert_in_range(pgconn_lost(&pc, 30000, NULL), 50, 100);
    pgconn_close(&pc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flatten),         cmocka_unit_test(test_params_serve),
        cmocka_unit_test(test_params_ingest),   cmocka_unit_test(test_params_password),
        cmocka_unit_test(test_refused_at_once), cmocka_unit_test(test_timeout_with_keepalives),
        cmocka_unit_test(test_peer_hangs_up),   cmocka_unit_test(test_lost_and_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
