/* auth.c - sessions and tokens checked on the loop, their reload, logins and logouts (see auth.h). */
#include "auth.h"

#include "http_peer.h"

#include "auth_parse.h"
#include "core/log.h"
#include "core/secret.h"
#include "core/timeutil.h"
#include "http_api.h"
#include "http_util.h"
#include "serve_state.h"
#include "ws_client.h"
#include "ws_origin.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
static const char SQL_VERSION[] = "SELECT v FROM auth_version";
static const char SQL_LOAD[] =
    "SELECT id, encode(secret_sha256, 'hex'), 0::int8, read_only, false FROM api_tokens WHERE revoked_at IS NULL"
    " UNION ALL"
    " SELECT id, encode(secret_sha256, 'hex'), (extract(epoch FROM expires_at) * 1000000)::int8, false, true"
    " FROM sessions WHERE expires_at > now()";
static const char SQL_USER[] = "SELECT id, password_hash FROM users WHERE name = $1";
/* $1 id, $2 user id, $3 sha hex, $4 hours */
static const char SQL_SESSION_NEW[] =
    "INSERT INTO sessions (id, user_id, secret_sha256, expires_at)"
    " VALUES ($1, $2::int8, decode($3, 'hex'), now() + make_interval(hours => $4::int))";
static const char SQL_SESSION_END[] = "DELETE FROM sessions WHERE id = $1";
/* clang-format on */

enum auth_op { AUTH_OP_NONE = 0, AUTH_OP_LOGIN, AUTH_OP_LOGOUT, AUTH_OP_DONE };

/* A /login or /logout request: heap, owned by the api_req (r->auth) until auth_req_free. */
struct auth_req {
    enum auth_op op;
    bool json; /* a JSON client (status codes) or a browser form (303 redirects) */
    char name[AUTH_NAME_MAX + 1];
    char password[AUTH_PASSWORD_MAX + 1];
    char peer[HTTP_PEER_ADDR_MAX];
    char cred[CRED_LEN + 1];
    struct auth_cred c;
};

/* ---- the array of live credentials ---- */

static int cred_cmp(const void *a, const void *b)
{
    return strcmp(((const struct auth_cred *)a)->id, ((const struct auth_cred *)b)->id);
}

static struct auth_cred *cred_find(struct auth_state *a, const char *id)
{
    struct auth_cred key;
    memcpy(key.id, id, sizeof key.id);
    return a->n ? bsearch(&key, a->creds, a->n, sizeof *a->creds, cred_cmp) : NULL;
}

static void cred_remove(struct auth_state *a, const char *id)
{
    struct auth_cred *c = cred_find(a, id);
    if (!c)
        return;
    size_t i = (size_t)(c - a->creds);
    memmove(c, c + 1, (a->n - i - 1) * sizeof *c);
    a->n--;
    for (unsigned k = 0; k < AUTH_RECENT; k++)
        if (!strcmp(a->recent[k].id, id))
            a->recent_ms[k] = 0;
}

static void cred_insert(struct auth_state *a, const struct auth_cred *c)
{
    if (cred_find(a, c->id) || a->n >= AUTH_CREDS_MAX)
        return;
    struct auth_cred *m = realloc(a->creds, (a->n + 1) * sizeof *m);
    if (!m)
        return;
    a->creds = m;
    size_t i = 0;
    while (i < a->n && strcmp(a->creds[i].id, c->id) < 0)
        i++;
    memmove(a->creds + i + 1, a->creds + i, (a->n - i) * sizeof *m);
    a->creds[i] = *c;
    a->n++;
}

/* End the WebSocket clients whose session or token is gone or expired (a client lives on after its upgrade). */
static void sweep_clients(struct serve *sv)
{
    int64_t now = time_now_us();
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&sv->clients))
    {
        struct ws_client *c = lws_container_of(d, struct ws_client, node);
        const struct auth_cred *cr = c->auth_id[0] ? cred_find(&sv->auth, c->auth_id) : NULL;
        if (c->auth_id[0] && (!cr || (cr->expires_us && cr->expires_us <= now))) {
            log_info("ws %s: its %s ended: closing", c->peer, cr && cr->session ? "session" : "credentials");
            ws_client_end(c, "credentials ended");
        }
    }
    lws_end_foreach_dll_safe(d, d1);
}

/* ---- reload ---- */

