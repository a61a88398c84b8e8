/*
 * ws_group.c - live WebSocket clients grouped by topic filter (see ws_group.h).
 */
#include "ws_group.h"

#include "core/topic.h"
#include "hub.h"
#include "serve_state.h"
#include "ws_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct ws_group *ws_group_find(struct serve *sv, const char *filter)
{
    for (struct lws_dll2 *d = lws_dll2_get_head(&sv->groups); d; d = d->next) {
        struct ws_group *g = lws_container_of(d, struct ws_group, node);
        if (!strcmp(g->filter, filter))
            return g;
    }
    return NULL;
}

int ws_group_join(struct serve *sv, struct ws_client *c)
{
    struct ws_group *g = ws_group_find(sv, c->params.topic);
    if (!g) {
        g = calloc(1, sizeof *g);
        if (!g)
            return -1;
        snprintf(g->filter, sizeof g->filter, "%s", c->params.topic);
        /* nothing seen yet: every row after the first client's cursor is looked at */
        g->seen_to = g->matched_last = g->min_cursor = c->cursor;
        lws_dll2_add_tail(&g->node, &sv->groups);
    }
    lws_dll2_add_tail(&c->group_node, &g->clients);
    c->group = g;
    if (c->cursor < g->min_cursor)
        g->min_cursor = c->cursor;
    return 0;
}

void ws_group_leave(struct ws_client *c)
{
    struct ws_group *g = c->group;
    if (!g)
        return;
    lws_dll2_remove(&c->group_node);
    c->group = NULL;
    if (!g->clients.count) {
        lws_dll2_remove(&g->node);
        free(g);
    }
}

void ws_groups_free(struct serve *sv)
{
    struct lws_dll2 *d = lws_dll2_get_head(&sv->groups);
    while (d) {
        struct lws_dll2 *next = d->next;
        struct ws_group *g = lws_container_of(d, struct ws_group, node);
        lws_dll2_remove(d);
        free(g);
        d = next;
    }
}

void ws_group_sync_to(struct ws_client *c, int64_t matched_last, int64_t seen_to)
{
    if (c->cursor >= matched_last && c->cursor < seen_to)
        c->cursor = seen_to;
}

void ws_group_sync(struct ws_client *c)
{
    const struct ws_group *g = c->group;
    if (g)
        ws_group_sync_to(c, g->matched_last, g->seen_to);
}

bool ws_group_takes_new_rows(struct ws_group *g, const struct hub_ring *r)
{
    int64_t from = g->seen_to;
    if (from >= r->last_id)
        return false;
    g->seen_to = r->last_id;
    if (from < r->floor || !g->filter[0]) {
        g->matched_last = r->last_id;
        return true;
    }
    bool any = false;
    for (size_t i = hub_ring_first_after(r, from); i < r->count; i++) {
        const struct hub_row *row = hub_ring_at(r, i);
        if (topic_matches(g->filter, hub_row_topic(row))) {
            g->matched_last = row->id;
            any = true;
        }
    }
    /* none taken: a client at or past matched_last is now at seen_to (ws_group_sync) */
    if (!any && g->min_cursor >= g->matched_last)
        g->min_cursor = g->seen_to;
    return any;
}
