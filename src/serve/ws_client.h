/*
 * ws_client.h - one WebSocket client: admission, backfill, live tail, gap.
 *
 * A client holds no queue of rows: `cursor` says which readings it has had
 * (every id <= cursor that matches its filter was sent), and the hub's ring is
 * the shared queue. States, and who moves a client between them:
 *
 *   WS_WAIT_HUB  the hub does not know its floor yet (LISTEN connection not up)
 *                -> ws_clients_hub_ready() starts the backfill
 *   WS_QUERY     a backfill query is on the query connection (owner = client)
 *                -> its callback formats one frame into `pending`
 *   WS_SEND      `pending` waits for WRITEABLE -> sent, then the next backfill
 *                step: another page, or WS_LIVE once cursor >= ring floor
 *                -> gap when the page is not taken within --client-stall-ms
 *   WS_LIVE      new ring rows after cursor are written as soon as the hub
 *                appends them (ws_clients_new_rows), without waiting for
 *                WRITEABLE, unless lws still holds unsent bytes of an earlier
 *                frame; WRITEABLE sends the rest and presence frames
 *                -> gap when the client stopped reading: rows waiting and no
 *                WRITEABLE for --client-stall-ms while more than
 *                --client-max-lag rows behind; or, while it holds up the
 *                hub's next page, none for --client-hold-ms or a hold
 *                longer than --client-stall-ms
 *   WS_CLOSING   a gap, an error or a refused client message: `pending` (if
 *                any) is sent, then the close frame; a client that has not
 *                taken them within --client-close-ms is reset (RST: the
 *                kernel drops what it still held for it)
 *
 * Backfill is paged so that a client costs at most one page (WS_PAGE_ROWS
 * rows) in `pending`, and the next page is read only once the previous one
 * was written. Without ?after: a first query finds the lowest id of the last
 * `history` rows with id <= snapshot (= ring.last_id when it is made), and the
 * pages run from there to snapshot. With ?after: pages of id in (cursor,
 * snapshot]. Either way the first page is the "history" frame and the others
 * "readings" frames, and the live tail starts exactly at cursor, so nothing is
 * lost or sent twice.
 *
 * struct ws_client lives in the lws per-session memory of the WebSocket
 * (zeroed by lws); it owns `pending` and its queued queries.
 */
#ifndef SP_SERVE_WS_CLIENT_H
#define SP_SERVE_WS_CLIENT_H

#include "conn_limits.h"
#include "core/sbuf.h"
#include "query_params.h"
#include "ws_rx.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

struct serve;

#define WS_RX_MAX 4096   /* largest message a client may send (they are ignored anyway; see ws_rx.h) */
#define WS_PAGE_ROWS 256 /* rows per backfill page (history and resume) */

enum ws_state { WS_WAIT_HUB, WS_QUERY, WS_SEND, WS_LIVE, WS_CLOSING };

struct ws_client {
    lws_dll2_t node; /* in serve.clients while `linked` */
    bool linked;
    lws_dll2_t group_node;  /* in group->clients from going live until closed */
    struct ws_group *group; /* the clients of its filter (ws_group.h); NULL until live */
    struct lws *wsi;
    struct serve *sv;
    enum ws_state state;
    bool history_sent;    /* the first ("history") frame is built */
    bool history_written; /* ... and written */
    bool start_query;     /* the running query finds where ?history=n starts (not a page) */
    struct qp_ws params;
    int64_t cursor;        /* last id covered */
    int64_t snapshot;      /* upper id bound of the running backfill query */
    int64_t pending_from;  /* cursor before the page in `pending` (what a gap resumes after) */
    uint64_t presence_seq; /* next presence frame to send */
    struct sbuf pending;   /* one frame to send (LWS_PRE headroom); owned */
    size_t pending_rows;
    enum lws_close_status close_status;
    const char *close_reason; /* literal */
    int64_t waiting_since;    /* monotonic ms since it has rows to send and waits for WRITEABLE; 0 = not */
    struct ws_rx rx;          /* the message being received (ws_rx.h) */
    int64_t since;            /* monotonic ms WS_SEND or our WS_CLOSING began (ws_clients_tick); 0 = not timed */
    struct addr_hold hold;    /* counted under its address (conn_limits.h) while linked */
    char peer[48];
    char auth_id[17]; /* the session or token it came in with; auth.c ends the client when that ends */
};

/*
 * LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: admit or refuse an upgrade (path /ws,
 * Origin, parameters, client limit). Returns 0 to go on, 1 when a refusal was
 * written (lws then completes the transaction), -1 to hang up.
 */
int ws_confirm_upgrade(struct serve *sv, struct lws *wsi, const char *upgrade);
/* LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: read the parameters into c. 0 or 1 (refuse). */
int ws_filter(struct serve *sv, struct lws *wsi, struct ws_client *c);
/* End c with 1008 and reason (a literal): its session or token ended (auth.c). */
void ws_client_end(struct ws_client *c, const char *reason);
/* LWS_CALLBACK_ESTABLISHED. 0 or -1. */
int ws_established(struct serve *sv, struct lws *wsi, struct ws_client *c);
/* LWS_CALLBACK_SERVER_WRITEABLE. 0, or -1 to close. */
int ws_writeable(struct ws_client *c);
/*
 * LWS_CALLBACK_RECEIVE: clients are not expected to talk. Small text messages
 * are ignored (counted); oversized (1009), binary (1003) or non-UTF-8 (1007)
 * ones close the connection with that code (WS_CLOSING; what follows is
 * dropped). Returns 0.
 */
int ws_receive(struct ws_client *c, const void *in, size_t len);
/* LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: the client is closing; send it nothing more. */
void ws_peer_closing(struct ws_client *c);
/* LWS_CALLBACK_CLOSED / WS_SERVER_DROP_PROTOCOL: unlink, cancel queries, free. Idempotent. */
void ws_closed(struct ws_client *c);

/* The hub learnt its floor: start the waiting clients. */
void ws_clients_hub_ready(struct serve *sv);
/*
 * Rows were appended to the ring: send each live client its frame now (one
 * send each; unfiltered clients at the same cursor share the frame's bytes),
 * cut the ones too far behind. Also recomputes sv->live_min_cursor.
 */
void ws_clients_new_rows(struct serve *sv);
/*
 * May the hub append `rows` rows? True when that evicts no row a live client
 * has yet to send. A client that holds the hub up and has not been writable
 * for --client-hold-ms, or has held it for more than --client-stall-ms
 * (sv->feed.held_since), gets its gap here rather than hold the others up.
 * Looks at no client when sv->live_min_cursor shows every one has room.
 */
bool ws_clients_room(struct serve *sv, size_t rows);
/*
 * Start / stop the periodic check of every client (a fraction of --client-stall-ms and
 * --client-close-ms): a backfill page not taken for --client-stall-ms, or a live client too far
 * behind that takes nothing (as in ws_clients_new_rows, for when no rows arrive), gets its gap;
 * a closing client that has not taken its close for --client-close-ms is reset. One timer for
 * all clients: lws keeps timers in a sorted list, one per client would cost O(clients) each.
 */
void ws_clients_timer_start(struct serve *sv);
void ws_clients_timer_stop(struct serve *sv);
/* A presence frame was pushed: wake live clients. */
void ws_clients_presence(struct serve *sv);

#endif
