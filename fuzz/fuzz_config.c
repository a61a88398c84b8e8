/*
 * fuzz_config.c - libFuzzer target: option tables (src/core/config.c).
 *
 * Input: lines. "E:NAME=VALUE" lines make the environment that a fake getenv serves; the
 * other lines are argv[1..]. cfg_parse runs over them against a table with every option
 * type, bounds, an environment alias and a secret; what it accepts must be in bounds, and
 * cfg_log_effective / cfg_free run after it. Every line also goes through
 * cfg_split_hostport (a host:port it accepts must print and parse back the same) and
 * cfg_mask_dsn with small output buffers.
 *
 * The whole input is also a config file (cfg_file_apply) for `serve`, for `ingest` and for a
 * command no section names: what it accepts must be in bounds, and an error says why.
 *
 * Then the input drives a generator of libpq connection strings, key=value and URI forms,
 * with a sentinel as the password (spaces around '=', quoted values, several password
 * keys, password as a URI query parameter, percent-encoded keys): the masked string must
 * never contain the sentinel.
 */
/* fuzz-max-len: 4096 (option lines and values well past any real command line) */
#include "core/config.h"
#include "core/log.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINES 64
#define SECRET "Pw0rdZq7"

static const char *env_names[MAX_LINES], *env_values[MAX_LINES];
static size_t env_count;

static const char *fake_getenv(const char *name)
{
    for (size_t i = 0; i < env_count; i++)
        if (!strcmp(env_names[i], name))
            return env_values[i];
    return NULL;
}

static void run_parse(int argc, char **argv, size_t errlen)
{
    char *listen = NULL, *db = NULL, *token = NULL;
    long ring = 0, neg = 0;
    bool migrate = false;
    double ratio = 0;
    const struct cfg_opt opts[] = {
        {"listen", CFG_STR, &listen, "127.0.0.1:8000", 0, 0, NULL, "address", false},
        {"db", CFG_STR, &db, "", 0, 0, "DATABASE_URL", "connection string", false},
        {"token", CFG_STR, &token, NULL, 0, 0, NULL, "a secret", true},
        {"ring-size", CFG_INT, &ring, "16384", 16, 10000000, NULL, "rows", false},
        {"neg", CFG_INT, &neg, "-5", -100, 100, NULL, "signed", false},
        {"migrate", CFG_BOOL, &migrate, "true", 0, 0, NULL, "flag", false},
        {"ratio", CFG_DOUBLE, &ratio, "0.5", -1e6, 1e6, NULL, "double", false},
        {0},
    };
    char *err = malloc(errlen);
    int rc = cfg_parse(opts, argc, argv, fake_getenv, err, errlen);
    if (rc == CFG_OK) {
        if (!listen || !db || !token || ring < 16 || ring > 10000000 || neg < -100 || neg > 100 || !isfinite(ratio) ||
            ratio < -1e6 || ratio > 1e6)
            abort();
        cfg_log_effective(opts);
    } else if (rc == CFG_ERROR && errlen && (!memchr(err, '\0', errlen) || (errlen > 1 && !err[0])))
        abort(); /* an error always says why, inside the buffer */
    cfg_free(opts);
    if (listen || db || token)
        abort(); /* cfg_free clears what it frees */
    free(err);
}

