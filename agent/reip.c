/* Re-IP inside a guest's disk (reip_apply_disk, contract in reip.h; the rules in
 * docs/reip.md).
 *
 *   disk (guest-disk.c) -> partitions (guest-part.c) -> the first ext file system with /etc
 *   (guest-fs.c, journal replayed) -> the network configuration files of each format
 *   -> per NIC, the first format in precedence order with a stanza for it is edited
 *   (netcfg-*.c) -> every edited file written back, the file system closed cleanly
 *
 * Precedence: netplan, then ifupdown, then NetworkManager keyfiles, then systemd-networkd.
 * netplan writes the configuration of networkd or NetworkManager at every boot, so a
 * netplan stanza wins over theirs; Debian's NetworkManager leaves the interfaces of
 * /etc/network/interfaces alone (its ifupdown plugin, managed=false), so ifupdown wins
 * over keyfiles; a keyfile wins over a .network file because NetworkManager is what
 * desktops that have both run. Within a format, files are taken in the order the guest's
 * tool reads them. A stanza for the NIC in a format of lower precedence is reported in the
 * detail line and left alone.
 *
 * Nothing is written until every NIC's stanza was found and edited in memory, so a guest
 * whose configuration does not name one of the NICs is left as it was (with the reason);
 * a second run finds the new addresses and changes nothing. */
#include "agent/reip.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/guest.h"
#include "agent/netcfg.h"
#include "common/util.h"
#include "common/banned.h"

#define MAX_FILES 256
#define MAX_SOURCE_DEPTH 4
#define PATH_LEN 512

struct gfile {
	char path[PATH_LEN];
	const struct netcfg_format *f;
	char *data;		/* loaded lazily; the edited content once edited */
	size_t len;
	bool loaded, dirty;
};

struct run {
	struct guest_fs *fs;
	struct gfile *files;
	size_t n;
	char *detail, *err;
	size_t detaillen, errlen;
};

__attribute__((format(printf, 3, 4)))
static void append(char *buf, size_t n, const char *fmt, ...)
{
	size_t l = strnlen(buf, n);
	if (l + 1 >= n)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + l, n - l, fmt, ap);
	va_end(ap);
}

static void add_file(struct run *r, const struct netcfg_format *f, const char *dir,
		     const char *name)
{
	if (r->n == MAX_FILES)
		return;
	struct gfile *g = &r->files[r->n];
	memset(g, 0, sizeof(*g));
	if ((size_t)snprintf(g->path, sizeof(g->path), "%s%s%s", dir, dir[0] ? "/" : "", name) >=
	    sizeof(g->path))
		return;
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->files[i].path, g->path))
			return;
	g->f = f;
	r->n++;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

/* Files named *suffix in dirs (earlier dirs override later ones with the same name),
 * ordered by name: how netplan and networkd read their directories. */
static void add_dirs(struct run *r, const struct netcfg_format *f, const char *const *dirs,
		     size_t nd, const char *suffix)
{
	char *names[MAX_FILES];
	const char *from[MAX_FILES];
	size_t n = 0;
	for (size_t d = 0; d < nd; d++) {
		char **v;
		size_t k;
		if (guest_fs_list(r->fs, dirs[d], &v, &k) < 0)
			continue;
		for (size_t i = 0; i < k; i++) {
			bool dup = !ends_with(v[i], suffix);
			for (size_t j = 0; j < n && !dup; j++)
				dup = !strcmp(names[j], v[i]);
			if (dup || n == MAX_FILES) {
				free(v[i]);
				continue;
			}
			names[n] = v[i];
			from[n++] = dirs[d];
		}
		free(v);
	}
	for (size_t i = 0; i < n; i++)		/* by name, whatever the directory */
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *t = names[i];
				const char *u = from[i];
				names[i] = names[j];
				from[i] = from[j];
				names[j] = t;
				from[j] = u;
			}
	for (size_t i = 0; i < n; i++) {
		add_file(r, f, from[i], names[i]);
		free(names[i]);
	}
}

/* ---- ifupdown: interfaces and what it sources ---- */

struct src_ctx {
	struct run *r;
	const char *base;	/* the including file's directory */
	int depth;
};

static void add_ifupdown(struct run *r, const char *path, int depth);

