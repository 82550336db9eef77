/* Key file and wrapped repository keys. Not a hot path: each call sets up its own
 * OpenSSL context. The wrapped record carries a key check value (a truncated HMAC of a fixed
 * label under the master key) outside the authenticated data: it is consulted only after
 * authentication has failed, to tell "wrong key file" (-EKEYREJECTED) from "corrupt record"
 * (-EBADMSG). It reveals nothing usable about a 256-bit random key. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/util.h"
#include "common/atomic-file.h"
#include "common/strnum.h"
#include "repo/keys.h"
#include "common/secret.h"
#include "common/banned.h"

#define WRAP_MAGIC "FKEY"
#define WRAP_ALG_AES256GCM 1
#define WRAP_AAD_LABEL "ferry-wrapped-keys"
#define WRAP_CHECK_LABEL "ferry-key-check-v1"
#define WRAP_HDR_LEN 8		/* magic, version, algorithm, reserved: authenticated */
#define WRAP_CHECK_OFF 8
#define WRAP_CHECK_LEN 8
#define WRAP_NONCE_OFF 16
#define WRAP_NONCE_LEN 12
#define WRAP_CT_OFF 28
#define WRAP_CT_LEN (2 * KEY_LEN)
#define WRAP_TAG_OFF (WRAP_CT_OFF + WRAP_CT_LEN)
#define WRAP_TAG_LEN 16

_Static_assert(WRAP_TAG_OFF + WRAP_TAG_LEN == KEYS_WRAPPED_LEN, "wrapped record layout");

/* ---- key file ---- */


int key_file_create(const char *path, uint8_t key[KEY_LEN])
{
	uint8_t k[KEY_LEN];
	char text[KEY_FILE_LEN];
	int r;

	if (RAND_bytes(k, KEY_LEN) != 1)
		return -EIO;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	char hex[2 * KEY_LEN + 1];
	hex_encode(k, KEY_LEN, hex);
	memcpy(text, hex, 2 * KEY_LEN);
	secret_wipe(hex, sizeof hex);
	text[KEY_FILE_LEN - 1] = '\n';
	r = fchmod(fd, 0600) < 0 ? -errno : 0;
	if (!r)
		r = write_full(fd, text, sizeof text);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r)
		r = fsync_parent_dir(path);
	if (r)
		unlink(path);
	else
		memcpy(key, k, KEY_LEN);
out:
	secret_wipe(k, sizeof k);
	secret_wipe(text, sizeof text);
	return r;
}

int key_file_load(const char *path, uint8_t key[KEY_LEN], bool *too_open)
{
	char text[KEY_FILE_LEN + 1];	/* one more, to see an overlong file */
	size_t len = 0;
	struct stat st;
	int r = 0;

	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	while (len < sizeof text) {
		ssize_t n = read(fd, text + len, sizeof text - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len != 2 * KEY_LEN && !(len == KEY_FILE_LEN && text[KEY_FILE_LEN - 1] == '\n')) {
		r = -EINVAL;
		goto out;
	}
	if (hex_decode(text, KEY_LEN, key) < 0) {
		r = -EINVAL;
		secret_wipe(key, KEY_LEN);
		goto out;
	}
	if (too_open)
		*too_open = (st.st_mode & 077) != 0;
out:
	close(fd);
	secret_wipe(text, sizeof text);
	return r;
}

int keys_generate(struct repo_keys *k)
{
	if (RAND_bytes(k->data_key, KEY_LEN) != 1 || RAND_bytes(k->id_key, KEY_LEN) != 1) {
		secret_wipe(k, sizeof(*k));
		return -EIO;
	}
	return 0;
}

/* ---- wrapped keys ---- */

static int key_check(const uint8_t master[KEY_LEN], uint8_t out[WRAP_CHECK_LEN])
{
	uint8_t mac[32];
	size_t maclen = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, master, KEY_LEN,
		       (const unsigned char *)WRAP_CHECK_LABEL, strlen(WRAP_CHECK_LABEL), mac,
		       sizeof mac, &maclen) ||
	    maclen != sizeof mac)
		return -EIO;
	memcpy(out, mac, WRAP_CHECK_LEN);
	return 0;
}

