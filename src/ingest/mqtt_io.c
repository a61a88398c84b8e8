/* mqtt_io.c - plain TCP under the ingest's MQTT client: resolve, connect, read, write, close (see mqtt_io.h). */
#include "mqtt_io.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void tcp_close(void *ctx)
{
    struct mqtt_tcp *t = ctx;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

static int tcp_open(void *ctx, const char *host, int port, char *err, size_t errlen)
{
    struct mqtt_tcp *t = ctx;
    tcp_close(t);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve: %s", gai_strerror(rc));
        return -1;
    }
    int saved = 0;
    for (struct addrinfo *ai = res; ai && t->fd < 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            int one = 1;
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            t->fd = fd;
            break;
        }
        saved = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (t->fd < 0) {
        snprintf(err, errlen, "cannot connect: %s", strerror(saved));
        return -1;
    }
    return t->fd;
}

static int tcp_finish(void *ctx, short *events, char *err, size_t errlen)
{
    struct mqtt_tcp *t = ctx;
    struct pollfd p = {.fd = t->fd, .events = POLLOUT};
    if (poll(&p, 1, 0) == 0) {
        *events = POLLOUT;
        return 0;
    }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        soerr = errno;
    if (soerr) {
        snprintf(err, errlen, "cannot connect: %s", strerror(soerr));
        return -1;
    }
    return 1;
}

static ssize_t tcp_read(void *ctx, void *buf, size_t n)
{
    struct mqtt_tcp *t = ctx;
    for (;;) {
        ssize_t r = recv(t->fd, buf, n, 0);
        if (r > 0)
            return r;
        if (r == 0)
            return MQTT_IO_EOF;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : MQTT_IO_ERROR;
    }
}

static ssize_t tcp_write(void *ctx, const void *buf, size_t n)
{
    struct mqtt_tcp *t = ctx;
    for (;;) {
        ssize_t r = send(t->fd, buf, n, MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : MQTT_IO_ERROR;
    }
}

static const struct mqtt_io_ops tcp_ops = {
    .open = tcp_open,
    .finish = tcp_finish,
    .read = tcp_read,
    .write = tcp_write,
    .close = tcp_close,
};

void mqtt_io_tcp(struct mqtt_io *io, struct mqtt_tcp *t)
{
    t->fd = -1;
    io->ops = &tcp_ops;
    io->ctx = t;
}
