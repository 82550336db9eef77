/* index-scale N [DIR]: the chunk index (repo/index-table.c) with N synthetic entries, as a
 * repository of N unique chunks holds at open (16 TiB of 64 KiB chunks: N = 268435456).
 * Prints, for each step, its time and the peak memory so far (VmHWM): build (N adds, ids
 * from a seeded generator, 256 chunks a pack), lookup (N hits, checked, then N misses),
 * iterate (index_each), drop (remove_if of one pack in 16, as prune's condemnation does).
 * With DIR (not empty), the records past INDEX_RAM_RECS go to a scratch file there, as the
 * repository's index does (index_spill_to). Exit 1 if any lookup is wrong. Run by make
 * check-bigindex. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "repo/repo-internal.h"
#include "common/banned.h"

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void id_of(uint8_t id[CHUNK_ID_LEN])
{
	for (int i = 0; i < CHUNK_ID_LEN; i += 8)
		put_le64(id + i, next());
}

static void loc_of(uint64_t i, struct chunk_loc *l)
{
	memset(l, 0, sizeof(*l));
	put_le64(l->pack, i / 256 + 1);
	l->off = (i % 256) * 40000;
	l->blob_len = 40000;
	l->plain_len = 65536;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long hwm_mib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb / 1024;
}

static void step(const char *what, double t0, uint64_t n)
{
	double t = now() - t0;
	printf("%-8s %6.1f s  %7.0f ns/op  peak %ld MiB (%.1f bytes an entry)\n", what, t,
	       t * 1e9 / (double)n, hwm_mib(), (double)hwm_mib() * 1048576.0 / (double)n);
	fflush(stdout);
}

static uint64_t visited;

static void visit(void *arg, const uint8_t *id, const struct chunk_loc *loc)
{
	(void)arg;
	visited += id[0] + loc->off;
}

static bool every16(void *arg, const struct chunk_loc *loc)
{
	(void)arg;
	return get_le64(loc->pack) % 16 == 0;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 1u << 20;
	struct chunk_index ix;
	uint8_t id[CHUNK_ID_LEN];
	struct chunk_loc l, got;
	uint64_t bad = 0;
	printf("index-scale: %llu entries (%.2f TiB of 64 KiB chunks), baseline %ld MiB\n",
	       (unsigned long long)n, (double)n * 65536 / 1099511627776.0, hwm_mib());
	bool spill = argc > 2 && argv[2][0];
	if (index_init(&ix) || (spill && index_spill_to(&ix, argv[2], INDEX_RAM_RECS)))
		return 1;
	double t0 = now();
	rng = 88172645463325252ull;
	for (uint64_t i = 0; i < n; i++) {
		id_of(id);
		loc_of(i, &l);
		if (index_add(&ix, id, &l)) {
			fprintf(stderr, "index-scale: add %llu failed\n", (unsigned long long)i);
			return 1;
		}
	}
	step("build", t0, n);
	if (spill)
		printf("records in %s: %s\n", argv[2], ix.fd >= 0 ? "yes" : "no (could not spill)");
	t0 = now();
	rng = 88172645463325252ull;
	for (uint64_t i = 0; i < n; i++) {
		id_of(id);
		loc_of(i, &l);
		bad += !index_lookup(&ix, id, &got) || memcmp(&got, &l, sizeof(l));
	}
	step("hits", t0, n);
	t0 = now();
	for (uint64_t i = 0; i < n; i++) {	/* the generator goes on: ids never added */
		id_of(id);
		bad += index_lookup(&ix, id, NULL);
	}
	step("misses", t0, n);
	t0 = now();
	if (index_each(&ix, visit, NULL))
		return 1;
	step("iterate", t0, n);
	t0 = now();
	size_t before = ix.n;
	if (index_remove_if(&ix, every16, NULL, NULL))
		return 1;
	step("drop", t0, n);
	printf("dropped %zu of %zu entries; %llu wrong lookups\n", before - ix.n, before,
	       (unsigned long long)bad);
	index_release(&ix);
	return bad ? 1 : 0;
}
