/* Fuzz target for the VMDK descriptor parser (image/vmdk-desc.c). Whatever the bytes, the
 * parser must not crash; and any descriptor it accepts that the generator can write must
 * parse back from the generated text to the same header, extents and ddb entries (the
 * generator never changes meaning). The uuid parser gets the ddb.uuid value, if any. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/vmdk.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct vmdk_desc *a, const struct vmdk_desc *b)
{
	if (a->version != b->version || a->cid != b->cid || a->parent_cid != b->parent_cid ||
	    strcmp(a->create_type, b->create_type) || a->n_extents != b->n_extents ||
	    a->n_ddb != b->n_ddb || !a->parent_hint != !b->parent_hint ||
	    (a->parent_hint && strcmp(a->parent_hint, b->parent_hint)))
		abort();
	for (size_t i = 0; i < a->n_extents; i++) {
		const struct vmdk_desc_extent *x = &a->extents[i], *y = &b->extents[i];
		if (x->access != y->access || x->type != y->type || x->sectors != y->sectors ||
		    strcmp(x->type_name, y->type_name) || !x->file != !y->file ||
		    (x->file && strcmp(x->file, y->file)))
			abort();
		if ((x->type == VMDK_EXT_FLAT || x->type == VMDK_EXT_VMFS) && x->file &&
		    x->offset != y->offset)
			abort();
	}
	for (size_t i = 0; i < a->n_ddb; i++)
		if (strcmp(a->ddb[i].key, b->ddb[i].key) ||
		    strcmp(a->ddb[i].value, b->ddb[i].value))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmdk_desc d, e;
	char err[200];

	if (vmdk_desc_parse((const char *)data, size, &d, err, sizeof err) < 0)
		return 0;
	const char *u = vmdk_desc_get(&d, "ddb.uuid");
	uint8_t uuid[16];
	if (u && vmdk_uuid_parse(u, uuid) == 0) {
		char s[48];
		vmdk_uuid_format(uuid, s);
		uint8_t v[16];
		if (vmdk_uuid_parse(s, v) < 0 || memcmp(uuid, v, 16))
			abort();
	}
	char *out = malloc(VMDK_DESC_MAX * 2);
	if (!out)
		abort();
	ssize_t n = vmdk_desc_format(&d, out, VMDK_DESC_MAX * 2);
	if (n >= 0) {
		if (vmdk_desc_parse(out, (size_t)n, &e, err, sizeof err) < 0)
			abort();	/* what we write, we must read */
		same(&d, &e);
		vmdk_desc_release(&e);
	}
	free(out);
	vmdk_desc_release(&d);
	return 0;
}
