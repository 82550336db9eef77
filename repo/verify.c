/* Verify: check a repository's structure, and with read_data every stored byte.
 *
 *   1. index objects found corrupt while opening (recorded by index_load);
 *   2. every pack: its trailer and pack index decode, blobs back to back up to the index
 *      (with read_data: the whole pack is read and every blob decoded against its id);
 *   3. every chunk index entry points into a pack that exists, within its size;
 *   4. every manifest decodes, names its own point, has its parent (delta points), and
 *      each DATA extent's chunk is in the index, of the extent's length, in a pack that
 *      exists; a split full map's regions (format 2) are read, once each, and their
 *      extents checked the same way;
 *   5. every VM set decodes, and no point lost the set it needs (vmdesc.c).
 * Each problem is reported once per object as "KEY: what" through the callback. Only
 * allocation failures and store listing errors stop the run (-errno). The manifests are
 * listed before the index is read again and the packs last, so that points shipped while
 * verify runs are not taken for damage. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "repo/vmdesc-internal.h"
#include "common/banned.h"

struct vctx {
	struct repo *r;
	repo_report_fn *fn;
	void *arg;
	int problems;
	struct objs packs, manifests;
	struct chunk_index regions;	/* map regions checked already (full points share
					 * most of theirs) */
};

struct ext_counts {
	size_t unknown, lost, badlen;
};

__attribute__((format(printf, 3, 4)))
static void report(struct vctx *v, const char *key, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	v->fn(v->arg, key, what);
	v->problems++;
}

static struct obj *find_pack(struct vctx *v, const uint8_t *pack, char *key, size_t keylen)
{
	pack_key(pack, key, keylen);
	return objs_find(&v->packs, key);
}

/* ---- packs ---- */

static int check_pack_data(struct vctx *v, const struct obj *o, const struct pack_entry *e,
			   size_t n)
{
	void *data;
	size_t len, cap = 0, zlen;
	int rc = store_get(v->r->st, o->key, &data, &len);
	if (rc < 0) {
		report(v, o->key, "cannot read: %s", store_strerror(repo_store(v->r), rc));
		return rc == -ENOMEM ? rc : 0;
	}
	uint8_t *plain = NULL;
	struct frame_buf fb = FRAME_BUF_INIT;
	struct blob_ctx *cx = repo_cx_get(v->r);
	rc = cx ? 0 : -ENOMEM;
	/* each frame is decoded once, however many chunks it holds (frame.c) */
	for (size_t i = 0; i < n && rc == 0; i++) {
		char hex[CHUNK_ID_HEX_LEN + 1];
		/* (fb lives for this pack only: its frames are told apart by offset) */
		struct chunk_loc loc = { .off = e[i].off, .blob_len = e[i].blob_len,
					 .foff = e[i].foff, .plain_len = e[i].plain_len };
		if (e[i].plain_len > cap) {	/* a map region may be larger than a chunk */
			free(plain);
			cap = MAX((size_t)e[i].plain_len, (size_t)REPO_CHUNK_MAX);
			if (!(plain = malloc(cap))) {
				rc = -ENOMEM;
				break;
			}
		}
		int bad = (uint64_t)e[i].off + e[i].blob_len > len ? -EBADMSG :
			frame_read(cx, &fb, (uint8_t *)data + e[i].off, &loc, e[i].id, plain, NULL,
				   0, &zlen);
		if (bad == -ENOMEM) {
			rc = bad;
		} else if (bad < 0) {
			chunk_id_to_hex(e[i].id, hex);
			report(v, o->key, "blob at offset %" PRIu32 " (chunk %s): %s", e[i].off, hex,
			       bad == -EPROTO ? "unsupported (newer format)" : "corrupt");
			break;	/* one report per pack */
		}
	}
	repo_cx_put(v->r, cx);
	frame_buf_release(&fb);
	free(plain);
	free(data);
	return rc;
}

