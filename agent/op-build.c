/* The step lists of the failover modes (agent/op.h). Pure: the plan and its view of the
 * domain in, steps with their "waits for" edges out. VMs are visited in boot order, so
 * the list order is the engine's priority. */
#include "agent/op.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/util.h"
#include "common/banned.h"

struct builder {
	struct op *op;
	size_t cap;
	bool oom;
};

/* Append a step; its index, or SIZE_MAX when out of memory. */
static size_t add(struct builder *b, const char *kind, const char *vm, const char *disk)
{
	if (b->oom)
		return SIZE_MAX;
	struct op *op = b->op;
	if (ARRAY_RESERVE(op->steps, b->cap, op->n_steps + 1) < 0) {
		b->oom = true;
		return SIZE_MAX;
	}
	struct step *s = &op->steps[op->n_steps];
	memset(s, 0, sizeof(*s));
	char name[256];
	if (vm && disk)
		snprintf(name, sizeof(name), "%s %s/%s", kind, vm, disk);
	else if (vm)
		snprintf(name, sizeof(name), "%s %s", kind, vm);
	else
		snprintf(name, sizeof(name), "%s", kind);
	s->name = strdup(name);
	s->kind = strdup(kind);
	s->vm = vm ? strdup(vm) : NULL;
	s->disk = disk ? strdup(disk) : NULL;
	if (!s->name || !s->kind || (vm && !s->vm) || (disk && !s->disk)) {
		free(s->name);
		free(s->kind);
		free(s->vm);
		free(s->disk);
		b->oom = true;
		return SIZE_MAX;
	}
	return op->n_steps++;
}

static void wait_for(struct builder *b, size_t step, size_t pred)
{
	if (b->oom || step == SIZE_MAX || pred == SIZE_MAX)
		return;
	struct step *s = &b->op->steps[step];
	for (size_t i = 0; i < s->n_after; i++)
		if (s->after[i] == pred)
			return;
	size_t *a = realloc(s->after, (s->n_after + 1) * sizeof(*a));
	if (!a) {
		b->oom = true;
		return;
	}
	s->after = a;
	a[s->n_after++] = pred;
}

/* Per VM: [restore each disk] -> reip -> power-on -> ready. before: what the restores (or
 * the reip when there are none) wait for; boot_pre: what every power-on also waits for. */
struct vm_steps {
	size_t reip, power_on, ready;
};

static void vm_chain(struct builder *b, const struct plan_view *v, bool restore, size_t before,
		     size_t boot_pre, struct vm_steps *vs)
{
	/* restores first for every VM, in boot order: they are the long steps */
	size_t *first_restore = calloc(v->n + 1, sizeof(size_t));
	if (!first_restore) {
		b->oom = true;
		return;
	}
	for (size_t k = 0; k < v->n; k++) {
		const struct vm_desc *d = v->vms[v->boot[k]].desc;
		first_restore[v->boot[k]] = b->op->n_steps;
		for (size_t i = 0; restore && i < d->n_disks; i++)
			wait_for(b, add(b, SK_RESTORE, d->name, d->disks[i]), before);
	}
	for (size_t k = 0; k < v->n; k++) {
		size_t i = v->boot[k];
		const struct vm_desc *d = v->vms[i].desc;
		vs[i].reip = add(b, SK_REIP, d->name, NULL);
		for (size_t r = 0; restore && r < d->n_disks; r++)
			wait_for(b, vs[i].reip, first_restore[i] + r);
		if (!restore)
			wait_for(b, vs[i].reip, before);
		vs[i].power_on = add(b, SK_POWER_ON, d->name, NULL);
		wait_for(b, vs[i].power_on, vs[i].reip);
		wait_for(b, vs[i].power_on, boot_pre);
		vs[i].ready = add(b, SK_READY, d->name, NULL);
		wait_for(b, vs[i].ready, vs[i].power_on);
	}
	/* the boot order: a VM powers on once every VM it waits for is ready (their ready
	 * steps all exist now, whatever the order) */
	for (size_t i = 0; i < v->n; i++)
		for (size_t k = 0; k < v->vms[i].n_deps; k++)
			wait_for(b, vs[i].power_on, vs[v->vms[i].deps[k]].ready);
	free(first_restore);
}

