/* drvctl: one hypervisor driver call from the command line, for the integration tests
 * (tests/integration/41x-driver-*.sh) that drive the real private libvirt through
 * agent/driver.h exactly as ferry-agent does.
 *
 *   drvctl -d DRIVER [-s KEY=VALUE]... ACTION ARGS...
 *     probe
 *     net-exists NAME
 *     net-create NAME [A.B.C.D/NN]
 *     net-remove NAME
 *     start NAME [--cpus N] [--memory MIB] [--uefi] [--serial FILE] [--disk DISK]...
 *           [--nic NETWORK,MAC]...      DISK: PATH[:raw|:vmdk], nbd://HOST:PORT/EXPORT or
 *                                       nbd+unix:///EXPORT?socket=PATH
 *     stop NAME [--timeout S] [--force]
 *     state NAME                        prints absent, off, running or other
 *     remove NAME
 * Exit 0 on success; 1 with "drvctl: ACTION: ENAME: reason" on stderr (ENAME the errno's
 * name, which tests match); 2 on bad usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/driver.h"
#include "common/util.h"
#include "common/banned.h"

#define MAX_SETTINGS 32

static void usage(void)
{
	fprintf(stderr, "usage: drvctl -d DRIVER [-s KEY=VALUE]... "
			"probe|net-exists|net-create|net-remove|start|stop|state|remove ARGS...\n");
	exit(2);
}

static void parse_mac(const char *s, uint8_t mac[6])
{
	unsigned m[6];
	char tail;
	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &tail) != 6)
		usage();
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)m[i];
}

/* DISK as the driver's struct; the strings point into s (modified) */
static void parse_disk(char *s, struct drv_disk *d)
{
	memset(d, 0, sizeof(*d));
	if (!strncmp(s, "nbd+unix:///", 12)) {
		char *q = strstr(s + 12, "?socket=");
		if (!q)
			usage();
		*q = '\0';
		d->nbd_export = s + 12;
		d->nbd_socket = q + 8;
	} else if (!strncmp(s, "nbd://", 6)) {
		char *host = s + 6, *slash = strchr(host, '/'), *colon = strrchr(host, ':');
		if (!slash || !colon || colon > slash)
			usage();
		*slash = *colon = '\0';
		d->nbd_host = host;
		d->nbd_port = (unsigned)atoi(colon + 1);
		d->nbd_export = slash + 1;
	} else {
		char *colon = strrchr(s, ':');
		if (colon && (!strcmp(colon + 1, "raw") || !strcmp(colon + 1, "vmdk"))) {
			*colon = '\0';
			d->format = colon + 1;
		}
		d->path = s;
	}
}

static int do_start(struct driver *drv, char **a, int n, char *err, size_t errlen)
{
	static struct drv_disk disks[16];
	static struct drv_nic nics[8];
	struct drv_vm vm = { .name = a[0], .cpus = 1, .memory_mib = 256, .disks = disks,
			     .nics = nics };
	for (int i = 1; i < n; i++) {
		const char *o = a[i];
		if (!strcmp(o, "--uefi")) {
			vm.uefi = true;
			continue;
		}
		if (i + 1 >= n)
			usage();
		char *v = a[++i];
		if (!strcmp(o, "--cpus"))
			vm.cpus = (uint32_t)atoi(v);
		else if (!strcmp(o, "--memory"))
			vm.memory_mib = (uint64_t)atoll(v);
		else if (!strcmp(o, "--serial"))
			vm.serial_log = v;
		else if (!strcmp(o, "--disk") && vm.n_disks < ARRAY_SIZE(disks))
			parse_disk(v, &disks[vm.n_disks++]);
		else if (!strcmp(o, "--nic") && vm.n_nics < ARRAY_SIZE(nics)) {
			char *comma = strchr(v, ',');
			if (!comma)
				usage();
			*comma = '\0';
			nics[vm.n_nics].network = v;
			parse_mac(comma + 1, nics[vm.n_nics++].mac);
		} else
			usage();
	}
	return drv->ops->start(drv, &vm, err, errlen);
}

