/* The recovery site's checks and driver opening (agent/site.h). */
#include "agent/site.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/op.h"
#include "common/control-client.h"
#include "common/util.h"
#include "common/banned.h"

int drv_open(const struct ferry_config *cfg, const struct plan_driver *pd,
	     struct drv_handle *h, char *err, size_t errlen)
{
	memset(h, 0, sizeof(*h));
	const char *name = pd && pd->driver ? pd->driver : cfg ? cfg->hv_driver : NULL;
	const struct cfg_setting *cs = pd && pd->driver ? pd->settings : cfg ? cfg->hv_settings : NULL;
	size_t n = pd && pd->driver ? pd->n : cfg ? cfg->n_hv_settings : 0;
	if (!name) {
		snprintf(err, errlen, "no hypervisor driver configured (a [hypervisor] section in "
			 "the plan or in the agent's configuration)");
		return -ENOENT;
	}
	if (!(h->ops = driver_find(name))) {
		snprintf(err, errlen, "unknown hypervisor driver '%s'", name);
		return -ENOENT;
	}
	struct drv_setting *s = calloc(n + 1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		s[i].key = cs[i].key;
		s[i].value = cs[i].value;
	}
	int rc = h->ops->open(s, n, &h->d, err, errlen);
	free(s);
	if (rc < 0) {
		h->ops = NULL;
		return rc;
	}
	pthread_mutex_init(&h->lock, NULL);
	return 0;
}

void drv_close(struct drv_handle *h)
{
	if (!h->ops)
		return;
	h->ops->close(h->d);
	pthread_mutex_destroy(&h->lock);
	memset(h, 0, sizeof(*h));
}

static void check_driver(const struct plan *p, const struct ferry_config *cfg,
			 enum plan_mode mode, struct problems *pr)
{
	struct drv_handle h;
	char err[512];
	if (drv_open(cfg, &p->hv, &h, err, sizeof(err)) < 0) {
		problems_add(pr, "hypervisor: %s", err);
		return;
	}
	if (h.ops->probe(h.d, err, sizeof(err)) < 0) {
		problems_add(pr, "hypervisor driver %s cannot be reached: %s", h.ops->name, err);
		drv_close(&h);
		return;
	}
	for (size_t i = 0; mode != PLAN_TEST && i < p->n_maps; i++) {
		int rc = h.ops->network_exists(h.d, p->maps[i].to, err, sizeof(err));
		if (rc == -ENOENT)
			problems_add(pr, "[networks] map (line %u): target network '%s' does not "
				     "exist at the recovery site", p->maps[i].line, p->maps[i].to);
		else if (rc < 0)
			problems_add(pr, "[networks] map (line %u): cannot look up network '%s': %s",
				     p->maps[i].line, p->maps[i].to, err);
	}
	drv_close(&h);
}

/* The nearest existing directory at or above dir (out: PATH_MAX bytes). */
static int existing_parent(const char *dir, char *out, size_t n)
{
	snprintf(out, n, "%s", dir);
	struct stat st;
	while (stat(out, &st) < 0) {
		char *slash = strrchr(out, '/');
		if (!slash)
			return -ENOENT;
		if (slash == out)
			slash[1] = 0;
		else
			*slash = 0;
	}
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Bytes the disks of the view need in dir: data bytes at the point, less what files
 * already there hold (a rehydrated datastore). */
static int need_bytes(const struct plan *p, const struct vm_set *v, enum plan_mode mode,
		      struct repo *r, const struct point_info *pt, uint64_t *need,
		      struct problems *pr)
{
	*need = 0;
	for (size_t i = 0; i < v->n; i++)
		for (size_t k = 0; k < v->vms[i].n_disks; k++) {
			const char *disk = v->vms[i].disks[k];
			struct disk_map *m;
			char err[512];
			int rc = repo_disk_map(r, pt, disk, &m, err, sizeof(err));
			if (rc < 0) {
				problems_add(pr, "VM %s disk %s: not in point %u.%llu: %s",
					     v->vms[i].name, disk, pt->epoch,
					     (unsigned long long)pt->seq, err);
				continue;
			}
			uint64_t data = 0;
			for (size_t e = 0; e < m->n; e++)
				if (m->ext[e].kind == EXTENT_DATA)
					data += m->ext[e].length;
			disk_map_free(m);
			char *path = op_disk_path(p, mode == PLAN_TEST ? PLACE_TEST : PLACE_FAILOVER, disk);
			struct stat st;
			if (path && stat(path, &st) == 0) {
				uint64_t have = (uint64_t)st.st_blocks * 512;
				data = data > have ? data - have : 0;
			}
			free(path);
			*need += data;
		}
	return 0;
}

static void check_datastore(const struct plan *p, const struct vm_set *v, enum plan_mode mode,
			    struct repo *r, const struct point_info *pt, struct problems *pr)
{
	const char *dir = mode == PLAN_TEST ? p->test_datastore : p->datastore;
	char base[4096];
	if (existing_parent(dir, base, sizeof(base)) < 0) {
		problems_add(pr, "datastore %s: no existing directory above it", dir);
		return;
	}
	if (access(base, W_OK) < 0) {
		problems_add(pr, "datastore %s: %s is not writable", dir, base);
		return;
	}
	uint64_t need;
	struct statvfs fs;
	if (!r || !pt || need_bytes(p, v, mode, r, pt, &need, pr) < 0)
		return;
	if (statvfs(base, &fs) < 0) {
		problems_add(pr, "datastore %s: %s", dir, strerror(errno));
		return;
	}
	uint64_t avail = (uint64_t)fs.f_bavail * fs.f_frsize;
	if (avail < need) {
		char a[32], b[32];
		fmt_bytes(avail, a, sizeof(a));
		fmt_bytes(need, b, sizeof(b));
		problems_add(pr, "datastore %s has no room for the disks: %s free, %s needed", dir,
			     a, b);
	}
}

static void check_protected(const struct plan *p, struct problems *pr)
{
	char *ans = NULL;
	int rc = p->prot_control ? control_request(p->prot_control, "status", 5, 1u << 20, &ans)
				 : 0;
	free(ans);
	if (rc < 0)
		problems_add(pr, "[protected] control %s: ferryd cannot be reached (%s): a planned "
			     "failover needs it; use a forced failover", p->prot_control,
			     control_strerror(rc));
}

int plan_check_site(const struct plan *p, const struct vm_set *v,
		    const struct ferry_config *cfg, struct repo *r, const struct point_info *pt,
		    enum plan_mode mode, struct problems *pr)
{
	size_t before = pr->n;
	check_driver(p, cfg, mode, pr);
	check_datastore(p, v, mode, r, pt, pr);
	if (mode == PLAN_PLANNED)
		check_protected(p, pr);
	return pr->n > before || pr->oom ? -1 : 0;
}
