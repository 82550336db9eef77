/* Fuzz target for the API's request bodies: any bytes are parsed as each kind of body
 * (never a crash or a leak; an error always has a 4xx status and a reason; a parsed body
 * has the members its kind requires). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/api.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int k = BODY_VALIDATE; k <= BODY_TEST_STOP; k++) {
		struct api_body b;
		char err[256] = "";
		unsigned st = api_body_parse((enum api_body_kind)k, (const char *)data, size, &b, err,
					     sizeof(err));
		if (st && ((st != 400 && st != 413 && st != 500) || !err[0]))
			abort();
		if (!st && (((k == BODY_VALIDATE || k == BODY_PLAN) && !b.plan) ||
			    (k == BODY_FAILOVER && (!b.mode || !b.n_plans || !b.plans[0]))))
			abort();
		api_body_release(&b);
	}
	return 0;
}
