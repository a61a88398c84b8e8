/* test_device_account.c - account names, the dynamic-security commands of each kind, and reading the answers. */
#include "unit.h"

#include "device/account.h"
#include "device/dynsec_reply.h"
#include "device/password.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static void test_names(void **state)
{
    (void)state;
    static const char *const good[] = {
        "a", "kitchen", "pico_2", "sim-0001", "A9", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    static const char *const bad[] = {
        "",     "a b", "a/b",
        "a+",   "#",   "k\xc3\xa9",
        "$SYS", "a.b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!account_name_valid(good[i]))
            fail_msg("'%s' refused", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (account_name_valid(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    char err[256];
    struct account_spec load = {"simload", ACCOUNT_LOAD, "load", 3};
    assert_int_equal(account_spec_check(&load, err, sizeof err), 0);
    load.load_prefix = "";
    assert_int_equal(account_spec_check(&load, err, sizeof err), -1);
    load.load_prefix = "a/b";
    assert_int_equal(account_spec_check(&load, err, sizeof err), -1);
    load.load_prefix = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; /* 61 + 4 digits > 64 */
    assert_int_equal(account_spec_check(&load, err, sizeof err), -1);
    load.load_prefix = "load";
    load.load_devices = 0;
    assert_int_equal(account_spec_check(&load, err, sizeof err), -1);
}

/* The ACL topics of the createRole command (the first), joined by spaces as "type:topic". */
static void acls_of(cJSON *cmds, char *out, size_t outlen)
{
    out[0] = '\0';
    cJSON *acls = cJSON_GetObjectItem(cJSON_GetArrayItem(cmds, 0), "acls"), *a;
    cJSON_ArrayForEach(a, acls)
    {
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a, "allow")));
        size_t l = strlen(out);
        snprintf(out + l, outlen - l, "%s%s:%s", l ? " " : "", cJSON_GetObjectItem(a, "acltype")->valuestring,
                 cJSON_GetObjectItem(a, "topic")->valuestring);
    }
}

static void test_commands(void **state)
{
    (void)state;
    char acls[2048];
    struct account_spec dev = {"kitchen", ACCOUNT_DEVICE, "", 0};
    cJSON *c = account_create_commands(&dev, "pw");
    assert_non_null(c);
    assert_int_equal(cJSON_GetArraySize(c), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(c, 0), "rolename")->valuestring,
                        "sensorpipe-device-kitchen");
    acls_of(c, acls, sizeof acls);
    assert_string_equal(acls, "publishClientSend:kitchen/+/+ publishClientSend:kitchen/status");
    cJSON *client = cJSON_GetArrayItem(c, 1);
    assert_string_equal(cJSON_GetObjectItem(client, "command")->valuestring, "createClient");
    assert_string_equal(cJSON_GetObjectItem(client, "username")->valuestring, "kitchen");
    assert_string_equal(cJSON_GetObjectItem(client, "clientid")->valuestring, "kitchen"); /* bound: no takeover */
    assert_int_equal(account_kind_of(client), ACCOUNT_DEVICE);
    assert_true(account_error_ignorable(c, 0, "Role already exists"));
    assert_false(account_error_ignorable(c, 1, "Client already exists"));
    cJSON_Delete(c);

    struct account_spec ing = {"ingest", ACCOUNT_INGEST, "", 0};
    c = account_create_commands(&ing, "pw");
    acls_of(c, acls, sizeof acls);
    assert_string_equal(acls, "subscribeLiteral:+/+/+ subscribePattern:$share/+/+/+/+ publishClientReceive:+/+/+ "
                              "subscribeLiteral:+/status subscribePattern:$share/+/+/status "
                              "publishClientReceive:+/status");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(c, 1), "clientid")->valuestring, "ingest");
    assert_int_equal(account_kind_of(cJSON_GetArrayItem(c, 1)), ACCOUNT_INGEST);
    cJSON_Delete(c);

    struct account_spec load = {"simload", ACCOUNT_LOAD, "load", 2};
    c = account_create_commands(&load, "pw");
    acls_of(c, acls, sizeof acls);
    assert_string_equal(acls, "publishClientSend:load0001/+/+ publishClientSend:load0001/status "
                              "publishClientSend:load0002/+/+ publishClientSend:load0002/status");
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(c, 1), "clientid")); /* many connections */
    assert_int_equal(account_kind_of(cJSON_GetArrayItem(c, 1)), ACCOUNT_LOAD);
    cJSON_Delete(c);

    c = account_remove_commands("kitchen", ACCOUNT_DEVICE);
    assert_int_equal(cJSON_GetArraySize(c), 2);
    cJSON_Delete(c);
    c = account_remove_commands("ingest", ACCOUNT_INGEST); /* the shared role stays */
    assert_int_equal(cJSON_GetArraySize(c), 1);
    cJSON_Delete(c);
    cJSON *other = cJSON_Parse("{\"username\":\"admin\",\"textname\":\"Dynsec admin user\"}");
    assert_int_equal(account_kind_of(other), ACCOUNT_OTHER);
    cJSON_Delete(other);
}

