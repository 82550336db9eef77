/* Steps on disks: restore (a disk of a VM at the operation's point, through the restore
 * library), reip (the guest's network configuration edited on its boot disk, or a
 * cloud-init seed), and the continuous-failover pair rehydrate / rehydrate-final.
 *
 * Redo after a crash: restore writes PATH.part and renames it when complete, so a redo
 * either resumes the .part or (if the rename happened but was not journaled) restores
 * again over the finished file (force); rehydration keeps the datastore's VMDKs claiming
 * only points they fully hold (restore/restore.h), so a redo syncs again; reip relies on
 * reip_apply_disk accepting a NIC that already holds its new address (agent/reip.h). */
#include "agent/agent-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

static int progress(void *arg, uint64_t done, uint64_t total)
{
	struct step_ctx *c = arg;
	step_progress(c, done, total);
	return step_cancelled(c) ? 1 : 0;
}

static void notice(void *arg, const char *msg)
{
	step_live(arg, "%s", msg);
}

static int datastore_dir(struct step_ctx *c, const char **dir, char *err, size_t errlen)
{
	*dir = c->place == PLACE_TEST ? c->plan->test_datastore : c->plan->datastore;
	int rc = mkdir_p(*dir, 0755);
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", *dir, strerror(-rc));
	return rc;
}

int step_restore(struct step_ctx *c, char *err, size_t errlen)
{
	struct point_info p;
	struct repo *r;
	const char *dir;
	int rc;
	if ((rc = step_point(c, &p, err, errlen)) < 0 || (rc = agent_repo(c->a, &r, err, errlen)) < 0 ||
	    (rc = datastore_dir(c, &dir, err, errlen)) < 0)
		return rc;
	char *path = op_disk_path(c->plan, c->place, c->disk);
	if (!path)
		return -ENOMEM;
	/* resume: a .part left by an earlier run (a crash, a stop) is continued; without one
	 * the restore starts over. force: a finished file from a run whose end was not
	 * journaled is written again. */
	struct restore_req q = {
		.r = r, .p = &p, .domain = c->domain, .disk = c->disk, .path = path,
		.fmt = c->plan->format, .resume = true, .force = true,
		.progress = progress, .progress_arg = c, .notice = notice,
	};
	struct restore_result res = { 0 };
	step_live(c, "restoring %s at point %" PRIu32 ".%" PRIu64, c->disk, p.epoch, p.seq);
	rc = restore_disk(&q, &res, err, errlen);
	if (rc == -ECANCELED && step_cancelled(c)) {
		free(path);
		return rc;
	}
	if (rc == 0) {
		char h[32];
		fmt_bytes(res.bytes_written, h, sizeof(h));
		snprintf(c->detail, sizeof(c->detail), "%s -> %s (%s, point %" PRIu32 ".%" PRIu64
			 ", %s written%s)", c->disk, path, restore_format_name(c->plan->format),
			 p.epoch, p.seq, h, res.resumed_at ? ", resumed" : "");
		c->result = json_pack("{ss}", "path", path);
	}
	free(path);
	return rc;
}

/* ---- Re-IP ---- */

/* The boot disk's bytes as reip reads them. */
static char *reip_image(struct step_ctx *c, enum reip_image *kind)
{
	char *path = op_disk_path(c->plan, c->place, c->vm->desc->disks[0]);
	*kind = c->plan->format == RESTORE_VMDK ? REIP_IMAGE_VMDK : REIP_IMAGE_RAW;
	if (!path || c->plan->format != RESTORE_VMDK_FLAT)
		return path;
	char *extent = restore_flat_extent_path(path);
	free(path);
	return extent;
}

char *step_cidata_path(const struct plan *p, enum op_place where, const char *vm)
{
	const char *dir = where == PLACE_TEST ? p->test_datastore : p->datastore;
	size_t n = strlen(dir) + strlen(vm) + 16;
	char *path = malloc(n);
	if (path)
		snprintf(path, n, "%s/%s-cidata.img", dir, vm);
	return path;
}

static int reip_cidata(struct step_ctx *c, char *err, size_t errlen)
{
	const char *dir;
	int rc = datastore_dir(c, &dir, err, errlen);
	if (rc < 0)
		return rc;
	struct vm_desc vm = *c->vm->desc;
	for (size_t k = 0; k < vm.n_nics; k++)
		vm.nics[k] = c->vm->nics[k];
	char *path = step_cidata_path(c->plan, c->place, vm.name);
	if (!path)
		return -ENOMEM;
	if ((rc = reip_write_cidata(path, &vm, err, errlen)) == 0) {
		snprintf(c->detail, sizeof(c->detail), "cloud-init seed %s with the new addresses",
			 path);
		c->result = json_pack("{ss}", "cidata", path);
	}
	free(path);
	return rc;
}

