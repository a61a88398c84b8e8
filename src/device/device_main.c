/* device_main.c - `sensorpipe device add|remove|list`: options, then one batch of commands each (see device.h). */
#include "device.h"

#include "account.h"
#include "core/config.h"
#include "core/secret.h"
#include "dynsec_link.h"
#include "password.h"

#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct device_opts {
    char *host, *username, *password_file, *load_prefix, *password_out; /* cfg_free */
    long port, load_devices;
    double timeout_s;
    bool rotate, json, ingest;
};

static const char usage_text[] =
    "usage: sensorpipe device add NAME [--rotate] [--json] [--ingest | --load-prefix P [--load-devices N]]\n"
    "                                  [--password-out FILE]\n"
    "       sensorpipe device remove NAME\n"
    "       sensorpipe device list [--json]\n";

static const char summary[] =
    "Broker accounts, changed while the broker runs (mosquitto's dynamic-security plugin).\n"
    "  add NAME     a device account: user name and client id NAME, may publish NAME/<metric>/<sensor> and\n"
    "               NAME/status only; prints a new random password. NAME taken: exit 1, unless --rotate\n"
    "               (a new password; a client logged in with the old one is disconnected).\n"
    "  remove NAME  revoke the account; a client logged in with it is disconnected\n"
    "  list         the accounts sensorpipe made\n"
    "The options reach the broker as its dynamic-security admin (--mqtt-username, --mqtt-password-file).";

/* The answer of a batch; every error not ignorable is reported. Returns 0 or -1 (reason in err). */
static int check_results(const cJSON *cmds, const struct dynsec_result *res, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (!res[i].error[0] || account_error_ignorable(cmds, i, res[i].error))
            continue;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cmds, (int)i), "command");
        snprintf(err, errlen, "the broker refused %.64s: %.127s",
                 cJSON_IsString(name) ? name->valuestring : "a command", res[i].error);
        return -1;
    }
    return 0;
}

/*
 * Run cmds (owned; freed here) on l; *data gets the first command's "data" (the caller frees it) when data
 * is not NULL. *first_error gets the first command's error ("" when none) and errors of the first command
 * are left to the caller when first_error is not NULL. Returns 0 or -1.
 */
static int run(struct dynsec_link *l, cJSON *cmds, cJSON **data, char *first_error, size_t first_errlen, char *err,
               size_t errlen)
{
    if (!cmds) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(cmds);
    struct dynsec_result res[8];
    int rc = -1;
    if (n > sizeof res / sizeof res[0] || dynsec_call(l, cmds, res, err, errlen) != 0)
        goto out_nores;
    if (first_error) {
        snprintf(first_error, first_errlen, "%s", res[0].error);
        res[0].error[0] = '\0';
    }
    if (check_results(cmds, res, n, err, errlen) == 0) {
        rc = 0;
        if (data) {
            *data = res[0].data;
            res[0].data = NULL;
        }
    }
    dynsec_results_free(res, n);
out_nores:
    cJSON_Delete(cmds);
    return rc;
}

/* getClient NAME: 1 and the client object in *client (owned by *holder) when it exists, 0 when not, -1. */
static int get_client(struct dynsec_link *l, const char *name, cJSON **holder, const cJSON **client, char *err,
                      size_t errlen)
{
    char gerr[DYNSEC_ERROR_MAX];
    *holder = NULL;
    if (run(l, account_get_commands(name), holder, gerr, sizeof gerr, err, errlen))
        return -1;
    if (!strcmp(gerr, "Client not found")) {
        cJSON_Delete(*holder);
        *holder = NULL;
        return 0;
    }
    *client = cJSON_GetObjectItemCaseSensitive(*holder, "client");
    if (gerr[0] || !cJSON_IsObject(*client)) {
        snprintf(err, errlen, "the broker could not look up '%s': %s", name,
                 gerr[0] ? gerr : "no client in its answer");
        cJSON_Delete(*holder);
        *holder = NULL;
        return -1;
    }
    return 1;
}

