/* CRC32C (Castagnoli), computed with ISA-L's crc32_iscsi. Seed 0 for a new CRC; feed the
 * previous result to continue over several buffers. */
#ifndef FERRY_CRC32C_H
#define FERRY_CRC32C_H
#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
