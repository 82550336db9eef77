/* The PSK file parser (format and contract in psk-file.h). */
#include "datapath/psk-file.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

/* One "IDENTITY:HEXKEY" line of n bytes into e; return NULL or the reason it is bad. */
static const char *parse_line(const char *s, size_t n, struct psk_entry *e)
{
	const char *colon = memchr(s, ':', n);
	if (!colon)
		return "expected IDENTITY:HEXKEY";
	size_t idlen = (size_t)(colon - s), hexlen = n - idlen - 1;
	if (idlen == 0)
		return "empty identity";
	if (idlen > PSK_IDENTITY_MAX)
		return "identity longer than 255 bytes";
	for (size_t i = 0; i < idlen; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "control character in identity";
	if (hexlen == 0 || hexlen % 2 || hexlen / 2 > PSK_KEY_MAX)
		return "the key must be 2 to 512 hex digits, an even number";
	for (size_t i = 0; i < hexlen / 2; i++) {
		int hi = hex_nibble(colon[1 + 2 * i]), lo = hex_nibble(colon[2 + 2 * i]);
		if (hi < 0 || lo < 0)
			return "the key is not hexadecimal";
		e->key[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(e->identity, s, idlen);
	e->identity[idlen] = 0;
	e->key_len = hexlen / 2;
	return NULL;
}

static bool skip_line(const char *s, size_t n)
{
	return n == 0 || s[0] == '#';
}

int psk_file_parse(const char *text, size_t len, struct psk_list *out, char *why,
		   size_t whylen)
{
	const char *bad = NULL;
	size_t pos = 0, cap = 0;
	unsigned line = 0;

	out->v = NULL;
	out->n = 0;
	if (len > PSK_FILE_MAX) {
		snprintf(why, whylen, "file larger than %u bytes", PSK_FILE_MAX);
		return -1;
	}
	while (pos < len && !bad) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + (nl ? 1 : 0);
		line++;
		if (n && s[n - 1] == '\r')
			n--;
		if (memchr(s, 0, n)) {
			bad = "NUL byte";
			break;
		}
		if (skip_line(s, n))
			continue;
		if (out->n == PSK_MAX_ENTRIES) {
			bad = "more than 4096 identities";
			break;
		}
		if (out->n == cap) {
			/* not realloc: the old copy of the keys is wiped before it is freed */
			size_t ncap = cap ? 2 * cap : 8;
			struct psk_entry *v = malloc(ncap * sizeof *v);
			if (!v) {
				bad = "out of memory";
				break;
			}
			if (out->n) {
				memcpy(v, out->v, out->n * sizeof *v);
				explicit_bzero(out->v, out->n * sizeof *v);
			}
			free(out->v);
			out->v = v;
			cap = ncap;
		}
		bad = parse_line(s, n, &out->v[out->n]);
		if (!bad && psk_find(out, out->v[out->n].identity))
			bad = "duplicate identity";
		if (!bad)
			out->n++;
	}
	if (!bad && out->n == 0) {
		snprintf(why, whylen, "no identity in the file");
		psk_list_release(out);
		return -1;
	}
	if (bad) {
		snprintf(why, whylen, "line %u: %s", line, bad);
		if (out->v)	/* the half-parsed entry too */
			explicit_bzero(&out->v[out->n], sizeof out->v[out->n]);
		psk_list_release(out);
		return -1;
	}
	return 0;
}

const struct psk_entry *psk_find(const struct psk_list *l, const char *identity)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].identity, identity))
			return &l->v[i];
	return NULL;
}

void psk_list_release(struct psk_list *l)
{
	if (l->v)
		explicit_bzero(l->v, l->n * sizeof *l->v);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
