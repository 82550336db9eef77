/* Retention and prune: which points expire (a pure function), deleting them, and deleting
 * the packs no remaining point needs, safely against a crash and against a shipper that
 * dedupes against those packs meanwhile. The protocol, and why it is safe, is written
 * down in docs/repo-format.md "Prune"; in short:
 *
 *   phase 2 of older condemnations (due: older than the grace delay)
 *      every manifest's chunks -> a condemned pack holding a chunk that some manifest
 *      names and that no other pack holds is rescued (kind 3 object), the others deleted
 *   expire: delete the expired manifests, newest first (a remaining delta point always
 *      keeps its parent, so every moment's repository verifies)
 *   phase 1: every remaining manifest's chunks -> the packs holding them are live; the
 *      other indexed packs are condemned (one kind 2 object)
 *   with wait: sleep the grace delay, then phase 2 again
 *   sweep: what interrupted puts left in the store (store_sweep), if old enough
 *
 * A point is its manifest; deleting it is deleting that one object. Packs are never
 * rewritten: a pack with a few live chunks stays whole (no repacking yet). Packs that no
 * index object names (a commit that died between its pack and index uploads) are not
 * collected: they cannot be told from the packs of a commit in flight without their age.
 * Memory: the manifests are read one at a time, a split full map's regions (format 2) one
 * region at a time and each region once; what a run holds is a set of packs (live ones,
 * indexed ones), the set of regions read, and the chunks of the packs whose condemnation is
 * due, never the set of every referenced chunk (the chunk index itself, loaded at open,
 * is the repository's one structure of a size in chunks). */
#include "repo/repo-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "repo/vmdesc-internal.h"
#include "common/banned.h"

#define NS_PER_S 1000000000ull
#define KEEP_MAX 1000000u

/* ---- the retention spec ---- */

int prune_keep_parse(const char *spec, struct prune_keep *k)
{
	static const char *const names[] = { "last", "hourly", "daily", "weekly" };
	uint32_t *fields[] = { &k->last, &k->hourly, &k->daily, &k->weekly };
	unsigned seen = 0;
	const char *p = spec;

	memset(k, 0, sizeof(*k));
	if (!p || !*p)
		return -EINVAL;
	for (;;) {
		size_t i, l = 0;
		for (i = 0; i < ARRAY_SIZE(names); i++) {
			l = strlen(names[i]);
			if (!strncmp(p, names[i], l) && p[l] == ':')
				break;
		}
		if (i == ARRAY_SIZE(names) || (seen & (1u << i)))
			return -EINVAL;
		seen |= 1u << i;
		p += l + 1;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		uint32_t v = 0;
		for (; *p >= '0' && *p <= '9'; p++) {
			v = v * 10 + (uint32_t)(*p - '0');
			if (v > KEEP_MAX)
				return -EINVAL;
		}
		*fields[i] = v;
		if (!*p)
			return 0;
		if (*p++ != ',')
			return -EINVAL;
	}
}

/* ---- selection (pure) ---- */

static uint64_t bucket(uint64_t time_ns, int rule)
{
	uint64_t s = time_ns / NS_PER_S;
	switch (rule) {
	case 1: return s / 3600;
	case 2: return s / 86400;
	default: return (s / 86400 + 3) / 7;	/* 1970-01-01 was a Thursday: weeks from Monday */
	}
}

