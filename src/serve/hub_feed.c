/* hub_feed.c - LISTEN/NOTIFY and the fetch loop that fills the ring (see hub_feed.h). */
#include "hub_feed.h"

#include "auth.h"
#include "notify_rows.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "pgval.h"
#include "serve_state.h"
#include "ws_client.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* clang-format off */
static const char SQL_FETCH[] =
    "SELECT id, " SQL_TS_US("ts") ", topic, value FROM readings WHERE id > $1::int8 ORDER BY id LIMIT $2::int";
static const char SQL_FLOOR[] = "SELECT coalesce(max(id), 0) FROM readings";
/* clang-format on */

static void hub_fetch(struct serve *sv);

/* Rows per fetch: a page never fills more than half the ring. */
static size_t hub_page(const struct serve *sv)
{
    size_t half = sv->ring.cap / 2 ? sv->ring.cap / 2 : 1;
    return half < HUB_FETCH_ROWS ? half : HUB_FETCH_ROWS;
}

static void hold_cb(lws_sorted_usec_list_t *sul)
{
    struct serve *sv = lws_container_of(sul, struct serve, feed.hold_timer);
    sv->feed.held = false;
    hub_fetch(sv);
}

/* Append one row to the ring (a fetched one, or one a NOTIFY carried); false when it could not be kept. */
static bool ring_take(struct serve *sv, int64_t id, int64_t ts_us, const char *topic, size_t topic_len, double value)
{
    int rc = hub_ring_append(&sv->ring, id, ts_us, topic, topic_len, value);
    if (rc == 0) {
        sv->m.rows_fetched++;
        return true;
    }
    sv->m.rows_skipped++;
    if (rc == -2 && hub_ring_skip(&sv->ring, id) == 0)
        log_warn("hub: reading %lld skipped (topic of %zu bytes too long to keep, or out of memory)", (long long)id,
                 topic_len);
    else
        log_warn("hub: reading %lld out of order (last id %lld): skipped", (long long)id, (long long)sv->ring.last_id);
    return false;
}

static void fetch_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    struct serve *sv = owner;
    sv->feed.fetching = false;
    if (err) {
        /* connection lost: the next up hook fetches again; SQL error: the next notify retries */
        log_warn("hub: fetching new readings failed: %s", err);
        return;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        ring_take(sv, pg_i64(res, i, 0), pg_i64(res, i, 1), PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2),
                  pg_f64(res, i, 3));
    if (n)
        ws_clients_new_rows(sv);
    if (sv->feed.dirty || (size_t)n == hub_page(sv))
        hub_fetch(sv);
}

static void hub_fetch(struct serve *sv)
{
    if (!sv->feed.ready)
        return;
    if (sv->feed.fetching || sv->feed.held) {
        sv->feed.dirty = true;
        return;
    }
    size_t page = hub_page(sv);
    if (!ws_clients_room(sv, page)) {
        if (!sv->feed.held_since)
            sv->feed.held_since = time_mono_ms();
        sv->feed.held = true;
        sv->feed.dirty = true;
        lws_sul_schedule(sv->ctx, 0, &sv->feed.hold_timer, hold_cb, HUB_HOLD_RECHECK_MS * LWS_US_PER_MS);
        return;
    }
    if (sv->feed.held_since) {
        sv->m.hub_holds++;
        sv->m.hub_held_ms += (uint64_t)(time_mono_ms() - sv->feed.held_since);
        sv->feed.held_since = 0;
    }
    char last[24], limit[24];
    snprintf(last, sizeof last, "%lld", (long long)sv->ring.last_id);
    snprintf(limit, sizeof limit, "%zu", page);
    const char *params[2] = {last, limit};
    const char *why;
    sv->feed.dirty = false;
    if (dbq_submit(&sv->listen_q, SQL_FETCH, 2, params, fetch_cb, sv, NULL, &why)) {
        log_warn("hub: cannot fetch new readings now: %s", why);
        return;
    }
    sv->feed.fetching = true;
    sv->m.hub_fetches++;
}

static void floor_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    struct serve *sv = owner;
    if (err || PQntuples(res) != 1) {
        log_warn("hub: reading the newest id failed: %s", err ? err : "no row");
        return; /* retried on the next connect */
    }
    hub_ring_reset(&sv->ring, pg_i64(res, 0, 0));
    sv->feed.ready = true;
    log_info("hub: live from reading id %lld on", (long long)sv->ring.floor);
    ws_clients_hub_ready(sv);
    hub_fetch(sv);
}

static void listen_cb(void *owner, void *arg, const PGresult *res, const char *err)
{
    (void)res;
    struct serve *sv = owner;
    if (err && pgc_up(&sv->listen_conn)) {
        log_error("hub: %s failed: %s", (const char *)arg, err);
        pgc_fail(&sv->listen_conn, "LISTEN failed");
    }
}