static void poll_schedule(struct serve *sv);

static void version_check(struct serve *sv);

/* A NOTIFY came while a check was in flight: check once more now that it is done. */
static void repoke(struct serve *sv)
{
    if (sv->auth.poke && !sv->auth.polling) {
        sv->auth.poke = false;
        version_check(sv);
    }
}

static void load_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    struct serve *sv = owner;
    struct auth_state *a = &sv->auth;
    a->polling = false;
    if (err) {
        log_warn("auth: cannot load sessions and tokens: %s", err);
        return;
    }
    size_t n = (size_t)PQntuples(res);
    if (n > AUTH_CREDS_MAX) {
        log_warn("auth: %zu live sessions and tokens, holding the first %d", n, AUTH_CREDS_MAX);
        n = AUTH_CREDS_MAX;
    }
    struct auth_cred *m = calloc(n ? n : 1, sizeof *m);
    if (!m)
        return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = PQgetvalue(res, (int)i, 0), *hex = PQgetvalue(res, (int)i, 1);
        if (strlen(id) != CRED_ID_LEN || strlen(hex) != 2 * CRED_SHA_LEN || hex_decode(hex, CRED_SHA_LEN, m[k].sha))
            continue;
        memcpy(m[k].id, id, CRED_ID_LEN + 1);
        m[k].expires_us = strtoll(PQgetvalue(res, (int)i, 2), NULL, 10);
        m[k].read_only = *PQgetvalue(res, (int)i, 3) == 't';
        m[k].session = *PQgetvalue(res, (int)i, 4) == 't';
        k++;
    }
    qsort(m, k, sizeof *m, cred_cmp);
    free(a->creds);
    a->creds = m;
    a->n = k;
    /* a session made here while the load ran may be missing from its snapshot: keep it (its
     * insert bumped the version, so the next poll loads again anyway) */
    int64_t now = time_mono_ms();
    for (unsigned i = 0; i < AUTH_RECENT; i++)
        if (a->recent_ms[i] && a->recent_ms[i] >= a->load_ms)
            cred_insert(a, &a->recent[i]);
    a->version = (int64_t)(intptr_t)arg;
    a->loaded = true;
    a->fresh_ms = now;
    sv->m.auth_reloads++;
    sweep_clients(sv);
    log_debug("auth: %zu live sessions and tokens (version %lld)", a->n, (long long)a->version);
    repoke(sv);
}

static void version_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    struct serve *sv = owner;
    struct auth_state *a = &sv->auth;
    if (err || PQntuples(res) != 1) {
        a->polling = false;
        if (err)
            log_debug("auth: version poll failed: %s", err);
        return;
    }
    int64_t v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (a->loaded && v == a->version) {
        a->polling = false;
        a->fresh_ms = time_mono_ms();
        repoke(sv);
        return;
    }
    const char *why;
    a->load_ms = time_mono_ms();
    if (dbq_submit(&sv->listen_q, SQL_LOAD, 0, NULL, load_cb, sv, (void *)(intptr_t)v, &why))
        a->polling = false;
}

/* Read auth_version on the listen connection (one check in flight at a time). */
static void version_check(struct serve *sv)
{
    const char *why;
    if (!sv->auth.polling && pgc_up(&sv->listen_conn) &&
        !dbq_submit(&sv->listen_q, SQL_VERSION, 0, NULL, version_cb, sv, NULL, &why))
        sv->auth.polling = true;
}

static void poll_fire(lws_sorted_usec_list_t *sul)
{
    struct serve *sv = lws_container_of(sul, struct serve, auth.poll);
    version_check(sv);
    sweep_clients(sv); /* sessions that expired since */
    poll_schedule(sv);
}

void auth_poke(struct serve *sv)
{
    if (sv->auth.polling)
        sv->auth.poke = true; /* a check is in flight but may have read the version before this change */
    else
        version_check(sv);
}

static void poll_schedule(struct serve *sv)
{
    lws_sul_schedule(sv->ctx, 0, &sv->auth.poll, poll_fire, (lws_usec_t)AUTH_POLL_MS * LWS_US_PER_MS);
}

void auth_start(struct serve *sv)
{
    if (RAND_bytes((unsigned char *)&sv->auth.seed, sizeof sv->auth.seed) != 1)
        sv->auth.seed = (uint64_t)time_now_us();
    lws_sul_schedule(sv->ctx, 0, &sv->auth.poll, poll_fire, 1);
}

