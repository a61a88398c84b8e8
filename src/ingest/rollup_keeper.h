/*
 * rollup_keeper.h - the ingest's second PostgreSQL connection: it keeps the rollups
 * (readings_minutely, readings_hourly) up with what the writer committed, by calling
 * sensorpipe_rollup_catch_up() (db/011) about once a second after readings were committed.
 *
 * A connection of its own, not a job of the writer's: a catch-up of a second's readings takes
 * a few milliseconds, and on the writer's connection every reading arriving meanwhile waited
 * for it (measured: p99 from publish to browser at 1,000/s 2 ms -> 5.7 ms). Here it runs beside
 * the writes; the two never wait for each other (the catch-up takes the rollups' mark row, the
 * writers take the writers' lock).
 *
 * Driven from the ingest's poll() like the writer: rollup_keeper_pollfd() /
 * rollup_keeper_next_timer() / rollup_keeper_service(). It connects when the first readings are
 * committed (so not before the writer's migrations), with core/pgconn.h's back-off; a failed
 * catch-up is logged and tried again in a minute. Nothing is lost when it is behind or down:
 * /api/readings adds the rows above the mark from readings (src/serve/http_api.c).
 */
#ifndef SP_INGEST_ROLLUP_KEEPER_H
#define SP_INGEST_ROLLUP_KEEPER_H

#include "core/pgconn.h"
#include "stats.h"

#include <stdbool.h>
#include <stdint.h>

#define ROLLUP_EVERY_MS 1000   /* a catch-up at most this often, when readings were committed since */
#define ROLLUP_RETRY_MS 60000  /* after a failed one */
#define ROLLUP_MAX_ROWS 100000 /* rows one catch-up takes at most; the next follows at once when it took as many */

struct rollup_keeper {
    struct pgconn pc;           /* owned: the connection and its reconnects */
    struct ingest_stats *stats; /* borrowed: rolled_up, rollup_runs */
    bool due;                   /* readings were committed since the last catch-up was sent */
    bool busy;                  /* a catch-up is under way */
    bool failed;                /* ... and an error result came back for it */
    bool flushing;              /* PQflush left data: wait for the socket to be writable */
    bool stopping;              /* no new catch-up */
    int64_t at_ms;              /* the next catch-up, when due */
    unsigned long long added;   /* the catch-up's answer */
    char errmsg[512];
};

/* DOWN, nothing due. cfg is copied (its strings are borrowed and must outlive k). */
void rollup_keeper_init(struct rollup_keeper *k, const struct pgconn_config *cfg, struct ingest_stats *stats);
/* The writer committed readings: a catch-up is due (connecting first if need be). */
void rollup_keeper_rows_committed(struct rollup_keeper *k);
/* Start no more catch-ups (one under way is left to finish or be cut off by rollup_keeper_free). */
void rollup_keeper_stop(struct rollup_keeper *k);
void rollup_keeper_free(struct rollup_keeper *k);

/* The socket to watch and its events, or -1. */
int rollup_keeper_pollfd(const struct rollup_keeper *k, short *events);
/* Monotonic ms to be called back at (INT64_MAX: none). */
int64_t rollup_keeper_next_timer(const struct rollup_keeper *k);
/* revents of its socket (0 on a timer). */
void rollup_keeper_service(struct rollup_keeper *k, short revents, int64_t now_ms);

#endif
