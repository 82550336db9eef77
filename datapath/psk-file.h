/* TLS pre-shared keys for NBD ([nbd] tls_psk_file): one identity per line,
 *
 *   IDENTITY:HEXKEY
 *
 * the format GnuTLS's psktool writes and qemu (tls-creds-psk, keys.psk) and libnbd
 * (tls-psk-file) read, so one file can serve both ends. IDENTITY is 1 to 255 bytes without
 * ':' or control characters; HEXKEY an even number (2 to 512) of hex digits. Blank lines and
 * lines starting with '#' are skipped; CRLF line ends are accepted. The parser is pure (a
 * fuzz target drives it); keys are wiped from memory on release. */
#ifndef FERRY_PSK_FILE_H
#define FERRY_PSK_FILE_H

#include <stddef.h>
#include <stdint.h>

#define PSK_IDENTITY_MAX 255
#define PSK_KEY_MAX 256
#define PSK_MAX_ENTRIES 4096
#define PSK_FILE_MAX (1u << 20)

struct psk_entry {
	char identity[PSK_IDENTITY_MAX + 1];
	uint8_t key[PSK_KEY_MAX];
	size_t key_len;
};

struct psk_list {
	struct psk_entry *v;
	size_t n;
};

/* Parse len bytes of text. On success fill *out (release with psk_list_release) and return
 * 0; on error return -1 with "line N: reason" in why (never containing key material) and
 * leave *out empty. Duplicate identities and an empty list are errors. */
int psk_file_parse(const char *text, size_t len, struct psk_list *out, char *why,
		   size_t whylen);
/* The key of identity, or NULL. */
const struct psk_entry *psk_find(const struct psk_list *l, const char *identity);
void psk_list_release(struct psk_list *l);

#endif
