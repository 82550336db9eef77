/* ferryctl reip (contract in ctl-reip.h): parses the options, maps each NIC through the
 * rules, and calls reip_apply_disk or reip_write_cidata; nothing else. */
#include "mgmt/ctl-reip.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/reip.h"
#include "common/config.h"
#include "mgmt/ctl-args.h"
#include "common/banned.h"

#define USAGE "reip (--image PATH [--format raw|vmdk] | --cidata SEED.iso) " \
	      "--rule 'FROM -> TO [prefix N] [gw G] [dns D,...]'... " \
	      "(--nic 'NETWORK MAC static ADDR/PREFIX ...'... | -c FILE --vm NAME)"
#define MAX_RULES CTL_LIST_MAX

struct opts {
	struct reip_rule rules[MAX_RULES];
	size_t n_rules;
	struct vm_desc desc;		/* the NICs as described */
};

static int parse(int argc, char **argv, struct args *a, struct opts *o)
{
	char err[256];
	int rc = ctl_parse(argc, argv, OPT(IMAGE) | OPT(FORMAT) | OPT(CIDATA) | OPT(RULE) |
			   OPT(NIC) | OPT(CONF) | OPT(VM), OPT(RULE), a);
	if (rc)
		return rc;
	snprintf(o->desc.name, sizeof(o->desc.name), "vm");
	for (size_t i = 0; i < a->rules.n; i++)
		if (reip_rule_parse(a->rules.v[i], &o->rules[o->n_rules++], err, sizeof(err)) < 0)
			return ctl_fail(a, 2, "bad --rule '%s': %s", a->rules.v[i], err);
	if (a->nics.n > VM_MAX_NICS)
		return ctl_usage(a, "too many --nic");
	for (size_t i = 0; i < a->nics.n; i++)
		if (vm_nic_parse(a->nics.v[i], &o->desc.nics[o->desc.n_nics++], err,
				 sizeof(err)) < 0)
			return ctl_fail(a, 2, "bad --nic '%s': %s", a->nics.v[i], err);
	if (!a->image == !a->cidata)
		return ctl_usage(a, "give either --image PATH or --cidata SEED.iso");
	if (a->format && strcmp(a->format, "raw") && strcmp(a->format, "vmdk"))
		return ctl_usage(a, "bad --format (raw or vmdk)");
	if (!a->conf != !a->vm || (a->conf && o->desc.n_nics))
		return ctl_usage(a, "give the NICs with --nic, or with -c FILE --vm NAME");
	return 0;
}

/* -c FILE --vm NAME: the VM's description from ferry.conf */
static int load_vm(const struct args *a, struct opts *o)
{
	struct ferry_config cfg;
	char err[512];
	if (config_load_any(a->conf, &cfg, err, sizeof(err)) < 0)
		return ctl_fail(a, 2, "%s", err);
	int rc = 2;
	for (size_t i = 0; i < cfg.n_vms; i++)
		if (!strcmp(cfg.vms[i].desc.name, a->vm)) {
			o->desc = cfg.vms[i].desc;
			rc = 0;
		}
	if (rc)
		ctl_fail(a, 2, "%s has no [vm %s]", a->conf, a->vm);
	config_release(&cfg);
	return rc;
}

int ctl_reip_main(int argc, char **argv)
{
	struct args a = { .cmd = "reip", .usage = USAGE, .repeat = OPT(RULE) | OPT(NIC) };
	static struct opts o;
	struct vm_desc moved;
	struct reip_nic_change c[VM_MAX_NICS];
	char detail[4096], err[1024];
	memset(&o, 0, sizeof(o));
	int rc = parse(argc, argv, &a, &o);
	if (rc == 0 && a.conf)
		rc = load_vm(&a, &o);
	if (rc)
		return rc;
	moved = o.desc;
	for (size_t i = 0; i < o.desc.n_nics; i++) {
		reip_map_nic(o.rules, o.n_rules, &o.desc.nics[i], &moved.nics[i]);
		c[i] = (struct reip_nic_change){ .old_nic = &o.desc.nics[i],
						 .new_nic = &moved.nics[i], .rules = o.rules,
						 .n_rules = o.n_rules };
	}
	if (a.cidata) {
		if (reip_write_cidata(a.cidata, &moved, err, sizeof(err)) < 0)
			return ctl_fail(&a, 1, "%s", err);
		printf("wrote %s: NoCloud seed for %s, %zu NICs\n", a.cidata, moved.name,
		       moved.n_nics);
		return 0;
	}
	enum reip_image kind = a.format && !strcmp(a.format, "vmdk") ? REIP_IMAGE_VMDK :
								      REIP_IMAGE_RAW;
	if (reip_apply_disk(a.image, kind, c, o.desc.n_nics, detail, sizeof(detail), err,
			    sizeof(err)) < 0)
		return ctl_fail(&a, 1, "%s: %s", a.image, err);
	printf("%s\n", detail);
	return 0;
}