/* One AES-256-GCM pass over the record: enc seals buf's plaintext keys into rec, else opens
 * rec into keys. Returns 0, -EBADMSG (authentication failed) or -EIO. */
static int wrap_gcm(bool enc, const uint8_t master[KEY_LEN], uint8_t *rec, uint8_t *keys)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, r = -EIO;
	uint8_t *in = enc ? keys : rec + WRAP_CT_OFF, *out = enc ? rec + WRAP_CT_OFF : keys;
	OSSL_PARAM tag[2] = { OSSL_PARAM_END, OSSL_PARAM_END };

	if (!c)
		return -EIO;
	if (!EVP_CipherInit_ex2(c, EVP_aes_256_gcm(), master, rec + WRAP_NONCE_OFF, enc, NULL) ||
	    !EVP_CipherUpdate(c, NULL, &n, (const unsigned char *)WRAP_AAD_LABEL,
			      (int)strlen(WRAP_AAD_LABEL)) ||
	    !EVP_CipherUpdate(c, NULL, &n, rec, WRAP_HDR_LEN) ||
	    !EVP_CipherUpdate(c, out, &n, in, WRAP_CT_LEN) || n != WRAP_CT_LEN)
		goto out;
	tag[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, rec + WRAP_TAG_OFF,
						   WRAP_TAG_LEN);
	if (enc) {
		if (EVP_CipherFinal_ex(c, out + n, &n) && EVP_CIPHER_CTX_get_params(c, tag))
			r = 0;
	} else {
		if (!EVP_CIPHER_CTX_set_params(c, tag))
			goto out;
		r = EVP_CipherFinal_ex(c, out + n, &n) > 0 ? 0 : -EBADMSG;
	}
out:
	EVP_CIPHER_CTX_free(c);
	return r;
}

int keys_wrap(const uint8_t master[KEY_LEN], const uint8_t data_key[KEY_LEN],
	      const uint8_t id_key[KEY_LEN], uint8_t out[KEYS_WRAPPED_LEN])
{
	uint8_t keys[WRAP_CT_LEN];
	int r;

	memset(out, 0, KEYS_WRAPPED_LEN);
	memcpy(out, WRAP_MAGIC, 4);
	out[4] = KEYS_WRAP_VERSION;
	out[5] = WRAP_ALG_AES256GCM;
	if ((r = key_check(master, out + WRAP_CHECK_OFF)) < 0)
		return r;
	if (RAND_bytes(out + WRAP_NONCE_OFF, WRAP_NONCE_LEN) != 1)
		return -EIO;
	memcpy(keys, data_key, KEY_LEN);
	memcpy(keys + KEY_LEN, id_key, KEY_LEN);
	r = wrap_gcm(true, master, out, keys);
	secret_wipe(keys, sizeof keys);
	if (r < 0)
		memset(out, 0, KEYS_WRAPPED_LEN);
	return r < 0 ? -EIO : 0;
}

int keys_unwrap(const uint8_t master[KEY_LEN], const void *in, size_t len,
		struct repo_keys *k)
{
	uint8_t rec[KEYS_WRAPPED_LEN], keys[WRAP_CT_LEN], check[WRAP_CHECK_LEN];
	int r;

	memset(k, 0, sizeof(*k));
	if (len != KEYS_WRAPPED_LEN)
		return -EBADMSG;
	memcpy(rec, in, KEYS_WRAPPED_LEN);
	if (memcmp(rec, WRAP_MAGIC, 4) != 0)
		return -EBADMSG;
	if (rec[4] != KEYS_WRAP_VERSION || rec[5] != WRAP_ALG_AES256GCM || get_le16(rec + 6))
		return -EPROTO;
	r = wrap_gcm(false, master, rec, keys);
	if (r == -EBADMSG) {
		if (key_check(master, check) < 0)
			r = -EIO;
		else if (CRYPTO_memcmp(check, rec + WRAP_CHECK_OFF, WRAP_CHECK_LEN) != 0)
			r = -EKEYREJECTED;
	}
	if (r == 0) {
		memcpy(k->data_key, keys, KEY_LEN);
		memcpy(k->id_key, keys + KEY_LEN, KEY_LEN);
	}
	secret_wipe(keys, sizeof keys);
	return r;
}
