/* Writing a point's index deltas (docs/repo-format.md section 9): every entry of a chunk
 * index, sorted by (pack, offset, frame offset) so that a commit always produces the same
 * bytes, cut into objects of at most `per` entries.
 *
 * A table in RAM is sorted through an array of record numbers (4 bytes an entry). A
 * spilled table (repo/index-table.c: its records in a scratch file) is not sorted record by
 * record, which would read the file at random: it is cut into runs of consecutive records
 * of one pack at increasing offsets, the runs are sorted by pack, and each is read in
 * order. A point writer's chunks are such runs, one per pack (it fills one pack at a time,
 * at increasing offsets), so the result is fully sorted; a table that is not (a pack in two
 * runs) is still written whole and deterministically, run by run. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/util.h"
#include "common/banned.h"

/* The object being filled. */
struct delta_out {
	int version;
	size_t per, n;
	struct dbuf b;
	int (*put)(void *arg, const void *plain, size_t len);
	void *arg;
};

static int out_flush(struct delta_out *o)
{
	if (!o->n)
		return 0;
	put_le32(o->b.data + 8, (uint32_t)o->n);
	int rc = o->put(o->arg, o->b.data, o->b.len);
	o->b.len = 0;
	o->n = 0;
	return rc;
}

static int out_add(struct delta_out *o, const struct index_rec *x)
{
	uint8_t e[INDEX_DELTA_ENTRY];
	int rc = 0;
	if (o->n == 0) {
		uint8_t hdr[INDEX_DELTA_HDR] = INDEX_MAGIC;
		hdr[4] = (uint8_t)o->version;
		hdr[5] = INDEX_KIND_ADD;
		rc = dbuf_add(&o->b, hdr, sizeof(hdr));	/* the count is set at flush */
	}
	memcpy(e, x->id, CHUNK_ID_LEN);
	memcpy(e + 32, x->pack, PACK_ID_LEN);
	if (o->version == 1) {
		if (x->foff)	/* version 1 has no frames of several chunks */
			return -EINVAL;
		put_le64(e + 48, x->off);
	} else {
		put_le32(e + 48, x->off);
		put_le32(e + 52, x->foff);
	}
	put_le32(e + 56, x->blob_len);
	put_le32(e + 60, x->plain_len);
	if (rc == 0)
		rc = dbuf_add(&o->b, e, sizeof(e));
	if (rc == 0 && ++o->n == o->per)
		rc = out_flush(o);
	return rc;
}

static int cmp_rec(const struct index_rec *x, const struct index_rec *y)
{
	int c = memcmp(x->pack, y->pack, PACK_ID_LEN);
	if (c)
		return c;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->foff < y->foff ? -1 : x->foff > y->foff;
}

/* ---- a table in RAM ---- */

static int cmp_num(const void *a, const void *b, void *arg)
{
	return cmp_rec(index_rec_at(arg, *(const uint32_t *)a),
		       index_rec_at(arg, *(const uint32_t *)b));
}

static int put_ram(struct chunk_index *ix, struct delta_out *o)
{
	uint32_t *order = malloc((ix->n ? ix->n : 1) * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < ix->n; i++)
		order[i] = (uint32_t)i;
	qsort_r(order, ix->n, sizeof(*order), cmp_num, ix);
	int rc = 0;
	for (size_t i = 0; i < ix->n && rc == 0; i++)
		rc = out_add(o, index_rec_at(ix, order[i]));
	free(order);
	return rc;
}

/* ---- a spilled table: run by run ---- */

struct run {
	struct index_rec first;
	size_t start, n;
};

struct runs {
	struct run *v;
	size_t n, cap;
};

static int cmp_run(const void *a, const void *b)
{
	const struct run *x = a, *y = b;
	int c = cmp_rec(&x->first, &y->first);
	return c ? c : x->start < y->start ? -1 : x->start > y->start;
}

/* Cut records [0, ix->n) into runs. buf: a work buffer of bn records. */
static int find_runs(const struct chunk_index *ix, struct index_rec *buf, size_t bn,
		     struct runs *rs)
{
	struct index_rec last;
	int rc = 0;
	for (size_t at = 0; at < ix->n && rc == 0; at += bn) {
		size_t k = ix->n - at < bn ? ix->n - at : bn;
		rc = index_read_recs(ix, at, k, buf);
		for (size_t j = 0; j < k && rc == 0; j++) {
			if (rs->n && !memcmp(last.pack, buf[j].pack, PACK_ID_LEN) &&
			    cmp_rec(&last, &buf[j]) < 0)
				rs->v[rs->n - 1].n++;
			else
				rc = ARRAY_PUSH(rs->v, rs->n, rs->cap,
						((struct run){ buf[j], at + j, 1 }));
			last = buf[j];
		}
	}
	return rc;
}

static int put_spilled(const struct chunk_index *ix, struct delta_out *o)
{
	const size_t bn = 4096;
	struct index_rec *buf = malloc(bn * sizeof(*buf));
	struct runs rs = { 0 };
	int rc = buf ? find_runs(ix, buf, bn, &rs) : -ENOMEM;
	if (rc == 0)
		qsort(rs.v, rs.n, sizeof(*rs.v), cmp_run);
	for (size_t r = 0; r < rs.n && rc == 0; r++)
		for (size_t at = 0; at < rs.v[r].n && rc == 0; at += bn) {
			size_t k = rs.v[r].n - at < bn ? rs.v[r].n - at : bn;
			rc = index_read_recs(ix, rs.v[r].start + at, k, buf);
			for (size_t j = 0; j < k && rc == 0; j++)
				rc = out_add(o, &buf[j]);
		}
	free(rs.v);
	free(buf);
	return rc;
}

int index_delta_put(struct chunk_index *ix, int version, size_t per,
		    int (*put)(void *arg, const void *plain, size_t len), void *arg)
{
	if ((version != 1 && version != 2) || !per ||
	    per > (REPO_META_MAX - INDEX_DELTA_HDR) / INDEX_DELTA_ENTRY)
		return -EINVAL;
	struct delta_out o = { version, per, 0, DBUF_INIT(REPO_META_MAX), put, arg };
	pthread_rwlock_rdlock(&ix->lock);
	int rc = ix->fd < 0 ? put_ram(ix, &o) : put_spilled(ix, &o);
	if (rc == 0)
		rc = out_flush(&o);
	pthread_rwlock_unlock(&ix->lock);
	dbuf_release(&o.b);
	return rc;
}