static int do_net_create(struct driver *drv, char **a, int n, char *err, size_t errlen)
{
	struct drv_network net = { .name = a[0] };
	if (n > 1) {
		unsigned b[4], p;
		char tail;
		if (sscanf(a[1], "%u.%u.%u.%u/%u%c", &b[0], &b[1], &b[2], &b[3], &p, &tail) != 5 ||
		    p > 32)
			usage();
		net.host_addr = b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
		net.prefix = (uint8_t)p;
	}
	return drv->ops->network_create_isolated(drv, &net, err, errlen);
}

static int do_stop(struct driver *drv, char **a, int n, char *err, size_t errlen)
{
	unsigned timeout = 30;
	bool force = false;
	for (int i = 1; i < n; i++) {
		if (!strcmp(a[i], "--force"))
			force = true;
		else if (!strcmp(a[i], "--timeout") && i + 1 < n)
			timeout = (unsigned)atoi(a[++i]);
		else
			usage();
	}
	return drv->ops->stop(drv, a[0], timeout, force, err, errlen);
}

static int do_state(struct driver *drv, const char *name, char *err, size_t errlen)
{
	static const char *const names[] = { "absent", "off", "running", "other" };
	enum drv_power st;
	int rc = drv->ops->state(drv, name, &st, err, errlen);
	if (!rc)
		printf("%s\n", (unsigned)st < ARRAY_SIZE(names) ? names[st] : "?");
	return rc;
}

static int dispatch(struct driver *drv, const char *act, char **a, int n, char *err,
		    size_t errlen)
{
	if (!strcmp(act, "probe"))
		return drv->ops->probe(drv, err, errlen);
	if (n < 1)
		usage();
	if (!strcmp(act, "net-exists"))
		return drv->ops->network_exists(drv, a[0], err, errlen);
	if (!strcmp(act, "net-create"))
		return do_net_create(drv, a, n, err, errlen);
	if (!strcmp(act, "net-remove"))
		return drv->ops->network_remove(drv, a[0], err, errlen);
	if (!strcmp(act, "start"))
		return do_start(drv, a, n, err, errlen);
	if (!strcmp(act, "stop"))
		return do_stop(drv, a, n, err, errlen);
	if (!strcmp(act, "state"))
		return do_state(drv, a[0], err, errlen);
	if (!strcmp(act, "remove"))
		return drv->ops->remove(drv, a[0], err, errlen);
	usage();
	return -EINVAL;
}

int main(int argc, char **argv)
{
	const char *name = NULL;
	struct drv_setting set[MAX_SETTINGS];
	size_t n_set = 0;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "-d")) {
			name = argv[i + 1];
		} else if (!strcmp(argv[i], "-s") && n_set < MAX_SETTINGS) {
			char *eq = strchr(argv[i + 1], '=');
			if (!eq)
				usage();
			*eq = '\0';
			set[n_set++] = (struct drv_setting){ argv[i + 1], eq + 1 };
		} else {
			usage();
		}
	}
	if (!name || i >= argc)
		usage();
	const struct driver_ops *ops = driver_find(name);
	if (!ops) {
		fprintf(stderr, "drvctl: no driver '%s'\n", name);
		return 2;
	}
	char err[1024] = "";
	struct driver *drv;
	int rc = ops->open(set, n_set, &drv, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "drvctl: open: %s: %s\n", strerrorname_np(-rc), err);
		return 2;
	}
	rc = dispatch(drv, argv[i], argv + i + 1, argc - i - 1, err, sizeof(err));
	ops->close(drv);
	if (rc) {
		fprintf(stderr, "drvctl: %s: %s: %s\n", argv[i], strerrorname_np(-rc), err);
		return 1;
	}
	return 0;
}
