/*
 * lwipopts.h - lwIP configuration of the sensorpipe Pico W firmware.
 *
 * NO_SYS: lwIP runs without an OS, driven from the main loop by
 * pico_cyw43_arch_lwip_poll (cyw43_arch_poll / cyw43_arch_wait_for_work_until),
 * so every lwIP callback runs on the main loop and may call firmware/core
 * directly. The app needs one TCP connection (MQTT), DHCP and DNS; the
 * buffers are sized for a few short publishes, not for throughput.
 *
 * SP_TLS (a compile definition from CMakeLists.txt, SENSORPIPE_TLS=ON):
 * MQTT runs over lwIP's altcp TLS layer (altcp_tls_mbedtls, mbedTLS
 * configured in mbedtls_config.h), and the broker's certificate must verify.
 */
#ifndef SENSORPIPE_LWIPOPTS_H
#define SENSORPIPE_LWIPOPTS_H

#define NO_SYS 1
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define MEM_LIBC_MALLOC 0
#define MEM_ALIGNMENT 4
#if SP_TLS
#define MEM_SIZE 10000 /* + the TLS layer's objects (below) */
#else
#define MEM_SIZE 8000
#endif
#define MEMP_NUM_TCP_SEG 16
#define MEMP_NUM_ARP_QUEUE 10
#define PBUF_POOL_SIZE 16

#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1
#define LWIP_RAW 1
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_TCP 1
#define LWIP_UDP 1
#define LWIP_DHCP 1
#define LWIP_DNS 1
#define DHCP_DOES_ARP_CHECK 0
#define LWIP_DHCP_DOES_ACD_CHECK 0
#define LWIP_TCP_KEEPALIVE 1
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK 1
#define LWIP_NETIF_HOSTNAME 1
#define LWIP_NETIF_TX_SINGLE_PBUF 1
#define LWIP_CHKSUM_ALGORITHM 3

#define TCP_MSS 1460
#define TCP_WND (2 * TCP_MSS)
#define TCP_SND_BUF (2 * TCP_MSS)
#define TCP_SND_QUEUELEN ((4 * (TCP_SND_BUF) + (TCP_MSS - 1)) / (TCP_MSS))

/* MQTT (pico_lwip_mqtt): one cyclic timer per client, room for a few cycles of unconfirmed publishes */
#define MEMP_NUM_SYS_TIMEOUT (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 1)
#define MQTT_REQ_MAX_IN_FLIGHT 16
#define MQTT_OUTPUT_RINGBUF_SIZE 1024

#if SP_TLS
/* altcp: MQTT over TLS. lwIP's own default for the auth mode is OPTIONAL (a certificate that does not
 * verify is accepted); REQUIRED ends the handshake instead. mqtt_link.c refuses to build otherwise. */
#define LWIP_ALTCP 1
#define LWIP_ALTCP_TLS 1
#define LWIP_ALTCP_TLS_MBEDTLS 1
#define ALTCP_MBEDTLS_AUTHMODE MBEDTLS_SSL_VERIFY_REQUIRED
/* lwIP's heap (MEM_SIZE above) holds the TLS layer's objects, 1.5 KB as built (arm-none-eabi sizeof):
 * the connection's state with its mbedtls_ssl_context 244 B, the configuration 116 B + the CA's
 * mbedtls_x509_crt 404 B, the DRBG with its entropy pool 744 B; and the encrypted records on their way
 * out (each record +29 B). mbedTLS's record buffers, the parsed certificates and the handshake's
 * temporaries come from the C heap. TCP_WND stays 2 x MSS, below the 4 KB
 * record buffer: altcp_tls acknowledges the bytes mbedTLS has read during the handshake, and MQTT reads
 * its (tiny) packets at once after it, so lwIP's "RX might stall" warning does not apply. */
#endif

#define MEM_STATS 0
#define SYS_STATS 0
#define MEMP_STATS 0
#define LINK_STATS 0
#define LWIP_STATS 0
#define LWIP_STATS_DISPLAY 0

#endif