static void print_account_json(const char *name, enum account_kind kind, const char *client_id, const char *password,
                               const struct device_opts *o)
{
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return;
    cJSON_AddStringToObject(j, "device", name);
    cJSON_AddStringToObject(j, "username", name);
    if (password)
        cJSON_AddStringToObject(j, "password", password);
    if (client_id)
        cJSON_AddStringToObject(j, "client_id", client_id);
    else
        cJSON_AddNullToObject(j, "client_id");
    cJSON_AddStringToObject(j, "kind", account_kind_name(kind));
    if (o) {
        cJSON_AddStringToObject(j, "mqtt_host", o->host);
        cJSON_AddNumberToObject(j, "mqtt_port", (double)o->port);
    }
    char *s = cJSON_PrintUnformatted(j);
    if (s) {
        printf("%s\n", s);
        if (password)
            secret_wipe(s, strlen(s));
        cJSON_free(s);
    }
    cJSON_Delete(j);
}

static int cmd_add(struct dynsec_link *l, const char *name, const struct device_opts *o, char *err, size_t errlen)
{
    struct account_spec spec = {
        .name = name,
        .kind = o->ingest         ? ACCOUNT_INGEST
                : *o->load_prefix ? ACCOUNT_LOAD
                                  : ACCOUNT_DEVICE,
        .load_prefix = o->load_prefix,
        .load_devices = o->load_devices,
    };
    char password[PASSWORD_LEN + 1];
    if (password_new(password)) {
        snprintf(err, errlen, "no randomness from the kernel for a password");
        return -1;
    }
    cJSON *holder;
    const cJSON *client = NULL;
    int rc = -1, found = get_client(l, name, &holder, &client, err, errlen);
    if (found < 0)
        goto out;
    enum account_kind kind = spec.kind;
    if (found) {
        kind = account_kind_of(client);
        if (!o->rotate) {
            snprintf(err, errlen, "'%s' exists (--rotate gives it a new password)", name);
            goto out;
        }
        if (kind == ACCOUNT_OTHER) {
            snprintf(err, errlen, "'%s' is not an account sensorpipe made: change it with mosquitto_ctrl", name);
            goto out;
        }
        if (run(l, account_rotate_commands(name, password), NULL, NULL, 0, err, errlen))
            goto out;
    } else if (run(l, account_create_commands(&spec, password), NULL, NULL, 0, err, errlen))
        goto out;
    if (*o->password_out && password_write_file(o->password_out, password, err, errlen))
        goto out;
    const char *client_id = kind == ACCOUNT_LOAD ? NULL : name;
    if (o->json)
        print_account_json(name, kind, client_id, password, o);
    else {
        printf("%s account '%s' %s\n  username   %s\n  client id  %s\n", account_kind_name(kind), name,
               found ? "has a new password" : "created", name, client_id ? client_id : "(any)");
        if (*o->password_out)
            printf("  password   in %s\n", o->password_out);
        else
            printf("  password   %s\n", password);
    }
    rc = 0;
out:
    secret_wipe(password, sizeof password);
    cJSON_Delete(holder);
    return rc;
}

static int cmd_remove(struct dynsec_link *l, const char *name, char *err, size_t errlen)
{
    cJSON *holder;
    const cJSON *client = NULL;
    int found = get_client(l, name, &holder, &client, err, errlen), rc = -1;
    if (found == 0)
        snprintf(err, errlen, "no account '%s'", name);
    if (found <= 0)
        goto out;
    enum account_kind kind = account_kind_of(client);
    if (kind == ACCOUNT_OTHER) {
        snprintf(err, errlen, "'%s' is not an account sensorpipe made: remove it with mosquitto_ctrl", name);
        goto out;
    }
    cJSON *cmds = account_remove_commands(name, kind);
    char derr[DYNSEC_ERROR_MAX];
    if (run(l, cmds, NULL, derr, sizeof derr, err, errlen))
        goto out;
    if (derr[0]) {
        snprintf(err, errlen, "the broker refused to remove '%s': %s", name, derr);
        goto out;
    }
    printf("%s account '%s' removed; a client logged in with it was disconnected\n", account_kind_name(kind), name);
    rc = 0;
out:
    cJSON_Delete(holder);
    return rc;
}

