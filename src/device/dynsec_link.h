/*
 * dynsec_link.h - one admin connection to mosquitto's dynamic-security plugin: send a
 * batch of commands, wait for its answer. A command-line tool's blocking client
 * (libmosquitto's own loop, bounded by a deadline), not a daemon's.
 *
 *   dynsec_open()   connect as the admin account, subscribe to the answers
 *   dynsec_call()   publish one batch (correlated, dynsec_reply.h), wait for its answer
 *   dynsec_close()  disconnect
 *
 * The admin's password is the caller's (from a file); it is handed to libmosquitto and
 * never logged.
 */
#ifndef SP_DEVICE_DYNSEC_LINK_H
#define SP_DEVICE_DYNSEC_LINK_H

#include "dynsec_reply.h"

#include <stddef.h>

struct cJSON;
struct dynsec_link;

struct dynsec_target {
    const char *host;
    int port;
    const char *username; /* the plugin's admin account */
    const char *password;
    int timeout_ms; /* for each step: connect, subscribe, each answer */
};

/* Connect and subscribe. Returns the link (the caller closes it), or NULL with a reason in err. */
struct dynsec_link *dynsec_open(const struct dynsec_target *t, char *err, size_t errlen);
/*
 * Send the array of commands cmds (borrowed; correlation data is added to it) and wait
 * for the answer: results[0..n) for its n commands (the caller frees them with
 * dynsec_results_free). Returns 0, or -1 with a reason in err (no answer in time, the
 * connection lost).
 */
int dynsec_call(struct dynsec_link *l, struct cJSON *cmds, struct dynsec_result *results, char *err, size_t errlen);
void dynsec_close(struct dynsec_link *l);

#endif
