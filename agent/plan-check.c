/* A plan against its domain's VM descriptions (agent/plan.h plan_check_domain). Pure.
 *
 * The boot order is the VMs' "waits for" relation: explicit `after` lists plus, with
 * [boot] groups, every VM of a group waiting for each VM of the group before it. It must
 * be a DAG; Kahn's algorithm gives a boot order (ties broken by the domain's own VM order,
 * so the order is stable), and what Kahn cannot place holds at least one cycle, which is
 * walked and reported by name ("db -> app -> db"), once per cycle. */
#include "agent/plan.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

static ssize_t set_find(const struct vm_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (!strcmp(set->vms[i].name, name))
			return (ssize_t)i;
	return -1;
}

static int add_dep(struct plan_vm_view *v, size_t dep)
{
	for (size_t i = 0; i < v->n_deps; i++)
		if (v->deps[i] == dep)
			return 0;
	size_t *d = realloc(v->deps, (v->n_deps + 1) * sizeof(*d));
	if (!d)
		return -ENOMEM;
	v->deps = d;
	d[v->n_deps++] = dep;
	return 0;
}

/* Names in the plan that the domain does not have. */
static void check_names(const struct plan *p, const struct vm_set *set, struct problems *pr)
{
	for (size_t i = 0; i < p->n_vms; i++) {
		const struct plan_vm *vm = &p->vms[i];
		if (set_find(set, vm->name) < 0)
			problems_add(pr, "[vm %s] (line %u): domain %s has no VM '%s'", vm->name,
				     vm->line, p->domain, vm->name);
		for (size_t j = 0; j < vm->n_after; j++) {
			if (!strcmp(vm->after[j], vm->name))
				problems_add(pr, "[vm %s] (line %u): a VM cannot wait for itself",
					     vm->name, vm->line);
			else if (set_find(set, vm->after[j]) < 0)
				problems_add(pr, "[vm %s] after: domain %s has no VM '%s'", vm->name,
					     p->domain, vm->after[j]);
		}
	}
	for (size_t g = 0; g < p->n_groups; g++)
		for (size_t j = 0; j < p->groups[g].n; j++)
			if (set_find(set, p->groups[g].vms[j]) < 0)
				problems_add(pr, "[boot] group (line %u): domain %s has no VM '%s'",
					     p->groups[g].line, p->domain, p->groups[g].vms[j]);
	size_t plen = strlen(p->vm_prefix ? p->vm_prefix : "");
	for (size_t i = 0; i < set->n; i++)
		if (plen + strlen(set->vms[i].name) + 5 > VM_NAME_MAX)
			problems_add(pr, "VM %s: vm_prefix makes its name longer than %d characters",
				     set->vms[i].name, VM_NAME_MAX - 5);
}

static int build_deps(const struct plan *p, const struct vm_set *set, struct plan_view *v)
{
	for (size_t i = 0; i < p->n_vms; i++) {
		ssize_t me = set_find(set, p->vms[i].name);
		if (me < 0)
			continue;
		for (size_t j = 0; j < p->vms[i].n_after; j++) {
			ssize_t d = set_find(set, p->vms[i].after[j]);
			if (d >= 0 && d != me && add_dep(&v->vms[me], (size_t)d) < 0)
				return -ENOMEM;
		}
	}
	for (size_t g = 1; g < p->n_groups; g++)
		for (size_t j = 0; j < p->groups[g].n; j++) {
			ssize_t me = set_find(set, p->groups[g].vms[j]);
			for (size_t k = 0; me >= 0 && k < p->groups[g - 1].n; k++) {
				ssize_t d = set_find(set, p->groups[g - 1].vms[k]);
				if (d >= 0 && d != me && add_dep(&v->vms[me], (size_t)d) < 0)
					return -ENOMEM;
			}
		}
	return 0;
}

/* Walk "waits for" edges among the unplaced VMs from start until a VM repeats; report
 * that cycle and mark its VMs reported. */
static void report_cycle(const struct plan_view *v, const bool *placed, bool *reported,
			 size_t start, struct problems *pr)
{
	size_t n = v->n, *path = calloc(n + 1, sizeof(*path)), len = 0, cur = start;
	ssize_t *at = malloc(n * sizeof(*at));
	if (!path || !at) {
		pr->oom = true;
		free(path);
		free(at);
		return;
	}
	for (size_t i = 0; i < n; i++)
		at[i] = -1;
	while (at[cur] < 0) {
		at[cur] = (ssize_t)len;
		path[len++] = cur;
		size_t next = cur;
		for (size_t d = 0; d < v->vms[cur].n_deps; d++)
			if (!placed[v->vms[cur].deps[d]]) {
				next = v->vms[cur].deps[d];
				break;
			}
		cur = next;
	}
	bool seen = false;
	char text[1024] = "";
	size_t off = 0;
	for (size_t i = (size_t)at[cur]; i < len; i++) {
		seen |= reported[path[i]];
		reported[path[i]] = true;
		off += (size_t)snprintf(text + off, off < sizeof(text) ? sizeof(text) - off : 0,
					"%s -> ", v->vms[path[i]].desc->name);
	}
	snprintf(text + MIN(off, sizeof(text) - 1), off < sizeof(text) ? sizeof(text) - off : 0,
		 "%s", v->vms[cur].desc->name);
	if (!seen)
		problems_add(pr, "boot order has a cycle: %s (each waits for the next)", text);
	free(path);
	free(at);
}

