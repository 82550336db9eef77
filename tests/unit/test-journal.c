/* The orchestration journal: records written and replayed give the same state; the state
 * machine runs inside (refusals name the state); a torn last line is dropped; damaged
 * records are refused with their line; the v1 golden journal still reads. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/journal.h"
#include "common/banned.h"

static char dir[] = "/tmp/ferry-journal-XXXXXX";
static char path[256];

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/journal", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static void add_step(struct op *op, const char *name, const char *kind, size_t after)
{
	op->steps = realloc(op->steps, (op->n_steps + 1) * sizeof(*op->steps));
	struct step *s = &op->steps[op->n_steps];
	memset(s, 0, sizeof(*s));
	s->name = strdup(name);
	s->kind = strdup(kind);
	if (after != SIZE_MAX) {
		s->after = malloc(sizeof(size_t));
		s->after[0] = after;
		s->n_after = 1;
	}
	op->n_steps++;
}

static void free_op(struct op *op)
{
	for (size_t i = 0; i < op->n_steps; i++) {
		free(op->steps[i].name);
		free(op->steps[i].kind);
		free(op->steps[i].after);
	}
	free(op->steps);
}

static void write_ok(struct journal *j, struct dom_record *r, json_t *rec)
{
	char err[256] = "";
	int rc = journal_write(j, r, rec, err, sizeof(err));
	if (rc)
		fail_msg("journal_write: %d %s", rc, err);
}

static void test_write_replay(void **state)
{
	(void)state;
	unlink(path);
	struct journal *j;
	struct dom_record r;
	char err[256];
	assert_int_equal(journal_open(path, "dom", &j, &r, err, sizeof(err)), 0);
	assert_int_equal(journal_lines(j), 1);
	assert_int_equal(r.status.state, DOM_PROTECTED);
	write_ok(j, &r, jrec_plan("[plan]\ndomain = dom\n"));
	assert_int_equal(r.status.state, DOM_RECOVERY_READY);

	struct op op = { .id = 1, .action = DA_FORCED, .point_spec = "latest", .point = "1.7",
			 .plan = "[plan]\ndomain = dom\n" };
	add_step(&op, "restore db/db0", "restore", SIZE_MAX);
	add_step(&op, "power-on db", "power-on", 0);
	write_ok(j, &r, jrec_op(&op));
	assert_int_equal(r.status.state, DOM_FAILING_OVER);
	assert_int_equal(r.n_ops, 1);
	struct op *o = r.ops[0];
	write_ok(j, &r, jrec_step(o, 0, STEP_RUNNING, 0, 100, NULL, NULL));
	json_t *res = json_pack("{ss}", "path", "/ds/db0.vmdk");
	write_ok(j, &r, jrec_step(o, 0, STEP_DONE, 100, 100, "restored", res));
	json_decref(res);
	write_ok(j, &r, jrec_step(o, 1, STEP_RUNNING, 0, 0, NULL, NULL));
	write_ok(j, &r, jrec_step(o, 1, STEP_FAILED, 0, 0, "no such network", NULL));
	write_ok(j, &r, jrec_end(o, OP_FAILED, "power-on db", "power-on db: no such network"));
	assert_int_equal(r.status.state, DOM_ERROR);
	assert_int_equal(r.status.failed, DA_FORCED);
	assert_string_equal(r.error_step, "power-on db");
	assert_string_equal(r.ops[0]->failed_step, "power-on db");

	/* refused: a test while a failed failover is not cleaned up; the record is not written */
	uint64_t lines = journal_lines(j);
	struct op t = { .id = 2, .action = DA_TEST, .plan = "x" };
	assert_int_equal(journal_write(j, &r, jrec_op(&t), err, sizeof(err)), -EPERM);
	assert_string_equal(err, "domain dom is Error: test is not allowed");
	assert_int_equal(journal_lines(j), lines);
	/* a step record of an ended operation is refused too */
	assert_int_equal(journal_write(j, &r, jrec_step(o, 0, STEP_RUNNING, 0, 0, NULL, NULL), err,
				       sizeof(err)), -EINVAL);
	assert_string_equal(err, "operation 1 has ended");
	journal_close(j);

	/* replay: the same state */
	struct dom_record r2;
	assert_int_equal(journal_open(path, "dom", &j, &r2, err, sizeof(err)), 0);
	assert_int_equal(journal_lines(j), lines);
	assert_int_equal(r2.status.state, DOM_ERROR);
	assert_string_equal(r2.plan, "[plan]\ndomain = dom\n");
	assert_int_equal(r2.n_ops, 1);
	struct op *o2 = r2.ops[0];
	assert_string_equal(o2->point, "1.7");
	assert_string_equal(o2->point_spec, "latest");
	assert_int_equal(o2->result, OP_FAILED);
	assert_int_equal(o2->n_steps, 2);
	assert_int_equal(o2->steps[0].state, STEP_DONE);
	assert_int_equal(o2->steps[0].bytes_done, 100);
	assert_string_equal(json_string_value(json_object_get(o2->steps[0].result, "path")),
			    "/ds/db0.vmdk");
	assert_int_equal(o2->steps[1].n_after, 1);
	assert_string_equal(o2->steps[1].detail, "no such network");
	assert_true(o2->steps[1].end_ns >= o2->steps[1].start_ns && o2->steps[1].start_ns);
	assert_string_equal(r2.error_reason, "power-on db: no such network");
	journal_close(j);
	dom_record_release(&r2);
	dom_record_release(&r);
	free_op(&op);
}

