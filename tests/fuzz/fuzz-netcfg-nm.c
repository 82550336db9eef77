/* Fuzz target for the nm editor of Re-IP (agent/netcfg-nm.c); the checks are in
 * netcfg-fuzz.h. */
#include "tests/fuzz/netcfg-fuzz.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return netcfg_fuzz(&netcfg_nm, data, size);
}
