/* Fuzz target for the parser of ferryd's "status json" (common/ferryd-status.c), which
 * ferry-subagent feeds with whatever the control socket answers, and for the merge of
 * ferry-agent's domains into it (the same bytes, as the agent's answer): neither may crash
 * or leak, and what they return must stay within the MIB's ranges. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ferryd-status.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ferryd_status st;
	char err[256];
	if (ferryd_status_parse((const char *)data, size, &st, err, sizeof err) < 0) {
		if (err[0] == '\0')
			abort();
		memset(&st, 0, sizeof st);
	}
	json_t *agent = json_loadb((const char *)data, size, 0, NULL);
	err[0] = '\0';
	if (agent && agent_status_merge(agent, &st, err, sizeof err) < 0 && err[0] == '\0')
		abort();
	json_decref(agent);
	if (st.log_pct > 100 || st.n_domains > FERRYD_STATUS_MAX_DOMAINS)
		abort();
	for (size_t i = 0; i < st.n_domains; i++) {
		const struct ferryd_domain_status *d = &st.domains[i];
		if (d->state < FS_PROTECTED || d->state > FS_ERROR || d->store < FS_STORE_OK ||
		    d->store > FS_STORE_NONE || d->rpo_s < -1 || d->rpo_s > INT32_MAX ||
		    strnlen(d->name, sizeof d->name) == sizeof d->name ||
		    strnlen(d->point, sizeof d->point) == sizeof d->point)
			abort();
	}
	return 0;
}
