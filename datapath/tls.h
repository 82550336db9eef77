/* TLS for NBD (STARTTLS), with OpenSSL: the only file that talks to OpenSSL's TLS API.
 *
 * The server side holds one SSL_CTX built from the [nbd] settings: an X.509 certificate
 * and key (tls_cert_file, tls_key_file; with tls_ca_file, clients must present a
 * certificate that CA signed), and/or pre-shared keys (tls_psk_file). PSK works with
 * GnuTLS clients (qemu's tls-creds-psk, libnbd's tls-psk-file) in TLS 1.3 (external PSK
 * with (EC)DHE, SHA-256) and TLS 1.2 (ECDHE-PSK / DHE-PSK / PSK suites). TLS 1.2 is the
 * oldest version accepted; renegotiation and session tickets are off.
 *
 * A connection starts TLS on its nonblocking socket after the STARTTLS reply has been sent
 * (conn.c). Every call is nonblocking: -1 with errno EAGAIN means "call again when the
 * socket is ready", and tls_conn_wants_write says which readiness to wait for.
 * The server is reference counted: a SIGHUP reload builds a new one while connections
 * keep the one they started with. */
#ifndef FERRY_TLS_H
#define FERRY_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/config.h"

struct tls_server;
struct tls_conn;

/* Build the server from cfg (cfg->tls != TLS_OFF). Return 0, or -1 with "nbd.KEY FILE:
 * reason" in err. */
int tls_server_new(const struct ferry_config *cfg, struct tls_server **out, char *err,
		   size_t errlen);
/* "X.509", "PSK (N identities)" or both: for the start-up log line. */
const char *tls_server_describe(const struct tls_server *s, char *buf, size_t len);
void tls_server_put(struct tls_server *s);	/* drop a reference; NULL is fine */

/* Start TLS on fd (server side). NULL when out of memory. */
struct tls_conn *tls_conn_new(struct tls_server *s, int fd);
/* Drive the handshake: 1 done, 0 call again (EAGAIN), -1 failed (reason in why). */
int tls_conn_handshake(struct tls_conn *t, char *why, size_t whylen);
/* Like recv(): > 0 bytes, 0 at the peer's close, -1 with errno (EAGAIN: not now). */
ssize_t tls_conn_recv(struct tls_conn *t, void *buf, size_t len);
/* Like writev() on a nonblocking socket: bytes taken (maybe fewer), or -1 with errno. */
ssize_t tls_conn_sendv(struct tls_conn *t, const struct iovec *iov, int iovcnt);
/* The last EAGAIN needs the socket writable (else readable). */
bool tls_conn_wants_write(const struct tls_conn *t);
/* Decrypted bytes are buffered inside: recv would return them without the socket. */
bool tls_conn_pending(const struct tls_conn *t);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384, PSK identity 'x'" and the like. */
const char *tls_conn_describe(const struct tls_conn *t, char *buf, size_t len);
/* Send close_notify (best effort) and free. NULL is fine. */
void tls_conn_free(struct tls_conn *t);

#endif
