/* mqtt_io.c - plain TCP under the ingest's MQTT client: resolve, connect, read, write, close (see mqtt_io.h). */
#include "mqtt_io.h"

#include <errno.h>
#include <fcntl.h>
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
    if (t->addrs)
        freeaddrinfo(t->addrs);
    t->addrs = t->next = NULL;
}

/*
 * Start a non-blocking connect to the next address that takes one. The socket
 * lands on t->fd's number when there is one already (dup2), so the descriptor
 * the client polls stays the same from address to address. Returns 0, or -1
 * with errno when no address is left.
 */
static int tcp_connect_next(struct mqtt_tcp *t)
{
    int saved = ECONNREFUSED;
    while (t->next) {
        struct addrinfo *ai = t->next;
        t->next = ai->ai_next;
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            saved = errno;
            close(fd);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (t->fd < 0)
            t->fd = fd;
        else {
            /* dup2 keeps the number but not O_CLOEXEC: dup3 does */
            if (dup3(fd, t->fd, O_CLOEXEC) < 0) {
                saved = errno;
                close(fd);
                continue;
            }
            close(fd);
        }
        return 0;
    }
    errno = saved;
    return -1;
}

static int tcp_open(void *ctx, const char *host, int port, char *err, size_t errlen)
{
    struct mqtt_tcp *t = ctx;
    tcp_close(t);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &t->addrs);
    if (rc != 0) {
        t->addrs = NULL;
        snprintf(err, errlen, "cannot resolve: %s", gai_strerror(rc));
        return -1;
    }
    t->next = t->addrs;
    if (tcp_connect_next(t) != 0) {
        snprintf(err, errlen, "cannot connect: %s", strerror(errno));
        tcp_close(t);
        return -1;
    }
    return t->fd;
}

static int tcp_finish(void *ctx, short *events, char *err, size_t errlen)
{
    struct mqtt_tcp *t = ctx;
    for (;;) {
        struct pollfd p = {.fd = t->fd, .events = POLLOUT};
        if (poll(&p, 1, 0) == 0) {
            *events = POLLOUT;
            return 0;
        }
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            soerr = errno;
        if (!soerr)
            break;
        /* this address refused (say ::1 for "localhost" while the broker listens on 127.0.0.1): the next one */
        if (tcp_connect_next(t) != 0) {
            snprintf(err, errlen, "cannot connect: %s", strerror(soerr));
            return -1;
        }
    }
    freeaddrinfo(t->addrs); /* connected: the other addresses are not needed */
    t->addrs = t->next = NULL;
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
    t->addrs = t->next = NULL;
    io->ops = &tcp_ops;
    io->ctx = t;
}