static void build_planned(struct builder *b, const struct plan_view *v, struct vm_steps *vs)
{
	/* power off in reverse boot order: a VM goes down after those that wait for it */
	size_t *off = calloc(v->n + 1, sizeof(size_t));
	if (!off) {
		b->oom = true;
		return;
	}
	for (size_t k = v->n; k-- > 0;)
		off[v->boot[k]] = add(b, SK_SOURCE_OFF, v->vms[v->boot[k]].desc->name, NULL);
	for (size_t i = 0; i < v->n; i++)
		for (size_t k = 0; k < v->vms[i].n_deps; k++)
			wait_for(b, off[v->vms[i].deps[k]], off[i]);
	size_t fp = add(b, SK_FINAL_POINT, NULL, NULL);
	for (size_t i = 0; i < v->n; i++)
		wait_for(b, fp, off[i]);
	size_t stop = add(b, SK_STOP_SHIPPING, NULL, NULL);
	wait_for(b, stop, fp);
	size_t nets = add(b, SK_NETWORKS, NULL, NULL);
	vm_chain(b, v, true, stop, nets, vs);
	free(off);
}

int op_build_steps(enum dom_action a, const struct plan *p, const struct plan_view *v,
		   struct op *op)
{
	(void)p;
	struct builder b = { .op = op };
	op->steps = NULL;
	op->n_steps = 0;
	struct vm_steps *vs = calloc(v->n + 1, sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	switch (a) {
	case DA_PLANNED:
		build_planned(&b, v, vs);
		break;
	case DA_FORCED: {
		size_t nets = add(&b, SK_NETWORKS, NULL, NULL);
		vm_chain(&b, v, true, SIZE_MAX, nets, vs);
		break;
	}
	case DA_TEST: {
		size_t net = add(&b, SK_TEST_NETWORK, NULL, NULL);
		vm_chain(&b, v, true, SIZE_MAX, net, vs);
		break;
	}
	case DA_CONTINUOUS:
		add(&b, SK_REHYDRATE, NULL, NULL);
		break;
	case DA_COMPLETE: {
		size_t rf = add(&b, SK_REHYDRATE_FINAL, NULL, NULL);
		size_t nets = add(&b, SK_NETWORKS, NULL, NULL);
		vm_chain(&b, v, false, rf, nets, vs);
		break;
	}
	case DA_TEST_STOP: {
		size_t first = op->n_steps;
		for (size_t k = v->n; k-- > 0;)
			add(&b, SK_TEST_REMOVE, v->vms[v->boot[k]].desc->name, NULL);
		size_t last = op->n_steps;
		size_t del = add(&b, SK_TEST_DELETE, NULL, NULL);
		size_t net = add(&b, SK_TEST_NET_REMOVE, NULL, NULL);
		for (size_t i = first; i < last; i++) {
			wait_for(&b, del, i);
			wait_for(&b, net, i);
		}
		break;
	}
	default:
		free(vs);
		return -EINVAL;
	}
	free(vs);
	if (b.oom) {
		steps_free(op->steps, op->n_steps);
		op->steps = NULL;
		op->n_steps = 0;
		return -ENOMEM;
	}
	return 0;
}

const char *op_point(const struct op *op)
{
	if (op->point)
		return op->point;
	for (size_t i = 0; i < op->n_steps; i++) {
		const struct step *s = &op->steps[i];
		if ((!strcmp(s->kind, SK_FINAL_POINT) || !strcmp(s->kind, SK_REHYDRATE_FINAL)) &&
		    s->result && s->state == STEP_DONE)
			return json_string_value(json_object_get(s->result, "point"));
	}
	return NULL;
}

bool op_supersedes(enum dom_action later, enum dom_action earlier)
{
	return (later == DA_COMPLETE && earlier == DA_CONTINUOUS) ||
	       (later == DA_TEST_STOP && earlier == DA_TEST);
}

char *op_disk_path(const struct plan *p, enum op_place where, const char *disk)
{
	const char *dir = where == PLACE_TEST ? p->test_datastore : p->datastore;
	size_t n = strlen(dir) + strlen(disk) + 8;
	char *path = malloc(n);
	if (path)
		snprintf(path, n, "%s/%s.%s", dir, disk, p->format == RESTORE_RAW ? "img" : "vmdk");
	return path;
}

void op_vm_name(const struct plan *p, enum op_place where, const char *vm, char *out)
{
	snprintf(out, VM_NAME_MAX + 1, "%s%s%s", p->vm_prefix ? p->vm_prefix : "",
		 where == PLACE_TEST ? "test-" : "", vm);
}
