/* Fuzz target for the orchestration journal: any bytes are replayed (never a crash or an
 * out-of-bounds index, whatever the records say), then what was rebuilt is shown as the
 * API would show it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/journal.h"
#include "agent/op.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dom_record r = { 0 };
	snprintf(r.domain, sizeof(r.domain), "dom");
	size_t used;
	char err[256];
	int rc = journal_replay((const char *)data, size, &r, &used, err, sizeof(err));
	if (used > size || (rc < 0 && !err[0]))
		abort();
	for (size_t i = 0; i < r.n_ops; i++) {
		op_point(r.ops[i]);
		json_t *j = op_json(r.ops[i]);
		json_decref(j);
		for (size_t k = 0; k < r.ops[i]->n_steps; k++)
			for (size_t a = 0; a < r.ops[i]->steps[k].n_after; a++)
				if (r.ops[i]->steps[k].after[a] >= r.ops[i]->n_steps)
					abort();
	}
	dom_record_release(&r);
	return 0;
}
