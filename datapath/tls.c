/* TLS for NBD with OpenSSL (contract in tls.h).
 *
 * PSK: in TLS 1.3 OpenSSL asks the find_session callback for the identity the client names,
 * which answers with a session holding the key for TLS_AES_128_GCM_SHA256 (an external
 * PSK bound to SHA-256, GnuTLS's default); the server prefers the SHA-256 suites, since
 * OpenSSL drops a PSK whose hash differs from the suite it negotiated. In TLS 1.2 the
 * psk_server_callback answers, and the cipher list adds the (EC)DHE-PSK and PSK suites. A
 * PSK-only server has no certificate: a client that offers no known identity fails the
 * handshake. Interoperation with GnuTLS (qemu, libnbd) in both versions is tested by
 * tests/integration/180-nbd-tls.sh.
 *
 * OpenSSL reads and writes the socket itself (SSL_set_fd); partial writes and a moving
 * write buffer are allowed, which is what retrying a writev of the same bytes from a
 * rebuilt iovec array needs. */
#include "datapath/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/util.h"
#include "datapath/psk-file.h"
#include "common/banned.h"

#define TLS_SEND_CHUNK (64u << 10)	/* bytes handed to SSL_write per call */

struct tls_server {
	SSL_CTX *ctx;
	struct psk_list psk;
	bool x509;
	int refs;
};

struct tls_conn {
	struct tls_server *srv;
	SSL *ssl;
	bool want_write;
	const char *psk_identity;	/* the PSK the client used (points into srv->psk) */
};

static int ex_index = -1;	/* SSL_CTX ex data slot holding the struct tls_server */
static int conn_index = -1;	/* SSL ex data slot holding the struct tls_conn */

/* The entry for identity, noted on the connection (for its log line). */
static const struct psk_entry *psk_lookup(SSL *ssl, const char *identity)
{
	const struct tls_server *s = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index);
	const struct psk_entry *e = identity ? psk_find(&s->psk, identity) : NULL;
	struct tls_conn *t = SSL_get_ex_data(ssl, conn_index);
	if (e && t)
		t->psk_identity = e->identity;
	return e;
}

static const char *ssl_reason(void)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	return r ? r : "unknown error";
}

static unsigned int psk_cb(SSL *ssl, const char *identity, unsigned char *psk,
			   unsigned int max_psk_len)
{
	const struct psk_entry *e = psk_lookup(ssl, identity);
	if (!e || e->key_len > max_psk_len)
		return 0;
	memcpy(psk, e->key, e->key_len);
	return (unsigned int)e->key_len;
}

/* TLS 1.3 external PSK: a session holding the key, for TLS_AES_128_GCM_SHA256 (the
 * SHA-256 binding GnuTLS uses by default). */
static int psk_find_session_cb(SSL *ssl, const unsigned char *identity, size_t identity_len,
			       SSL_SESSION **sess)
{
	static const unsigned char aes128gcmsha256[] = { 0x13, 0x01 };
	char id[PSK_IDENTITY_MAX + 1];
	*sess = NULL;
	if (identity_len > PSK_IDENTITY_MAX || memchr(identity, 0, identity_len))
		return 1;	/* unknown: no PSK */
	memcpy(id, identity, identity_len);
	id[identity_len] = 0;
	const struct psk_entry *e = psk_lookup(ssl, id);
	const SSL_CIPHER *c = SSL_CIPHER_find(ssl, aes128gcmsha256);
	if (!e || !c)
		return 1;
	SSL_SESSION *ss = SSL_SESSION_new();
	if (!ss || !SSL_SESSION_set1_master_key(ss, e->key, e->key_len) ||
	    !SSL_SESSION_set_cipher(ss, c) || !SSL_SESSION_set_protocol_version(ss, TLS1_3_VERSION)) {
		SSL_SESSION_free(ss);
		return 0;
	}
	*sess = ss;
	return 1;
}

