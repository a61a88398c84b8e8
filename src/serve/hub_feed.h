/*
 * hub_feed.h - fill the hub from the database: the LISTEN connection's hooks.
 *
 * On (re)connect: LISTEN new_reading and device_presence; the first time, read
 * the floor (max(id), after LISTEN is active so no row falls between); then
 * fetch `id > ring.last_id` pages into the ring. Each NOTIFY new_reading is a
 * doorbell: it starts a fetch, or, while one runs, marks the hub dirty so one
 * more fetch follows (many notifies under load = few fetches). Fetches run on
 * this connection, not the query one, so slow API queries never delay the
 * live tail. NOTIFY device_presence payloads become presence frames.
 *
 * Flow control: a page is fetched only when appending it evicts no row a
 * live client still has to send (ws_clients_room); otherwise the fetch is
 * held and re-checked every HUB_HOLD_RECHECK_MS while the clients drain.
 * A burst therefore never gaps clients that are reading. The hold is short,
 * because it delays every client: one that holds the feed up and has taken
 * no data (no WRITEABLE) for --client-hold-ms, or keeps it held for longer
 * than --client-stall-ms in all, gets its gap instead (and may resume from
 * the database with ?after=).
 */
#ifndef SP_SERVE_HUB_FEED_H
#define SP_SERVE_HUB_FEED_H

#include "pgconn_lws.h"

struct serve;

#define HUB_FETCH_ROWS 5000 /* rows per fetch page (at most half the ring) */
#define HUB_HOLD_RECHECK_MS 20

/* pgc hooks of the LISTEN connection; arg is the struct serve. */
void hub_feed_up(struct pgc *c, void *arg);
void hub_feed_input(struct pgc *c, void *arg);
void hub_feed_down(struct pgc *c, void *arg, const char *why);
/* A live client made progress: re-check a held fetch now rather than at the next tick. */
void hub_feed_poke(struct serve *sv);
/* Cancel the feed's timer (before the lws context goes). */
void hub_feed_stop(struct serve *sv);

#endif