void hub_feed_up(struct pgc *c, void *arg)
{
    (void)c;
    struct serve *sv = arg;
    const char *why = NULL;
    /* FIFO: the floor is read after both LISTENs are in effect */
    if (dbq_submit(&sv->listen_q, "LISTEN new_reading", 0, NULL, listen_cb, sv, (void *)"LISTEN new_reading", &why) ||
        dbq_submit(&sv->listen_q, "LISTEN device_presence", 0, NULL, listen_cb, sv, (void *)"LISTEN device_presence",
                   &why) ||
        dbq_submit(&sv->listen_q, "LISTEN sensorpipe_auth", 0, NULL, listen_cb, sv, (void *)"LISTEN sensorpipe_auth",
                   &why) ||
        (!sv->feed.ready && dbq_submit(&sv->listen_q, SQL_FLOOR, 0, NULL, floor_cb, sv, NULL, &why))) {
        log_error("hub: cannot start listening: %s", why);
        return;
    }
    dbq_on_up(&sv->listen_q);
    /* rows committed while we were away: `id > last_id` picks them up */
    hub_fetch(sv);
}

static void presence_notify(struct serve *sv, const char *payload)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(payload, &end, 1);
    bool ok = j && cJSON_IsObject(j);
    cJSON_Delete(j);
    if (!ok) {
        sv->m.notifies_bad++;
        log_warn("hub: device_presence payload is not a JSON object: dropped (%.80s)", payload);
        return;
    }
    if (hub_presence_push(&sv->presence, payload, strlen(payload))) {
        sv->m.notifies_bad++;
        return;
    }
    ws_clients_presence(sv);
}

/*
 * NOTIFY new_reading. A payload with the statement's rows (db/009) whose first
 * id follows the ring's last one goes straight into the ring: no query. That
 * is exact only when nothing else is under way (no fetch running, held or
 * owed) and the ids are contiguous, so no other committed row can fall
 * between; any other case (a gap in the ids, e.g. a rolled-back statement or
 * rows written past the NOTIFY trigger, a bad payload, the ring without room)
 * is a doorbell as before: fetch `id > last_id`.
 */
static void reading_notify(struct serve *sv, const char *payload)
{
    struct notify_rows nr;
    const char *why = NULL;
    int rc = notify_rows_parse(payload, strlen(payload), &nr, &why);
    if (rc < 0) {
        sv->m.notifies_reading_bad++;
        log_warn("hub: new_reading payload not understood (%s): fetching instead (%.80s)", why, payload);
    }
    if (rc >= 0 && sv->feed.ready && nr.last <= sv->ring.last_id) {
        notify_rows_free(&nr); /* a fetch already read these */
        return;
    }
    if (rc == 1 && sv->cfg.notify_rows && sv->feed.ready && !sv->feed.fetching && !sv->feed.held && !sv->feed.dirty &&
        nr.first == sv->ring.last_id + 1 && ws_clients_room(sv, nr.n)) {
        bool any = false;
        for (size_t i = 0; i < nr.n; i++) {
            const struct notify_row *r = &nr.row[i];
            any |= ring_take(sv, r->id, r->ts_us, r->topic, r->topic_len, r->value);
        }
        sv->m.rows_notified += nr.n;
        notify_rows_free(&nr);
        if (any)
            ws_clients_new_rows(sv);
        return;
    }
    notify_rows_free(&nr);
    hub_fetch(sv);
}

void hub_feed_input(struct pgc *c, void *arg)
{
    struct serve *sv = arg;
    dbq_on_input(&sv->listen_q, c);
    PGnotify *n;
    while (pgc_up(c) && (n = PQnotifies(c->pc.conn))) {
        if (!strcmp(n->relname, "new_reading")) {
            sv->m.notifies_reading++;
            reading_notify(sv, n->extra);
        } else if (!strcmp(n->relname, "device_presence")) {
            sv->m.notifies_presence++;
            presence_notify(sv, n->extra);
        } else if (!strcmp(n->relname, "sensorpipe_auth"))
            auth_poke(sv); /* a user, session or token changed: reload now, not at the next poll */
        PQfreemem(n);
    }
}

void hub_feed_down(struct pgc *c, void *arg, const char *why)
{
    struct serve *sv = arg;
    sv->m.db_reconnects[0]++;
    dbq_on_down(&sv->listen_q, c, why);
    sv->feed.fetching = false;
}

void hub_feed_poke(struct serve *sv)
{
    if (sv->feed.held)
        lws_sul_schedule(sv->ctx, 0, &sv->feed.hold_timer, hold_cb, 1);
}

void hub_feed_stop(struct serve *sv)
{
    lws_sul_cancel(&sv->feed.hold_timer);
    sv->feed.held = false;
    sv->feed.held_since = 0;
}
