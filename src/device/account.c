/* account.c - dynamic-security commands for sensorpipe's broker accounts (see account.h). */
#include "account.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#define TEXT_DEVICE "sensorpipe device"
#define TEXT_INGEST "sensorpipe ingest"
#define TEXT_LOAD "sensorpipe load"
#define ROLE_INGEST "sensorpipe-ingest"

bool account_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > ACCOUNT_NAME_MAX)
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

const char *account_kind_name(enum account_kind k)
{
    switch (k) {
    case ACCOUNT_DEVICE:
        return "device";
    case ACCOUNT_INGEST:
        return "ingest";
    case ACCOUNT_LOAD:
        return "load";
    case ACCOUNT_OTHER:
        break;
    }
    return "other";
}

int account_spec_check(const struct account_spec *s, char *err, size_t errlen)
{
    if (!account_name_valid(s->name)) {
        snprintf(err, errlen, "a name is 1 to %d letters, digits, '_' or '-', got '%.64s'", ACCOUNT_NAME_MAX, s->name);
        return -1;
    }
    if (s->kind != ACCOUNT_LOAD)
        return 0;
    if (s->load_devices < 1 || s->load_devices > ACCOUNT_LOAD_DEVICES_MAX) {
        snprintf(err, errlen, "--load-devices must be between 1 and %d", ACCOUNT_LOAD_DEVICES_MAX);
        return -1;
    }
    char last[ACCOUNT_NAME_MAX + 16];
    snprintf(last, sizeof last, "%s%04ld", s->load_prefix, s->load_devices);
    if (!*s->load_prefix || !account_name_valid(last)) {
        snprintf(err, errlen, "--load-prefix '%.64s' must make device names of 1 to %d letters, digits, '_' or '-'",
                 s->load_prefix, ACCOUNT_NAME_MAX);
        return -1;
    }
    return 0;
}

static const char *role_name(char *out, size_t outlen, const char *name, enum account_kind kind)
{
    if (kind == ACCOUNT_INGEST)
        snprintf(out, outlen, "%s", ROLE_INGEST);
    else
        snprintf(out, outlen, "sensorpipe-%s-%s", account_kind_name(kind), name);
    return out;
}

/* Append {"acltype": type, "topic": topic, "allow": true} to acls. Returns 0 or -1 (out of memory). */
static int acl_add(cJSON *acls, const char *type, const char *topic)
{
    cJSON *a = cJSON_CreateObject();
    if (!a || !cJSON_AddStringToObject(a, "acltype", type) || !cJSON_AddStringToObject(a, "topic", topic) ||
        !cJSON_AddTrueToObject(a, "allow")) {
        cJSON_Delete(a);
        return -1;
    }
    cJSON_AddItemToArray(acls, a);
    return 0;
}

/* A device's two topics, publish only. */
static int acl_add_device(cJSON *acls, const char *device)
{
    char topic[ACCOUNT_NAME_MAX + 32];
    snprintf(topic, sizeof topic, "%s/+/+", device);
    if (acl_add(acls, "publishClientSend", topic))
        return -1;
    snprintf(topic, sizeof topic, "%s/status", device);
    return acl_add(acls, "publishClientSend", topic);
}

static int role_acls(cJSON *acls, const struct account_spec *s)
{
    switch (s->kind) {
    case ACCOUNT_DEVICE:
        return acl_add_device(acls, s->name);
    case ACCOUNT_INGEST: {
        /* the filters the ingest subscribes to (literally), shared or not, and the messages they bring */
        static const char *const subs[] = {"+/+/+", "+/status"};
        for (size_t i = 0; i < 2; i++) {
            char shared[64];
            snprintf(shared, sizeof shared, "$share/+/%s", subs[i]);
            if (acl_add(acls, "subscribeLiteral", subs[i]) || acl_add(acls, "subscribePattern", shared) ||
                acl_add(acls, "publishClientReceive", subs[i]))
                return -1;
        }
        return 0;
    }
    case ACCOUNT_LOAD:
        for (long i = 1; i <= s->load_devices; i++) {
            char dev[ACCOUNT_NAME_MAX + 16];
            snprintf(dev, sizeof dev, "%s%04ld", s->load_prefix, i);
            if (acl_add_device(acls, dev))
                return -1;
        }
        return 0;
    case ACCOUNT_OTHER:
        break;
    }
    return -1;
}

/* A new {"command": name} added to cmds; NULL when out of memory. */
static cJSON *command_add(cJSON *cmds, const char *name)
{
    cJSON *c = cJSON_CreateObject();
    if (!c || !cJSON_AddStringToObject(c, "command", name)) {
        cJSON_Delete(c);
        return NULL;
    }
    cJSON_AddItemToArray(cmds, c);
    return c;
}

