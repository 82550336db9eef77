/* Storing the domains' VM sets when the shipper starts (contract in ship-vms.h). ferryd
 * reads its configuration only at start, so storing here, before the shipper's workers cut
 * its first point, is "before a point when the description changed". */
#include "datapath/ship-vms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "repo/vmdesc.h"
#include "common/banned.h"

int ship_store_vms(struct repo *r, const struct ferry_config *cfg)
{
	struct vm_desc *vms = calloc(cfg->n_vms ? cfg->n_vms : 1, sizeof(*vms));
	int rc = vms ? 0 : -1;
	if (!vms)
		log_error("VM descriptions: out of memory");
	for (size_t d = 0; d < cfg->n_domains && rc == 0; d++) {
		struct vm_set s = { .vms = vms };
		char err[512] = "";
		snprintf(s.domain, sizeof(s.domain), "%s", cfg->domains[d].name);
		for (size_t i = 0; i < cfg->n_vms; i++)
			if (!strcmp(cfg->vms[i].desc.domain, s.domain))
				vms[s.n++] = cfg->vms[i].desc;
		int r2 = repo_vms_put(r, &s, err, sizeof(err));
		if (r2 < 0) {
			log_error("domain %s: storing its VM descriptions: %s", s.domain, err);
			rc = -1;
		} else if (r2 > 0) {
			log_info("domain %s: stored its VM descriptions (%zu VMs)", s.domain, s.n);
		}
	}
	free(vms);
	return rc;
}
