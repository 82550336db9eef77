/* Fuzz target for the networkd editor of Re-IP (agent/netcfg-networkd.c); the checks are in
 * netcfg-fuzz.h. */
#include "tests/fuzz/netcfg-fuzz.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return netcfg_fuzz(&netcfg_networkd, data, size);
}
