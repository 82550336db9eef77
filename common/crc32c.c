#include "common/crc32c.h"

#include <isa-l/crc.h>

/* ISA-L's crc32_iscsi takes and returns the raw register value; invert on both sides so that
 * the result is the standard CRC32C (crc32c("123456789") == 0xe3069283) and chains. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	return ~crc32_iscsi((unsigned char *)(uintptr_t)buf, (int)len, ~crc);
}