static int check_packs(struct vctx *v, bool read_data)
{
	for (size_t i = 0; i < v->packs.n; i++) {
		struct obj *o = &v->packs.v[i];
		struct pack_entry *e;
		size_t n;
		int rc = pack_read_index(v->r, o->key, o->size, &e, &n);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0) {
			report(v, o->key, "%s", rc == -EPROTO ? "unsupported pack index (newer "
			       "format)" : "corrupt or truncated pack (trailer or pack index)");
			o->reported = true;
			continue;
		}
		if (read_data)
			rc = check_pack_data(v, o, e, n);
		free(e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- index entries ---- */

/* A pack the index names but the store lacks: reported once, remembered in missing. */
static bool pack_missing(struct vctx *v, const uint8_t *pack, struct objs *missing)
{
	char key[64];
	if (find_pack(v, pack, key, sizeof(key)))
		return false;
	for (size_t i = 0; i < missing->n; i++)
		if (!strcmp(missing->v[i].key, key))
			return true;
	report(v, key, "missing pack (the chunk index points into it)");
	objs_collect(missing, key, 0);
	return true;
}

struct entries {
	struct vctx *v;
	struct objs *missing;
	int err;
};

/* One index entry against the pack listing (in memory: nothing here touches the index,
 * which is read-locked meanwhile). */
static void check_entry(void *arg, const uint8_t *id, const struct chunk_loc *loc)
{
	struct entries *en = arg;
	char key[64];
	(void)id;
	if (en->err || pack_missing(en->v, loc->pack, en->missing))
		return;
	struct obj *o = find_pack(en->v, loc->pack, key, sizeof(key));
	if (!o->reported && loc->off + loc->blob_len + PACK_TRAILER_LEN > o->size) {
		report(en->v, key, "shorter than the chunk index says");
		o->reported = true;
	}
}

static int check_index(struct vctx *v, struct objs *missing)
{
	struct entries en = { v, missing, 0 };
	int rc = index_each(&v->r->index, check_entry, &en);
	return rc < 0 ? rc : en.err;
}

/* ---- manifests ---- */

/* domains/<d>/epochs/<e>/points/<seq:16> -> d, e, seq */
static bool parse_point_key(const char *key, char *dom, uint32_t *epoch, uint64_t *seq)
{
	unsigned long long e, q;
	int n = 0;
	char d[REPO_NAME_MAX + 2];
	if (sscanf(key, "domains/%64[^/]/epochs/%llu/points/%llu%n", d, &e, &q, &n) != 3 ||
	    key[n] || e > UINT32_MAX || strlen(strrchr(key, '/') + 1) != 16 || !name_ok(d))
		return false;
	memcpy(dom, d, strlen(d) + 1);	/* name_ok: at most REPO_NAME_MAX */
	*epoch = (uint32_t)e;
	*seq = q;
	return true;
}

static void check_extents(struct vctx *v, const struct disk_extent *e, size_t n,
			  struct objs *missing, struct ext_counts *k)
{
	for (size_t i = 0; i < n; i++) {
		struct chunk_loc loc;
		if (e[i].kind != EXTENT_DATA)
			continue;
		if (!index_lookup(&v->r->index, e[i].id, &loc))
			k->unknown++;
		else if (loc.plain_len != e[i].clen)
			k->badlen++;
		else if (pack_missing(v, loc.pack, missing))
			k->lost++;
	}
}

/* A map region of a full point (once per region however many points name it): in the
 * index, readable, and every chunk it names in a pack that exists. Problems are reported
 * against the manifest that names it. */
static void check_region(struct vctx *v, const char *key, const struct region_ref *ref,
			 uint64_t disk_size, struct objs *missing)
{
	static const struct chunk_loc none;
	struct chunk_loc loc;
	struct disk_extent *e;
	size_t n;
	char err[512] = "";
	if (index_claim(&v->regions, ref->id, &none) != 1)
		return;
	if (index_lookup(&v->r->index, ref->id, &loc) && pack_missing(v, loc.pack, missing)) {
		report(v, key, "map region %" PRIu64 " is in a missing pack", ref->index);
		return;
	}
	if (region_read(v->r, ref, disk_size, &e, &n, err, sizeof(err)) < 0) {
		report(v, key, "%s", err);
		return;
	}
	struct ext_counts k = { 0 };
	check_extents(v, e, n, missing, &k);
	free(e);
	if (k.unknown + k.badlen + k.lost)
		report(v, key, "map region %" PRIu64 ": %zu chunks not in the index, %zu of another "
		       "length, %zu in missing packs", ref->index, k.unknown, k.badlen, k.lost);
}

static void check_manifest(struct vctx *v, const char *key, struct objs *missing)
{
	char dom[REPO_NAME_MAX + 1], err[512], pkey[STORE_KEY_MAX];
	uint32_t epoch;
	uint64_t seq, size;
	struct manifest m;

	if (!parse_point_key(key, dom, &epoch, &seq))
		return;	/* not a manifest */
	if (manifest_load(v->r, dom, epoch, seq, &m, err, sizeof(err)) < 0) {
		const char *what = strstr(err, ": ");
		report(v, key, "%s", what ? what + 2 : err);
		return;
	}
	if (!(m.info.flags & POINT_FULL)) {
		point_key(dom, epoch, m.info.parent_seq, pkey, sizeof(pkey));
		if (store_head(v->r->st, pkey, &size) < 0)
			report(v, key, "parent point %" PRIu64 " is missing", m.info.parent_seq);
	}
	struct ext_counts k = { 0 };
	for (size_t d = 0; d < m.ndisks; d++) {
		check_extents(v, m.disks[d].ext, m.disks[d].n, missing, &k);
		for (size_t i = 0; i < m.disks[d].nreg; i++)
			check_region(v, key, &m.disks[d].reg[i], m.disks[d].size, missing);
	}
	if (k.unknown)
		report(v, key, "%zu chunks are not in the chunk index", k.unknown);
	if (k.badlen)
		report(v, key, "%zu chunks have another length than their extent", k.badlen);
	if (k.lost)
		report(v, key, "%zu chunks are in missing packs", k.lost);
	manifest_release(&m);
}

int repo_verify(struct repo *r, bool read_data, repo_report_fn *fn, void *arg)
{
	struct vctx v = { .r = r, .fn = fn, .arg = arg };
	struct objs missing = { 0 };
	int rc;

	if ((rc = index_init(&v.regions)) < 0)
		return rc;
	/* the manifests, then the index objects, then the packs: writers put them in the
	 * opposite order, so whatever a listed manifest names is in the index, and whatever
	 * the index names was uploaded before the packs are listed, even while they ship */
	rc = store_list(r->st, "domains/", objs_collect, &v.manifests);
	if (rc == 0)
		rc = index_refresh(r, NULL, NULL);
	for (size_t i = 0; rc == 0 && i < r->n_problems; i++)
		report(&v, r->problems[i].key, "%s", r->problems[i].what);
	if (rc == 0)
		rc = objs_list_sorted(r->st, "packs/", &v.packs);
	if (rc == 0)
		rc = check_packs(&v, read_data);
	if (rc == 0)
		rc = check_index(&v, &missing);
	for (size_t i = 0; i < v.manifests.n && rc == 0; i++)
		check_manifest(&v, v.manifests.v[i].key, &missing);
	if (rc == 0 && (rc = vmset_verify(r, fn, arg)) > 0) {
		v.problems += rc;
		rc = 0;
	}
	objs_release(&v.packs);
	objs_release(&v.manifests);
	objs_release(&missing);
	index_release(&v.regions);
	return rc < 0 ? rc : v.problems;
}
