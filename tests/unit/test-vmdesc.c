/* Unit tests for VM sets in the repository (repo/vmdesc.c, docs/repo-format.md section 14):
 * - the plaintext encoding round-trips, and the golden file tests/golden/vmset-v1.bin (made
 *   once with FERRY_REGEN_GOLDEN=vmset) still decodes to the same set;
 * - the decoder rejects every truncation, a newer version, names and counts out of range,
 *   duplicate names and MACs, and bytes left over;
 * - repo_vms_put writes only when the set changed; repo_vms_get picks the newest set at or
 *   before a time; the stored object is encrypted (no name appears in the store);
 *   repo_list_domains sees domains with points or sets;
 * - prune keeps the set each kept point needs and the newest, deletes the rest; verify
 *   passes then, and reports a point whose set was deleted behind prune's back. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "repo/repo-internal.h"
#include "repo/vmdesc-internal.h"
#include "common/banned.h"

#define GOLDEN "tests/golden/vmset-v1.bin"
#define T0 (1700000000ull * 1000000000ull)
#define SEC 1000000000ull

static struct vm_desc golden_vms[2];

static void make_nic(struct vm_nic *n, const char *text)
{
	char err[128];
	if (vm_nic_parse(text, n, err, sizeof(err)))
		fail_msg("%s: %s", text, err);
}

static struct vm_set golden_set(void)
{
	struct vm_desc *db = &golden_vms[0], *web = &golden_vms[1];
	memset(golden_vms, 0, sizeof(golden_vms));
	snprintf(db->name, sizeof(db->name), "db");
	snprintf(db->domain, sizeof(db->domain), "golden");
	snprintf(db->disks[0], sizeof(db->disks[0]), "db-os");
	snprintf(db->disks[1], sizeof(db->disks[1]), "db-data");
	db->n_disks = 2;
	db->cpus = 2;
	db->memory_mib = 2048;
	db->firmware = VM_FIRMWARE_UEFI;
	make_nic(&db->nics[0], "prod-net 52:54:00:12:34:56 static 10.1.0.11/24 gw 10.1.0.1 "
		 "dns 10.1.0.2,8.8.8.8");
	make_nic(&db->nics[1], "backup-net 52:54:00:ab:cd:ef dhcp");
	db->n_nics = 2;
	snprintf(web->name, sizeof(web->name), "web");
	snprintf(web->domain, sizeof(web->domain), "golden");
	snprintf(web->disks[0], sizeof(web->disks[0]), "web-os");
	web->n_disks = 1;
	web->cpus = 1;
	web->memory_mib = 512;
	make_nic(&web->nics[0], "prod-net 52:54:00:00:00:03 static 10.1.0.13/16");
	web->n_nics = 1;
	struct vm_set s = { .time_ns = T0 + 123456789, .vms = golden_vms, .n = 2 };
	snprintf(s.domain, sizeof(s.domain), "golden");
	return s;
}

static void encode(const struct vm_set *s, uint64_t prev, struct dbuf *b)
{
	dbuf_reset(b);
	assert_int_equal(vmset_encode(s, prev, b), 0);
}

/* ---- encoding ---- */

