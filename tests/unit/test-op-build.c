/* The step lists of the failover modes (docs/failover.md): names, order (boot order
 * first) and "waits for" edges for db, app (waits for db) and web (waits for app). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/op.h"
#include "common/banned.h"

struct fix {
	struct plan p;
	struct vm_set s;
	struct plan_view v;
	struct op op;
};

static void vm(struct vm_set *s, const char *name, int disks)
{
	struct vm_desc *v = &s->vms[s->n++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	for (int i = 0; i < disks; i++)
		snprintf(v->disks[v->n_disks++], sizeof(v->disks[0]), "%s%d", name, i);
	struct vm_nic *n = &v->nics[v->n_nics++];
	snprintf(n->network, sizeof(n->network), "prod");
}

static void setup_fix(struct fix *f, enum plan_mode mode)
{
	memset(f, 0, sizeof(*f));
	const char *t = "[plan]\ndomain = dom\ndatastore = /ds\ntest_network = t\n"
			"[networks]\nmap = prod -> dr\n[vm app]\nafter = db\n[vm web]\nafter = app\n"
			"[protected]\ncontrol = /run/ferryd.sock\n";
	struct problems pr = { 0 };
	assert_int_equal(plan_parse("p", t, strlen(t), &f->p, &pr), 0);
	snprintf(f->s.domain, sizeof(f->s.domain), "dom");
	f->s.vms = calloc(4, sizeof(*f->s.vms));
	vm(&f->s, "web", 1);
	vm(&f->s, "app", 1);
	vm(&f->s, "db", 2);
	assert_int_equal(plan_check_domain(&f->p, &f->s, mode, &f->v, &pr), 0);
}

static void release_fix(struct fix *f)
{
	steps_free(f->op.steps, f->op.n_steps);
	plan_view_release(&f->v);
	free(f->s.vms);
	plan_release(&f->p);
}

static size_t find(const struct op *op, const char *name)
{
	for (size_t i = 0; i < op->n_steps; i++)
		if (!strcmp(op->steps[i].name, name))
			return i;
	fail_msg("no step '%s'", name);
	return SIZE_MAX;
}

/* Does step a wait (directly) for step b? */
static bool waits(const struct op *op, const char *a, const char *b)
{
	const struct step *s = &op->steps[find(op, a)];
	size_t j = find(op, b);
	for (size_t i = 0; i < s->n_after; i++)
		if (s->after[i] == j)
			return true;
	return false;
}

