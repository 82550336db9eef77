/* ferryctl vm import: a [vm NAME] section from a libvirt domain (contract in ctl-vm.h).
 * The XML comes from libvirt's own API (a read-only connection: the command never changes
 * the hypervisor); what is taken from it, and how disks become export names, is
 * agent/vm-import.c. The section goes to stdout, or to a new file with -o (never over an
 * existing file: append it to ferry.conf yourself, after reading it). */
#include "mgmt/ctl-vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "agent/vm-import.h"
#include "common/config.h"
#include "common/util.h"
#include "mgmt/ctl-args.h"
#include "common/banned.h"

#define USAGE "vm import --libvirt URI NAME [-c FILE] [--domain D] [--name VM] " \
	      "[--disk TARGET=EXPORT]... [--nic MAC='static ADDR/PREFIX [gw GW] [dns D,...]']... " \
	      "[-o FILE]"

static void quiet(void *arg, virErrorPtr e)
{
	(void)arg;
	(void)e;
}

/* The domain's XML from libvirt; *xml malloc'd. 0, or the exit code after the reason. */
static int fetch_xml(const struct args *a, const char *uri, const char *name, char **xml)
{
	virSetErrorFunc(NULL, quiet);
	virConnectPtr conn = virConnectOpenReadOnly(uri);
	if (!conn)
		return ctl_fail(a, 1, "cannot connect to %s: %s", uri, virGetLastErrorMessage());
	virDomainPtr dom = virDomainLookupByName(conn, name);
	*xml = dom ? virDomainGetXMLDesc(dom, 0) : NULL;
	if (!*xml)
		ctl_fail(a, 1, "domain '%s' on %s: %s", name, uri, virGetLastErrorMessage());
	if (dom)
		virDomainFree(dom);
	virConnectClose(conn);
	return *xml ? 0 : 1;
}

static int write_out(const struct args *a, const char *path, const struct dbuf *b)
{
	if (!path) {
		fwrite(b->data, 1, b->len, stdout);
		return fflush(stdout) ? 1 : 0;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return ctl_fail(a, 1, "%s: %s%s", path, strerror(errno), errno == EEXIST ?
				" (not overwritten; append the section yourself)" : "");
	int rc = pwrite_full(fd, b->data, b->len, 0);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc < 0) {
		unlink(path);
		return ctl_fail(a, 1, "%s: %s", path, strerror(-rc));
	}
	return 0;
}

static int import(int argc, char **argv)
{
	struct args a = { .cmd = "vm import", .usage = USAGE, .max_pos = 1,
			  .repeat = OPT(DISK) | OPT(NIC) };
	int rc = ctl_parse(argc, argv, OPT(LIBVIRT) | OPT(CONF) | OPT(DOMAIN) | OPT(NAME) |
			   OPT(DISK) | OPT(NIC) | OPT(OUT), OPT(LIBVIRT), &a);
	if (rc)
		return rc;
	if (a.n_pos != 1)
		return ctl_usage(&a, "the libvirt domain's NAME is required");
	const char *name = a.pos[0];
	struct vm_import_opts o = {
		.domain = a.domain, .name = a.name,
		.disk_map = a.disks.v, .n_disk_map = a.disks.n,
		.nic_ip = a.nics.v, .n_nic_ip = a.nics.n,
	};
	struct ferry_config cfg;
	char err[512];
	if (a.conf && config_load_any(a.conf, &cfg, err, sizeof(err)) < 0)
		return ctl_fail(&a, 2, "%s", err);
	o.cfg = a.conf ? &cfg : NULL;
	char *xml = NULL;
	rc = fetch_xml(&a, a.libvirt, name, &xml);
	struct vm_desc v;
	struct dbuf b = DBUF_INIT(1 << 20);
	if (rc == 0 && vm_import_xml(xml, strlen(xml), &o, &v, &b, err, sizeof(err)) < 0)
		rc = ctl_fail(&a, 1, "%s: %s", name, err);
	if (rc == 0 && vm_desc_format_section(&v, &b) < 0)
		rc = ctl_fail(&a, 1, "out of memory");
	if (rc == 0)
		rc = write_out(&a, a.out, &b);
	dbuf_release(&b);
	free(xml);
	if (a.conf)
		config_release(&cfg);
	return rc;
}

int ctl_vm_main(int argc, char **argv)
{
	static const struct ctl_sub subs[] = { { "import", import } };
	return ctl_dispatch("vm", USAGE, subs, 1, argc, argv);
}