static int cmd_list(struct dynsec_link *l, const struct device_opts *o, char *err, size_t errlen)
{
    cJSON *data = NULL;
    if (run(l, account_list_commands(), &data, NULL, 0, err, errlen))
        return -1;
    const cJSON *clients = cJSON_GetObjectItemCaseSensitive(data, "clients");
    cJSON *out = cJSON_CreateArray();
    const cJSON *c;
    cJSON_ArrayForEach(c, clients)
    {
        const cJSON *user = cJSON_GetObjectItemCaseSensitive(c, "username");
        const cJSON *cid = cJSON_GetObjectItemCaseSensitive(c, "clientid");
        enum account_kind kind = account_kind_of(c);
        if (!cJSON_IsString(user) || kind == ACCOUNT_OTHER)
            continue; /* the admin, or made by hand */
        if (!o->json) {
            printf("%-32s %-7s %s\n", user->valuestring, account_kind_name(kind),
                   cJSON_IsString(cid) ? cid->valuestring : "(any client id)");
            continue;
        }
        cJSON *j = cJSON_CreateObject();
        if (!j)
            break;
        cJSON_AddItemToArray(out, j);
        cJSON_AddStringToObject(j, "device", user->valuestring);
        cJSON_AddStringToObject(j, "username", user->valuestring);
        if (cJSON_IsString(cid))
            cJSON_AddStringToObject(j, "client_id", cid->valuestring);
        else
            cJSON_AddNullToObject(j, "client_id");
        cJSON_AddStringToObject(j, "kind", account_kind_name(kind));
    }
    if (o->json) {
        char *s = cJSON_PrintUnformatted(out);
        printf("%s\n", s ? s : "[]");
        cJSON_free(s);
    }
    cJSON_Delete(out);
    cJSON_Delete(data);
    return 0;
}