static void test_replies(void **state)
{
    (void)state;
    cJSON *cmds = account_get_commands("kitchen");
    cJSON_AddItemToArray(cmds, cJSON_CreateObject());
    assert_int_equal(dynsec_correlate(cmds, "tok-1"), 0);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cmds, 1), "correlationData")->valuestring, "tok-1.1");
    cJSON_Delete(cmds);

    struct dynsec_result r[2];
    static const char ok[] = "{\"responses\":[{\"command\":\"getClient\",\"data\":{\"client\":{\"username\":\"k\"}},"
                             "\"correlationData\":\"tok-1.0\"},{\"command\":\"deleteRole\",\"error\":\"Role not "
                             "found\",\"correlationData\":\"tok-1.1\"}]}";
    assert_int_equal(dynsec_reply_parse(ok, strlen(ok), "tok-1", 2, r), 1);
    assert_string_equal(r[0].error, "");
    assert_non_null(cJSON_GetObjectItem(r[0].data, "client"));
    assert_string_equal(r[1].error, "Role not found");
    assert_null(r[1].data);
    dynsec_results_free(r, 2);
    /* not ours, or not a whole answer: 0, results untouched */
    static const char *const not_ours[] = {
        "",
        "not json",
        "{}",
        "{\"responses\":{}}",
        "{\"responses\":[{\"command\":\"x\",\"correlationData\":\"tok-2.0\"},{\"correlationData\":\"tok-2.1\"}]}",
        "{\"responses\":[{\"correlationData\":\"tok-1.0\"}]}",
        "{\"responses\":[{\"correlationData\":\"tok-1.0\"},{\"correlationData\":\"tok-1.0\"}]}",
        "{\"responses\":[{\"correlationData\":\"tok-1.0\"},{\"correlationData\":\"tok-1.2\"}]}",
        "{\"responses\":[{\"correlationData\":\"tok-1.0\"},{\"correlationData\":\"tok-1.01\"}]}",
        "{\"responses\":[{\"correlationData\":\"tok-1.0\"},{\"correlationData\":\"tok-10.1\"}]}",
        "{\"responses\":[{\"correlationData\":\"tok-1.0\",\"error\":5},{\"correlationData\":\"tok-1.1\"}]}",
        "{\"responses\":[{\"correlationData\":\"tok-1.0\",\"data\":[]},{\"correlationData\":\"tok-1.1\"}]}",
        "{\"responses\":[{\"correlationData\":\"tok-1.0\"},{\"correlationData\":1}]}",
    };
    for (size_t i = 0; i < sizeof not_ours / sizeof not_ours[0]; i++) {
        memset(r, 0x5a, sizeof r);
        if (dynsec_reply_parse(not_ours[i], strlen(not_ours[i]), "tok-1", 2, r) != 0)
            fail_msg("case %zu taken as our answer", i);
        assert_int_equal(((unsigned char *)r)[0], 0x5a);
    }
}

static void test_password(void **state)
{
    (void)state;
    char a[PASSWORD_LEN + 1], b[PASSWORD_LEN + 1];
    assert_int_equal(password_new(a), 0);
    assert_int_equal(password_new(b), 0);
    assert_int_equal(strlen(a), 32);    /* 192 bits */
    assert_true(account_name_valid(a)); /* [A-Za-z0-9_-] */
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