static int boot_order(struct plan_view *v, struct problems *pr)
{
	size_t n = v->n, placed_n = 0;
	bool *placed = calloc(n + 1, sizeof(bool)), *reported = calloc(n + 1, sizeof(bool));
	if (!(v->boot = calloc(n + 1, sizeof(*v->boot))) || !placed || !reported) {
		free(placed);
		free(reported);
		return -ENOMEM;
	}
	for (bool progress = true; progress && placed_n < n;) {
		progress = false;
		for (size_t i = 0; i < n; i++) {
			if (placed[i])
				continue;
			bool ready = true;
			for (size_t d = 0; d < v->vms[i].n_deps && ready; d++)
				ready = placed[v->vms[i].deps[d]];
			if (!ready)
				continue;
			placed[i] = true;	/* placed now: its dependants may follow in this pass */
			v->vms[i].order = placed_n;
			v->boot[placed_n++] = i;
			progress = true;
			break;			/* restart: lowest index first among the ready */
		}
	}
	for (size_t i = 0; i < n && placed_n < n; i++) {
		/* only VMs on a cycle or waiting for one remain; walk from each */
		if (!placed[i] && !reported[i])
			report_cycle(v, placed, reported, i, pr);
	}
	int rc = placed_n < n ? -1 : 0;
	free(placed);
	free(reported);
	return rc;
}

static void check_networks(const struct plan *p, const struct vm_set *set, enum plan_mode mode,
			   struct problems *pr)
{
	for (size_t m = 0; m < p->n_maps; m++) {
		bool used = false;
		for (size_t i = 0; i < set->n && !used; i++)
			for (size_t k = 0; k < set->vms[i].n_nics && !used; k++)
				used = !strcmp(set->vms[i].nics[k].network, p->maps[m].from);
		if (!used)
			problems_add(pr, "[networks] map (line %u): domain %s has no network '%s'",
				     p->maps[m].line, p->domain, p->maps[m].from);
	}
	if (mode == PLAN_TEST)
		return;		/* a test puts every NIC on the test network */
	for (size_t i = 0; i < set->n; i++)
		for (size_t k = 0; k < set->vms[i].n_nics; k++) {
			const struct vm_nic *nic = &set->vms[i].nics[k];
			bool dup = false;	/* report each network once */
			for (size_t j = 0; j <= i && !dup; j++)
				for (size_t l = 0; l < (j < i ? set->vms[j].n_nics : k) && !dup; l++)
					dup = !strcmp(set->vms[j].nics[l].network, nic->network);
			if (!dup && !plan_map_network(p, nic->network))
				problems_add(pr, "network '%s' (VM %s) is not mapped: add 'map = %s -> "
					     "TARGET' to [networks]", nic->network, set->vms[i].name,
					     nic->network);
		}
}

/* Re-IP every NIC through all the rules (a NIC's DNS servers may each match another rule:
 * agent/reip.h); rules that change nothing (win no NIC's address and map none of the DNS
 * servers of a NIC they apply to) are reported. */
static void apply_reip(const struct plan *p, struct plan_view *v, struct problems *pr)
{
	bool *used = calloc(p->n_rules + 1, sizeof(bool));
	if (!used) {
		pr->oom = true;
		return;
	}
	for (size_t i = 0; i < v->n; i++) {
		struct plan_vm_view *vv = &v->vms[i];
		bool none = vv->pv && vv->pv->reip == REIP_NONE;
		for (size_t k = 0; k < vv->desc->n_nics; k++) {
			const struct vm_nic *in = &vv->desc->nics[k];
			vv->nics[k] = *in;
			if (!none && reip_map_nic(p->rules, p->n_rules, in, &vv->nics[k]) == 1) {
				/* the first rule that matches the address wins (reip.h) */
				const struct reip_rule *won = reip_find_rule(p->rules, p->n_rules,
									     in->addr, in->prefix);
				used[won - p->rules] = true;
				for (size_t d = 0; !won->n_dns && d < in->n_dns; d++) {
					const struct reip_rule *dr = reip_find_rule(p->rules,
						p->n_rules, in->dns[d], 0);
					if (dr)
						used[dr - p->rules] = true;
				}
				vv->nic_changed[k] = true;
			}
			if (!vv->addr && vv->nics[k].mode == VM_NIC_STATIC)
				vv->addr = vv->nics[k].addr;
		}
	}
	for (size_t r = 0; r < p->n_rules; r++)
		if (!used[r])
			problems_add(pr, "[reip] rule '%s' (line %u) matches no NIC of domain %s",
				     p->rule_src[r].text, p->rule_src[r].line, p->domain);
	free(used);
}