void auth_stop(struct serve *sv)
{
    lws_sul_cancel(&sv->auth.poll);
    dbq_cancel_owner(&sv->listen_q, sv);
    free(sv->auth.creds);
    sv->auth.creds = NULL;
    sv->auth.n = 0;
    secret_wipe(sv->auth.recent, sizeof sv->auth.recent);
}

bool auth_ready(const struct serve *sv)
{
    return sv->auth.loaded && time_mono_ms() - sv->auth.fresh_ms < AUTH_STALE_MS;
}

bool auth_may(const struct auth_who *who, enum auth_action act)
{
    if (!who)
        return false;
    return act == AUTH_READ || !who->read_only;
}

/* ---- checking a request ---- */

/* Check "<id>.<secret>" of the kind wanted. */
static enum auth_refusal check_cred(struct serve *sv, const char *s, size_t len, bool session, struct auth_who *who)
{
    char id[CRED_ID_LEN + 1];
    uint8_t sha[CRED_SHA_LEN];
    if (!cred_split(s, len, id, sha))
        return AUTH_REFUSE_BAD;
    if (!auth_ready(sv))
        return AUTH_REFUSE_UNAVAILABLE;
    const struct auth_cred *c = cred_find(&sv->auth, id);
    if (!c || c->session != session || !cred_sha_equal(c->sha, sha))
        return AUTH_REFUSE_BAD;
    if (c->expires_us && c->expires_us <= time_now_us())
        return AUTH_REFUSE_EXPIRED;
    if (who) {
        who->session = c->session;
        who->read_only = c->read_only;
    }
    return AUTH_REFUSE_COUNT; /* accepted */
}

/* The session cookie's value, or NULL. */
static const char *session_cookie(struct lws *wsi, char *buf, size_t buflen, size_t *len)
{
    const char *hdr = http_header(wsi, WSI_TOKEN_HTTP_COOKIE, buf, buflen), *v;
    if (hdr && auth_cookie_find(hdr, strlen(hdr), AUTH_COOKIE, &v, len))
        return v;
    return NULL;
}

/* AUTH_REFUSE_COUNT when accepted, else why not. A Bearer token wins over a cookie. */
static enum auth_refusal check_request(struct serve *sv, struct lws *wsi, struct auth_who *who)
{
    char buf[4096];
    size_t len;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION)) {
        const char *hdr = http_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, buf, sizeof buf), *tok;
        if (!hdr || !auth_bearer(hdr, strlen(hdr), &tok, &len))
            return AUTH_REFUSE_BAD;
        return check_cred(sv, tok, len, false, who);
    }
    const char *v = session_cookie(wsi, buf, sizeof buf, &len);
    return v ? check_cred(sv, v, len, true, who) : AUTH_REFUSE_NONE;
}

/* A small response with one extra header (name with its colon, or NULL), sent now. 0 or -1. */
static int send_now(struct lws *wsi, int status, const char *ctype, const char *body, const char *hname,
                    const char *hval)
{
    unsigned char buf[LWS_PRE + 2048];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    size_t len = strlen(body);
    bool head = http_is_head(wsi);
    if (len > 1024 || lws_add_http_common_headers(wsi, (unsigned)status, ctype, len, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const unsigned char *)"no-store", 8, &p,
                                     end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5, &p, end) ||
        (hname && lws_add_http_header_by_name(wsi, (const unsigned char *)hname, (const unsigned char *)hval,
                                              (int)strlen(hval), &p, end)) ||
        lws_finalize_http_header(wsi, &p, end))
        return -1;
    if (!head) {
        memcpy(p, body, len);
        p += len;
    }
    return lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL) < 0 ? -1 : 0;
}

