/* dynsec_link.c - an admin connection to the dynamic-security plugin (see dynsec_link.h). */
#include "dynsec_link.h"

#include "core/secret.h"
#include "core/timeutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <mosquitto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DYNSEC_TOPIC "$CONTROL/dynamic-security/v1"
#define DYNSEC_RESPONSE_TOPIC DYNSEC_TOPIC "/response"

struct dynsec_link {
    struct mosquitto *mosq;
    const struct dynsec_target *t;
    int connack;  /* -1 until CONNACK */
    int sub_mid;  /* SUBSCRIBE in flight */
    int sub_qos;  /* granted QoS; -1 until SUBACK */
    bool lost;    /* the connection dropped */
    unsigned seq; /* batches sent */
    /* the batch waited for */
    const char *token;
    size_t n;
    struct dynsec_result *results;
    bool answered;
};

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    ((struct dynsec_link *)obj)->connack = rc;
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    (void)rc;
    ((struct dynsec_link *)obj)->lost = true;
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count, const int *granted)
{
    (void)mosq;
    struct dynsec_link *l = obj;
    if (mid == l->sub_mid && count == 1)
        l->sub_qos = granted[0];
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
    (void)mosq;
    struct dynsec_link *l = obj;
    if (l->token && !l->answered && m->payloadlen > 0 &&
        dynsec_reply_parse(m->payload, (size_t)m->payloadlen, l->token, l->n, l->results) == 1)
        l->answered = true;
}

/* Run the client until *done or the deadline. Returns 0, or -1 (lost, or the time is up). */
static int link_wait(struct dynsec_link *l, const bool *done, const int *flag, int64_t deadline_ms)
{
    for (;;) {
        if ((done && *done) || (flag && *flag >= 0))
            return 0;
        if (l->lost)
            return -1;
        int64_t left = deadline_ms - time_mono_ms();
        if (left <= 0)
            return -1;
        int rc = mosquitto_loop(l->mosq, left > 100 ? 100 : (int)left, 1);
        if (rc != MOSQ_ERR_SUCCESS && !(done && *done) && !(flag && *flag >= 0))
            l->lost = true;
    }
}

struct dynsec_link *dynsec_open(const struct dynsec_target *t, char *err, size_t errlen)
{
    struct dynsec_link *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->t = t;
    l->connack = -1;
    l->sub_qos = -1;
    l->mosq = mosquitto_new(NULL, true, l);
    if (!l->mosq || mosquitto_username_pw_set(l->mosq, t->username, t->password) != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "cannot create an MQTT client");
        goto fail;
    }
    mosquitto_connect_callback_set(l->mosq, on_connect);
    mosquitto_disconnect_callback_set(l->mosq, on_disconnect);
    mosquitto_subscribe_callback_set(l->mosq, on_subscribe);
    mosquitto_message_callback_set(l->mosq, on_message);
    int64_t deadline = time_mono_ms() + t->timeout_ms;
    int rc = mosquitto_connect(l->mosq, t->host, t->port, 30);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "cannot reach the broker at %s:%d: %s", t->host, t->port,
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        goto fail;
    }
    if (link_wait(l, NULL, &l->connack, deadline) || l->connack != 0) {
        snprintf(err, errlen, "the broker at %s:%d did not accept the login of '%s': %s", t->host, t->port, t->username,
                 l->connack > 0 ? mosquitto_connack_string(l->connack) : "no answer");
        goto fail;
    }
    if (mosquitto_subscribe(l->mosq, &l->sub_mid, DYNSEC_RESPONSE_TOPIC, 1) != MOSQ_ERR_SUCCESS ||
        link_wait(l, NULL, &l->sub_qos, deadline) || l->sub_qos > 2) {
        snprintf(err, errlen, "'%s' may not read the dynamic-security answers: is it the plugin's admin account?",
                 t->username);
        goto fail;
    }
    return l;
fail:
    dynsec_close(l);
    return NULL;
}

int dynsec_call(struct dynsec_link *l, cJSON *cmds, struct dynsec_result *results, char *err, size_t errlen)
{
    char token[DYNSEC_TOKEN_MAX];
    snprintf(token, sizeof token, "sensorpipe-%ld-%u", (long)getpid(), ++l->seq);
    size_t n = (size_t)cJSON_GetArraySize(cmds);
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    int rc = -1;
    if (!root || dynsec_correlate(cmds, token)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    cJSON_AddItemReferenceToObject(root, "commands", cmds);
    if (!(text = cJSON_PrintUnformatted(root))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    memset(results, 0, n * sizeof *results);
    l->token = token;
    l->n = n;
    l->results = results;
    l->answered = false;
    if (mosquitto_publish(l->mosq, NULL, DYNSEC_TOPIC, (int)strlen(text), text, 1, false) != MOSQ_ERR_SUCCESS ||
        link_wait(l, &l->answered, NULL, time_mono_ms() + l->t->timeout_ms)) {
        snprintf(err, errlen,
                 "no answer from the dynamic-security plugin in %d ms (is it loaded, and '%s' its admin account?)",
                 l->t->timeout_ms, l->t->username);
        goto out;
    }
    rc = 0;
out:
    l->token = NULL;
    l->results = NULL;
    if (text) {
        secret_wipe(text, strlen(text)); /* it may hold a new password */
        free(text);
    }
    cJSON_Delete(root); /* a reference: cmds stays the caller's */
    return rc;
}

void dynsec_close(struct dynsec_link *l)
{
    if (!l)
        return;
    if (l->mosq) {
        if (l->connack == 0 && !l->lost) {
            mosquitto_disconnect(l->mosq);
            mosquitto_loop(l->mosq, 10, 1); /* let the DISCONNECT go out */
        }
        mosquitto_destroy(l->mosq);
    }
    free(l);
}
