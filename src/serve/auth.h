/*
 * auth.h - who may use serve: sessions (the dashboard's cookie) and API tokens (scripts'
 * `Authorization: Bearer`), checked without a query per request; logins and logouts.
 *
 * Credentials live in PostgreSQL (db/007_people.sql) so every serve process shares them.
 * Each serve holds the live ones (tokens not revoked, sessions not expired: id, SHA-256 of
 * the secret, expiry, read-only) in a sorted array and checks a request against it on the
 * loop, in constant time, with no slow hash: a flood of bogus tokens costs one SHA-256 and
 * one binary search each. A trigger bumps auth_version on any change and NOTIFYs
 * sensorpipe_auth; on that NOTIFY (auth_poke) and every AUTH_POLL_MS in case one was missed,
 * the listen connection reads auth_version and reloads the array when it moved, so a new or
 * revoked token, or a logout on another serve, takes effect within milliseconds (at worst
 * about AUTH_POLL_MS). When the array has
 * not been confirmed for AUTH_STALE_MS (database down), credentials are not trusted: 503.
 *
 * Logins (POST /login) read the user's scrypt hash on the query connection and verify it on
 * the loop (~50 ms, core/pwhash.h); they are throttled per address and per user name
 * (AUTH_THROTTLE_SLOTS entries each, least recent evicted: bounded memory) and, for the
 * loop's sake, at most AUTH_VERIFY_PER_S verifications a second overall.
 *
 * Routes: /api/..., /metrics and /ws need a session or a token (401 otherwise); / and
 * /index.html without one redirect (303) to /login.html; everything else (the dashboard's
 * assets, /login.html, /healthz, POST /login, POST /logout) is open.
 */
#ifndef SP_SERVE_AUTH_H
#define SP_SERVE_AUTH_H

#include "core/pwhash.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#define AUTH_POLL_MS 500
#define AUTH_STALE_MS 10000
#define AUTH_CREDS_MAX 1000000   /* live sessions + tokens held at most */
#define AUTH_BODY_MAX 4096       /* a POST /login body */
#define AUTH_THROTTLE_SLOTS 4096 /* per table (addresses, user names) */
#define AUTH_FREE_FAILS 5        /* failed logins before a lock-out */
#define AUTH_LOCK_MAX_MS 900000  /* longest lock-out (doubles from 1 s per failure beyond AUTH_FREE_FAILS) */
#define AUTH_FORGET_MS 3600000   /* failures older than this are forgotten */
#define AUTH_VERIFY_PER_S 10     /* password verifications a second, all clients together */
#define AUTH_RECENT 64           /* sessions made here, kept across a reload that raced them */

struct serve;
struct api_req;

/* One live credential. */
struct auth_cred {
    char id[CRED_ID_LEN + 1];
    uint8_t sha[CRED_SHA_LEN]; /* SHA-256 of the secret */
    int64_t expires_us;        /* wall clock; 0 = never (tokens) */
    bool session;              /* a session (cookie) or an API token (Bearer) */
    bool read_only;
};

struct auth_throttle_slot {
    uint64_t key; /* 0 = free */
    uint32_t fails;
    int64_t until_ms, last_ms; /* monotonic: locked until; last failure */
};

struct auth_throttle {
    struct auth_throttle_slot slots[AUTH_THROTTLE_SLOTS];
};

struct auth_state {
    struct auth_cred *creds; /* sorted by id; owned */
    size_t n;
    bool loaded;      /* one load succeeded */
    int64_t version;  /* auth_version.v of the load */
    int64_t fresh_ms; /* monotonic ms the array was last confirmed */
    bool polling;     /* a poll or load is queued on the listen connection */
    bool poke;        /* a sensorpipe_auth NOTIFY came while polling: check again when it is done */
    int64_t load_ms;  /* monotonic ms the last load was sent */
    lws_sorted_usec_list_t poll;
    struct auth_cred recent[AUTH_RECENT]; /* ring of sessions made here */
    int64_t recent_ms[AUTH_RECENT];
    unsigned recent_next;
    uint64_t seed; /* keys the throttle tables */
    struct auth_throttle by_addr, by_user;
    int64_t verify_window_ms; /* the current second of AUTH_VERIFY_PER_S */
    int verifies;
};

/* What a request may do. */
enum auth_action { AUTH_READ, AUTH_WRITE };
struct auth_who {
    bool session;
    bool read_only;
};

/* Start polling (after the lws context exists) / stop and free. */
void auth_start(struct serve *sv);
/* The sensorpipe_auth NOTIFY (db/007's trigger): a user, session or token changed; reload now. */
void auth_poke(struct serve *sv);
void auth_stop(struct serve *sv);
/* Credentials are loaded and confirmed lately (/healthz). */
bool auth_ready(const struct serve *sv);
/*
 * The one check every route that acts calls: reading is for anyone authenticated;
 * AUTH_WRITE (a later route that changes something: making tokens, settings) is refused
 * to read-only tokens.
 */
bool auth_may(const struct auth_who *who, enum auth_action a);
/*
 * LWS_CALLBACK_FILTER_HTTP_CONNECTION, for the path: 0 to go on (*who filled when
 * authenticated, may be NULL), or 1 when refused (401 / 503 / 303 sent; close).
 */
int auth_filter(struct serve *sv, struct lws *wsi, const char *uri);
/* HTTP_CONFIRM_UPGRADE of /ws: 0 to go on, 1 refused (401 / 503 sent), -1 close. */
int auth_ws(struct serve *sv, struct lws *wsi);

/* The id of the credential of an admitted /ws request into id (FILTER_PROTOCOL_CONNECTION). */
void auth_ws_id(struct serve *sv, struct lws *wsi, char *id, size_t idlen);

/* /login and /logout from api_http(): start (POST waits for its body; GET /login: 303). */
void auth_http(struct api_req *r, const char *uri);
/* LWS_CALLBACK_HTTP_BODY / HTTP_BODY_COMPLETION. 0, or -1 to close. */
int auth_body(struct api_req *r, const void *in, size_t len);
int auth_body_done(struct api_req *r);
/* Free what a request of auth holds (api_closed). */
void auth_req_free(struct api_req *r);

/* The throttle (pure, for tests): may key try now; a failure; a success (forget). */
bool auth_throttle_allowed(const struct auth_throttle *t, uint64_t key, int64_t now_ms);
void auth_throttle_failed(struct auth_throttle *t, uint64_t key, int64_t now_ms);
void auth_throttle_passed(struct auth_throttle *t, uint64_t key);

#endif
