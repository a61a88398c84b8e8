/* people_main.c - `sensorpipe user add` and `sensorpipe token add|list|revoke` (see people.h). */
#include "people.h"

#include "core/config.h"
#include "core/log.h"
#include "core/migrate.h"
#include "core/pgconn.h"
#include "core/pwhash.h"
#include "core/secret.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct people_opts {
    char *db, *db_password_file, *user; /* cfg_free */
    bool read_only, json;
};

static const char user_usage[] = "usage: sensorpipe user add NAME   (the password is read from stdin, first line)\n";
static const char token_usage[] = "usage: sensorpipe token add LABEL [--user NAME] [--read-only] [--json]\n"
                                  "       sensorpipe token list [--json]\n"
                                  "       sensorpipe token revoke ID\n";

static bool name_valid(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* Connect as the owner and migrate (or check the version). NULL with a message on stderr. */
static PGconn *people_connect(const char *cmd, const struct people_opts *o)
{
    char password[SECRET_MAX + 1] = "", err[512], msg[512];
    size_t len = 0;
    if (*o->db_password_file && secret_read_file(o->db_password_file, password, &len, err, sizeof err)) {
        fprintf(stderr, "sensorpipe %s: %s\n", cmd, err);
        return NULL;
    }
    const struct pgconn_config pcfg = {
        .conninfo = o->db, .app_name = "sensorpipe-people", .password = *o->db_password_file ? password : NULL};
    PGconn *conn = pgconn_connect_blocking(&pcfg);
    secret_wipe(password, sizeof password);
    bool owner = false;
    if (PQstatus(conn) != CONNECTION_OK) {
        pgconn_flatten(msg, sizeof msg, PQerrorMessage(conn));
        fprintf(stderr, "sensorpipe %s: cannot connect to the database: %s\n", cmd, msg);
    } else if (migrate_at_start(conn, &owner, err, sizeof err) < 0) {
        pgconn_flatten(msg, sizeof msg, err);
        fprintf(stderr, "sensorpipe %s: %s\n", cmd, msg);
    } else
        return conn;
    PQfinish(conn);
    return NULL;
}

/* Run a parameterised statement; NULL (message printed) on failure. The caller PQclear()s. */
static PGresult *people_exec(const char *cmd, PGconn *conn, const char *sql, int n, const char *const *params,
                             const int *lengths, const int *formats)
{
    PGresult *r = PQexecParams(conn, sql, n, NULL, params, lengths, formats, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    char msg[512];
    pgconn_flatten(msg, sizeof msg, PQresultErrorMessage(r));
    fprintf(stderr, "sensorpipe %s: %s\n", cmd, msg);
    PQclear(r);
    return NULL;
}

/* Options after the verb and its argument; returns CFG_OK/CFG_HELP/CFG_ERROR. */
static int people_parse(const struct cfg_opt *opts, char **argv, int argc, int skip, char *err, size_t errlen)
{
    char *cargv[argc + 1];
    int cargc = 0;
    cargv[cargc++] = argv[0];
    for (int i = skip; i < argc; i++)
        cargv[cargc++] = argv[i];
    cargv[cargc] = NULL;
    return cfg_parse(opts, cargc, cargv, NULL, err, errlen);
}

#define PEOPLE_DB_OPTS(o)                                                                                              \
    {"db",                                                                                                             \
     CFG_STR,                                                                                                          \
     &(o).db,                                                                                                          \
     "",                                                                                                               \
     0,                                                                                                                \
     0,                                                                                                                \
     "DATABASE_URL",                                                                                                   \
     "libpq connection string or URI of the database, as its owner (PG* variables apply)",                             \
     false},                                                                                                           \
    {                                                                                                                  \
        "db-password-file", CFG_STR, &(o).db_password_file, "", 0, 0, NULL,                                            \
            "file whose first line is the database password (readable by this user only)", false                       \
    }

int user_main(int argc, char **argv)
{
    struct people_opts o = {0};
    const struct cfg_opt opts[] = {PEOPLE_DB_OPTS(o), {NULL}};
    const char *verb = argc > 1 ? argv[1] : "", *name = argc > 2 ? argv[2] : "";
    char err[512];
    int status = 2;
    if (!strcmp(verb, "--help") || !strcmp(verb, "-h") || !strcmp(verb, "help") || !strcmp(name, "--help")) {
        fputs(user_usage, stdout);
        cfg_usage(stdout, "user", "Dashboard users: add NAME, its password read from stdin (first line).", opts);
        return 0;
    }
    if (strcmp(verb, "add") || !name_valid(name)) {
        fprintf(stderr, "sensorpipe user: %s",
                strcmp(verb, "add") ? "" : "NAME must be 1 to 64 of A-Z a-z 0-9 _ . -\n");
        fputs(user_usage, stderr);
        return 2;
    }
    int rc = people_parse(opts, argv, argc, 3, err, sizeof err);
    if (rc != CFG_OK) {
        fprintf(stderr, "sensorpipe user: %s\n", rc == CFG_HELP ? "see sensorpipe user --help" : err);
        goto out;
    }
    char pw[PWHASH_PASSWORD_MAX + 2], hash[PWHASH_MAX];
    if (!fgets(pw, sizeof pw, stdin)) {
        fprintf(stderr, "sensorpipe user add: no password on stdin\n");
        goto out;
    }
    size_t len = strcspn(pw, "\r\n");
    if (pw[len] == '\0' && len == sizeof pw - 1) {
        fprintf(stderr, "sensorpipe user add: password longer than %d bytes\n", PWHASH_PASSWORD_MAX);
        goto wipe;
    }
    pw[len] = '\0';
    if (len < 8) {
        fprintf(stderr, "sensorpipe user add: the password must have at least 8 characters\n");
        goto wipe;
    }
    status = 1;
    if (pwhash_make(pw, len, hash)) {
        fprintf(stderr, "sensorpipe user add: cannot hash the password\n");
        goto wipe;
    }
    PGconn *conn = people_connect("user add", &o);
    if (conn) {
        const char *params[2] = {name, hash};
        PGresult *r = people_exec(
            "user add", conn, "INSERT INTO users (name, password_hash) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            2, params, NULL, NULL);
        if (r && !strcmp(PQcmdTuples(r), "1")) {
            printf("user '%s' created\n", name);
            status = 0;
        } else if (r)
            fprintf(stderr, "sensorpipe user add: user '%s' exists\n", name);
        PQclear(r);
        PQfinish(conn);
    }
wipe:
    secret_wipe(pw, sizeof pw);
out:
    cfg_free(opts);
    return status;
}

static int token_add(PGconn *conn, const char *label, const struct people_opts *o)
{
    char tok[CRED_LEN + 1], id[CRED_ID_LEN + 1];
    uint8_t sha[CRED_SHA_LEN];
    if (cred_new(tok, sha)) {
        fprintf(stderr, "sensorpipe token add: no randomness\n");
        return 1;
    }
    memcpy(id, tok, CRED_ID_LEN);
    id[CRED_ID_LEN] = '\0';
    const char *params[5] = {id, label, *o->user ? o->user : NULL, o->read_only ? "t" : "f", (const char *)sha};
    const int lengths[5] = {0, 0, 0, 0, CRED_SHA_LEN}, formats[5] = {0, 0, 0, 0, 1};
    PGresult *r = people_exec("token add", conn,
                              "INSERT INTO api_tokens (id, label, user_id, read_only, secret_sha256)"
                              " SELECT $1, $2, u.id, $4::bool, $5::bytea FROM (SELECT NULL::bigint AS id) z"
                              " LEFT JOIN users u ON u.name = $3::text"
                              " WHERE $3::text IS NULL OR u.id IS NOT NULL",
                              5, params, lengths, formats);
    int status = 1;
    if (r && !strcmp(PQcmdTuples(r), "1")) {
        if (o->json)
            printf("{\"token\":\"%s\",\"id\":\"%s\",\"read_only\":%s}\n", tok, id, o->read_only ? "true" : "false");
        else
            printf("%s\n(token %s%s: shown this once; send it as 'Authorization: Bearer <token>')\n", tok, id,
                   o->read_only ? ", read-only" : "");
        status = 0;
    } else if (r)
        fprintf(stderr, "sensorpipe token add: no user '%s'\n", o->user);
    PQclear(r);
    secret_wipe(tok, sizeof tok);
    return status;
}

static int token_list(PGconn *conn, const struct people_opts *o)
{
    PGresult *r =
        people_exec("token list", conn,
                    "SELECT t.id, t.label, coalesce(u.name, ''), t.read_only,"
                    " to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                    " coalesce(to_char(t.revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"
                    " FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id ORDER BY t.created_at, t.id",
                    0, NULL, NULL, NULL);
    if (!r)
        return 1;
    cJSON *arr = o->json ? cJSON_CreateArray() : NULL;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *rev = PQgetvalue(r, i, 5), *user = PQgetvalue(r, i, 2);
        bool ro = *PQgetvalue(r, i, 3) == 't';
        if (!o->json) {
            printf("%s  %-24s %-16s %-9s %s%s%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), *user ? user : "-",
                   ro ? "read-only" : "full", PQgetvalue(r, i, 4), *rev ? "  revoked " : "", rev);
            continue;
        }
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, j);
        cJSON_AddStringToObject(j, "id", PQgetvalue(r, i, 0));
        cJSON_AddStringToObject(j, "label", PQgetvalue(r, i, 1));
        if (*user)
            cJSON_AddStringToObject(j, "user", user);
        else
            cJSON_AddNullToObject(j, "user");
        cJSON_AddBoolToObject(j, "read_only", ro);
        cJSON_AddStringToObject(j, "created_at", PQgetvalue(r, i, 4));
        if (*rev)
            cJSON_AddStringToObject(j, "revoked_at", rev);
        else
            cJSON_AddNullToObject(j, "revoked_at");
    }
    if (arr) {
        char *s = cJSON_PrintUnformatted(arr);
        printf("%s\n", s ? s : "[]");
        cJSON_free(s);
        cJSON_Delete(arr);
    }
    PQclear(r);
    return 0;
}

static int token_revoke(PGconn *conn, const char *id)
{
    const char *params[1] = {id};
    PGresult *r = people_exec("token revoke", conn,
                              "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", 1,
                              params, NULL, NULL);
    if (!r)
        return 1;
    int status = strcmp(PQcmdTuples(r), "1") ? 1 : 0;
    if (status)
        fprintf(stderr, "sensorpipe token revoke: no live token '%s'\n", id);
    else
        printf("token %s revoked\n", id);
    PQclear(r);
    return status;
}

int token_main(int argc, char **argv)
{
    struct people_opts o = {0};
    const struct cfg_opt opts[] = {
        PEOPLE_DB_OPTS(o),
        {"user", CFG_STR, &o.user, "", 0, 0, NULL, "add: the user the token acts for (default: none)", false},
        {"read-only", CFG_BOOL, &o.read_only, "false", 0, 0, NULL,
         "add: the token may read and nothing else (no route that changes anything, no new tokens)", false},
        {"json", CFG_BOOL, &o.json, "false", 0, 0, NULL, "add, list: print JSON", false},
        {NULL},
    };
    const char *verb = argc > 1 ? argv[1] : "";
    char err[512];
    if (!strcmp(verb, "--help") || !strcmp(verb, "-h") || !strcmp(verb, "help") ||
        (argc > 2 && !strcmp(argv[2], "--help"))) {
        fputs(token_usage, stdout);
        cfg_usage(stdout, "token",
                  "API tokens for scripts (Authorization: Bearer <id>.<secret>): add LABEL prints a new token once; "
                  "list; revoke ID.",
                  opts);
        return 0;
    }
    bool has_arg = !strcmp(verb, "add") || !strcmp(verb, "revoke");
    if (!has_arg && strcmp(verb, "list")) {
        fputs(token_usage, stderr);
        return 2;
    }
    const char *arg = has_arg && argc > 2 ? argv[2] : "";
    if (has_arg && (!*arg || *arg == '-')) {
        fprintf(stderr, "sensorpipe token %s: %s is needed\n%s", verb, !strcmp(verb, "add") ? "LABEL" : "ID",
                token_usage);
        return 2;
    }
    int status = 2;
    int rc = people_parse(opts, argv, argc, has_arg ? 3 : 2, err, sizeof err);
    if (rc != CFG_OK) {
        fprintf(stderr, "sensorpipe token: %s\n", rc == CFG_HELP ? "see sensorpipe token --help" : err);
        goto out;
    }
    if (!strcmp(verb, "add") && strlen(arg) > 200) {
        fprintf(stderr, "sensorpipe token add: LABEL longer than 200 bytes\n");
        goto out;
    }
    if (*o.user && !name_valid(o.user)) {
        fprintf(stderr, "sensorpipe token: --user must be 1 to 64 of A-Z a-z 0-9 _ . -\n");
        goto out;
    }
    status = 1;
    PGconn *conn = people_connect(argv[0], &o);
    if (!conn)
        goto out;
    if (!strcmp(verb, "add"))
        status = token_add(conn, arg, &o);
    else if (!strcmp(verb, "list"))
        status = token_list(conn, &o);
    else
        status = token_revoke(conn, arg);
    PQfinish(conn);
out:
    cfg_free(opts);
    return status;
}
