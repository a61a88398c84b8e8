/*
 * writer_int.h - internals shared by writer.c (jobs and results) and
 * writer_conn.c (the connection's life); not for other modules.
 */
#ifndef SP_INGEST_WRITER_INT_H
#define SP_INGEST_WRITER_INT_H

#include "writer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WRITER_BACKOFF_BASE_MS 250
#define WRITER_BACKOFF_MAX_MS 5000 /* a database back after an outage is written to within 5 s */
#define WRITER_STABLE_MS 10000     /* a connection that lived this long resets the backoff */
#ifndef WRITER_MAINTAIN_EVERY_MS
#define WRITER_MAINTAIN_EVERY_MS 3600000 /* partition upkeep (overridable at build time for tests) */
#endif

/* pc DOWN -> CONNECTING (or still DOWN with a retry time). */
void writer__connect_start(struct writer *w, int64_t now_ms);
/* Advance the connect when the socket is ready; enforce the timeout. Ends in WR_IDLE, or WR_DOWN with pc not UP. */
void writer__connect_poll(struct writer *w, bool ready, int64_t now_ms);
/* The connection is unusable: keep the job's rows, close, schedule a reconnect with backoff. */
void writer__lost(struct writer *w, int64_t now_ms, const char *why);
/* Put the rows of the job under way back in their queues, untouched. */
void writer__job_retry(struct writer *w);

#endif
