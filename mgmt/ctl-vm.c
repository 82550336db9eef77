/* ferryctl vm import: a [vm NAME] section from a libvirt domain (contract in ctl-vm.h).
 * The XML comes from libvirt's own API (a read-only connection: the command never changes
 * the hypervisor); what is taken from it, and how disks become export names, is
 * agent/vm-import.c. The section goes to stdout, or to a new file with -o (never over an
 * existing file: append it to ferry.conf yourself, after reading it). */
#include "mgmt/ctl-vm.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "agent/vm-import.h"
#include "common/config.h"
#include "common/util.h"
#include "common/banned.h"

#define USAGE "vm import --libvirt URI NAME [-c FILE] [--domain D] [--name VM] " \
	      "[--disk TARGET=EXPORT]... [--nic MAC='static ADDR/PREFIX [gw GW] [dns D,...]']... " \
	      "[-o FILE]"
#define MAX_ARGS 16

static int usage(const char *why)
{
	fprintf(stderr, "ferryctl vm: %s\nusage: ferryctl " USAGE "\n", why);
	return 2;
}

static void quiet(void *arg, virErrorPtr e)
{
	(void)arg;
	(void)e;
}

/* The domain's XML from libvirt; *xml malloc'd. Prints the reason on failure. */
static int fetch_xml(const char *uri, const char *name, char **xml)
{
	virSetErrorFunc(NULL, quiet);
	virConnectPtr conn = virConnectOpenReadOnly(uri);
	if (!conn) {
		fprintf(stderr, "ferryctl vm import: cannot connect to %s: %s\n", uri,
			virGetLastErrorMessage());
		return 1;
	}
	virDomainPtr dom = virDomainLookupByName(conn, name);
	*xml = dom ? virDomainGetXMLDesc(dom, 0) : NULL;
	if (!*xml)
		fprintf(stderr, "ferryctl vm import: domain '%s' on %s: %s\n", name, uri,
			virGetLastErrorMessage());
	if (dom)
		virDomainFree(dom);
	virConnectClose(conn);
	return *xml ? 0 : 1;
}

static int write_out(const char *path, const struct dbuf *b)
{
	if (!path) {
		fwrite(b->data, 1, b->len, stdout);
		return fflush(stdout) ? 1 : 0;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "ferryctl vm import: %s: %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (not overwritten; append the section yourself)" : "");
		return 1;
	}
	int rc = pwrite_full(fd, b->data, b->len, 0);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "ferryctl vm import: %s: %s\n", path, strerror(-rc));
		unlink(path);
		return 1;
	}
	return 0;
}

static int import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "libvirt", required_argument, NULL, 'L' },
		{ "config", required_argument, NULL, 'c' },
		{ "domain", required_argument, NULL, 'D' },
		{ "name", required_argument, NULL, 'N' },
		{ "disk", required_argument, NULL, 'k' },
		{ "nic", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ 0 },
	};
	const char *uri = NULL, *conf = NULL, *out = NULL, *disks[MAX_ARGS], *nics[MAX_ARGS];
	struct vm_import_opts o = { .disk_map = disks, .nic_ip = nics };
	int ch;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "c:o:", opts, NULL)) != -1) {
		switch (ch) {
		case 'L': uri = optarg; break;
		case 'c': conf = optarg; break;
		case 'D': o.domain = optarg; break;
		case 'N': o.name = optarg; break;
		case 'o': out = optarg; break;
		case 'k':
			if (o.n_disk_map == MAX_ARGS)
				return usage("too many --disk");
			disks[o.n_disk_map++] = optarg;
			break;
		case 'n':
			if (o.n_nic_ip == MAX_ARGS)
				return usage("too many --nic");
			nics[o.n_nic_ip++] = optarg;
			break;
		default: return usage("bad option");
		}
	}
	if (!uri || optind + 1 != argc)
		return usage("--libvirt URI and the libvirt domain's NAME are required");
	struct ferry_config cfg;
	char err[512];
	if (conf && config_load_any(conf, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "ferryctl vm import: %s\n", err);
		return 2;
	}
	o.cfg = conf ? &cfg : NULL;
	char *xml = NULL;
	int rc = fetch_xml(uri, argv[optind], &xml);
	struct vm_desc v;
	struct dbuf b = DBUF_INIT(1 << 20);
	if (rc == 0 && vm_import_xml(xml, strlen(xml), &o, &v, &b, err, sizeof(err)) < 0) {
		fprintf(stderr, "ferryctl vm import: %s: %s\n", argv[optind], err);
		rc = 1;
	}
	if (rc == 0 && vm_desc_format_section(&v, &b) < 0) {
		fprintf(stderr, "ferryctl vm import: out of memory\n");
		rc = 1;
	}
	if (rc == 0)
		rc = write_out(out, &b);
	dbuf_release(&b);
	free(xml);
	if (conf)
		config_release(&cfg);
	return rc;
}

int ctl_vm_main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "import"))
		return usage(argc < 2 ? "which action? (import)" : "unknown action");
	return import(argc - 1, argv + 1);
}