static int load_psk(struct tls_server *s, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = malloc(PSK_FILE_MAX + 1), why[128];
	ssize_t n = -1;
	size_t len = 0;
	if (fd >= 0 && buf) {
		while (len <= PSK_FILE_MAX &&
		       (n = read(fd, buf + len, PSK_FILE_MAX + 1 - len)) > 0)
			len += (size_t)n;
	}
	int saved = errno, r = -1;
	if (fd < 0 || !buf || n < 0)
		snprintf(err, errlen, "nbd.tls_psk_file %s: %s", path, strerror(buf ? saved : ENOMEM));
	else if (psk_file_parse(buf, len, &s->psk, why, sizeof why) < 0)
		snprintf(err, errlen, "nbd.tls_psk_file %s: %s", path, why);
	else
		r = 0;
	if (buf)
		explicit_bzero(buf, len);
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

static int load_x509(struct tls_server *s, const struct ferry_config *cfg, char *err,
		     size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(s->ctx, cfg->tls_cert_file) != 1) {
		snprintf(err, errlen, "nbd.tls_cert_file %s: %s", cfg->tls_cert_file, ssl_reason());
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(s->ctx, cfg->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(s->ctx) != 1) {
		snprintf(err, errlen, "nbd.tls_key_file %s: %s", cfg->tls_key_file, ssl_reason());
		return -1;
	}
	if (cfg->tls_ca_file) {
		if (SSL_CTX_load_verify_locations(s->ctx, cfg->tls_ca_file, NULL) != 1) {
			snprintf(err, errlen, "nbd.tls_ca_file %s: %s", cfg->tls_ca_file,
				 ssl_reason());
			return -1;
		}
		SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	s->x509 = true;
	return 0;
}

int tls_server_new(const struct ferry_config *cfg, struct tls_server **out, char *err,
		   size_t errlen)
{
	struct tls_server *s = calloc(1, sizeof *s);
	*out = NULL;
	if (ex_index < 0)
		ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (conn_index < 0)
		conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (!s || !(s->ctx = SSL_CTX_new(TLS_server_method()))) {
		snprintf(err, errlen, "nbd.tls: cannot create a TLS context: %s", ssl_reason());
		free(s);
		return -1;
	}
	s->refs = 1;
	SSL_CTX_set_ex_data(s->ctx, ex_index, s);
	SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(s->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(s->ctx, 0);
	SSL_CTX_set_mode(s->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_cipher_list(s->ctx, "DEFAULT:PSK:!eNULL:!aNULL");
	/* the server's order, SHA-256 suites first: a TLS 1.3 external PSK is bound to SHA-256,
	 * and OpenSSL drops a PSK whose hash differs from the negotiated suite's (GnuTLS
	 * clients list AES-256-GCM-SHA384 first) */
	SSL_CTX_set_ciphersuites(s->ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
				 "TLS_AES_256_GCM_SHA384");
	SSL_CTX_set_options(s->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	int r = 0;
	if (cfg->tls_cert_file)
		r = load_x509(s, cfg, err, errlen);
	if (!r && cfg->tls_psk_file && !(r = load_psk(s, cfg->tls_psk_file, err, errlen)))
	{
		SSL_CTX_set_psk_server_callback(s->ctx, psk_cb);	/* TLS 1.2 */
		SSL_CTX_set_psk_find_session_callback(s->ctx, psk_find_session_cb);
	}
	if (r < 0) {
		tls_server_put(s);
		return -1;
	}
	*out = s;
	return 0;
}

const char *tls_server_describe(const struct tls_server *s, char *buf, size_t len)
{
	char psk[48] = "";
	if (s->psk.n)
		snprintf(psk, sizeof psk, "PSK (%zu identit%s)", s->psk.n, s->psk.n == 1 ? "y" : "ies");
	snprintf(buf, len, "%s%s%s", s->x509 ? "X.509" : "", s->x509 && s->psk.n ? " and " : "",
		 psk);
	return buf;
}

void tls_server_put(struct tls_server *s)
{
	if (!s || --s->refs > 0)
		return;
	SSL_CTX_free(s->ctx);
	psk_list_release(&s->psk);
	free(s);
}

struct tls_conn *tls_conn_new(struct tls_server *s, int fd)
{
	struct tls_conn *t = calloc(1, sizeof *t);
	if (!t || !(t->ssl = SSL_new(s->ctx))) {
		free(t);
		return NULL;
	}
	SSL_set_fd(t->ssl, fd);
	SSL_set_accept_state(t->ssl);
	SSL_set_ex_data(t->ssl, conn_index, t);
	t->srv = s;
	s->refs++;
	return t;
}

/* Map an SSL call's result: -1 with errno EAGAIN (and want_write) when it must wait. */
static int would_block(struct tls_conn *t, int ret)
{
	int e = SSL_get_error(t->ssl, ret);
	t->want_write = e == SSL_ERROR_WANT_WRITE;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
		return 1;
	}
	return 0;
}

int tls_conn_handshake(struct tls_conn *t, char *why, size_t whylen)
{
	ERR_clear_error();
	int r = SSL_do_handshake(t->ssl);
	if (r == 1)
		return 1;
	if (would_block(t, r))
		return 0;
	long v = SSL_get_verify_result(t->ssl);
	snprintf(why, whylen, "TLS handshake failed: %s%s%s", ssl_reason(),
		 v != X509_V_OK ? ": " : "", v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
	return -1;
}

ssize_t tls_conn_recv(struct tls_conn *t, void *buf, size_t len)
{
	size_t got = 0;
	ERR_clear_error();
	int r = SSL_read_ex(t->ssl, buf, len, &got);
	if (r == 1)
		return (ssize_t)got;
	int e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	if (would_block(t, r))
		return -1;
	errno = e == SSL_ERROR_SYSCALL && errno ? errno : ECONNRESET;
	ERR_clear_error();
	return -1;
}

ssize_t tls_conn_sendv(struct tls_conn *t, const struct iovec *iov, int iovcnt)
{
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		size_t off = 0;
		while (off < iov[i].iov_len) {
			size_t n = MIN(iov[i].iov_len - off, (size_t)TLS_SEND_CHUNK), put = 0;
			ERR_clear_error();
			int r = SSL_write_ex(t->ssl, (const char *)iov[i].iov_base + off, n, &put);
			if (r != 1) {
				if (total)
					return (ssize_t)total;	/* report progress first */
				if (!would_block(t, r)) {
					errno = errno ? errno : EPIPE;
					ERR_clear_error();
				}
				return -1;
			}
			off += put;
			total += put;
		}
	}
	return (ssize_t)total;
}

bool tls_conn_wants_write(const struct tls_conn *t)
{
	return t->want_write;
}

bool tls_conn_pending(const struct tls_conn *t)
{
	return SSL_has_pending(t->ssl);
}

const char *tls_conn_describe(const struct tls_conn *t, char *buf, size_t len)
{
	char auth[300] = "";
	X509 *peer = SSL_get1_peer_certificate(t->ssl);
	const char *psk = t->psk_identity;
	if (psk)
		snprintf(auth, sizeof auth, ", PSK identity '%.255s'", psk);
	else if (peer) {
		char dn[256];
		X509_NAME_oneline(X509_get_subject_name(peer), dn, sizeof dn);
		snprintf(auth, sizeof auth, ", client certificate %s", dn);
	}
	X509_free(peer);
	snprintf(buf, len, "%s %s%s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl), auth);
	return buf;
}

void tls_conn_free(struct tls_conn *t)
{
	if (!t)
		return;
	if (SSL_is_init_finished(t->ssl))
		SSL_shutdown(t->ssl);	/* close_notify; the socket is nonblocking: best effort */
	SSL_free(t->ssl);
	ERR_clear_error();
	tls_server_put(t->srv);
	free(t);
}
