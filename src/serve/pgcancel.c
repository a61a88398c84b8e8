/* pgcancel.c - PQcancel from a helper thread, polled by the loop (see pgcancel.h). */
#include "pgcancel.h"

#include "core/log.h"

#include <string.h>

static void *pgcancel_thread(void *arg)
{
    struct pgcancel *k = arg;
    k->ok = PQcancel(k->key, k->err, (int)sizeof k->err) == 1;
    atomic_store(&k->done, true);
    return NULL;
}

int pgcancel_start(struct pgcancel *k, PGconn *conn)
{
    if (k->active || !conn)
        return -1;
    k->key = PQgetCancel(conn);
    if (!k->key)
        return -1;
    k->ok = false;
    k->err[0] = '\0';
    atomic_store(&k->done, false);
    if (pthread_create(&k->thread, NULL, pgcancel_thread, k)) {
        PQfreeCancel(k->key);
        k->key = NULL;
        return -1;
    }
    k->active = true;
    return 0;
}

static void pgcancel_finish(struct pgcancel *k)
{
    pthread_join(k->thread, NULL);
    if (!k->ok)
        log_warn("database: cancel request failed: %.*s", (int)strcspn(k->err, "\n"), k->err);
    PQfreeCancel(k->key);
    k->key = NULL;
    k->active = false;
}

bool pgcancel_busy(struct pgcancel *k)
{
    if (!k->active)
        return false;
    if (!atomic_load(&k->done))
        return true;
    pgcancel_finish(k);
    return false;
}

void pgcancel_wait(struct pgcancel *k)
{
    if (k->active)
        pgcancel_finish(k);
}
