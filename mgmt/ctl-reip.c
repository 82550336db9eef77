/* ferryctl reip (contract in ctl-reip.h): parses the options, maps each NIC through the
 * rules, and calls reip_apply_disk or reip_write_cidata; nothing else. */
#include "mgmt/ctl-reip.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/reip.h"
#include "common/config.h"
#include "common/banned.h"

#define USAGE "reip (--image PATH [--format raw|vmdk] | --cidata SEED.iso) " \
	      "--rule 'FROM -> TO [prefix N] [gw G] [dns D,...]'... " \
	      "(--nic 'NETWORK MAC static ADDR/PREFIX ...'... | -c FILE --vm NAME)"
#define MAX_RULES 32

static int usage(const char *why)
{
	fprintf(stderr, "ferryctl reip: %s\nusage: ferryctl " USAGE "\n", why);
	return 2;
}

struct opts {
	const char *image, *format, *cidata, *conf, *vm;
	struct reip_rule rules[MAX_RULES];
	size_t n_rules;
	struct vm_desc desc;		/* the NICs as described */
};

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "image", required_argument, NULL, 'i' }, { "format", required_argument, NULL, 'f' },
		{ "cidata", required_argument, NULL, 's' }, { "rule", required_argument, NULL, 'r' },
		{ "nic", required_argument, NULL, 'n' }, { "config", required_argument, NULL, 'c' },
		{ "vm", required_argument, NULL, 'v' }, { 0 },
	};
	char err[256];
	int ch;
	optind = 1;
	opterr = 0;
	snprintf(o->desc.name, sizeof(o->desc.name), "vm");
	while ((ch = getopt_long(argc, argv, "c:", lo, NULL)) != -1) {
		switch (ch) {
		case 'i': o->image = optarg; break;
		case 'f': o->format = optarg; break;
		case 's': o->cidata = optarg; break;
		case 'c': o->conf = optarg; break;
		case 'v': o->vm = optarg; break;
		case 'r':
			if (o->n_rules == MAX_RULES)
				return usage("too many --rule");
			if (reip_rule_parse(optarg, &o->rules[o->n_rules++], err, sizeof(err)) < 0) {
				fprintf(stderr, "ferryctl reip: bad --rule '%s': %s\n", optarg, err);
				return 2;
			}
			break;
		case 'n':
			if (o->desc.n_nics == VM_MAX_NICS)
				return usage("too many --nic");
			if (vm_nic_parse(optarg, &o->desc.nics[o->desc.n_nics++], err, sizeof(err)) < 0) {
				fprintf(stderr, "ferryctl reip: bad --nic '%s': %s\n", optarg, err);
				return 2;
			}
			break;
		default: return usage("bad option");
		}
	}
	if (optind != argc || !o->image == !o->cidata)
		return usage("give either --image PATH or --cidata SEED.iso");
	if (o->format && strcmp(o->format, "raw") && strcmp(o->format, "vmdk"))
		return usage("bad --format (raw or vmdk)");
	if (!o->n_rules)
		return usage("at least one --rule is required");
	if (!o->conf != !o->vm || (o->conf && o->desc.n_nics))
		return usage("give the NICs with --nic, or with -c FILE --vm NAME");
	return 0;
}

/* -c FILE --vm NAME: the VM's description from ferry.conf */
static int load_vm(struct opts *o)
{
	struct ferry_config cfg;
	char err[512];
	if (config_load_any(o->conf, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "ferryctl reip: %s\n", err);
		return 2;
	}
	int rc = 2;
	for (size_t i = 0; i < cfg.n_vms; i++)
		if (!strcmp(cfg.vms[i].desc.name, o->vm)) {
			o->desc = cfg.vms[i].desc;
			rc = 0;
		}
	if (rc)
		fprintf(stderr, "ferryctl reip: %s has no [vm %s]\n", o->conf, o->vm);
	config_release(&cfg);
	return rc;
}

int ctl_reip_main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct vm_desc moved;
	struct reip_nic_change c[VM_MAX_NICS];
	char detail[4096], err[1024];
	int rc = parse(argc, argv, &o);
	if (rc == 0 && o.conf)
		rc = load_vm(&o);
	if (rc)
		return rc;
	moved = o.desc;
	for (size_t i = 0; i < o.desc.n_nics; i++) {
		reip_map_nic(o.rules, o.n_rules, &o.desc.nics[i], &moved.nics[i]);
		c[i] = (struct reip_nic_change){ &o.desc.nics[i], &moved.nics[i], o.rules,
						 o.n_rules };
	}
	if (o.cidata) {
		if (reip_write_cidata(o.cidata, &moved, err, sizeof(err)) < 0) {
			fprintf(stderr, "ferryctl reip: %s\n", err);
			return 1;
		}
		printf("wrote %s: NoCloud seed for %s, %zu NICs\n", o.cidata, moved.name,
		       moved.n_nics);
		return 0;
	}
	enum reip_image kind = o.format && !strcmp(o.format, "vmdk") ? REIP_IMAGE_VMDK :
								      REIP_IMAGE_RAW;
	if (reip_apply_disk(o.image, kind, c, o.desc.n_nics, detail, sizeof(detail), err,
			    sizeof(err)) < 0) {
		fprintf(stderr, "ferryctl reip: %s: %s\n", o.image, err);
		return 1;
	}
	printf("%s\n", detail);
	return 0;
}
