/*
 * account.h - the broker accounts sensorpipe makes, as commands of mosquitto's
 * dynamic-security plugin (docs/SECURITY.md says why that plugin).
 *
 * Three kinds, told apart by the client's textname:
 *
 *   device  username = client id = the device's name; role sensorpipe-device-NAME may
 *           publish NAME/+/+ and NAME/status (its will included), nothing else
 *   ingest  username = client id = NAME; the shared role sensorpipe-ingest may subscribe
 *           to +/+/+ and +/status (also under $share/<group>/) and receive them, nothing else
 *   load    the simulator's load mode: one account for many connections, so no fixed
 *           client id; role sensorpipe-load-NAME may publish <prefix>0001 ... <prefix>N
 *           readings and status, nothing else
 *
 * The client id binds the account to one connection: the broker refuses a login of a
 * device or ingest account under any other id, so no such account can take over
 * another's session (the ingest's in particular). These functions only build and read
 * JSON; dynsec_link.c carries it.
 */
#ifndef SP_DEVICE_ACCOUNT_H
#define SP_DEVICE_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

#define ACCOUNT_NAME_MAX 64           /* bytes of a name: [A-Za-z0-9_-]{1,64} */
#define ACCOUNT_LOAD_DEVICES_MAX 1000 /* devices one load account may publish for */

enum account_kind { ACCOUNT_DEVICE, ACCOUNT_INGEST, ACCOUNT_LOAD, ACCOUNT_OTHER };

struct account_spec {
    const char *name;
    enum account_kind kind;  /* DEVICE, INGEST or LOAD */
    const char *load_prefix; /* LOAD: device names are <prefix>0001 ... (as `sim --device-prefix`) */
    long load_devices;       /* LOAD: 1 .. ACCOUNT_LOAD_DEVICES_MAX */
};

/* True when name is 1 to 64 of [A-Za-z0-9_-]. */
bool account_name_valid(const char *name);
/* "device", "ingest", "load" or "other". */
const char *account_kind_name(enum account_kind k);
/* Check a spec before use. Returns 0, or -1 with a reason in err. */
int account_spec_check(const struct account_spec *s, char *err, size_t errlen);

/*
 * Each returns a new cJSON array of dynamic-security commands (the caller owns it and
 * frees it with cJSON_Delete), or NULL when out of memory. password is copied into it:
 * the caller wipes the printed request after use.
 *   create:  the role (an existing one of the same name is kept), then the client with it
 *   rotate:  a new password (the broker disconnects a client logged in with the old one)
 *   remove:  the client (the broker disconnects it), then its own role
 *   get:     one client;  list: every client
 */
struct cJSON *account_create_commands(const struct account_spec *s, const char *password);
struct cJSON *account_rotate_commands(const char *name, const char *password);
struct cJSON *account_remove_commands(const char *name, enum account_kind kind);
struct cJSON *account_get_commands(const char *name);
struct cJSON *account_list_commands(void);

/* The kind of a client object of getClient / listClients (by its textname). */
enum account_kind account_kind_of(const struct cJSON *client);

/* Errors of the create commands that mean "already there" and are not failures: the role. */
bool account_error_ignorable(const struct cJSON *commands, size_t index, const char *error);

#endif
