/* Fuzz target for recovery plans: any bytes go to plan_parse (never a crash or a leak; a
 * failed parse always says why), and a plan that parses is checked against three VMs in
 * every mode, then its step lists are built. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/op.h"
#include "agent/plan.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void vm(struct vm_set *s, const char *name, const char *net, uint32_t addr)
{
	struct vm_desc *v = &s->vms[s->n++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->domain, sizeof(v->domain), "dom");
	snprintf(v->disks[0], sizeof(v->disks[0]), "%s0", name);
	v->n_disks = 1;
	struct vm_nic *n = &v->nics[v->n_nics++];
	snprintf(n->network, sizeof(n->network), "%s", net);
	n->mac[5] = (uint8_t)s->n;
	n->mode = VM_NIC_STATIC;
	n->addr = addr;
	n->prefix = 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct plan p;
	struct problems pr = { 0 };
	if (plan_parse("fuzz.plan", (const char *)data, size, &p, &pr) < 0) {
		if (pr.n == 0 && !pr.oom)
			abort();
		problems_release(&pr);
		return 0;
	}
	struct vm_desc vms[3];
	struct vm_set s = { .domain = "dom", .vms = vms };
	vm(&s, "db", "prod", 0x0a01000b);
	vm(&s, "app", "prod", 0x0a01000c);
	vm(&s, "web", "dmz", 0x0a01000d);
	static const enum dom_action acts[] = { DA_PLANNED, DA_PLANNED, DA_FORCED, DA_TEST,
						DA_CONTINUOUS };
	for (int m = PLAN_ANY; m <= PLAN_CONTINUOUS; m++) {
		struct plan_view v;
		struct problems cp = { 0 };
		if (plan_check_domain(&p, &s, (enum plan_mode)m, &v, &cp) == 0) {
			if (v.n != 3)
				abort();
			struct op op = { 0 };
			if (op_build_steps(acts[m], &p, &v, &op) == 0)
				steps_free(op.steps, op.n_steps);
			plan_view_release(&v);
		} else if (cp.n == 0 && !cp.oom) {
			abort();
		}
		problems_release(&cp);
	}
	plan_release(&p);
	return 0;
}