static void test_roundtrip(void **state)
{
	(void)state;
	struct vm_set s = golden_set(), d;
	struct dbuf b = DBUF_INIT(1 << 20), b2 = DBUF_INIT(1 << 20);
	uint64_t prev;
	encode(&s, T0 - SEC, &b);
	assert_int_equal(vmset_decode(b.data, b.len, &d, &prev), 0);
	assert_true(prev == T0 - SEC);
	assert_true(d.time_ns == s.time_ns);
	assert_string_equal(d.domain, "golden");
	assert_true(vmset_equal(&s, &d));
	assert_string_equal(d.vms[1].domain, "golden");
	encode(&d, prev, &b2);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	vm_set_release(&d);

	/* what the decoder checks, the encoder refuses to write */
	struct vm_set bad = s;
	assert_int_equal(vmset_encode(&bad, s.time_ns, &b), -EINVAL);	/* prev not older */
	bad.time_ns = 0;
	assert_int_equal(vmset_encode(&bad, 0, &b), -EINVAL);
	bad = s;
	golden_vms[1].nics[0].mac[5] = 0x56;
	golden_vms[1].nics[0].mac[3] = 0x12;
	golden_vms[1].nics[0].mac[4] = 0x34;
	assert_int_equal(vmset_encode(&bad, 0, &b), -EINVAL);		/* duplicate MAC */
	bad = golden_set();
	snprintf(golden_vms[1].name, sizeof(golden_vms[1].name), "db");
	assert_int_equal(vmset_encode(&bad, 0, &b), -EINVAL);		/* duplicate name */
	bad = golden_set();
	golden_vms[0].nics[1].gw = 1;					/* dhcp with a gw */
	assert_int_equal(vmset_encode(&bad, 0, &b), -EINVAL);
	bad = golden_set();
	golden_vms[0].memory_mib = 0;
	assert_int_equal(vmset_encode(&bad, 0, &b), -EINVAL);
	dbuf_release(&b);
	dbuf_release(&b2);
}

static void check_golden_fields(const struct vm_set *d, uint64_t prev)
{
	assert_true(d->time_ns == T0 + 123456789);
	assert_true(prev == T0 - 5 * SEC);
	assert_string_equal(d->domain, "golden");
	assert_int_equal(d->n, 2);
	const struct vm_desc *db = &d->vms[0];
	assert_string_equal(db->name, "db");
	assert_int_equal(db->cpus, 2);
	assert_true(db->memory_mib == 2048);
	assert_int_equal(db->firmware, VM_FIRMWARE_UEFI);
	assert_int_equal(db->n_disks, 2);
	assert_string_equal(db->disks[1], "db-data");
	char text[200];
	assert_true(vm_nic_format(&db->nics[0], text, sizeof(text)) > 0);
	assert_string_equal(text, "prod-net 52:54:00:12:34:56 static 10.1.0.11/24 gw 10.1.0.1 "
			    "dns 10.1.0.2,8.8.8.8");
	assert_true(vm_nic_format(&db->nics[1], text, sizeof(text)) > 0);
	assert_string_equal(text, "backup-net 52:54:00:ab:cd:ef dhcp");
	assert_true(vm_nic_format(&d->vms[1].nics[0], text, sizeof(text)) > 0);
	assert_string_equal(text, "prod-net 52:54:00:00:00:03 static 10.1.0.13/16");
	assert_true(d->vms[1].memory_mib == 512);
}

static void test_golden(void **state)
{
	(void)state;
	struct vm_set s = golden_set(), d;
	struct dbuf b = DBUF_INIT(1 << 20);
	uint64_t prev;
	const char *regen = getenv("FERRY_REGEN_GOLDEN");
	if (regen && !strcmp(regen, "vmset")) {
		encode(&s, T0 - 5 * SEC, &b);
		int fd = open(GOLDEN, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(pwrite_full(fd, b.data, b.len, 0), 0);
		close(fd);
		dbuf_release(&b);
	}
	int fd = open(GOLDEN, O_RDONLY);
	assert_true(fd >= 0);
	uint8_t buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n > 24);
	assert_memory_equal(buf, "FVMS\x01", 5);
	assert_int_equal(vmset_decode(buf, (size_t)n, &d, &prev), 0);
	check_golden_fields(&d, prev);
	vm_set_release(&d);
}

