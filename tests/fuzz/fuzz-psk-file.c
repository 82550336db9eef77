/* Fuzz target for the TLS PSK file parser (datapath/psk-file.c): any bytes; a success must
 * hold unique, non-empty identities without ':' and keys of 1 to PSK_KEY_MAX bytes, each
 * found by psk_find; a failure must leave the list empty with a reason. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/psk-file.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "invariant violated: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psk_list l;
	char why[128] = "";
	if (psk_file_parse((const char *)data, size, &l, why, sizeof why) < 0) {
		check(l.n == 0 && l.v == NULL, "failure left entries");
		check(why[0] != 0, "failure without a reason");
		return 0;
	}
	check(l.n > 0 && l.n <= PSK_MAX_ENTRIES, "entry count");
	for (size_t i = 0; i < l.n; i++) {
		const struct psk_entry *e = &l.v[i];
		size_t n = strlen(e->identity);
		check(n > 0 && n <= PSK_IDENTITY_MAX, "identity length");
		check(!strchr(e->identity, ':'), "':' in identity");
		check(e->key_len > 0 && e->key_len <= PSK_KEY_MAX, "key length");
		check(psk_find(&l, e->identity) == e, "identity not unique");
	}
	psk_list_release(&l);
	check(l.n == 0 && l.v == NULL, "release");
	return 0;
}
