/* Fuzz target for the netplan editor of Re-IP (agent/netcfg-netplan.c); the checks are in
 * netcfg-fuzz.h. */
#include "tests/fuzz/netcfg-fuzz.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return netcfg_fuzz(&netcfg_netplan, data, size);
}