static void test_torn_tail(void **state)
{
	(void)state;
	unlink(path);
	struct journal *j;
	struct dom_record r;
	char err[256];
	assert_int_equal(journal_open(path, "dom", &j, &r, err, sizeof(err)), 0);
	write_ok(j, &r, jrec_plan("p"));
	journal_close(j);
	dom_record_release(&r);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	const char torn[] = "{\"t\":\"plan\",\"time\":1,\"te";
	assert_int_equal(write(fd, torn, sizeof(torn) - 1), (ssize_t)sizeof(torn) - 1);
	close(fd);
	assert_int_equal(journal_open(path, "dom", &j, &r, err, sizeof(err)), 0);
	assert_int_equal(journal_lines(j), 2);
	struct stat st2;
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st2.st_size, st.st_size);	/* cut back */
	write_ok(j, &r, jrec_plan("q"));		/* and appending goes on cleanly */
	journal_close(j);
	dom_record_release(&r);
	assert_int_equal(journal_open(path, "dom", &j, &r, err, sizeof(err)), 0);
	assert_string_equal(r.plan, "q");
	journal_close(j);
	dom_record_release(&r);
}

static void expect_bad(const char *text, const char *want)
{
	struct dom_record r = { 0 };
	snprintf(r.domain, sizeof(r.domain), "dom");
	size_t used;
	char err[256] = "";
	int rc = journal_replay(text, strlen(text), &r, &used, err, sizeof(err));
	if (rc == 0 || !strstr(err, want))
		fail_msg("want '%s', got %d '%s'", want, rc, err);
	dom_record_release(&r);
}

#define HEAD "{\"journal\":\"ferry-agent\",\"version\":1,\"domain\":\"dom\"}\n"
#define PLAN "{\"t\":\"plan\",\"time\":1,\"text\":\"p\"}\n"
#define OP1 "{\"t\":\"op\",\"time\":2,\"op\":1,\"action\":\"forced\",\"steps\":[{\"name\":\"a\",\"kind\":\"k\"}]}\n"

