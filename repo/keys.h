/* Repository keys: the key file on the appliance, and the repository's own keys wrapped
 * by it in the repository config (docs/repo-format.md, "Key file" and "Wrapped keys").
 *
 *   key file (32 random bytes, hex)  --AES-256-GCM wraps-->  data key + id key
 *                                                             |          |
 *                                               blob encryption    chunk-id HMAC
 *
 * The repository keys are generated once at `ferryctl init`; the key file only unlocks
 * them, so a repository never re-encrypts its data. An unencrypted repository
 * (--encryption none) has no wrapped keys: chunk ids are plain SHA-256.
 *
 * Secrets: nothing here logs, and every temporary copy of key material is wiped
 * (OPENSSL_cleanse). Callers wipe their own copies with secret_wipe() (common/secret.h).
 * No global state. */
#ifndef FERRY_KEYS_H
#define FERRY_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEY_LEN 32		/* every key here is 256 bits */
#define KEY_FILE_LEN 65		/* 64 hex characters + '\n' */

struct repo_keys {
	uint8_t data_key[KEY_LEN];	/* AES-256-GCM key of every blob */
	uint8_t id_key[KEY_LEN];	/* HMAC-SHA256 key of chunk ids */
};

/* Create a new key file at path with 32 random bytes: O_CREAT|O_EXCL|O_NOFOLLOW, mode
 * 0600 (set with fchmod, whatever the umask), content fsynced, then the directory fsynced.
 * Returns 0 and the key in key[], -EEXIST if path exists (never overwritten), or another
 * -errno (a partly written file is removed). */
int key_file_create(const char *path, uint8_t key[KEY_LEN]);

/* Load a key file: exactly 64 hex digits (either case), optionally followed by one '\n'.
 * *too_open (may be NULL) is set when the mode gives group or other any access, so the
 * caller can warn. Returns 0, -EINVAL for any other content or not a regular file, or
 * -errno from open/read. */
int key_file_load(const char *path, uint8_t key[KEY_LEN], bool *too_open);

/* Fill both repository keys with random bytes. 0 or -EIO (no randomness). */
int keys_generate(struct repo_keys *k);

/* Wrapped keys record: the repository keys encrypted under the key file's key.
 * KEYS_WRAPPED_LEN bytes, layout in docs/repo-format.md. */
#define KEYS_WRAPPED_LEN 108
#define KEYS_WRAP_VERSION 1

/* Wrap data_key and id_key under master into out[KEYS_WRAPPED_LEN] (fresh random nonce
 * each call). 0, or -EIO (OpenSSL or randomness failure). */
int keys_wrap(const uint8_t master[KEY_LEN], const uint8_t data_key[KEY_LEN],
	      const uint8_t id_key[KEY_LEN], uint8_t out[KEYS_WRAPPED_LEN]);

/* Unwrap a wrapped keys record. Returns 0 with *k filled, or
 *   -EKEYREJECTED  authentication fails and the record's key check value does not match
 *                  master: the wrong key file for this repository;
 *   -EBADMSG       authentication fails although the key check matches (a corrupt
 *                  record), or len is not KEYS_WRAPPED_LEN, or bad magic;
 *   -EPROTO        unknown record version or algorithm;
 *   -EIO           OpenSSL failure.
 * The key check value is only a diagnostic: success always means the record authenticated
 * under master.
 * On any error *k is zeroed: never wrong keys. */
int keys_unwrap(const uint8_t master[KEY_LEN], const void *in, size_t len,
		struct repo_keys *k);

#endif
