/* Fuzz target for the VMDK reader (image/vmdk-read.c): the input is a whole file image,
 * opened with vmdk_open_mem() (hosted sparse files: monolithicSparse and streamOptimized
 * of both layouts). On success the data ranges are walked with vmdk_next_data() and read,
 * and a few reads are made at the ends of the capacity. Nothing may crash or allocate past
 * the reader's caps, whatever the bytes; the amounts read are bounded to keep each run
 * short. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/util.h"
#include "image/vmdk.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BUF (256u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[BUF];
	struct vmdk_reader *r;
	char err[200];

	if (vmdk_open_mem(data, size, &r, err, sizeof err) < 0)
		return 0;
	uint64_t cap = vmdk_capacity(r), off = 0, d, l;
	for (unsigned i = 0; i < 64 && vmdk_next_data(r, off, &d, &l) == 1; i++) {
		if (d < off || l == 0 || d + l > cap)
			abort();
		size_t n = (size_t)MIN(l, (uint64_t)BUF);
		vmdk_read(r, d, buf, n);
		off = d + l;
	}
	if (cap) {
		vmdk_read(r, 0, buf, (size_t)MIN(cap, (uint64_t)BUF));
		vmdk_read(r, cap / 2, buf, 1);
		vmdk_read(r, cap - 1, buf, 1);
	}
	if (vmdk_read(r, cap, buf, 1) != -EINVAL)
		abort();
	vmdk_close(r);
	return 0;
}