static void check_addresses(const struct plan_view *v, struct problems *pr)
{
	for (size_t i = 0; i < v->n; i++)
		for (size_t k = 0; k < v->vms[i].desc->n_nics; k++) {
			const struct vm_nic *a = &v->vms[i].nics[k];
			if (a->mode != VM_NIC_STATIC)
				continue;
			for (size_t j = i; j < v->n; j++)
				for (size_t l = (j == i ? k + 1 : 0); l < v->vms[j].desc->n_nics; l++) {
					const struct vm_nic *b = &v->vms[j].nics[l];
					if (b->mode != VM_NIC_STATIC || b->addr != a->addr)
						continue;
					char ip[16];
					vm_ipv4_format(a->addr, ip);
					if (i == j)
						problems_add(pr, "VM %s would have address %s on two NICs",
							     v->vms[i].desc->name, ip);
					else
						problems_add(pr, "VMs %s and %s would both have address %s",
							     v->vms[i].desc->name, v->vms[j].desc->name, ip);
				}
		}
}

static void check_checks(const struct plan_view *v, struct problems *pr)
{
	for (size_t i = 0; i < v->n; i++) {
		const struct plan_vm *pv = v->vms[i].pv;
		if (!pv)
			continue;
		if (pv->check == CHECK_TCP && !pv->tcp_addr && !v->vms[i].addr)
			problems_add(pr, "[vm %s] check tcp %u: %s has no static address (use tcp "
				     "ADDR:PORT)", pv->name, pv->tcp_port, pv->name);
		if (pv->check == CHECK_SERIAL) {
			regex_t re;
			int rc = regcomp(&re, pv->serial_re, REG_EXTENDED | REG_NOSUB);
			if (rc) {
				char why[128];
				regerror(rc, &re, why, sizeof(why));
				problems_add(pr, "[vm %s] check serial: bad regular expression '%s': %s",
					     pv->name, pv->serial_re, why);
			} else {
				regfree(&re);
			}
		}
		if (pv->reip == REIP_DISK && v->vms[i].desc->n_disks == 0)
			problems_add(pr, "[vm %s]: no disk to Re-IP", pv->name);
	}
}

static void check_mode(const struct plan *p, enum plan_mode mode, struct problems *pr)
{
	if (mode == PLAN_CONTINUOUS && p->format != RESTORE_VMDK_FLAT)
		problems_add(pr, "continuous failover needs format = vmdk-flat (the plan has %s)",
			     restore_format_name(p->format));
	if (mode == PLAN_TEST && !p->test_network)
		problems_add(pr, "test failover needs [plan] test_network (an isolated network the "
			     "agent creates and removes)");
	if (mode == PLAN_PLANNED && !p->prot_control)
		problems_add(pr, "planned failover needs [protected] control (ferryd's control "
			     "socket at the protected site)");
}

int plan_check_domain(const struct plan *p, const struct vm_set *set, enum plan_mode mode,
		      struct plan_view *view, struct problems *pr)
{
	memset(view, 0, sizeof(*view));
	size_t before = pr->n;
	if (strcmp(set->domain, p->domain))
		problems_add(pr, "the VM descriptions are of domain %s, the plan of %s", set->domain,
			     p->domain);
	if (set->n == 0)
		problems_add(pr, "domain %s has no VM descriptions in the store (describe its VMs "
			     "with [vm NAME] sections in ferryd's configuration)", p->domain);
	view->vms = calloc(set->n + 1, sizeof(*view->vms));
	if (!view->vms) {
		pr->oom = true;
		return -1;
	}
	view->n = set->n;
	for (size_t i = 0; i < set->n; i++) {
		view->vms[i].desc = &set->vms[i];
		view->vms[i].pv = plan_vm_find(p, set->vms[i].name);
	}
	check_names(p, set, pr);
	if (build_deps(p, set, view) < 0 || boot_order(view, pr) == -ENOMEM)
		pr->oom = true;
	check_networks(p, set, mode, pr);
	apply_reip(p, view, pr);
	check_addresses(view, pr);
	check_checks(view, pr);
	check_mode(p, mode, pr);
	if (pr->n > before || pr->oom) {
		plan_view_release(view);
		return -1;
	}
	return 0;
}

void plan_view_release(struct plan_view *v)
{
	for (size_t i = 0; v->vms && i < v->n; i++)
		free(v->vms[i].deps);
	free(v->vms);
	free(v->boot);
	memset(v, 0, sizeof(*v));
}