/* Refuse for credentials: 401 with WWW-Authenticate, or 503. Returns 1 (or -1). */
static int refuse(struct serve *sv, struct lws *wsi, enum auth_refusal why, const char *what)
{
    static const char *const msg[AUTH_REFUSE_COUNT] = {
        "{\"error\":\"authentication required: a session cookie (log in at /login.html) or "
        "Authorization: Bearer <token>\"}",
        "{\"error\":\"invalid credentials\"}",
        "{\"error\":\"session expired: log in again\"}",
        "{\"error\":\"credentials cannot be checked now (database unavailable)\"}",
    };
    char peer[48] = "?";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    int status = why == AUTH_REFUSE_UNAVAILABLE ? HTTP_STATUS_SERVICE_UNAVAILABLE : HTTP_STATUS_UNAUTHORIZED;
    sv->m.auth_refused[why]++;
    metrics_count_http(&sv->m, status);
    log_info("%s from %s refused (%d): %s", what, peer, status,
             why == AUTH_REFUSE_NONE      ? "no credentials"
             : why == AUTH_REFUSE_EXPIRED ? "expired session"
             : why == AUTH_REFUSE_BAD     ? "invalid credentials"
                                          : "credentials unavailable");
    if (send_now(wsi, status, "application/json", msg[why],
                 status == HTTP_STATUS_UNAUTHORIZED ? "www-authenticate:" : NULL, "Bearer realm=\"sensorpipe\""))
        return -1;
    return 1;
}

static bool path_is(const char *uri, const char *prefix)
{
    size_t n = strlen(prefix);
    return !strncmp(uri, prefix, n) && (uri[n] == '\0' || uri[n] == '/');
}

int auth_filter(struct serve *sv, struct lws *wsi, const char *uri)
{
    if (path_is(uri, "/api") || path_is(uri, "/metrics")) {
        struct auth_who who;
        enum auth_refusal why = check_request(sv, wsi, &who);
        if (why != AUTH_REFUSE_COUNT)
            return refuse(sv, wsi, why, "http");
        return auth_may(&who, AUTH_READ) ? 0 : refuse(sv, wsi, AUTH_REFUSE_BAD, "http");
    }
    if (!strcmp(uri, "/") || !strcmp(uri, "/index.html")) {
        if (check_request(sv, wsi, NULL) == AUTH_REFUSE_COUNT)
            return 0;
        metrics_count_http(&sv->m, HTTP_STATUS_SEE_OTHER);
        return send_now(wsi, HTTP_STATUS_SEE_OTHER, "text/plain", "log in at /login.html\n", "location:", "/login.html")
                   ? -1
                   : 1;
    }
    return 0;
}

void auth_ws_id(struct serve *sv, struct lws *wsi, char *id, size_t idlen)
{
    char buf[4096];
    size_t len;
    const char *v = NULL;
    uint8_t sha[CRED_SHA_LEN];
    char cid[CRED_ID_LEN + 1] = "";
    (void)sv;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION)) {
        const char *hdr = http_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, buf, sizeof buf);
        if (!hdr || !auth_bearer(hdr, strlen(hdr), &v, &len))
            v = NULL;
    } else
        v = session_cookie(wsi, buf, sizeof buf, &len);
    if (v && !cred_split(v, len, cid, sha))
        cid[0] = '\0';
    snprintf(id, idlen, "%s", cid);
}

int auth_ws(struct serve *sv, struct lws *wsi)
{
    struct auth_who who;
    enum auth_refusal why = check_request(sv, wsi, &who);
    if (why != AUTH_REFUSE_COUNT)
        return refuse(sv, wsi, why, "ws upgrade");
    return auth_may(&who, AUTH_READ) ? 0 : refuse(sv, wsi, AUTH_REFUSE_BAD, "ws upgrade");
}

/* ---- the throttle ---- */

static struct auth_throttle_slot *slot_find(struct auth_throttle *t, uint64_t key, bool make, int64_t now_ms)
{
    size_t base = (size_t)(key % AUTH_THROTTLE_SLOTS), oldest = base;
    for (size_t i = 0; i < 8; i++) {
        struct auth_throttle_slot *s = &t->slots[(base + i) % AUTH_THROTTLE_SLOTS];
        if (s->key == key)
            return s;
        if (s->last_ms < t->slots[oldest].last_ms)
            oldest = (base + i) % AUTH_THROTTLE_SLOTS;
    }
    if (!make)
        return NULL;
    struct auth_throttle_slot *s = &t->slots[oldest]; /* free slots have last_ms 0: the oldest */
    memset(s, 0, sizeof *s);
    s->key = key;
    s->last_ms = now_ms;
    return s;
}

bool auth_throttle_allowed(const struct auth_throttle *t, uint64_t key, int64_t now_ms)
{
    struct auth_throttle_slot *s = slot_find((struct auth_throttle *)t, key, false, now_ms);
    return !s || now_ms - s->last_ms >= AUTH_FORGET_MS || now_ms >= s->until_ms;
}