static void test_damaged(void **state)
{
	(void)state;
	expect_bad("{\"journal\":\"ferry-agent\",\"version\":2,\"domain\":\"dom\"}\n",
		   "line 1: journal version 2");
	expect_bad("{\"journal\":\"ferry-agent\",\"version\":1,\"domain\":\"other\"}\n",
		   "journal of domain 'other'");
	expect_bad(PLAN, "line 1: no journal header");
	expect_bad(HEAD "not json\n", "line 2:");
	expect_bad(HEAD "[1,2]\n", "line 2: not a JSON object");
	expect_bad(HEAD "{\"t\":\"plan\",\"time\":-1,\"text\":\"p\"}\n", "'time' is not");
	expect_bad(HEAD "{\"t\":\"nope\",\"time\":1}\n", "unknown record type 'nope'");
	expect_bad(HEAD PLAN "{\"t\":\"op\",\"time\":2,\"op\":2,\"action\":\"forced\",\"steps\":[]}\n",
		   "line 3: operation 2 out of order (expected 1)");
	expect_bad(HEAD PLAN "{\"t\":\"op\",\"time\":2,\"op\":1,\"action\":\"done\",\"steps\":[]}\n",
		   "unknown operation 'done'");
	expect_bad(HEAD PLAN "{\"t\":\"op\",\"time\":2,\"op\":1,\"action\":\"forced\",\"steps\":"
		   "[{\"name\":\"a\",\"kind\":\"k\",\"after\":[0]}]}\n", "step 0: bad index in 'after'");
	expect_bad(HEAD PLAN "{\"t\":\"op\",\"time\":2,\"op\":1,\"action\":\"forced\",\"steps\":"
		   "[{\"name\":\"a\",\"kind\":\"k\",\"after\":[7]}]}\n", "bad index in 'after'");
	expect_bad(HEAD "{\"t\":\"op\",\"time\":2,\"op\":1,\"action\":\"forced\",\"steps\":[]}\n",
		   "domain dom is Protected: forced is not allowed");
	expect_bad(HEAD PLAN OP1 "{\"t\":\"step\",\"time\":3,\"op\":1,\"step\":1,\"state\":\"done\","
		   "\"bytes_done\":0,\"bytes_total\":0}\n", "line 4: no step 1 in operation 1");
	expect_bad(HEAD PLAN OP1 "{\"t\":\"step\",\"time\":3,\"op\":1,\"step\":0,\"state\":\"weird\","
		   "\"bytes_done\":0,\"bytes_total\":0}\n", "unknown step state 'weird'");
	expect_bad(HEAD PLAN OP1 "{\"t\":\"end\",\"time\":3,\"op\":1,\"result\":\"running\"}\n",
		   "unknown result 'running'");
	expect_bad(HEAD PLAN OP1 "{\"t\":\"end\",\"time\":3,\"op\":1,\"result\":\"done\"}\n"
		   "{\"t\":\"end\",\"time\":4,\"op\":1,\"result\":\"done\"}\n", "has already ended");
	expect_bad(HEAD "{\"t\":\"plan\",\"time\":1,\"text\":\"p\",\"text\":\"q\"}\n", "line 2");
}

/* tests/golden/journal-v1.jsonl: a test failover and its test-stop, a forced failover
 * that failed and was retried, written by the first version of the format. */
static void test_golden(void **state)
{
	(void)state;
	FILE *f = fopen("tests/golden/journal-v1.jsonl", "rb");
	assert_non_null(f);
	char *buf = malloc(1 << 20);
	size_t n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	struct dom_record r = { 0 };
	snprintf(r.domain, sizeof(r.domain), "dom");
	size_t used;
	char err[256] = "";
	int rc = journal_replay(buf, n, &r, &used, err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	assert_int_equal(used, n);
	assert_int_equal(r.status.state, DOM_FAILED_OVER);
	assert_int_equal(r.n_ops, 4);
	assert_int_equal(r.ops[0]->action, DA_TEST);
	assert_int_equal(r.ops[0]->result, OP_DONE);
	assert_int_equal(r.ops[1]->action, DA_TEST_STOP);
	assert_int_equal(r.ops[2]->result, OP_FAILED);
	assert_string_equal(r.ops[2]->reason, "db not ready after 300 s");
	assert_int_equal(r.ops[3]->action, DA_FORCED);
	assert_int_equal(r.ops[3]->result, OP_DONE);
	assert_string_equal(r.ops[3]->point, "1.42");
	assert_int_equal(r.ops[3]->n_steps, 4);
	assert_int_equal(r.ops[3]->steps[3].state, STEP_DONE);
	assert_int_equal(r.ops[3]->steps[0].bytes_total, 67108864);
	assert_true(json_is_array(r.ops[3]->vms));
	dom_record_release(&r);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_replay),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_damaged),
		cmocka_unit_test(test_golden),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
