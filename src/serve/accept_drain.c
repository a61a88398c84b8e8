/* accept_drain.c - accept the listen queue after a refusal at accept (see accept_drain.h). */
#include "accept_drain.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "conn_limits.h"
#include "serve_state.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_ERROR_LOG_MS 1000

static int opt(int fd, int level, int name, int v)
{
    return setsockopt(fd, level, name, &v, sizeof v);
}

/* What lws sets on the sockets it accepts itself (lws_plat_set_socket_options): keepalive, no Nagle. */
static int socket_options(int fd)
{
    return opt(fd, SOL_SOCKET, SO_KEEPALIVE, 1) || opt(fd, IPPROTO_TCP, TCP_KEEPIDLE, SERVE_KA_TIME_S) ||
           opt(fd, IPPROTO_TCP, TCP_KEEPINTVL, SERVE_KA_INTERVAL_S) ||
           opt(fd, IPPROTO_TCP, TCP_KEEPCNT, SERVE_KA_PROBES) || opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

static void accept_error(struct serve *sv, int err)
{
    int64_t now = time_mono_ms();
    sv->m.accept_errors++;
    if (sv->accept_error_log_ms && now - sv->accept_error_log_ms < ACCEPT_ERROR_LOG_MS)
        return;
    sv->accept_error_log_ms = now;
    log_warn("accept on the listen socket failed: %s (new connections wait for the next loop pass)", strerror(err));
}

int accept_drain(struct serve *sv, struct lws *listen_wsi)
{
    int lfd = (int)lws_get_socket_fd(listen_wsi);
    struct lws_vhost *vh = lws_get_vhost(listen_wsi);
    int taken = 0;
    if (lfd < 0 || !vh)
        return 0;
    for (int tries = 0; tries < ACCEPT_DRAIN_MAX; tries++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                accept_error(sv, errno);
            break;
        }
        taken++;
        sv->m.accept_drained++;
        if (conn_limits_accept(sv, fd)) {
            close(fd); /* over its limit: counted and logged there */
            continue;
        }
        if (socket_options(fd)) {
            accept_error(sv, errno);
            close(fd);
            continue;
        }
        /* on failure (no room in lws's fd table) lws has closed fd and logged why */
        if (!lws_adopt_socket_vhost(vh, fd))
            break;
    }
    return taken;
}