static int cmp_point_id(const void *a, const void *b)
{
	const struct point_info *x = a, *y = b;
	if (x->epoch != y->epoch)
		return x->epoch < y->epoch ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void prune_select(const struct point_info *v, size_t n, const struct prune_keep *k,
		  uint32_t *why)
{
	static const uint32_t bits[] = { PRUNE_LAST, PRUNE_HOURLY, PRUNE_DAILY, PRUNE_WEEKLY };
	uint32_t want[] = { k->last, k->hourly, k->daily, k->weekly }, got[4] = { 0 };
	uint64_t last_b[4] = { 0 };
	bool have[4] = { false };

	memset(why, 0, n * sizeof(*why));
	if (!n)
		return;
	for (size_t i = n; i-- > 0;) {
		if (got[0] < want[0]) {
			why[i] |= PRUNE_LAST;
			got[0]++;
		}
		for (int r = 1; r < 4; r++) {
			uint64_t b = bucket(v[i].time_ns, r);
			if (have[r] && b == last_b[r])
				continue;	/* an older point of a bucket already met */
			have[r] = true;
			last_b[r] = b;
			if (got[r] < want[r]) {
				why[i] |= bits[r];
				got[r]++;
			}
		}
	}
	why[n - 1] |= PRUNE_NEWEST;
	for (size_t i = n; i-- > 0;)
		if (v[i].flags & POINT_CONSISTENT) {
			why[i] |= PRUNE_CONSISTENT;
			break;
		}
	/* newest first, so that a parent marked here is itself looked at later */
	for (size_t i = n; i-- > 0;) {
		if (!why[i] || (v[i].flags & POINT_FULL) || v[i].parent_seq == 0)
			continue;
		struct point_info key = { .epoch = v[i].epoch, .seq = v[i].parent_seq };
		const struct point_info *p = bsearch(&key, v, i, sizeof(*v), cmp_point_id);
		if (p)
			why[p - v] |= PRUNE_DEPENDENCY;
	}
}

/* ---- store listings ---- */

static const struct obj *find_pack(const struct objs *packs, const uint8_t *pack)
{
	char key[64];
	pack_key(pack, key, sizeof(key));
	return objs_find(packs, key);
}

/* packs/<xx>/<32 hex> -> the pack id. */
static bool pack_id_of(const char *key, uint8_t pack[PACK_ID_LEN])
{
	const char *h = strrchr(key, '/');
	if (strncmp(key, "packs/", 6) || !h || strlen(h + 1) != PACK_ID_HEX_LEN)
		return false;
	for (unsigned i = 0; i < PACK_ID_LEN; i++) {
		unsigned v;
		if (sscanf(h + 1 + 2 * i, "%2x", &v) != 1)
			return false;
		pack[i] = (uint8_t)v;
	}
	return true;
}

/* domains/<d>/epochs/<e>/points/<seq:16> */
static bool parse_point_key(const char *key, char *dom, uint32_t *epoch, uint64_t *seq)
{
	unsigned long long e, q;
	int n = 0;
	char d[REPO_NAME_MAX + 2];
	const char *s;
	if (sscanf(key, "domains/%64[^/]/epochs/%llu/points/%llu%n", d, &e, &q, &n) != 3 ||
	    key[n] || e > UINT32_MAX || !(s = strrchr(key, '/')) || strlen(s + 1) != 16 ||
	    !name_ok(d))
		return false;
	memcpy(dom, d, strlen(d) + 1);
	*epoch = (uint32_t)e;
	*seq = q;
	return true;
}

/* ---- a run ---- */

struct run {
	struct repo *r;
	const struct prune_opts *o;
	struct prune_stats *st;
	char *err;
	size_t errlen;
};

/* The store's own words for a failure (which request, what the server said). */
static const char *serr(const struct run *pr, int rc)
{
	return store_strerror(repo_store(pr->r), rc);
}

static int step(struct run *pr, enum prune_step s, const char *key)
{
	if (pr->o->hook && pr->o->hook(pr->o->hook_arg, s, key)) {
		repo_err(pr->err, pr->errlen, "stopped before %s", key);
		return -ECANCELED;
	}
	return 0;
}

/* A set of pack ids (a chunk index keyed by the pack id, zero-padded: pack ids are random,
 * so their first 8 bytes hash well). One entry per pack, however many chunks name it. */
static int set_add(struct chunk_index *set, const uint8_t pack[PACK_ID_LEN])
{
	static const struct chunk_loc none;
	uint8_t key[CHUNK_ID_LEN] = { 0 };
	memcpy(key, pack, PACK_ID_LEN);
	int rc = index_claim(set, key, &none);
	return rc < 0 ? rc : 0;
}

static bool set_has(struct chunk_index *set, const uint8_t pack[PACK_ID_LEN])
{
	uint8_t key[CHUNK_ID_LEN] = { 0 };
	memcpy(key, pack, PACK_ID_LEN);
	return index_lookup(set, key, NULL);
}

/* Called for every chunk id a manifest names, map regions and their chunks included. */
typedef int ref_fn(struct run *pr, const uint8_t *id, void *arg);

struct walk {
	struct run *pr;
	ref_fn *fn;
	void *arg;
	struct chunk_index regions;	/* read already: full points share most of theirs */
};

static int walk_extents(struct walk *wk, const struct disk_extent *e, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		if (e[i].kind == EXTENT_DATA)
			rc = wk->fn(wk->pr, e[i].id, wk->arg);
	return rc;
}

/* A map region: its own id, then (once per region) the chunks it names. A full point
 * committed after this run read the index names a region the index does not have yet:
 * the index is read again (what writers added since) before the region counts as
 * unreadable. */
static int walk_region(struct walk *wk, const struct region_ref *ref, uint64_t disk_size,
		       const char *key)
{
	static const struct chunk_loc none;
	struct disk_extent *e;
	size_t n;
	char err[512] = "";
	int rc = 0;
	if (!index_lookup(&wk->pr->r->index, ref->id, NULL) &&
	    (rc = index_refresh(wk->pr->r, NULL, NULL)) < 0) {
		repo_err(wk->pr->err, wk->pr->errlen, "cannot refresh the index: %s",
			 serr(wk->pr, rc));
		return rc;
	}
	if ((rc = wk->fn(wk->pr, ref->id, wk->arg)) == 0)
		rc = index_claim(&wk->regions, ref->id, &none);
	if (rc <= 0)
		return rc;
	if ((rc = region_read(wk->pr->r, ref, disk_size, &e, &n, err, sizeof(err))) < 0) {
		repo_err(wk->pr->err, wk->pr->errlen, "%s: %s (nothing is deleted while a map "
			 "cannot be read; run ferryctl verify)", key, err);
		return rc;
	}
	rc = walk_extents(wk, e, n);
	free(e);
	return rc;
}

/* Every chunk that any manifest of the repository names (all domains), through fn: the
 * memory this takes is one manifest and one map region at a time, plus the set of map
 * regions seen. A manifest gone meanwhile is skipped; one that cannot be read, or a map
 * region, stops the run. */
static int walk_refs(struct run *pr, ref_fn *fn, void *arg)
{
	struct objs keys = { 0 };
	struct walk wk = { .pr = pr, .fn = fn, .arg = arg };
	int rc = index_init(&wk.regions);
	if (rc == 0 && (rc = store_list(pr->r->st, "domains/", objs_collect, &keys)) < 0)
		repo_err(pr->err, pr->errlen, "cannot list the points: %s", serr(pr, rc));
	for (size_t k = 0; k < keys.n && rc == 0; k++) {
		char dom[REPO_NAME_MAX + 1], err[512];
		uint32_t epoch;
		uint64_t seq;
		struct manifest m;
		if (!parse_point_key(keys.v[k].key, dom, &epoch, &seq))
			continue;
		rc = manifest_load(pr->r, dom, epoch, seq, &m, err, sizeof(err));
		if (rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (rc < 0) {
			repo_err(pr->err, pr->errlen, "%s (nothing is deleted while a manifest "
				 "cannot be read; run ferryctl verify)", err);
			break;
		}
		for (size_t d = 0; d < m.ndisks && rc == 0; d++) {
			rc = walk_extents(&wk, m.disks[d].ext, m.disks[d].n);
			for (size_t i = 0; i < m.disks[d].nreg && rc == 0; i++)
				rc = walk_region(&wk, &m.disks[d].reg[i], m.disks[d].size,
						 keys.v[k].key);
		}
		manifest_release(&m);
	}
	objs_release(&keys);
	index_release(&wk.regions);
	return rc;
}

static int put_marks(struct run *pr, int kind, const struct pack_mark *m, size_t n)
{
	struct dbuf b = DBUF_INIT(REPO_META_MAX);
	uint8_t id[INDEX_ID_LEN];
	char key[64];
	int rc = index_new_key(key, sizeof(key), id);
	if (rc == 0)
		rc = index_marks_encode(kind, m, n, &b);
	if (rc == 0)
		rc = step(pr, kind == INDEX_KIND_CONDEMN ? PRUNE_STEP_CONDEMN : PRUNE_STEP_RESCUE,
			  key);
	if (rc == 0 && (rc = repo_put_meta(pr->r, key, b.data, b.len)) < 0)
		repo_err(pr->err, pr->errlen, "%s: %s", key, serr(pr, rc));
	dbuf_release(&b);
	if (rc == 0 && (rc = index_refresh(pr->r, NULL, NULL)) < 0)	/* read our own marks */
		repo_err(pr->err, pr->errlen, "cannot read the index back: %s", serr(pr, rc));
	return rc;
}

/* The chunks of the condemned packs due for deletion: chunk id -> its pack (in loc). */
static int condemned_chunks(struct run *pr, const struct obj *o, struct chunk_index *cc,
			    bool *unreadable)
{
	struct pack_entry *e;
	size_t n;
	int rc = pack_read_index(pr->r, o->key, o->size, &e, &n);
	*unreadable = false;
	if (rc == -ENOMEM || rc == -EIO) {
		repo_err(pr->err, pr->errlen, "%s: %s", o->key, serr(pr, rc));
		return rc;
	}
	if (rc < 0) {
		*unreadable = true;	/* what it holds is unknown, so it stays */
		return 0;
	}
	struct chunk_loc loc = { 0 };
	if (!pack_id_of(o->key, loc.pack)) {
		free(e);
		*unreadable = true;
		return 0;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = index_add(cc, e[i].id, &loc);
	free(e);
	return rc;
}

struct need_ctx {
	struct chunk_index *cc;		/* chunks of the due condemned packs */
	struct chunk_index *named;	/* those of them a manifest names */
	struct chunk_index *needed;	/* packs that must stay */
	struct chunk_index *index;	/* the repository's, refreshed */
	int err;
};

/* walk_refs: a chunk a manifest names that a due condemned pack holds. */
static int keep_named(struct run *pr, const uint8_t *id, void *arg)
{
	struct need_ctx *nc = arg;
	struct chunk_loc loc;
	(void)pr;
	return index_lookup(nc->cc, id, &loc) ? index_add(nc->named, id, &loc) : 0;
}

/* After the refresh: a named chunk that no other pack holds makes its pack needed. */
static void mark_needed(void *arg, const uint8_t *id, const struct chunk_loc *loc)
{
	struct need_ctx *nc = arg;
	if (!nc->err && !index_lookup(nc->index, id, NULL))
		nc->err = set_add(nc->needed, loc->pack);
}

/* Phase 2 of every condemnation older than the grace delay. */
static int carry_out(struct run *pr)
{
	struct objs packs = { 0 };
	struct pack_mark *c = NULL, *resc = NULL;
	const struct obj **del = NULL;
	size_t nc = 0, nd = 0, nr = 0, ndel = 0;
	struct chunk_index cc, needed;
	bool *unreadable = NULL;
	uint64_t now = now_real_ns();
	int rc = index_init(&cc);
	if (rc == 0 && (rc = index_init(&needed)) < 0)
		index_release(&cc);
	if (rc < 0)
		return rc;

	if (rc == 0)
		rc = index_condemnations(pr->r, &c, &nc);
	if (rc == 0 && nc && (rc = objs_list_sorted(pr->r->st, "packs/", &packs)) < 0)
		repo_err(pr->err, pr->errlen, "cannot list the packs: %s", serr(pr, rc));
	for (size_t i = 0; i < nc && rc == 0; i++) {	/* keep the due ones still there */
		if (!find_pack(&packs, c[i].pack))
			continue;
		if (c[i].time_ns > now || now - c[i].time_ns < pr->o->grace_ns)
			continue;
		c[nd++] = c[i];
	}
	if (nd == 0)
		goto out;
	resc = calloc(nd, sizeof(*resc));
	del = calloc(nd, sizeof(*del));
	unreadable = calloc(nd, sizeof(*unreadable));
	if (!resc || !del || !unreadable) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nd && rc == 0; i++)
		rc = condemned_chunks(pr, find_pack(&packs, c[i].pack), &cc, &unreadable[i]);
	/* the manifests first, then new index objects: a chunk stored again elsewhere by a
	 * writer that saw the condemnation is then known to be elsewhere */
	struct chunk_index named;
	if (rc == 0 && (rc = index_init(&named)) == 0) {
		struct need_ctx nx = { &cc, &named, &needed, &pr->r->index, 0 };
		rc = walk_refs(pr, keep_named, &nx);
		if (rc == 0 && (rc = index_refresh(pr->r, NULL, NULL)) < 0)
			repo_err(pr->err, pr->errlen, "cannot refresh the index: %s", serr(pr, rc));
		if (rc == 0) {
			if ((rc = index_each(&named, mark_needed, &nx)) == 0)
				rc = nx.err;
		}
		index_release(&named);
	}
	for (size_t i = 0; i < nd && rc == 0; i++) {
		if (unreadable[i] || set_has(&needed, c[i].pack)) {
			resc[nr] = c[i];
			resc[nr++].time_ns = now;
		} else {
			del[ndel++] = find_pack(&packs, c[i].pack);
		}
	}
	/* rescues go up before any delete: a crash in between leaves only fewer deletes */
	if (rc == 0 && nr && (rc = put_marks(pr, INDEX_KIND_RESCUE, resc, nr)) == 0)
		pr->st->packs_rescued += nr;
	for (size_t i = 0; i < ndel && rc == 0; i++) {
		if ((rc = step(pr, PRUNE_STEP_DELETE_PACK, del[i]->key)) < 0)
			break;
		rc = store_del(pr->r->st, del[i]->key);
		if (rc == -ENOENT)
			rc = 0;
		else if (rc < 0)
			repo_err(pr->err, pr->errlen, "cannot delete %s: %s", del[i]->key,
				 serr(pr, rc));
		else {
			pr->st->packs_deleted++;
			pr->st->bytes_deleted += del[i]->size;
		}
	}
out:
	if (rc == -ENOMEM && pr->err && !pr->err[0])
		repo_err(pr->err, pr->errlen, "out of memory");
	index_release(&cc);
	index_release(&needed);
	free(unreadable);
	free(c);
	free(resc);
	free(del);
	objs_release(&packs);
	return rc;
}

/* One delete step: the hook, then the delete (an object already gone is fine); *count++
 * when it was deleted. */
static int del_obj(struct run *pr, enum prune_step s, const char *key, size_t *count)
{
	int rc = step(pr, s, key);
	if (rc == 0 && (rc = store_del(pr->r->st, key)) == 0)
		(*count)++;
	if (rc == -ENOENT)
		rc = 0;
	else if (rc < 0 && rc != -ECANCELED)
		repo_err(pr->err, pr->errlen, "cannot delete %s: %s", key, serr(pr, rc));
	return rc;
}

/* Delete the VM sets (repo/vmdesc.c) that none of the domain's kept points needs: every
 * kept point keeps the newest set at or before it, and the newest set stays for the
 * points to come. Runs after the points' deletes, so a crash leaves only more sets. */
static int expire_vm_sets(struct run *pr, const char *domain, const struct point_info *v,
			  size_t n, const uint32_t *why)
{
	uint64_t *t = NULL, *pt = calloc(n ? n : 1, sizeof(*pt));
	size_t nt = 0, np = 0;
	bool *keep = NULL;
	int rc = pt ? vmset_list(pr->r, domain, &t, &nt) : -ENOMEM;
	if (rc < 0 && rc != -ENOMEM)
		repo_err(pr->err, pr->errlen, "domain '%s': cannot list its VM sets: %s", domain,
			 serr(pr, rc));
	if (rc == 0 && !(keep = calloc(nt ? nt : 1, sizeof(*keep))))
		rc = -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++)
		if (why[i])
			pt[np++] = v[i].time_ns;
	if (rc == 0)
		vmset_select(t, nt, pt, np, keep);
	for (size_t i = 0; i < nt && rc == 0; i++) {
		char key[STORE_KEY_MAX];
		if (keep[i])
			continue;
		vmset_key(domain, t[i], key, sizeof(key));
		rc = del_obj(pr, PRUNE_STEP_DELETE_VMS, key, &pr->st->vm_sets_deleted);
	}
	free(keep);
	free(pt);
	free(t);
	return rc;
}

/* Delete the expired points of one domain, newest first, then the VM sets no kept point
 * needs. */
static int expire(struct run *pr, const struct prune_policy *pol)
{
	struct point_info *v;
	size_t n;
	int rc = repo_list_points(pr->r, pol->domain, &v, &n);
	if (rc < 0) {
		repo_err(pr->err, pr->errlen, "domain '%s': %s", pol->domain, rc == -EINVAL ?
			 "bad domain name" : rc == -EBADMSG ? "a manifest is corrupt (run ferryctl "
			 "verify)" : serr(pr, rc));
		return rc;
	}
	uint32_t *why = calloc(n ? n : 1, sizeof(*why));
	if (!why) {
		free(v);
		return -ENOMEM;
	}
	prune_select(v, n, &pol->keep, why);
	for (size_t i = n; i-- > 0 && rc == 0;) {
		char key[STORE_KEY_MAX];
		if (why[i]) {
			pr->st->points_kept++;
			continue;
		}
		point_key(pol->domain, v[i].epoch, v[i].seq, key, sizeof(key));
		rc = del_obj(pr, PRUNE_STEP_DELETE_POINT, key, &pr->st->points_deleted);
	}
	if (rc == 0)
		rc = expire_vm_sets(pr, pol->domain, v, n, why);
	free(why);
	free(v);
	return rc;
}

struct set_ctx {
	struct repo *r;
	struct chunk_index *set;
	int err;
};

static void add_indexed(void *arg, const uint8_t *id, const struct chunk_loc *loc)
{
	struct set_ctx *sc = arg;
	(void)id;
	if (!sc->err)
		sc->err = set_add(sc->set, loc->pack);
}

/* walk_refs: the pack the chunk index locates a named chunk in is live. */
static int add_live(struct run *pr, const uint8_t *id, void *arg)
{
	struct chunk_loc loc;
	return index_lookup(&pr->r->index, id, &loc) ? set_add(arg, loc.pack) : 0;
}

/* Phase 1: condemn the indexed packs that hold no chunk a remaining manifest names (by
 * the chunk index's location of each chunk: any other copy is a duplicate). Memory: a
 * set of packs, not of chunks. */
static int condemn(struct run *pr)
{
	struct objs packs = { 0 };
	struct pack_mark *m = NULL;
	struct chunk_index live, indexed;
	size_t nm = 0;
	int rc = index_init(&live);
	if (rc < 0)
		return rc;
	if ((rc = index_init(&indexed)) < 0) {
		index_release(&live);
		return rc;
	}
	/* the candidates: packs the index knew before the walk (a region read may refresh it
	 * with commits whose manifests the walk did not list) */
	struct set_ctx sc = { pr->r, &indexed, 0 };
	if ((rc = index_each(&pr->r->index, add_indexed, &sc)) == 0)
		rc = sc.err;
	if (rc < 0)
		repo_err(pr->err, pr->errlen, "cannot read the chunk index: %s", strerror(-rc));
	if (rc == 0)
		rc = walk_refs(pr, add_live, &live);
	if (rc == 0 && (rc = objs_list_sorted(pr->r->st, "packs/", &packs)) < 0)
		repo_err(pr->err, pr->errlen, "cannot list the packs: %s", serr(pr, rc));
	if (rc < 0)
		goto out;
	m = calloc(packs.n ? packs.n : 1, sizeof(*m));
	if (!m) {
		rc = -ENOMEM;
		goto out;
	}
	uint64_t now = now_real_ns();
	for (size_t i = 0; i < packs.n; i++) {
		uint8_t pack[PACK_ID_LEN];
		if (!pack_id_of(packs.v[i].key, pack) || !set_has(&indexed, pack) ||
		    set_has(&live, pack) || index_condemned(pr->r, pack, NULL))
			continue;
		memcpy(m[nm].pack, pack, PACK_ID_LEN);
		m[nm++].time_ns = now;
	}
	if (nm && (rc = put_marks(pr, INDEX_KIND_CONDEMN, m, nm)) == 0)
		pr->st->packs_condemned += nm;
out:
	if (rc == -ENOMEM && pr->err && !pr->err[0])
		repo_err(pr->err, pr->errlen, "out of memory");
	index_release(&live);
	index_release(&indexed);
	free(m);
	objs_release(&packs);
	return rc;
}

/* Packs and bytes in the store; with pending, also how many of them are condemned. */
static int count_packs(struct run *pr, size_t *n, uint64_t *bytes, size_t *pending)
{
	struct objs packs = { 0 };
	struct pack_mark *c = NULL;
	size_t nc = 0;
	int rc = objs_list_sorted(pr->r->st, "packs/", &packs);
	*n = packs.n;
	*bytes = 0;
	for (size_t i = 0; i < packs.n; i++)
		*bytes += packs.v[i].size;
	if (rc < 0)
		repo_err(pr->err, pr->errlen, "cannot list the packs: %s", serr(pr, rc));
	if (rc == 0 && pending && (rc = index_condemnations(pr->r, &c, &nc)) == 0) {
		*pending = 0;
		for (size_t i = 0; i < nc; i++)
			*pending += find_pack(&packs, c[i].pack) != NULL;
	}
	free(c);
	objs_release(&packs);
	return rc;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / NS_PER_S), (long)(ns % NS_PER_S) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int repo_prune(struct repo *r, const struct prune_opts *o, struct prune_stats *st, char *err,
	       size_t errlen)
{
	struct run pr = { r, o, st, err, errlen };
	int rc;

	memset(st, 0, sizeof(*st));
	if (err && errlen)
		err[0] = '\0';
	for (size_t i = 0; i < o->n_policies; i++)
		if (!name_ok(o->policies[i].domain)) {
			repo_err(err, errlen, "bad domain name '%s'", o->policies[i].domain);
			return -EINVAL;
		}
	if ((rc = count_packs(&pr, &st->packs_before, &st->bytes_before, NULL)) < 0)
		return rc;
	/* see what writers did since this handle was opened */
	if ((rc = index_refresh(r, NULL, NULL)) < 0) {
		repo_err(err, errlen, "cannot refresh the index: %s", store_strerror(repo_store(r), rc));
		return rc;
	}
	if ((rc = carry_out(&pr)) < 0)
		return rc;
	for (size_t i = 0; i < o->n_policies && rc == 0; i++)
		rc = expire(&pr, &o->policies[i]);
	if (rc == 0)
		rc = condemn(&pr);
	if (rc == 0 && o->wait && st->packs_condemned) {
		sleep_ns(o->grace_ns);
		rc = carry_out(&pr);
	}
	if (rc == 0)
		rc = count_packs(&pr, &st->packs_after, &st->bytes_after, &st->packs_pending);
	/* a store that cannot sweep (no right to list uploads, say) still prunes */
	if (rc == 0 && o->sweep &&
	    (st->sweep_err = store_sweep(repo_store(r), o->sweep_age_ns,
					 &st->leftovers_removed)) < 0)
		snprintf(st->sweep_detail, sizeof(st->sweep_detail), "%s",
			 store_strerror(repo_store(r), st->sweep_err));
	return rc;
}