/* The input as a config file for section. */
static void run_file(const char *text, size_t len, const char *section, size_t errlen)
{
    char *listen = NULL, *db = NULL, *token = NULL;
    long ring = 0;
    bool migrate = false;
    double ratio = 0;
    const struct cfg_opt opts[] = {
        {"listen", CFG_STR, &listen, "127.0.0.1:8000", 0, 0, NULL, "address", false},
        {"db", CFG_STR, &db, "", 0, 0, "DATABASE_URL", "connection string", false},
        {"token", CFG_STR, &token, NULL, 0, 0, NULL, "a secret", true},
        {"ring-size", CFG_INT, &ring, "16384", 16, 10000000, NULL, "rows", false},
        {"migrate", CFG_BOOL, &migrate, "true", 0, 0, NULL, "flag", false},
        {"ratio", CFG_DOUBLE, &ratio, "0.5", -1e6, 1e6, NULL, "double", false},
        {0},
    };
    char *err = malloc(errlen ? errlen : 1);
    char *argv[] = {(char *)section, NULL};
    if (cfg_parse(opts, 1, argv, fake_getenv, err, errlen) ==
        CFG_OK) { /* defaults (no SENSORPIPE_CONFIG: env_count 0) */
        int rc = cfg_file_apply(opts, section, text, len, "fuzz.conf", err, errlen);
        if (rc == CFG_OK) {
            if (!listen || !db || !token || ring < 16 || ring > 10000000 || !isfinite(ratio) || ratio < -1e6 ||
                ratio > 1e6)
                abort();
        } else if (rc != CFG_ERROR || (errlen && (!memchr(err, '\0', errlen) || (errlen > 1 && !err[0]))))
            abort();
    }
    cfg_free(opts);
    free(err);
}