static void test_decode_rejects(void **state)
{
	(void)state;
	struct vm_set s = golden_set(), d;
	struct dbuf b = DBUF_INIT(1 << 20);
	uint64_t prev;
	encode(&s, 0, &b);
	for (size_t len = 0; len < b.len; len++)
		assert_int_equal(vmset_decode(b.data, len, &d, &prev), -EBADMSG);
	uint8_t *c = malloc(b.len + 1);
	memcpy(c, b.data, b.len);
	c[b.len] = 0;
	assert_int_equal(vmset_decode(c, b.len + 1, &d, &prev), -EBADMSG);	/* left over */
	c[4] = 2;
	assert_int_equal(vmset_decode(c, b.len, &d, &prev), -EPROTO);
	c[4] = 1;
	c[6] = 1;
	assert_int_equal(vmset_decode(c, b.len, &d, &prev), -EPROTO);
	c[6] = 0;
	c[0] = 'X';
	assert_int_equal(vmset_decode(c, b.len, &d, &prev), -EBADMSG);
	c[0] = 'F';
	/* domain length 0 and 64, a VM count past the bytes left, a bad name character */
	c[24] = 0;
	assert_int_equal(vmset_decode(c, b.len, &d, &prev), -EBADMSG);
	c[24] = 64;
	assert_int_equal(vmset_decode(c, b.len, &d, &prev), -EBADMSG);
	c[24] = 6;
	c[31] = 0xff;
	assert_int_equal(vmset_decode(c, b.len, &d, &prev), -EBADMSG);
	c[31] = 2;
	c[25] = '/';
	assert_int_equal(vmset_decode(c, b.len, &d, &prev), -EBADMSG);
	c[25] = 'g';
	assert_int_equal(vmset_decode(c, b.len, &d, &prev), 0);
	vm_set_release(&d);
	/* every single-byte change decodes or is rejected, never crashes (ASan runs) */
	for (size_t i = 0; i < b.len; i++) {
		c[i] ^= 0x5a;
		if (vmset_decode(c, b.len, &d, &prev) == 0)
			vm_set_release(&d);
		c[i] ^= 0x5a;
	}
	free(c);
	dbuf_release(&b);
}

static void test_select(void **state)
{
	(void)state;
	const uint64_t sets[] = { 10, 20, 30, 40, 50 };
	const uint64_t pts[] = { 25, 5, 26, 45 };
	bool keep[5];
	vmset_select(sets, 5, pts, 4, keep);
	assert_false(keep[0]);	/* 5 is before every set: it has none */
	assert_true(keep[1]);	/* 25, 26 */
	assert_true(keep[2]);	/* the successor of 20: its prev names 20 */
	assert_true(keep[3]);	/* 45 */
	assert_true(keep[4]);	/* the newest, and 40's successor */
	const uint64_t at[] = { 30 };
	vmset_select(sets, 5, at, 1, keep);	/* a set at the point's own time counts */
	assert_true(keep[2]);
	assert_true(keep[3]);
	assert_false(keep[1]);
	vmset_select(sets, 5, NULL, 0, keep);
	assert_false(keep[3]);
	assert_true(keep[4]);
	vmset_select(NULL, 0, pts, 4, keep);
}

/* ---- in a repository ---- */

