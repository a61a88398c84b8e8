/*
 * mqtt_io_tls.h - MQTT over TLS under the ingest's MQTT client: struct mqtt_io
 * (mqtt_io.h) over OpenSSL, on the plain TCP transport's socket.
 *
 * open() connects TCP and makes a new SSL_CTX from --mqtt-cafile (read again at
 * every connection, so a rotated CA file is taken without a restart); finish()
 * completes the TCP connect, then the handshake, without blocking: TLS 1.2 at
 * least, the broker's certificate verified against the CA file and against the
 * host name the client connects to (a DNS name: SNI and the certificate's DNS
 * names; an address: its IP entries). A failed verification is one reason in err
 * ("TLS handshake failed: broker certificate not trusted: ...") and the client
 * retries with its backoff.
 *
 * Reading and writing map OpenSSL's WANT_READ/WANT_WRITE onto the interface: 0
 * bytes now, and ops->events() says which socket event lets the stream go on (a
 * read may need the socket writable, a write readable). ops->pending() is true
 * while OpenSSL holds decrypted bytes of a record the last read did not take:
 * poll() on the socket does not announce them, so the client reads them at once.
 * Partial writes are on and the write buffer may move between retries (the client
 * compacts its output buffer), as mqtt_io's write contract needs. Renegotiation is
 * refused.
 *
 * States (who holds the socket: the TCP transport inside, always):
 *   TLS_CLOSED --open--> TLS_TCP --connected--> TLS_HANDSHAKE --verified--> TLS_UP
 *   TLS_HANDSHAKE, TLS_UP --a TLS error--> TLS_BROKEN (no close_notify is sent) --close--> TLS_CLOSED
 *
 * Ownership: struct mqtt_tls is the caller's; it owns its SSL_CTX, SSL and socket
 * while open, and a copy of the CA file's path until mqtt_tls_free().
 */
#ifndef SP_INGEST_MQTT_IO_TLS_H
#define SP_INGEST_MQTT_IO_TLS_H

#include "mqtt_io.h"

#include <stdbool.h>
#include <stddef.h>

struct ssl_ctx_st;
struct ssl_st;

enum mqtt_tls_state {
    TLS_CLOSED,    /* no socket */
    TLS_TCP,       /* the TCP connect is under way */
    TLS_HANDSHAKE, /* connected; the TLS handshake is under way */
    TLS_UP,        /* handshake done, certificate verified: MQTT bytes flow */
    TLS_BROKEN,    /* a TLS error: only close is left */
};

struct mqtt_tls {
    struct mqtt_tcp tcp;    /* the socket (owned through it) */
    struct mqtt_io tcp_io;  /* the TCP transport's operations on tcp */
    struct ssl_ctx_st *ctx; /* owned while open: made from cafile at open */
    struct ssl_st *ssl;     /* owned while open, NULL before the TCP connect completes */
    char *cafile;           /* owned copy */
    char host[256];         /* the name or address the certificate must carry */
    int port;               /* for log lines */
    enum mqtt_tls_state state;
    bool read_wants_write; /* the last read stopped until the socket is writable */
    bool write_wants_read; /* the last write stopped until the socket is readable */
};

/*
 * Point io at a TLS transport t that trusts the CA certificates in cafile (PEM).
 * Checks once that cafile loads. Returns 0, or -1 with a reason in err (t then
 * holds nothing).
 */
int mqtt_io_tls(struct mqtt_io *io, struct mqtt_tls *t, const char *cafile, char *err, size_t errlen);
/* Close the connection if open and free what t holds. */
void mqtt_tls_free(struct mqtt_tls *t);

#endif
