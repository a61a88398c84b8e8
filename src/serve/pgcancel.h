/*
 * pgcancel.h - ask PostgreSQL to cancel the statement a connection runs, without blocking the loop.
 *
 * libpq 15's PQcancel() opens a new connection to the server and waits for it
 * to be closed: it blocks. So pgcancel_start() takes the cancel key
 * (PQgetCancel, on the loop's thread) and hands it to one helper thread that
 * calls PQcancel; the loop polls pgcancel_busy() (which joins the thread and
 * frees the key once it is done). One cancel per struct at a time. The caller
 * must not send another statement on that connection while one is in flight,
 * or the request could cancel the wrong statement.
 *
 * The struct is owned by its caller (zeroed = idle); the key and the thread by the struct while busy.
 */
#ifndef SP_SERVE_PGCANCEL_H
#define SP_SERVE_PGCANCEL_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct pgcancel {
    bool active;      /* a thread was started and is not joined yet */
    atomic_bool done; /* set by the thread when PQcancel returned */
    bool ok;          /* PQcancel's answer (valid once done) */
    PGcancel *key;    /* owned while active */
    pthread_t thread;
    char err[256]; /* PQcancel's reason when !ok */
};

/* Start cancelling conn's running statement. 0, or -1 (busy, no key, no thread: nothing started). */
int pgcancel_start(struct pgcancel *k, PGconn *conn);
/*
 * True while a cancel is under way. Once its thread is done, joins it, frees
 * the key, logs a failure, and returns false (idle again).
 */
bool pgcancel_busy(struct pgcancel *k);
/* Wait for a cancel under way to finish (shutdown). */
void pgcancel_wait(struct pgcancel *k);

#endif
