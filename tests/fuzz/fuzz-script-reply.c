/* Fuzz target for what an operator's command prints (agent/driver-script.c,
 * script_reply_parse): whatever the bytes, the parser must stay inside them and either
 * fail with -EBADMSG or give a known state (or none) and a NUL-terminated reason without
 * control characters. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/driver-script.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);	/* no terminator: ASan catches overreads */
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct script_reply r;
	char err[256];
	int rc = script_reply_parse(buf, size, &r, err, sizeof(err));
	if (rc != 0 && rc != -EBADMSG)
		abort();
	if (rc == 0) {
		if (r.state < -1 || r.state > DRV_OTHER)
			abort();
		size_t n = strnlen(r.error, sizeof(r.error));
		if (n == sizeof(r.error))
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)r.error[i] < 0x20)
				abort();
	}
	free(buf);
	return 0;
}