int step_reip(struct step_ctx *c, char *err, size_t errlen)
{
	const struct plan_vm_view *v = c->vm;
	enum plan_reip how = v->pv ? v->pv->reip : REIP_DISK;
	struct reip_nic_change ch[VM_MAX_NICS];
	size_t n = 0;
	/* the plan's rules go along: a gateway or DNS server the guest's file has and the
	 * VM description does not is mapped through them too (agent/reip.h) */
	for (size_t k = 0; k < v->desc->n_nics; k++)
		if (v->nic_changed[k])
			ch[n++] = (struct reip_nic_change){
				.old_nic = &v->desc->nics[k], .new_nic = &v->nics[k],
				.rules = c->plan->rules, .n_rules = c->plan->n_rules,
			};
	if (how == REIP_NONE || n == 0) {
		c->skipped = true;
		snprintf(c->detail, sizeof(c->detail), "%s", how == REIP_NONE
			 ? "reip = none in the plan" : "no Re-IP rule changes an address of this VM");
		return 0;
	}
	if (how == REIP_CIDATA)
		return reip_cidata(c, err, errlen);
	enum reip_image kind;
	char *image = reip_image(c, &kind);
	if (!image)
		return -ENOMEM;
	char detail[sizeof(c->detail)] = "";
	int rc = reip_apply_disk(image, kind, ch, n, detail, sizeof(detail), err, errlen);
	if (rc == 0)
		snprintf(c->detail, sizeof(c->detail), "%s", detail[0] ? detail : "done");
	free(image);
	return rc;
}

/* ---- continuous failover ---- */

static void point_text(const struct point_info *p, char *out, size_t n)
{
	snprintf(out, n, "%" PRIu32 ".%" PRIu64, p->epoch, p->seq);
}

/* Keep the datastore at the newest consistent point until the operation is stopped (by a
 * complete, which supersedes it, or by the agent stopping): never returns 0. */
int step_rehydrate(struct step_ctx *c, char *err, size_t errlen)
{
	struct repo *r;
	struct rehydrator *h;
	const char *dir;
	int rc;
	if ((rc = agent_repo(c->a, &r, err, errlen)) < 0 || (rc = datastore_dir(c, &dir, err, errlen)) < 0 ||
	    (rc = rehydrate_open(r, c->domain, dir, &h, err, errlen)) < 0)
		return rc;
	rehydrate_set_notice(h, notice, c);
	while (!step_cancelled(c)) {
		struct point_info reached;
		char why[512] = "", pt[48];
		rc = rehydrate_sync(h, NULL, &reached, progress, c, why, sizeof(why));
		if (rc == -ECANCELED && step_cancelled(c))
			break;
		if (rc < 0) {
			step_live(c, "sync failed, retrying: %s", why);
		} else {
			point_text(&reached, pt, sizeof(pt));
			step_live(c, "disks at point %s", pt);
			step_live_result(c, json_pack("{sssI}", "point", pt, "point_time",
						      (json_int_t)reached.time_ns));
		}
		step_sleep(c, c->plan->interval_ms);
	}
	rehydrate_close(h);
	return -ECANCELED;
}

int step_rehydrate_final(struct step_ctx *c, char *err, size_t errlen)
{
	struct repo *r;
	struct rehydrator *h;
	const char *dir;
	struct point_info target, reached;
	const char *spec = c->op->point_spec;
	bool latest = !spec || !strcmp(spec, "latest");
	int rc;
	if ((rc = agent_repo(c->a, &r, err, errlen)) < 0 || (rc = datastore_dir(c, &dir, err, errlen)) < 0)
		return rc;
	agent_repo_refresh(c->a);
	if (!latest && (rc = repo_resolve_point(r, c->domain, spec, &target, err, errlen)) < 0)
		return rc;
	/* take over: a `ferryctl rehydrate --follow` on the datastore is stopped (ours was,
	 * by the runner, before this operation's steps began) */
	if ((rc = rehydrate_take_over(r, c->domain, dir, &h, err, errlen)) < 0)
		return rc;
	rehydrate_set_notice(h, notice, c);
	uint64_t t0 = now_mono_ns();
	rc = rehydrate_sync(h, latest ? NULL : &target, &reached, progress, c, err, errlen);
	uint64_t written = rehydrate_written(h);
	rehydrate_close(h);
	if (rc < 0)
		return rc;
	char pt[48], h2[32];
	point_text(&reached, pt, sizeof(pt));
	fmt_bytes(written, h2, sizeof(h2));
	snprintf(c->detail, sizeof(c->detail), "disks at point %s (%s applied in %.2f s)", pt, h2,
		 (double)(now_mono_ns() - t0) / 1e9);
	c->result = json_pack("{sssI}", "point", pt, "point_time", (json_int_t)reached.time_ns);
	return 0;
}