void auth_throttle_failed(struct auth_throttle *t, uint64_t key, int64_t now_ms)
{
    struct auth_throttle_slot *s = slot_find(t, key, true, now_ms);
    if (now_ms - s->last_ms >= AUTH_FORGET_MS)
        s->fails = 0;
    s->fails++;
    s->last_ms = now_ms;
    if (s->fails >= AUTH_FREE_FAILS) {
        unsigned shift = s->fails - AUTH_FREE_FAILS;
        int64_t lock = shift >= 20 ? AUTH_LOCK_MAX_MS : (int64_t)1000 << shift;
        s->until_ms = now_ms + (lock > AUTH_LOCK_MAX_MS ? AUTH_LOCK_MAX_MS : lock);
    }
}

void auth_throttle_passed(struct auth_throttle *t, uint64_t key)
{
    struct auth_throttle_slot *s = slot_find(t, key, false, 0);
    if (s)
        memset(s, 0, sizeof *s);
}

/* A keyed hash (FNV-1a, then a mix); key 0 is kept for free slots. */
static uint64_t throttle_key(uint64_t seed, char kind, const char *s)
{
    uint64_t h = 1469598103934665603ULL ^ seed;
    h = (h ^ (uint8_t)kind) * 1099511628211ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h ? h : 1;
}

/* ---- /login and /logout ---- */

/* Over HTTPS: TLS on the listener (--tls-cert), or X-Forwarded-Proto: https from --trusted-proxy. */
static bool secure_request(const struct serve *sv, struct lws *wsi)
{
    return http_request_https(sv, wsi);
}

static void set_cookie(struct api_req *r, const char *value, long max_age)
{
    snprintf(r->set_cookie, sizeof r->set_cookie, "%s=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Strict%s",
             AUTH_COOKIE, value, max_age, secure_request(r->sv, r->wsi) ? "; Secure" : "");
}

/* The answer of a login: JSON with a status, or a browser's redirect. */
static void login_done(struct api_req *r, enum auth_login_result res, int status, const char *msg)
{
    struct auth_req *q = r->auth;
    r->sv->m.logins[res]++;
    log_info("login of '%s' from %s: %s", q->name, q->peer,
             res == AUTH_LOGIN_OK          ? "ok"
             : res == AUTH_LOGIN_THROTTLED ? "throttled"
                                           : msg);
    secret_wipe(q->password, sizeof q->password);
    q->op = AUTH_OP_DONE;
    sbuf_reset(&r->body);
    if (!q->json) {
        static const char *const where[AUTH_LOGIN_COUNT] = {"/", "/login.html?error=bad", "/login.html?error=throttled",
                                                            "/login.html?error=bad", "/login.html?error=unavailable"};
        r->location = where[res];
        sbuf_puts(&r->body, "see ");
        sbuf_puts(&r->body, r->location);
        api_reply(r, HTTP_STATUS_SEE_OTHER, "text/plain");
        return;
    }
    if (res == AUTH_LOGIN_OK) {
        sbuf_printf(&r->body, "{\"ok\":true,\"expires_in\":%ld}", r->sv->cfg.session_hours * 3600);
        api_reply(r, HTTP_STATUS_OK, "application/json");
    } else
        api_error(r, status, msg);
}

static void session_made_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    (void)res;
    struct api_req *r = owner;
    struct auth_req *q = r->auth;
    struct auth_state *a = &r->sv->auth;
    if (err) {
        login_done(r, AUTH_LOGIN_UNAVAILABLE, HTTP_STATUS_SERVICE_UNAVAILABLE, "cannot store the session");
        return;
    }
    cred_insert(a, &q->c);
    a->recent[a->recent_next] = q->c;
    a->recent_ms[a->recent_next] = time_mono_ms();
    a->recent_next = (a->recent_next + 1) % AUTH_RECENT;
    set_cookie(r, q->cred, r->sv->cfg.session_hours * 3600);
    secret_wipe(q->cred, sizeof q->cred);
    login_done(r, AUTH_LOGIN_OK, HTTP_STATUS_OK, "ok");
}