int device_main(int argc, char **argv)
{
    struct device_opts o = {0};
    const struct cfg_opt opts[] = {
        {"mqtt-host", CFG_STR, &o.host, "127.0.0.1", 0, 0, NULL, "MQTT broker host", false},
        {"mqtt-port", CFG_INT, &o.port, "1883", 1, 65535, NULL, "MQTT broker port", false},
        {"mqtt-username", CFG_STR, &o.username, "", 0, 0, NULL, "the broker's dynamic-security admin account", false},
        {"mqtt-password-file", CFG_STR, &o.password_file, "", 0, 0, NULL,
         "a file whose first line is that account's password", false},
        {"rotate", CFG_BOOL, &o.rotate, "false", 0, 0, NULL, "add: give an existing account a new password", false},
        {"json", CFG_BOOL, &o.json, "false", 0, 0, NULL, "add, list: print JSON", false},
        {"ingest", CFG_BOOL, &o.ingest, "false", 0, 0, NULL,
         "add: an ingest's account (client id NAME; may subscribe to readings and presence only)", false},
        {"load-prefix", CFG_STR, &o.load_prefix, "", 0, 0, NULL,
         "add: the simulator's load account, for devices <prefix>0001 ... (any client id)", false},
        {"load-devices", CFG_INT, &o.load_devices, "100", 1, ACCOUNT_LOAD_DEVICES_MAX, NULL,
         "add with --load-prefix: how many devices it may publish for", false},
        {"password-out", CFG_STR, &o.password_out, "", 0, 0, NULL,
         "add: write the password to this file (mode 0600) instead of printing it", false},
        {"timeout", CFG_DOUBLE, &o.timeout_s, "10", 0.1, 3600, NULL, "seconds to wait for the broker at each step",
         false},
        {NULL},
    };
    const char *verb = argc > 1 ? argv[1] : "";
    bool named = !strcmp(verb, "add") || !strcmp(verb, "remove");
    int status = 2;
    char err[512];
    if (!strcmp(verb, "--help") || !strcmp(verb, "-h") || !strcmp(verb, "help")) {
        fputs(usage_text, stdout);
        cfg_usage(stdout, "device", summary, opts);
        return 0;
    }
    if (!named && strcmp(verb, "list") != 0) {
        fprintf(stderr, "sensorpipe device: %s%s%s\n%s", *verb ? "unknown action '" : "an action is needed",
                *verb ? verb : "", *verb ? "'" : "", usage_text);
        return 2;
    }
    const char *name = NULL;
    int skip = 2;
    if (named) {
        name = argc > 2 ? argv[2] : "";
        if (!strcmp(name, "--help") || !strcmp(name, "-h"))
            skip = 1; /* cfg_parse answers --help */
        else if (!account_name_valid(name)) {
            fprintf(stderr, "sensorpipe device %s: NAME must be 1 to %d letters, digits, '_' or '-', got '%.64s'\n%s",
                    verb, ACCOUNT_NAME_MAX, name, usage_text);
            return 2;
        } else
            skip = 3;
    }
    /* cfg_parse sees "device" (its [device] section) and the options */
    char *cargv[argc + 1];
    int cargc = 0;
    cargv[cargc++] = argv[0];
    for (int i = skip; i < argc; i++)
        cargv[cargc++] = argv[i];
    cargv[cargc] = NULL;
    char password[SECRET_MAX + 1];
    size_t password_len = 0;
    struct dynsec_link *l = NULL;
    int rc = cfg_parse(opts, cargc, cargv, NULL, err, sizeof err);
    if (rc == CFG_HELP) {
        fputs(usage_text, stdout);
        cfg_usage(stdout, "device", summary, opts);
        status = 0;
        goto out;
    }
    if (rc != CFG_OK)
        goto usage;
    if (!*o.username || !*o.password_file) {
        snprintf(err, sizeof err,
                 "needs --mqtt-username and --mqtt-password-file of the broker's dynamic-security "
                 "admin (make run writes them to var/sensorpipe.conf)");
        goto usage;
    }
    if (named && !strcmp(verb, "add")) {
        struct account_spec spec = {name,
                                    o.ingest         ? ACCOUNT_INGEST
                                    : *o.load_prefix ? ACCOUNT_LOAD
                                                     : ACCOUNT_DEVICE,
                                    o.load_prefix, o.load_devices};
        if (o.ingest && *o.load_prefix) {
            snprintf(err, sizeof err, "--ingest and --load-prefix exclude each other");
            goto usage;
        }
        if (account_spec_check(&spec, err, sizeof err))
            goto usage;
    }
    if (secret_read_file(o.password_file, password, &password_len, err, sizeof err))
        goto usage;
    status = 1;
    mosquitto_lib_init();
    struct dynsec_target t = {o.host, (int)o.port, o.username, password, (int)(o.timeout_s * 1000)};
    l = dynsec_open(&t, err, sizeof err);
    secret_wipe(password, sizeof password);
    if (l) {
        if (!strcmp(verb, "add"))
            rc = cmd_add(l, name, &o, err, sizeof err);
        else if (!strcmp(verb, "remove"))
            rc = cmd_remove(l, name, err, sizeof err);
        else
            rc = cmd_list(l, &o, err, sizeof err);
        if (rc == 0)
            status = 0;
        dynsec_close(l);
    }
    mosquitto_lib_cleanup();
    if (status)
        fprintf(stderr, "sensorpipe device %s: %s\n", verb, err);
    goto out;
usage:
    fprintf(stderr, "sensorpipe device %s: %s\n", verb, err);
out:
    secret_wipe(password, sizeof password);
    cfg_free(opts);
    return status;
}
