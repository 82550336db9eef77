/* Fuzz target for Re-IP rules (agent/reip-rule.c): any bytes (up to the first NUL) as a
 * rule. A rule that parses must format to a canonical text that parses to the same rule
 * and formats the same again; mapping a NIC through it must give a valid NIC. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/reip.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[512], out[512], again[512], err[160];
	struct reip_rule r, back;
	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (reip_rule_parse(text, &r, err, sizeof(err)) < 0)
		return 0;
	if (reip_rule_format(&r, out, sizeof(out)) < 0 ||
	    reip_rule_parse(out, &back, err, sizeof(err)) < 0 ||
	    memcmp(&r, &back, sizeof(r)) || reip_rule_format(&back, again, sizeof(again)) < 0 ||
	    strcmp(out, again))
		abort();
	struct vm_nic in, mapped;
	if (vm_nic_parse("n 52:54:00:00:00:01 static 10.1.2.3/24 gw 10.1.2.1 dns 10.1.2.2", &in,
			 err, sizeof(err)) < 0)
		abort();
	if (reip_map_nic(&r, 1, &in, &mapped) == 1 && (mapped.prefix < 1 || mapped.prefix > 32))
		abort();
	return 0;
}