static void names(const struct op *op, const char *const *want, size_t n)
{
	for (size_t i = 0; i < op->n_steps; i++)
		print_message("  %zu %s\n", i, op->steps[i].name);
	assert_int_equal(op->n_steps, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(op->steps[i].name, want[i]);
}

static void test_forced(void **state)
{
	(void)state;
	struct fix f;
	setup_fix(&f, PLAN_FORCED);
	assert_int_equal(op_build_steps(DA_FORCED, &f.p, &f.v, &f.op), 0);
	static const char *const want[] = {
		"networks", "restore db/db0", "restore db/db1", "restore app/app0",
		"restore web/web0", "reip db", "power-on db", "ready db", "reip app",
		"power-on app", "ready app", "reip web", "power-on web", "ready web",
	};
	names(&f.op, want, sizeof(want) / sizeof(want[0]));
	assert_int_equal(f.op.steps[1].n_after, 0);		/* restores start at once */
	assert_true(waits(&f.op, "reip db", "restore db/db0"));
	assert_true(waits(&f.op, "reip db", "restore db/db1"));
	assert_true(waits(&f.op, "power-on db", "reip db"));
	assert_true(waits(&f.op, "power-on db", "networks"));
	assert_true(waits(&f.op, "ready db", "power-on db"));
	assert_true(waits(&f.op, "power-on app", "ready db"));	/* the boot order */
	assert_true(waits(&f.op, "power-on web", "ready app"));
	assert_false(waits(&f.op, "power-on web", "ready db"));
	assert_string_equal(f.op.steps[2].disk, "db1");
	assert_string_equal(f.op.steps[2].vm, "db");
	release_fix(&f);
}

static void test_planned(void **state)
{
	(void)state;
	struct fix f;
	setup_fix(&f, PLAN_PLANNED);
	assert_int_equal(op_build_steps(DA_PLANNED, &f.p, &f.v, &f.op), 0);
	/* power off in reverse boot order: web first, db last */
	assert_string_equal(f.op.steps[0].name, "source-power-off web");
	assert_string_equal(f.op.steps[2].name, "source-power-off db");
	assert_true(waits(&f.op, "source-power-off db", "source-power-off app"));
	assert_true(waits(&f.op, "source-power-off app", "source-power-off web"));
	assert_true(waits(&f.op, "final-point", "source-power-off db"));
	assert_true(waits(&f.op, "stop-shipping", "final-point"));
	assert_true(waits(&f.op, "restore db/db0", "stop-shipping"));
	assert_true(waits(&f.op, "restore web/web0", "stop-shipping"));
	assert_true(waits(&f.op, "power-on app", "ready db"));
	assert_int_equal(f.op.n_steps, 3 + 2 + 1 + 4 + 9);
	release_fix(&f);
}

static void test_test_and_stop(void **state)
{
	(void)state;
	struct fix f;
	setup_fix(&f, PLAN_TEST);
	assert_int_equal(op_build_steps(DA_TEST, &f.p, &f.v, &f.op), 0);
	assert_string_equal(f.op.steps[0].name, "test-network");
	assert_true(waits(&f.op, "power-on db", "test-network"));
	assert_true(waits(&f.op, "power-on web", "ready app"));
	release_fix(&f);
	setup_fix(&f, PLAN_TEST);
	assert_int_equal(op_build_steps(DA_TEST_STOP, &f.p, &f.v, &f.op), 0);
	static const char *const want[] = { "test-remove web", "test-remove app", "test-remove db",
					    "test-delete-disks", "test-remove-network" };
	names(&f.op, want, 5);
	assert_true(waits(&f.op, "test-delete-disks", "test-remove db"));
	assert_true(waits(&f.op, "test-remove-network", "test-remove web"));
	assert_int_equal(f.op.steps[0].n_after, 0);
	release_fix(&f);
}

static void test_continuous(void **state)
{
	(void)state;
	struct fix f;
	setup_fix(&f, PLAN_CONTINUOUS);
	assert_int_equal(op_build_steps(DA_CONTINUOUS, &f.p, &f.v, &f.op), 0);
	static const char *const one[] = { "rehydrate" };
	names(&f.op, one, 1);
	release_fix(&f);
	setup_fix(&f, PLAN_CONTINUOUS);
	assert_int_equal(op_build_steps(DA_COMPLETE, &f.p, &f.v, &f.op), 0);
	/* no restores: the disks are there; every reip waits for the final sync */
	assert_string_equal(f.op.steps[0].name, "rehydrate-final");
	assert_string_equal(f.op.steps[1].name, "networks");
	assert_true(waits(&f.op, "reip db", "rehydrate-final"));
	assert_true(waits(&f.op, "reip web", "rehydrate-final"));
	assert_true(waits(&f.op, "power-on web", "ready app"));
	assert_int_equal(f.op.n_steps, 2 + 9);
	release_fix(&f);
}

static void test_helpers(void **state)
{
	(void)state;
	struct fix f;
	setup_fix(&f, PLAN_FORCED);
	char name[VM_NAME_MAX + 1];
	op_vm_name(&f.p, PLACE_TEST, "db", name);
	assert_string_equal(name, "test-db");
	op_vm_name(&f.p, PLACE_FAILOVER, "db", name);
	assert_string_equal(name, "db");
	char *p = op_disk_path(&f.p, PLACE_FAILOVER, "db0");
	assert_string_equal(p, "/ds/db0.vmdk");
	free(p);
	p = op_disk_path(&f.p, PLACE_TEST, "db0");
	assert_string_equal(p, "/ds/test/db0.vmdk");
	free(p);
	assert_true(op_supersedes(DA_COMPLETE, DA_CONTINUOUS));
	assert_true(op_supersedes(DA_TEST_STOP, DA_TEST));
	assert_false(op_supersedes(DA_FORCED, DA_TEST));
	struct op op = { .point = NULL };
	assert_null(op_point(&op));
	release_fix(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forced),
		cmocka_unit_test(test_planned),
		cmocka_unit_test(test_test_and_stop),
		cmocka_unit_test(test_continuous),
		cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
