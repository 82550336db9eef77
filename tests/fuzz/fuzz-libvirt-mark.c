/* Fuzz target for reading the libvirt driver's mark back from the XML libvirt returns
 * (agent/driver-libvirt-xml.c, lv_xml_mark): any bytes give -EBADMSG, "no mark", or a
 * mark that is exactly 64 lowercase hex digits. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/driver-libvirt.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	char hash[LV_HASH_HEX + 1];
	int rc = lv_xml_mark(buf, size, hash);
	if (rc != 0 && rc != 1 && rc != -EBADMSG)
		abort();
	if (rc == 1) {
		if (strlen(hash) != LV_HASH_HEX)
			abort();
		for (size_t i = 0; i < LV_HASH_HEX; i++)
			if (!strchr("0123456789abcdef", hash[i]))
				abort();
	}
	free(buf);
	return 0;
}
