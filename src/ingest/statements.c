/* statements.c - multi-row INSERT for rejects and upsert for devices, with parameters (see statements.h). */
#include "statements.h"

#include <string.h>

void stmt_init(struct stmt *s)
{
    memset(s, 0, sizeof *s);
    sbuf_init(&s->sql, 0, 64 * 1024);
}

void stmt_free(struct stmt *s)
{
    sbuf_free(&s->sql);
}

static void stmt_param(struct stmt *s, const char *value, int length, int format)
{
    s->values[s->nparams] = value;
    s->lengths[s->nparams] = length;
    s->formats[s->nparams] = format;
    s->nparams++;
}

int stmt_rejects(struct stmt *s, const struct rejectq *q, size_t n)
{
    if (n > STMT_MAX_ROWS)
        n = STMT_MAX_ROWS;
    sbuf_reset(&s->sql);
    s->nparams = 0;
    sbuf_puts(&s->sql, "INSERT INTO rejects (received_at, topic, payload, reason) VALUES ");
    for (size_t i = 0; i < n; i++) {
        const struct reject *r = rejectq_row(q, i);
        int p = s->nparams + 1;
        sbuf_printf(&s->sql, "%s($%d::timestamptz, $%d::text, $%d::bytea, $%d::text)", i ? ", " : "", p, p + 1, p + 2,
                    p + 3);
        time_format_rfc3339(r->received_us, s->ts[i]);
        stmt_param(s, s->ts[i], 0, 0);
        stmt_param(s, r->topic, 0, 0);
        stmt_param(s, (const char *)r->payload, (int)r->payload_len, 1);
        stmt_param(s, r->reason, 0, 0);
    }
    return s->sql.failed ? -1 : 0;
}

int stmt_presence(struct stmt *s, const struct presenceq *q, size_t n)
{
    if (n > STMT_MAX_ROWS)
        n = STMT_MAX_ROWS;
    sbuf_reset(&s->sql);
    s->nparams = 0;
    sbuf_puts(&s->sql, "INSERT INTO devices (device, online, updated_at) VALUES ");
    for (size_t i = 0; i < n; i++) {
        const struct presence *e = presenceq_row(q, i);
        int p = s->nparams + 1;
        sbuf_printf(&s->sql, "%s($%d::text, $%d::boolean, $%d::timestamptz)", i ? ", " : "", p, p + 1, p + 2);
        time_format_rfc3339(e->ts_us, s->ts[i]);
        stmt_param(s, e->device, 0, 0);
        stmt_param(s, e->online ? "true" : "false", 0, 0);
        stmt_param(s, s->ts[i], 0, 0);
    }
    sbuf_puts(&s->sql, " ON CONFLICT (device) DO UPDATE SET online = EXCLUDED.online, updated_at = EXCLUDED.updated_at"
                       " WHERE devices.updated_at <= EXCLUDED.updated_at");
    return s->sql.failed ? -1 : 0;
}
