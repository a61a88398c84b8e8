/*
 * ws_group.h - live WebSocket clients grouped by topic filter ("" = every topic), so that
 * new rows a filter does not take cost nothing per client of it.
 *
 * When rows arrive, the fan-out (ws_client.c) asks each group once whether its filter takes
 * any of them: a group that takes none is skipped with all its clients, and their cursors are
 * moved past those rows only when a client is next looked at (ws_group_sync). A dashboard
 * watching a quiet device therefore costs serve nothing per reading of other devices; the
 * work per batch is one scan per filter in use, plus one visit per client that gets rows.
 * Groups live in serve.groups; a group is freed when its last client leaves.
 */
#ifndef SP_WS_GROUP_H
#define SP_WS_GROUP_H

#include "query_params.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

struct hub_ring;
struct serve;
struct ws_client;

struct ws_group {
    lws_dll2_t node;          /* in serve.groups */
    lws_dll2_owner_t clients; /* its clients (ws_client.group_node), from going live until closed */
    int64_t seen_to;          /* rows up to this id were looked at for this filter */
    int64_t matched_last;     /* no row in (matched_last, seen_to] matches the filter */
    int64_t min_cursor;       /* a lower bound of its live clients' cursors */
    char filter[QP_TOPIC_MAX + 1];
};

/* c goes live: into the group of its filter (made if none). 0, or -1 out of memory. */
int ws_group_join(struct serve *sv, struct ws_client *c);
/* c is closed: out of its group; the group is freed when it was the last. */
void ws_group_leave(struct ws_client *c);
/* Free every group (serve's stop, after every client is closed). */
void ws_groups_free(struct serve *sv);

/*
 * Move c's cursor past the rows its group saw and its filter does not take: when no row in
 * (c->cursor, seen_to] matches, the cursor becomes seen_to. Call before reading c->cursor.
 */
void ws_group_sync(struct ws_client *c);
/* The same with the group's marks as they were before ws_group_takes_new_rows moved them. */
void ws_group_sync_to(struct ws_client *c, int64_t matched_last, int64_t seen_to);

/*
 * Look at the ring's rows after g->seen_to for g's filter, up to the ring's end. Returns
 * true when one matches (or the ring no longer holds them all): its clients must be
 * visited. False: none does, and g->min_cursor moves with seen_to where it may.
 */
bool ws_group_takes_new_rows(struct ws_group *g, const struct hub_ring *r);

#endif