static void user_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    struct api_req *r = owner;
    struct auth_req *q = r->auth;
    struct serve *sv = r->sv;
    if (err) {
        login_done(r, AUTH_LOGIN_UNAVAILABLE, HTTP_STATUS_SERVICE_UNAVAILABLE, "database unavailable");
        return;
    }
    bool found = PQntuples(res) == 1;
    int64_t t0 = time_mono_ms();
    /* a missing user costs the same hash as a wrong password */
    bool ok = pwhash_verify(q->password, strlen(q->password), found ? PQgetvalue(res, 0, 1) : NULL);
    log_debug("login: password check took %lld ms", (long long)(time_mono_ms() - t0));
    int64_t now = time_mono_ms();
    uint64_t ka = throttle_key(sv->auth.seed, 'a', q->peer), ku = throttle_key(sv->auth.seed, 'u', q->name);
    if (!ok) {
        auth_throttle_failed(&sv->auth.by_addr, ka, now);
        auth_throttle_failed(&sv->auth.by_user, ku, now);
        login_done(r, AUTH_LOGIN_BAD_PASSWORD, HTTP_STATUS_UNAUTHORIZED, "wrong name or password");
        return;
    }
    auth_throttle_passed(&sv->auth.by_addr, ka);
    auth_throttle_passed(&sv->auth.by_user, ku);
    char hex[2 * CRED_SHA_LEN + 1], hours[16];
    if (cred_new(q->cred, q->c.sha)) {
        login_done(r, AUTH_LOGIN_UNAVAILABLE, HTTP_STATUS_SERVICE_UNAVAILABLE, "no randomness");
        return;
    }
    memcpy(q->c.id, q->cred, CRED_ID_LEN);
    q->c.id[CRED_ID_LEN] = '\0';
    q->c.session = true;
    q->c.expires_us = time_now_us() + (int64_t)sv->cfg.session_hours * 3600 * 1000000;
    hex_encode(q->c.sha, CRED_SHA_LEN, hex);
    snprintf(hours, sizeof hours, "%ld", sv->cfg.session_hours);
    const char *params[4] = {q->c.id, PQgetvalue(res, 0, 0), hex, hours};
    const char *why;
    if (dbq_submit(&sv->query_q, SQL_SESSION_NEW, 4, params, session_made_cb, r, NULL, &why))
        login_done(r, AUTH_LOGIN_UNAVAILABLE, HTTP_STATUS_SERVICE_UNAVAILABLE, why);
}

static void login(struct api_req *r)
{
    struct auth_req *q = r->auth;
    struct serve *sv = r->sv;
    const char *err;
    char origin[512], host[512];
    /* the client's address for throttling: the peer, or the rightmost X-Forwarded-For of --trusted-proxy */
    http_client_addr(sv, r->wsi, q->peer, sizeof q->peer);
    /* login CSRF: a browser says where the form came from */
    if (lws_hdr_total_length(r->wsi, WSI_TOKEN_ORIGIN)) {
        const char *o = http_header(r->wsi, WSI_TOKEN_ORIGIN, origin, sizeof origin);
        const char *h = http_header(r->wsi, WSI_TOKEN_HOST, host, sizeof host);
        if (!o || !ws_origin_allowed(o, h, sv->cfg.allow_origin)) {
            snprintf(q->name, sizeof q->name, "?");
            login_done(r, AUTH_LOGIN_BAD_REQUEST, HTTP_STATUS_FORBIDDEN, "a login from another origin");
            return;
        }
    }
    int rc = auth_login_parse(r->body.data ? r->body.data : "", r->body.len, q->json, q->name, q->password, &err);
    secret_wipe(r->body.data, r->body.len);
    sbuf_reset(&r->body);
    if (rc) {
        snprintf(q->name, sizeof q->name, "?");
        login_done(r, AUTH_LOGIN_BAD_REQUEST, HTTP_STATUS_BAD_REQUEST, err);
        return;
    }
    int64_t now = time_mono_ms();
    if (now - sv->auth.verify_window_ms >= 1000) {
        sv->auth.verify_window_ms = now;
        sv->auth.verifies = 0;
    }
    if (!auth_throttle_allowed(&sv->auth.by_addr, throttle_key(sv->auth.seed, 'a', q->peer), now) ||
        !auth_throttle_allowed(&sv->auth.by_user, throttle_key(sv->auth.seed, 'u', q->name), now) ||
        sv->auth.verifies >= AUTH_VERIFY_PER_S) {
        login_done(r, AUTH_LOGIN_THROTTLED, 429, "too many failed logins: try again later");
        return;
    }
    sv->auth.verifies++;
    const char *params[1] = {q->name}, *why;
    if (dbq_submit(&sv->query_q, SQL_USER, 1, params, user_cb, r, NULL, &why))
        login_done(r, AUTH_LOGIN_UNAVAILABLE, HTTP_STATUS_SERVICE_UNAVAILABLE, why);
}