struct fx {
	char dir[64], url[128], key[128];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-vmdesc.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->url, sizeof(f->url), "file://%s/store", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/key", f->dir);
	struct repo_create_opts o = { .url = f->url, .key_file = f->key, .encrypted = true,
				      .chunk_size = 4096 };
	char err[256];
	if (repo_create(&o, err, sizeof(err)))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static struct repo *open_repo(struct fx *f)
{
	struct repo *r;
	char err[256];
	int rc = repo_open(f->url, f->key, &r, err, sizeof(err));
	if (rc)
		print_message("repo_open: %s\n", err);
	assert_int_equal(rc, 0);
	return r;
}

static void point(struct repo *r, const char *dom, uint32_t epoch, uint64_t seq, uint64_t t)
{
	struct point_info meta = { .epoch = epoch, .seq = seq, .parent_seq = seq - 1,
				   .flags = POINT_CONSISTENT, .time_ns = t }, out;
	struct repo_point_writer *w;
	uint8_t b[4096];
	char err[256] = "";
	memset(b, (int)seq, sizeof(b));
	snprintf(meta.domain, sizeof(meta.domain), "%s", dom);
	assert_int_equal(repo_point_begin(r, &meta, &w), 0);
	assert_int_equal(repo_point_disk(w, "d0", sizeof(b)), 0);
	assert_int_equal(repo_point_data(w, 0, b, sizeof(b)), 0);
	assert_int_equal(repo_point_commit(w, &out, err, sizeof(err)), 0);
}

static int put(struct repo *r, struct vm_set *s, uint64_t t)
{
	char err[256] = "";
	s->time_ns = t;
	int rc = repo_vms_put(r, s, err, sizeof(err));
	if (rc < 0)
		print_message("put: %s\n", err);
	return rc;
}

static void expect_cpus_at(struct repo *r, uint64_t t, int cpus)
{
	struct vm_set g;
	char err[256] = "";
	int rc = repo_vms_get(r, "golden", t, &g, err, sizeof(err));
	if (cpus < 0) {
		assert_int_equal(rc, -ENOENT);
		assert_non_null(strstr(err, "no VM descriptions"));
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal((int)g.vms[0].cpus, cpus);
	vm_set_release(&g);
}

static void test_put_get(void **state)
{
	struct fx *f = *state;
	struct repo *r = open_repo(f);
	struct vm_set s = golden_set();
	expect_cpus_at(r, UINT64_MAX, -1);
	assert_int_equal(put(r, &s, T0), 1);
	assert_int_equal(put(r, &s, T0 + SEC), 0);	/* unchanged: nothing written */
	golden_vms[0].cpus = 4;
	assert_int_equal(put(r, &s, T0 + 2 * SEC), 1);
	golden_vms[0].cpus = 8;
	assert_int_equal(put(r, &s, T0 + 2 * SEC), -EINVAL);	/* not newer */
	s.time_ns = 0;			/* now: later than T0 + 2 s */
	char err[256];
	assert_int_equal(repo_vms_put(r, &s, err, sizeof(err)), 1);

	uint64_t *t;
	size_t n;
	assert_int_equal(vmset_list(r, "golden", &t, &n), 0);
	assert_int_equal(n, 3);
	assert_true(t[0] == T0 && t[1] == T0 + 2 * SEC && t[2] > t[1]);
	free(t);
	expect_cpus_at(r, T0 - 1, -1);
	expect_cpus_at(r, T0, 2);
	expect_cpus_at(r, T0 + 2 * SEC - 1, 2);
	expect_cpus_at(r, T0 + 2 * SEC, 4);
	expect_cpus_at(r, UINT64_MAX, 8);

	/* the object is an encrypted blob: no name shows in the store */
	char cmd[2 * STORE_KEY_MAX + 200];
	snprintf(cmd, sizeof(cmd), "grep -rqa -e prod-net -e db-data '%s/store'", f->dir);
	assert_int_not_equal(system(cmd), 0);

	/* a set whose content names another time or domain than its key is corrupt */
	char from[STORE_KEY_MAX], to[STORE_KEY_MAX];
	vmset_key("golden", T0, from, sizeof(from));
	vmset_key("golden", T0 + 1, to, sizeof(to));
	snprintf(cmd, sizeof(cmd), "cp '%s/store/%s' '%s/store/%s'", f->dir, from, f->dir, to);
	assert_int_equal(system(cmd), 0);
	struct vm_set g;
	assert_int_equal(repo_vms_get(r, "golden", T0 + 1, &g, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "corrupt VM set"));
	snprintf(cmd, sizeof(cmd), "%s/store/%s", f->dir, to);
	assert_int_equal(unlink(cmd), 0);

	/* domains: with sets only, with points only, with both */
	point(r, "other", 1, 1, T0);
	point(r, "golden", 1, 1, T0 + 3 * SEC);
	char **names;
	assert_int_equal(repo_list_domains(r, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "golden");
	assert_string_equal(names[1], "other");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	repo_close(r);
}

static int problems;

static void report(void *arg, const char *key, const char *problem)
{
	(void)arg;
	print_message("verify: %s: %s\n", key, problem);
	problems++;
}

static void test_prune_verify(void **state)
{
	struct fx *f = *state;
	struct repo *r = open_repo(f);
	struct vm_set s = golden_set();
	/* sets at 0, 10, 20, 30, 40 s; points 1.1, 1.2, 1.3 at 5, 15, 25 s and 2.1, 2.2 (a
	 * new epoch: 2.1 is full) at 35, 45 s */
	for (unsigned i = 0; i < 5; i++) {
		golden_vms[0].cpus = i + 1;
		assert_int_equal(put(r, &s, T0 + i * 10 * SEC), 1);
		point(r, "golden", i < 3 ? 1 : 2, i < 3 ? i + 1 : i - 2, T0 + (i * 10 + 5) * SEC);
	}
	problems = 0;
	assert_int_equal(repo_verify(r, false, report, NULL), 0);

	/* keep last:2 keeps 2.1 and 2.2: the sets of 1.x go, 30 s and 40 s stay */
	struct prune_policy pol = { "golden", { .last = 2 } };
	struct prune_opts o = { .policies = &pol, .n_policies = 1 };
	struct prune_stats st;
	char err[256] = "";
	assert_int_equal(repo_prune(r, &o, &st, err, sizeof(err)), 0);
	assert_int_equal(st.points_deleted, 3);
	assert_int_equal(st.vm_sets_deleted, 3);
	expect_cpus_at(r, T0 + 35 * SEC, 4);
	expect_cpus_at(r, T0 + 45 * SEC, 5);
	expect_cpus_at(r, T0 + 29 * SEC, -1);
	problems = 0;
	assert_int_equal(repo_verify(r, false, report, NULL), 0);

	/* three sets after the newest point: the first stays (it names the 40 s set that 2.2
	 * needs), the second no point needs, the third is the newest */
	golden_vms[0].cpus = 10;
	assert_int_equal(put(r, &s, T0 + 50 * SEC), 1);
	golden_vms[0].cpus = 12;
	assert_int_equal(put(r, &s, T0 + 60 * SEC), 1);
	golden_vms[0].cpus = 11;
	assert_int_equal(put(r, &s, T0 + 70 * SEC), 1);
	assert_int_equal(repo_prune(r, &o, &st, err, sizeof(err)), 0);
	assert_int_equal(st.vm_sets_deleted, 1);
	expect_cpus_at(r, T0 + 65 * SEC, 10);
	expect_cpus_at(r, T0 + 45 * SEC, 5);	/* the 40 s set, as 2.2 sees it */
	expect_cpus_at(r, UINT64_MAX, 11);
	problems = 0;
	assert_int_equal(repo_verify(r, false, report, NULL), 0);

	/* deleting a set a point needs is what verify reports (2.2 needs the 40 s set) */
	char key[STORE_KEY_MAX], path[STORE_KEY_MAX + 100];
	vmset_key("golden", T0 + 40 * SEC, key, sizeof(key));
	snprintf(path, sizeof(path), "%s/store/%s", f->dir, key);
	assert_int_equal(unlink(path), 0);
	problems = 0;
	assert_int_equal(repo_verify(r, false, report, NULL), 1);
	/* and a corrupt set */
	vmset_key("golden", T0 + 30 * SEC, key, sizeof(key));
	snprintf(path, sizeof(path), "%s/store/%s", f->dir, key);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite_full(fd, "XXXX", 4, 40), 0);
	close(fd);
	assert_int_equal(repo_verify(r, false, report, NULL), 2);
	repo_close(r);
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test(test_select),
		cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_verify, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