static void run_hostport(const char *s, size_t hostlen)
{
    char *host = malloc(hostlen);
    int port;
    if (cfg_split_hostport(s, host, hostlen, &port) == 0) {
        size_t hl = strnlen(host, hostlen);
        if (hl == 0 || hl >= hostlen || port < 0 || port > 65535)
            abort();
        if (!strpbrk(host, "[]")) {
            char again[600], h2[300];
            int p2;
            snprintf(again, sizeof again, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
            if (cfg_split_hostport(again, h2, sizeof h2, &p2) != 0 || strcmp(h2, host) || p2 != port)
                abort();
        }
    }
    free(host);
}

static void run_mask(const char *dsn, size_t outlen)
{
    char *out = malloc(outlen ? outlen : 1);
    cfg_mask_dsn(dsn, out, outlen);
    if (outlen && !memchr(out, '\0', outlen))
        abort();
    free(out);
}

/* ---- connection-string generator ---- */

struct gen {
    const uint8_t *p;
    size_t n;
    char out[2048];
    size_t len;
    unsigned secrets;
};

static unsigned take(struct gen *g)
{
    if (!g->n)
        return 0;
    g->n--;
    return *g->p++;
}

static void put(struct gen *g, const char *s)
{
    size_t l = strlen(s);
    if (g->len + l < sizeof g->out) {
        memcpy(g->out + g->len, s, l);
        g->len += l;
        g->out[g->len] = '\0';
    }
}

static void putc_(struct gen *g, char c)
{
    char s[2] = {c, '\0'};
    put(g, s);
}

/* A value of up to 8 characters from alphabet. */
static void word(struct gen *g, const char *alphabet)
{
    size_t k = strlen(alphabet), l = 1 + take(g) % 8;
    for (size_t i = 0; i < l; i++)
        putc_(g, alphabet[take(g) % k]);
}

/* The inside of a single-quoted value: spaces, and quotes and backslashes escaped with a backslash. */
static void qword(struct gen *g)
{
    static const char alphabet[] = "ab 9'\\=";
    size_t l = 1 + take(g) % 8;
    for (size_t i = 0; i < l; i++) {
        char c = alphabet[take(g) % (sizeof alphabet - 1)];
        if (c == '\'' || c == '\\')
            putc_(g, '\\');
        putc_(g, c);
    }
}

static void secret(struct gen *g)
{
    put(g, SECRET);
    g->secrets++;
}

static void gen_keyvalue(struct gen *g)
{
    static const char *const keys[] = {"host",     "port",    "dbname",           "user",
                                       "password", "sslmode", "application_name", "options"};
    unsigned pairs = 1 + take(g) % 6;
    for (unsigned i = 0; i < pairs; i++) {
        unsigned shape = take(g);
        if (i)
            put(g, (shape & 1) ? "  " : (shape & 2) ? "\t" : " ");
        const char *key = keys[take(g) % 8];
        put(g, key);
        put(g, (shape & 4) ? " = " : (shape & 8) ? "= " : "=");
        bool pw = !strcmp(key, "password");
        if (shape & 16) {
            /* quoted: spaces, escaped quotes and backslashes allowed */
            putc_(g, '\'');
            if (pw)
                secret(g);
            qword(g);
            if (pw && (shape & 32))
                secret(g);
            putc_(g, '\'');
        } else {
            if (pw)
                secret(g);
            word(g, "abcXYZ019._-/:@=");
        }
    }
}

static void gen_uri(struct gen *g)
{
    unsigned shape = take(g);
    put(g, (shape & 1) ? "postgres://" : "postgresql://");
    if (shape & 2) {
        word(g, "abcu01._-%");
        if (shape & 4) {
            putc_(g, ':');
            secret(g);
            word(g, "xyz09._~-%");
        }
        putc_(g, '@');
    }
    word(g, "hostabc012.-");
    if (shape & 8) {
        putc_(g, ':');
        word(g, "0123456789");
    }
    if (shape & 16) {
        putc_(g, ',');
        word(g, "hostabc012.-");
    }
    if (shape & 32) {
        putc_(g, '/');
        word(g, "dbname012_%");
    }
    if (shape & 64) {
        static const char *const keys[] = {"sslmode", "password", "pass%77ord", "application_name", "user", "PASSWORD"};
        unsigned params = 1 + take(g) % 4;
        putc_(g, '?');
        for (unsigned i = 0; i < params; i++) {
            if (i)
                putc_(g, '&');
            unsigned k = take(g) % 6;
            put(g, keys[k]);
            putc_(g, '=');
            if (k == 1 || k == 2)
                secret(g);
            word(g, "abc019%+-");
        }
    }
}

static void check_generated(const uint8_t *data, size_t size)
{
    struct gen g = {.p = data, .n = size};
    g.out[0] = '\0';
    if (take(&g) & 1)
        gen_uri(&g);
    else
        gen_keyvalue(&g);
    char masked[4096];
    cfg_mask_dsn(g.out, masked, sizeof masked);
    if (g.secrets && strstr(masked, SECRET)) {
        fprintf(stderr, "password leaked:\n  in:  %s\n  out: %s\n", g.out, masked);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool once;
    if (!once) {
        log_init("fuzz", LOG_ERROR); /* cfg_log_effective writes at info */
        once = true;
    }
    if (size > 8192)
        return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[MAX_LINES + 1] = {"serve"};
    int argc = 1;
    env_count = 0;
    for (char *line = buf, *next; line && argc < MAX_LINES && env_count < MAX_LINES; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (!strncmp(line, "E:", 2) && strchr(line, '=')) {
            char *eq = strchr(line, '=');
            *eq = '\0';
            env_names[env_count] = line + 2;
            env_values[env_count++] = eq + 1;
        } else
            argv[argc++] = line;
    }
    argv[argc] = NULL;
    size_t small = size ? data[0] % 16 : 0;
    size_t saved_env = env_count;
    env_count = 0; /* the file's own run: defaults only */
    run_file((const char *)data, size, "serve", 512);
    run_file((const char *)data, size, "ingest", small);
    run_file((const char *)data, size, "nosuch", 256);
    env_count = saved_env;
    run_parse(argc, argv, 512);
    run_parse(argc, argv, small);
    for (int i = 1; i < argc; i++) {
        run_hostport(argv[i], 1 + small * 16);
        run_mask(argv[i], small);
        run_mask(argv[i], 4096);
    }
    for (size_t i = 0; i < env_count; i++)
        run_mask(env_values[i], small);
    free(buf);
    check_generated(data, size);
    return 0;
}