static void logout_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    (void)res;
    struct api_req *r = owner;
    struct auth_req *q = r->auth;
    q->op = AUTH_OP_DONE;
    if (err) {
        api_error(r, HTTP_STATUS_SERVICE_UNAVAILABLE, "cannot end the session now");
        return;
    }
    set_cookie(r, "", 0);
    sbuf_reset(&r->body);
    if (q->json) {
        sbuf_puts(&r->body, "{\"ok\":true}");
        api_reply(r, HTTP_STATUS_OK, "application/json");
    } else {
        r->location = "/login.html";
        sbuf_puts(&r->body, "see /login.html");
        api_reply(r, HTTP_STATUS_SEE_OTHER, "text/plain");
    }
}

static void logout(struct api_req *r)
{
    char buf[4096], id[CRED_ID_LEN + 1];
    uint8_t sha[CRED_SHA_LEN];
    size_t len;
    const char *v = session_cookie(r->wsi, buf, sizeof buf, &len);
    const struct auth_cred *c = v && cred_split(v, len, id, sha) ? cred_find(&r->sv->auth, id) : NULL;
    /* only the holder of the session's secret ends it */
    if (c && c->session && cred_sha_equal(c->sha, sha)) {
        cred_remove(&r->sv->auth, id);
        sweep_clients(r->sv);
    } else
        snprintf(id, sizeof id, "%s", "-");
    const char *params[1] = {id}, *why;
    if (dbq_submit(&r->sv->query_q, SQL_SESSION_END, 1, params, logout_cb, r, NULL, &why))
        api_error(r, HTTP_STATUS_SERVICE_UNAVAILABLE, why);
}

void auth_http(struct api_req *r, const char *uri)
{
    char ct[128];
    bool is_login = !strcmp(uri, "/login");
    if (lws_http_get_uri_and_method(r->wsi, &(char *){NULL}, &(int){0}) != LWSHUMETH_POST) {
        if (is_login) {
            r->location = "/login.html";
            sbuf_puts(&r->body, "see /login.html");
            api_reply(r, HTTP_STATUS_SEE_OTHER, "text/plain");
        } else
            api_error(r, HTTP_STATUS_METHOD_NOT_ALLOWED, "POST /logout");
        return;
    }
    struct auth_req *q = calloc(1, sizeof *q);
    if (!q) {
        api_error(r, HTTP_STATUS_SERVICE_UNAVAILABLE, "out of memory");
        return;
    }
    r->auth = q;
    q->op = is_login ? AUTH_OP_LOGIN : AUTH_OP_LOGOUT;
    const char *ctype = http_header(r->wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, ct, sizeof ct);
    q->json = ctype && !strncasecmp(ctype, "application/json", 16);
    /* no body announced: lws sends no body callbacks */
    char cl[32];
    const char *v = http_header(r->wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof cl);
    if (!v || strspn(v, "0") == strlen(v))
        auth_body_done(r);
}

int auth_body(struct api_req *r, const void *in, size_t len)
{
    struct auth_req *q = r->auth;
    if (!q || q->op == AUTH_OP_DONE)
        return 0;
    if (r->body.len + len > AUTH_BODY_MAX || !sbuf_append(&r->body, in, len)) {
        secret_wipe(r->body.data, r->body.len);
        sbuf_reset(&r->body);
        q->op = AUTH_OP_DONE;
        api_error(r, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "the body is too large");
    }
    return 0;
}

int auth_body_done(struct api_req *r)
{
    struct auth_req *q = r->auth;
    if (!q || q->op == AUTH_OP_DONE)
        return 0;
    enum auth_op op = q->op;
    q->op = AUTH_OP_DONE;
    if (op == AUTH_OP_LOGIN)
        login(r);
    else
        logout(r);
    return 0;
}

void auth_req_free(struct api_req *r)
{
    if (!r->auth)
        return;
    secret_wipe(r->auth, sizeof(struct auth_req));
    free(r->auth);
    r->auth = NULL;
}