cJSON *account_create_commands(const struct account_spec *s, const char *password)
{
    char role[ACCOUNT_NAME_MAX + 32], text[ACCOUNT_NAME_MAX + 64];
    role_name(role, sizeof role, s->name, s->kind);
    if (s->kind == ACCOUNT_LOAD)
        snprintf(text, sizeof text, "%s %s x%ld", TEXT_LOAD, s->load_prefix, s->load_devices);
    else
        snprintf(text, sizeof text, "%s", s->kind == ACCOUNT_INGEST ? TEXT_INGEST : TEXT_DEVICE);
    cJSON *cmds = cJSON_CreateArray();
    cJSON *c = cmds ? command_add(cmds, "createRole") : NULL;
    cJSON *acls = c ? cJSON_AddArrayToObject(c, "acls") : NULL;
    if (!acls || !cJSON_AddStringToObject(c, "rolename", role) || role_acls(acls, s))
        goto fail;
    c = command_add(cmds, "createClient");
    cJSON *roles = c ? cJSON_AddArrayToObject(c, "roles") : NULL;
    cJSON *r = roles ? cJSON_CreateObject() : NULL;
    if (!r)
        goto fail;
    cJSON_AddItemToArray(roles, r);
    if (!cJSON_AddStringToObject(r, "rolename", role) || !cJSON_AddStringToObject(c, "username", s->name) ||
        !cJSON_AddStringToObject(c, "password", password) || !cJSON_AddStringToObject(c, "textname", text))
        goto fail;
    if (s->kind != ACCOUNT_LOAD && !cJSON_AddStringToObject(c, "clientid", s->name))
        goto fail;
    return cmds;
fail:
    cJSON_Delete(cmds);
    return NULL;
}

cJSON *account_rotate_commands(const char *name, const char *password)
{
    cJSON *cmds = cJSON_CreateArray();
    cJSON *c = cmds ? command_add(cmds, "setClientPassword") : NULL;
    if (!c || !cJSON_AddStringToObject(c, "username", name) || !cJSON_AddStringToObject(c, "password", password)) {
        cJSON_Delete(cmds);
        return NULL;
    }
    return cmds;
}

cJSON *account_remove_commands(const char *name, enum account_kind kind)
{
    cJSON *cmds = cJSON_CreateArray();
    cJSON *c = cmds ? command_add(cmds, "deleteClient") : NULL;
    if (!c || !cJSON_AddStringToObject(c, "username", name))
        goto fail;
    if (kind == ACCOUNT_DEVICE || kind == ACCOUNT_LOAD) { /* the ingest's role is shared: kept */
        char role[ACCOUNT_NAME_MAX + 32];
        c = command_add(cmds, "deleteRole");
        if (!c || !cJSON_AddStringToObject(c, "rolename", role_name(role, sizeof role, name, kind)))
            goto fail;
    }
    return cmds;
fail:
    cJSON_Delete(cmds);
    return NULL;
}

cJSON *account_get_commands(const char *name)
{
    cJSON *cmds = cJSON_CreateArray();
    cJSON *c = cmds ? command_add(cmds, "getClient") : NULL;
    if (!c || !cJSON_AddStringToObject(c, "username", name)) {
        cJSON_Delete(cmds);
        return NULL;
    }
    return cmds;
}

cJSON *account_list_commands(void)
{
    cJSON *cmds = cJSON_CreateArray();
    cJSON *c = cmds ? command_add(cmds, "listClients") : NULL;
    if (!c || !cJSON_AddTrueToObject(c, "verbose")) {
        cJSON_Delete(cmds);
        return NULL;
    }
    return cmds;
}

enum account_kind account_kind_of(const cJSON *client)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(client, "textname");
    if (!cJSON_IsString(t))
        return ACCOUNT_OTHER;
    if (!strcmp(t->valuestring, TEXT_DEVICE))
        return ACCOUNT_DEVICE;
    if (!strcmp(t->valuestring, TEXT_INGEST))
        return ACCOUNT_INGEST;
    if (!strncmp(t->valuestring, TEXT_LOAD " ", sizeof TEXT_LOAD))
        return ACCOUNT_LOAD;
    return ACCOUNT_OTHER;
}

bool account_error_ignorable(const cJSON *commands, size_t index, const char *error)
{
    const cJSON *c = cJSON_GetArrayItem(commands, (int)index);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "command");
    return cJSON_IsString(name) && !strcmp(name->valuestring, "createRole") && !strcmp(error, "Role already exists");
}
