/* Fuzz target for VM set decoding (repo/vmdesc.c; docs/repo-format.md section 14): the
 * input is a set's plaintext. A set that decodes must re-encode to exactly the same bytes
 * (the format is canonical), compare equal to itself, and give NIC lines that parse back
 * to the same NIC. Decoding must never crash nor allocate beyond the counts the bytes
 * can hold. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/vmdesc-internal.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_nics(const struct vm_desc *v)
{
	for (size_t i = 0; i < v->n_nics; i++) {
		char text[256], err[128];
		struct vm_nic back;
		if (vm_nic_format(&v->nics[i], text, sizeof(text)) < 0 ||
		    vm_nic_parse(text, &back, err, sizeof(err)) < 0 ||
		    memcmp(&back, &v->nics[i], sizeof(back)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_set s;
	uint64_t prev;
	if (vmset_decode(data, size, &s, &prev) < 0)
		return 0;
	struct dbuf b = DBUF_INIT(VMSET_MAX_LEN);
	if (vmset_encode(&s, prev, &b) < 0 || b.len != size || memcmp(b.data, data, size) ||
	    !vmset_equal(&s, &s))
		abort();
	for (size_t i = 0; i < s.n; i++)
		check_nics(&s.vms[i]);
	dbuf_release(&b);
	vm_set_release(&s);
	return 0;
}