static bool run_parts_name(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

static int on_source(void *arg, bool directory, const char *path, size_t n)
{
	struct src_ctx *c = arg;
	char full[PATH_LEN], dir[PATH_LEN];
	if ((size_t)snprintf(full, sizeof(full), "%s%.*s", path[0] == '/' ? "" : c->base,
			     (int)n, path) >= sizeof(full))
		return 0;
	const char *pattern = "*";
	if (!directory) {
		char *slash = strrchr(full, '/');
		if (!slash)
			return 0;
		*slash = '\0';
		pattern = slash + 1;
	}
	snprintf(dir, sizeof(dir), "%s", full[0] ? full : "/");
	if (strpbrk(dir, "*?["))
		return 0;	/* wildcards only in the last component */
	char **v;
	size_t k;
	if (guest_fs_list(c->r->fs, dir, &v, &k) < 0)
		return 0;
	for (size_t i = 0; i < k; i++) {
		char p[PATH_LEN];
		bool take = directory ? run_parts_name(v[i]) : fnmatch(pattern, v[i], 0) == 0;
		if (take && (size_t)snprintf(p, sizeof(p), "%s/%s", dir, v[i]) < sizeof(p) &&
		    !guest_fs_is_dir(c->r->fs, p))
			add_ifupdown(c->r, p, c->depth + 1);
		free(v[i]);
	}
	free(v);
	return 0;
}

static void add_ifupdown(struct run *r, const char *path, int depth)
{
	char *data;
	size_t len;
	char err[256], base[PATH_LEN];
	if (depth > MAX_SOURCE_DEPTH ||
	    guest_fs_read(r->fs, path, NETCFG_MAX_FILE, &data, &len, err, sizeof(err)) < 0)
		return;
	add_file(r, &netcfg_ifupdown, "", path);
	snprintf(base, sizeof(base), "%s", path);
	char *slash = strrchr(base, '/');
	if (slash)
		slash[1] = '\0';
	struct src_ctx c = { r, base, depth };
	netcfg_ifupdown_sources(data, len, on_source, &c);
	free(data);
}

/* Every network configuration file of the guest, in precedence order. */
static void find_files(struct run *r)
{
	static const char *const netplan[] = { "/run/netplan", "/etc/netplan", "/lib/netplan" };
	static const char *const nm[] = { "/etc/NetworkManager/system-connections",
					  "/run/NetworkManager/system-connections",
					  "/usr/lib/NetworkManager/system-connections" };
	static const char *const networkd[] = { "/etc/systemd/network", "/run/systemd/network",
						"/lib/systemd/network", "/usr/lib/systemd/network" };
	add_dirs(r, &netcfg_netplan, netplan, ARRAY_SIZE(netplan), ".yaml");
	add_ifupdown(r, "/etc/network/interfaces", 0);
	add_dirs(r, &netcfg_nm, nm, ARRAY_SIZE(nm), ".nmconnection");
	add_dirs(r, &netcfg_networkd, networkd, ARRAY_SIZE(networkd), ".network");
}

/* ---- per NIC ---- */

static int load(struct run *r, struct gfile *g)
{
	if (g->loaded)
		return 0;
	int rc = guest_fs_read(r->fs, g->path, NETCFG_MAX_FILE, &g->data, &g->len, r->err,
			       r->errlen);
	if (rc == -ENOENT || rc == -EISDIR) {	/* a dangling link, a directory: no stanza */
		r->err[0] = '\0';
		g->data = calloc(1, 1);
		g->len = 0;
		rc = g->data ? 0 : -ENOMEM;
	}
	g->loaded = rc == 0;
	return rc;
}

static void describe_nic(const struct vm_nic *n, char *out, size_t len)
{
	char mac[18], a[16];
	vm_mac_format(n->mac, mac);
	vm_ipv4_format(n->addr, a);
	snprintf(out, len, "%s (%s/%u)", mac, a, n->prefix);
}

/* Formats of lower precedence that also have a stanza for the NIC: noted, not edited. */
static void note_others(struct run *r, size_t used, const struct netcfg_nic *nic)
{
	struct dbuf scratch = DBUF_INIT(NETCFG_MAX_FILE * 2);
	for (size_t i = used + 1; i < r->n; i++) {
		struct gfile *g = &r->files[i];
		char what[256];
		if (g->f == r->files[used].f || load(r, g) < 0)
			continue;
		if (g->f->edit(g->data, g->len, nic, &scratch, what, sizeof(what)) > NETCFG_ABSENT)
			append(r->detail, r->detaillen, " (also in %s %s, not used by the guest: "
			       "left as is)", g->f->name, g->path);
	}
	r->err[0] = '\0';
	dbuf_release(&scratch);
}

static int move_nic(struct run *r, const struct reip_nic_change *c)
{
	struct netcfg_nic nic = { c->old_nic, c->new_nic, c->rules, c->n_rules };
	struct dbuf out = DBUF_INIT(NETCFG_MAX_FILE * 2);
	char what[512], name[64];
	int rc = NETCFG_ABSENT;
	size_t i;
	describe_nic(c->old_nic, name, sizeof(name));
	for (i = 0; i < r->n && rc == NETCFG_ABSENT; i++) {
		struct gfile *g = &r->files[i];
		if ((rc = load(r, g)) < 0)
			break;
		rc = g->f->edit(g->data, g->len, &nic, &out, what, sizeof(what));
		if (rc < 0) {
			snprintf(r->err, r->errlen, "%s %s: %s (NIC %s)", g->f->name, g->path, what,
				 name);
			break;
		}
		if (rc == NETCFG_ABSENT)
			continue;
		append(r->detail, r->detaillen, "; %s %s: %.17s %s", g->f->name, g->path, name,
		       what);
		if (rc == NETCFG_EDITED) {
			char *copy = malloc(out.len + 1);
			if (!copy) {
				rc = -ENOMEM;
				break;
			}
			memcpy(copy, out.data, out.len);
			free(g->data);
			g->data = copy;
			g->len = out.len;
			g->dirty = true;
		}
		note_others(r, i, &nic);
	}
	dbuf_release(&out);
	if (rc == NETCFG_ABSENT) {
		snprintf(r->err, r->errlen, "no network configuration of the guest configures NIC "
			 "%s: looked in %zu files (netplan, ifupdown, NetworkManager, "
			 "systemd-networkd)%s", name, r->n, r->n ? "" : ": the guest has none");
		return -ENOENT;
	}
	return rc < 0 ? rc : 0;
}

/* ---- the disk ---- */

/* The first ext file system of the disk with /etc: the guest's root. */
static int open_root(struct guest_disk *d, struct guest_fs **fs, struct run *r)
{
	struct guest_part parts[GUEST_MAX_PARTS];
	size_t n;
	char notes[512], why[512] = "";
	unsigned replayed;
	int rc = guest_parts(d, parts, &n, notes, sizeof(notes));
	if (rc < 0) {
		snprintf(r->err, r->errlen, "reading the partition table: %s", strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		rc = guest_fs_open(d, &parts[i], fs, &replayed, why, sizeof(why));
		if (rc == -EUCLEAN)
			continue;
		if (rc < 0) {
			snprintf(r->err, r->errlen, "%s", why);
			return rc;
		}
		if (guest_fs_is_dir(*fs, "/etc")) {
			append(r->detail, r->detaillen, "ext file system on %s", parts[i].name);
			if (replayed)
				append(r->detail, r->detaillen, " (journal replayed: %u transactions)",
				       replayed);
			return 0;
		}
		guest_fs_close(*fs, why, sizeof(why));	/* e.g. /boot */
		*fs = NULL;
	}
	snprintf(r->err, r->errlen, "no Linux root file system (ext2/3/4 with /etc) on the %s "
		 "disk%s%s", guest_disk_kind(d), notes[0] ? ": " : "", notes);
	return -EUCLEAN;
}

static bool nic_changes(const struct reip_nic_change *c)
{
	const struct vm_nic *a = c->old_nic, *b = c->new_nic;
	return a->mode == VM_NIC_STATIC &&
	       (a->addr != b->addr || a->prefix != b->prefix || a->gw != b->gw ||
		a->n_dns != b->n_dns || memcmp(a->dns, b->dns, a->n_dns * sizeof(a->dns[0])));
}

static void cloud_init_note(struct run *r)
{
	if (guest_fs_exists(r->fs, "/etc/cloud/cloud.cfg") &&
	    !guest_fs_exists(r->fs, "/etc/cloud/cloud-init.disabled"))
		append(r->detail, r->detaillen, "; note: cloud-init is enabled in the guest and may "
		       "rewrite its network configuration at boot (a cidata seed sets it)");
}

static int write_back(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct gfile *g = &r->files[i];
		if (!g->dirty)
			continue;
		int rc = guest_fs_write(r->fs, g->path, g->data, g->len, r->err, r->errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int reip_apply_disk(const char *image, enum reip_image kind, const struct reip_nic_change *c,
		    size_t n, char *detail, size_t detaillen, char *err, size_t errlen)
{
	struct run r = { .detail = detail, .detaillen = detaillen, .err = err, .errlen = errlen };
	struct guest_disk *d = NULL;
	size_t todo = 0;
	char why[512] = "";
	int rc;
	if (detaillen)
		detail[0] = '\0';
	if (errlen)
		err[0] = '\0';
	for (size_t i = 0; i < n; i++)
		todo += nic_changes(&c[i]);
	if (!todo) {
		snprintf(detail, detaillen, "no NIC with a static address to move: nothing changed");
		return 0;
	}
	if ((rc = guest_disk_open(image, kind, &d, err, errlen)) < 0)
		return rc;
	r.files = calloc(MAX_FILES, sizeof(*r.files));
	rc = r.files ? open_root(d, &r.fs, &r) : -ENOMEM;
	if (rc == 0)
		find_files(&r);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (nic_changes(&c[i]))
			rc = move_nic(&r, &c[i]);
	if (rc == 0)
		rc = write_back(&r);
	if (rc == 0)
		cloud_init_note(&r);
	int rc2 = guest_fs_close(r.fs, why, sizeof(why));
	if (rc == 0 && rc2 < 0) {
		snprintf(err, errlen, "%s", why);
		rc = rc2;
	}
	rc2 = guest_disk_close(d);
	if (rc == 0 && rc2 < 0) {
		snprintf(err, errlen, "%s: flushing the %s: %s", image, "disk", strerror(-rc2));
		rc = rc2;
	}
	for (size_t i = 0; r.files && i < r.n; i++)
		free(r.files[i].data);
	free(r.files);
	if (rc == -ENOMEM && !err[0])
		snprintf(err, errlen, "out of memory");
	return rc;
}
