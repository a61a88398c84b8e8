/*
 * mqtt_io.h - the byte stream under the ingest's MQTT client: a small
 * read/write interface, and its plain TCP implementation.
 *
 * The client (mqtt_client.h) never touches a socket itself: it opens, finishes,
 * reads, writes and closes through these operations, so another transport
 * (TLS over the same socket: mqtt_io_tls.h; or the in-memory stream of the fuzz
 * target) slots in without a change to the protocol code. Every operation is
 * non-blocking.
 *
 * Ownership: a struct mqtt_io is borrowed by the client; the transport state
 * behind ctx belongs to whoever made it (for TCP, struct mqtt_tcp).
 */
#ifndef SP_INGEST_MQTT_IO_H
#define SP_INGEST_MQTT_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define MQTT_IO_ERROR (-1) /* read/write: the connection failed (errno says why) */
#define MQTT_IO_EOF (-2)   /* read: the peer closed the connection */

struct mqtt_io_ops {
    /*
     * Start connecting to host:port (the name is resolved here, blocking, as
     * libmosquitto does too). Returns the socket to poll, or -1 with a reason in err.
     */
    int (*open)(void *ctx, const char *host, int port, char *err, size_t errlen);
    /*
     * Go on with a connection under way (TCP connect now; a TLS handshake
     * later). Returns 1 when it is ready for MQTT, 0 while it is not (then
     * *events says what to poll for), -1 with a reason in err.
     */
    int (*finish)(void *ctx, short *events, char *err, size_t errlen);
    /* At most n bytes: how many, 0 when none are there now, MQTT_IO_EOF or MQTT_IO_ERROR. */
    ssize_t (*read)(void *ctx, void *buf, size_t n);
    /* Send at most n bytes: how many were taken (0 when the socket is full), or MQTT_IO_ERROR. */
    ssize_t (*write)(void *ctx, const void *buf, size_t n);
    /* Close the connection; open may be called again after. */
    void (*close)(void *ctx);
    /*
     * Optional (NULL: the socket's readiness is the stream's, as for TCP). The
     * socket events to poll for, given those the client waits for on the stream
     * (POLLIN to read, POLLOUT to write): TLS may need the socket writable to go
     * on reading, or readable to go on writing. With it set, any event on the
     * socket makes the client try to read as well as to write.
     */
    short (*events)(void *ctx, short want);
    /* Optional (NULL: never): bytes are already held for read(), which poll() on the socket will not announce. */
    bool (*pending)(void *ctx);
};

struct mqtt_io {
    const struct mqtt_io_ops *ops; /* static */
    void *ctx;                     /* borrowed: the transport's state */
};

/*
 * Plain TCP: TCP_NODELAY (PUBACKs and PINGREQs are tiny and must not wait), non-blocking, close-on-exec.
 * Every address the host name resolves to is tried in turn until one connects.
 */
struct addrinfo;
struct mqtt_tcp {
    int fd;                 /* owned, -1 when closed; keeps its number while the addresses are tried */
    struct addrinfo *addrs; /* owned: the resolved addresses while connecting, else NULL */
    struct addrinfo *next;  /* the next one to try when this connect fails */
};

/* Point io at the plain TCP transport t (closed until open). */
void mqtt_io_tcp(struct mqtt_io *io, struct mqtt_tcp *t);

#endif
