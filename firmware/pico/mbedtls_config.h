/*
 * mbedtls_config.h - mbedTLS 3.6 configuration of the sensorpipe Pico W
 * firmware (SENSORPIPE_TLS=ON). The pico-sdk's pico_mbedtls_config.h
 * includes this file by name; nothing else of mbedTLS's defaults applies.
 *
 * One job: a TLS 1.2 client that verifies the broker's certificate against
 * the CA compiled into the firmware, with the cipher suites a stock
 * OpenSSL 3 mosquitto listener offers: ECDHE key exchange, AES-GCM, and a
 * server certificate with an ECDSA (P-256, P-384) or RSA key. No server
 * side, no TLS 1.3 (it would pull in PSA crypto), no client certificate
 * (the device logs in with a password), no session resumption, no
 * renegotiation, no mbedtls_strerror() tables.
 *
 * Memory, sized on purpose (the RP2040 has 264 KB of RAM, the port uses
 * ~43 KB statically; mbedTLS allocates from the C heap, the rest):
 * - MBEDTLS_SSL_IN_CONTENT_LEN 4096 (default 16384). What this client
 *   receives: the server's handshake, whose largest message is the
 *   Certificate message (the server certificate, perhaps the CA: ~1-2.5 KB
 *   for RSA-2048 or ECDSA), and CONNACK, PUBACK and PINGRESP (2-4 bytes;
 *   the device subscribes to nothing). mbedTLS 3.6.2 cannot reassemble a
 *   TLS handshake message split over records, so the limit is on the
 *   Certificate message: a chain of more than ~4 KB fails the handshake.
 *   A local CA's chain is well inside it. (The Max Fragment Length
 *   extension would not lift that limit, so it is not used.)
 * - MBEDTLS_SSL_OUT_CONTENT_LEN 2048 (default 16384). What it sends:
 *   ClientHello (~200 B), the ECDHE share, and MQTT packets of < 300 B
 *   (CONNECT with will, user name and password; publishes of ~40 B).
 *   lwIP's MQTT client writes from a 1 KB ring buffer.
 *   (MBEDTLS_SSL_MAX_CONTENT_LEN is the mbedTLS 2.x name of both.)
 *   Together ~6.5 KB of buffers per connection instead of ~33 KB.
 * - MBEDTLS_SSL_KEEP_PEER_CERTIFICATE off: the broker's certificate is
 *   verified during the handshake and then freed (a digest stays).
 * - MBEDTLS_AES_ROM_TABLES + FEWER_TABLES: AES tables in flash (2 KB), not
 *   8 KB of RAM built at run time.
 * Peak heap during a handshake is a few KB above the buffers (the parsed
 * CA and peer certificate, bignum temporaries of ECDHE and the signature
 * checks).
 *
 * No clock: MBEDTLS_HAVE_TIME_DATE is off, so the certificate's validity
 * dates are not checked (the board has no trusted time before it is
 * online). Trust is the CA compiled in and the broker's name.
 */
#ifndef SENSORPIPE_MBEDTLS_CONFIG_H
#define SENSORPIPE_MBEDTLS_CONFIG_H

#include <limits.h> /* some mbedTLS 3.6 files use INT_MAX without it */

/* the pico-sdk's altcp_tls_mbedtls.c (its port of lwIP's to mbedTLS 3) reads private fields of the SSL
 * context and the session's start time: it needs these two. HAVE_TIME is time() = seconds since boot here
 * (the first 4 bytes of the ClientHello random); mbedtls_ms_time() is used only by TLS 1.3 tickets and
 * servers, so _ALT with no definition is safe: a reference would fail the link. */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_PLATFORM_C /* required by _MS_TIME_ALT; calloc/free stay the C library's */
#define MBEDTLS_PLATFORM_MS_TIME_ALT

/* entropy: pico_mbedtls.c implements mbedtls_hardware_poll() with pico_rand (ROSC, timer, bus counters) */
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C

/* TLS 1.2 client */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_ENCRYPT_THEN_MAC
#define MBEDTLS_SSL_IN_CONTENT_LEN 4096
#define MBEDTLS_SSL_OUT_CONTENT_LEN 2048

/* key exchange: ECDHE, signed with the server's ECDSA or RSA key */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM /* much faster P-256/P-384 on a Cortex-M0+, ~2 KB of flash */
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_BIGNUM_C

/* record protection: AES-GCM */
#define MBEDTLS_CIPHER_C
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_AES_FEWER_TABLES
#define MBEDTLS_GCM_C

/* hashes: SHA-256 and SHA-384 (certificate signatures, PRF, GCM-SHA384 suites) */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA224_C /* mbedTLS 3.6 builds SHA-256 and SHA-224 as one module */
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA256_SMALLER
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C

/* certificates: the CA is compiled in as PEM */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_OID_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C

#endif
