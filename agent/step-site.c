/* Steps on the sites: the protected site's ferryd (final-point, stop-shipping: planned
 * failover), the recovery site's networks (networks, test-network, test-remove-network)
 * and the test's disposable copies (test-delete-disks). All idempotent: a second final
 * point of VMs that are off holds the same data; creating, checking or removing a network
 * twice is what the driver contract allows; deleting what is gone is fine. */
#include "agent/agent-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/control-client.h"
#include "common/util.h"
#include "common/banned.h"

#define FINAL_POINT_TIMEOUT_S 3600

/* One request to the protected site's ferryd; its answer line in out. */
static int ferryd(struct step_ctx *c, const char *req, unsigned timeout, char *out, size_t n,
		  char *err, size_t errlen)
{
	if (!c->plan->prot_control) {
		snprintf(err, errlen, "the plan has no [protected] control (ferryd's socket)");
		return -EINVAL;
	}
	char *ans = NULL;
	int rc = control_request(c->plan->prot_control, req, timeout, 64u << 10, &ans);
	if (rc < 0)
		snprintf(err, errlen, "ferryd at %s: %s", c->plan->prot_control,
			 control_strerror(rc));
	else
		snprintf(out, n, "%s", ans);
	free(ans);
	out[strcspn(out, "\n")] = 0;
	return rc;
}

int step_final_point(struct step_ctx *c, char *err, size_t errlen)
{
	char req[128], ans[512] = "";
	snprintf(req, sizeof(req), "point %s", c->domain);
	step_live(c, "asking ferryd for a final point of %s", c->domain);
	int rc = ferryd(c, req, FINAL_POINT_TIMEOUT_S, ans, sizeof(ans), err, errlen);
	if (rc < 0)
		return rc;
	if (strncmp(ans, "ok ", 3)) {
		snprintf(err, errlen, "ferryd: %s", ans);
		return -EIO;
	}
	agent_repo_refresh(c->a);	/* the point's chunks came after the repository was read */
	snprintf(c->detail, sizeof(c->detail), "final point %.60s of %s is durable in the store",
		 ans + 3, c->domain);
	c->result = json_pack("{ss}", "point", ans + 3);
	return 0;
}

int step_stop_shipping(struct step_ctx *c, char *err, size_t errlen)
{
	char req[128], ans[512] = "";
	snprintf(req, sizeof(req), "ship-stop %s", c->domain);
	int rc = ferryd(c, req, 60, ans, sizeof(ans), err, errlen);
	if (rc < 0)
		return rc;
	if (strncmp(ans, "ok", 2)) {
		snprintf(err, errlen, "ferryd: %s", ans);
		return -EIO;
	}
	snprintf(c->detail, sizeof(c->detail), "ferryd no longer ships domain %s", c->domain);
	return 0;
}

int step_networks(struct step_ctx *c, char *err, size_t errlen)
{
	size_t off = 0;
	for (size_t i = 0; i < c->plan->n_maps; i++) {
		const char *net = c->plan->maps[i].to;
		pthread_mutex_lock(&c->drv->lock);
		int rc = c->drv->ops->network_exists(c->drv->d, net, err, errlen);
		pthread_mutex_unlock(&c->drv->lock);
		if (rc == -ENOENT)
			snprintf(err, errlen, "target network '%s' does not exist at the recovery site",
				 net);
		if (rc < 0)
			return rc;
		if (off < sizeof(c->detail))
			off += (size_t)snprintf(c->detail + off, sizeof(c->detail) - off, "%s%s -> %s",
						off ? ", " : "", c->plan->maps[i].from, net);
	}
	if (!off)
		snprintf(c->detail, sizeof(c->detail), "no networks to map");
	return 0;
}

int step_test_network(struct step_ctx *c, char *err, size_t errlen)
{
	struct drv_network n = { .name = c->plan->test_network, .host_addr = c->plan->test_host,
				 .prefix = c->plan->test_prefix };
	pthread_mutex_lock(&c->drv->lock);
	int rc = c->drv->ops->network_create_isolated(c->drv->d, &n, err, errlen);
	pthread_mutex_unlock(&c->drv->lock);
	if (rc == 0)
		snprintf(c->detail, sizeof(c->detail), "isolated network %s created", n.name);
	return rc;
}

int step_test_net_remove(struct step_ctx *c, char *err, size_t errlen)
{
	pthread_mutex_lock(&c->drv->lock);
	int rc = c->drv->ops->network_remove(c->drv->d, c->plan->test_network, err, errlen);
	pthread_mutex_unlock(&c->drv->lock);
	if (rc == 0)
		snprintf(c->detail, sizeof(c->detail), "network %s removed", c->plan->test_network);
	return rc;
}

static int unlink_quiet(const char *path, unsigned *n)
{
	if (unlink(path) == 0) {
		(*n)++;
		return 0;
	}
	return errno == ENOENT ? 0 : -errno;
}

/* A disk's files in the test datastore: the image (or descriptor), a flat extent, and
 * the .part and .part.resume files of an interrupted restore. */
static int delete_disk(const struct plan *p, const char *disk, unsigned *n, char *err,
		       size_t errlen)
{
	char *path = op_disk_path(p, PLACE_TEST, disk);
	char *extent = path && p->format == RESTORE_VMDK_FLAT ? restore_flat_extent_path(path) : NULL;
	const char *files[2] = { path, extent };
	int rc = path ? 0 : -ENOMEM;
	for (size_t i = 0; rc == 0 && i < 2; i++) {
		if (!files[i])
			continue;
		char part[4200], ckpt[4200];
		snprintf(part, sizeof(part), "%s.part", files[i]);
		snprintf(ckpt, sizeof(ckpt), "%s.part.resume", files[i]);
		if ((rc = unlink_quiet(files[i], n)) < 0 || (rc = unlink_quiet(part, n)) < 0 ||
		    (rc = unlink_quiet(ckpt, n)) < 0)
			snprintf(err, errlen, "%s: %s", files[i], strerror(-rc));
	}
	free(path);
	free(extent);
	return rc;
}

int step_test_delete(struct step_ctx *c, char *err, size_t errlen)
{
	unsigned n = 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < c->set->n; i++) {
		const struct vm_desc *v = &c->set->vms[i];
		for (size_t k = 0; rc == 0 && k < v->n_disks; k++)
			rc = delete_disk(c->plan, v->disks[k], &n, err, errlen);
		char *seed = step_cidata_path(c->plan, PLACE_TEST, v->name);
		if (rc == 0 && seed && (rc = unlink_quiet(seed, &n)) < 0)
			snprintf(err, errlen, "%s: %s", seed, strerror(-rc));
		free(seed);
	}
	if (rc < 0)
		return rc;
	bool gone = rmdir(c->plan->test_datastore) == 0 || errno == ENOENT;
	snprintf(c->detail, sizeof(c->detail), "%u files deleted from %s%s", n,
		 c->plan->test_datastore, gone ? " (directory removed)" : "");
	return 0;
}
