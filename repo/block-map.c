/* The reading side of the repository: list and resolve points, build a disk's block map
 * at a point, list a point's disks, read chunks.
 *
 * A disk's map at point p is the full map of the nearest full point at or before p
 * (found by walking parent_seq back from p), with the deltas after it applied in order
 * (map_apply). A disk not named by a delta keeps its previous size and map. Nothing is
 * cached: each call reads the manifests again (at most REPO_FULL_MAP_EVERY of them when
 * the writer keeps its rhythm), which is cheap next to the chunk reads of a restore.
 * (Restoring a disk from its map: repo/restore-pipe.c and the restore library, restore/.) */
#include "repo/repo-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/array.h"
#include "common/strnum.h"
#include "common/util.h"
#include "common/banned.h"


/* ---- listing ---- */

struct list_ctx {
	size_t plen;
	struct point_info *v;
	size_t n, cap;
	int err;
};

/* key = <prefix>EPOCH/points/SEQ (16 digits) */
static int collect_point(void *arg, const char *key, uint64_t size)
{
	(void)size;
	struct list_ctx *lc = arg;
	const char *s = key + lc->plen, *slash = strchr(s, '/');
	uint64_t e, q;
	if (!slash || !parse_u64(s, (size_t)(slash - s), &e) || e > UINT32_MAX ||
	    strncmp(slash, "/points/", 8) || strlen(slash + 8) != 16 ||
	    !parse_u64(slash + 8, 16, &q) || q == 0)
		return 0;	/* not a manifest (room for other per-domain objects) */
	struct point_info p = { .epoch = (uint32_t)e, .seq = q };
	return ARRAY_PUSH(lc->v, lc->n, lc->cap, p);
}

static int cmp_point(const void *a, const void *b)
{
	const struct point_info *x = a, *y = b;
	if (x->epoch != y->epoch)
		return x->epoch < y->epoch ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int repo_list_points(struct repo *r, const char *domain, struct point_info **out, size_t *n)
{
	char prefix[STORE_KEY_MAX];
	struct list_ctx lc = { 0 };
	*out = NULL;
	*n = 0;
	if (!name_ok(domain))
		return -EINVAL;
	snprintf(prefix, sizeof(prefix), "domains/%s/epochs/", domain);
	lc.plen = strlen(prefix);
	int rc = store_list(r->st, prefix, collect_point, &lc);
	for (size_t i = 0; i < lc.n && rc == 0; i++) {
		char key[STORE_KEY_MAX];
		void *plain;
		size_t len;
		struct point_info pi;
		point_key(domain, lc.v[i].epoch, lc.v[i].seq, key, sizeof(key));
		rc = repo_get_meta(r, key, &plain, &len);
		if (rc < 0)
			break;
		rc = manifest_decode_info(plain, len, &pi);
		free(plain);
		if (rc == 0 && (pi.epoch != lc.v[i].epoch || pi.seq != lc.v[i].seq ||
				strcmp(pi.domain, domain)))
			rc = -EBADMSG;
		if (rc == 0)
			lc.v[i] = pi;
	}
	if (rc < 0) {
		free(lc.v);
		return rc;
	}
	if (lc.n)	/* qsort(NULL, 0) is undefined */
		qsort(lc.v, lc.n, sizeof(*lc.v), cmp_point);
	*out = lc.v;
	*n = lc.n;
	return 0;
}

/* ---- domains ---- */

struct domain_list {
	char **v;
	size_t n, cap;
};

/* key = domains/<d>/epochs/<e>/points/<seq> or domains/<d>/vms/<time> (a VM set stored
 * before the domain's first point): keys come sorted, so a new name differs from the last
 * one added */
static int collect_domain(void *arg, const char *key, uint64_t size)
{
	(void)size;
	struct domain_list *dl = arg;
	const char *d = key + strlen("domains/"), *slash = strchr(d, '/');
	size_t len = slash ? (size_t)(slash - d) : 0;
	if (!len || len > REPO_NAME_MAX ||
	    (strncmp(slash, "/epochs/", 8) && strncmp(slash, "/vms/", 5)))
		return 0;
	if (dl->n && strlen(dl->v[dl->n - 1]) == len && !strncmp(dl->v[dl->n - 1], d, len))
		return 0;
	char *name = strndup(d, len);
	if (name && !name_ok(name)) {
		free(name);
		return 0;
	}
	if (!name || ARRAY_PUSH(dl->v, dl->n, dl->cap, name) < 0) {
		free(name);
		return -ENOMEM;
	}
	return 0;
}

int repo_list_domains(struct repo *r, char ***names, size_t *n)
{
	struct domain_list dl = { 0 };
	int rc = store_list(r->st, "domains/", collect_domain, &dl);
	if (rc < 0) {
		repo_names_free(dl.v, dl.n);
		return rc;
	}
	*names = dl.v;
	*n = dl.n;
	return 0;
}

void repo_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* "YYYY-MM-DDTHH:MM:SS" with an optional "Z": seconds since the epoch, UTC. */
static int parse_time(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || (*end && strcmp(end, "Z")))
		return -EINVAL;
	*out = (int64_t)timegm(&tm);
	return 0;
}

int repo_resolve_point(struct repo *r, const char *domain, const char *spec,
		       struct point_info *out, char *err, size_t errlen)
{
	struct point_info *v;
	size_t n;
	int64_t t = 0;
	uint64_t e = 0, q = 0;
	const char *dot = strchr(spec, '.');
	enum { LATEST, SEQ, EPOCH_SEQ, TIME } kind;

	if (!strcmp(spec, "latest"))
		kind = LATEST;
	else if (parse_u64(spec, strlen(spec), &q))
		kind = SEQ;
	else if (dot && parse_u64(spec, (size_t)(dot - spec), &e) &&
		 parse_u64(dot + 1, strlen(dot + 1), &q))
		kind = EPOCH_SEQ;
	else if (parse_time(spec, &t) == 0)
		kind = TIME;
	else {
		repo_err(err, errlen, "bad point '%s' (expected latest, SEQ, EPOCH.SEQ or "
			 "YYYY-MM-DDTHH:MM:SSZ)", spec);
		return -EINVAL;
	}
	int rc = repo_list_points(r, domain, &v, &n);
	if (rc < 0) {
		repo_err(err, errlen, "cannot list points of domain '%s': %s", domain,
			 rc == -EBADMSG ? "a manifest is corrupt (run ferryctl verify)" :
			 store_strerror(repo_store(r), rc));
		return rc;
	}
	const struct point_info *found = NULL;
	uint32_t last_epoch = n ? v[n - 1].epoch : 0;
	for (size_t i = n; i-- > 0 && !found;) {
		const struct point_info *p = &v[i];
		bool cons = p->flags & POINT_CONSISTENT;
		switch (kind) {
		case LATEST: found = cons ? p : NULL; break;
		case SEQ: found = p->epoch == last_epoch && p->seq == q ? p : NULL; break;
		case EPOCH_SEQ: found = p->epoch == e && p->seq == q ? p : NULL; break;
		case TIME:
			found = cons && t >= 0 && p->time_ns / 1000000000u <= (uint64_t)t ? p : NULL;
			break;
		}
	}
	if (found)
		*out = *found;
	else
		repo_err(err, errlen, "no point '%s' in domain '%s'%s", spec, domain,
			 kind == LATEST || kind == TIME ? " (no consistent point)" : "");
	free(v);
	return found ? 0 : -ENOENT;
}

/* ---- maps ---- */

void chain_release(struct chain *c)
{
	for (size_t i = 0; i < c->n; i++)
		manifest_release(&c->m[i]);
	free(c->m);
	c->m = NULL;
	c->n = 0;
}

int load_chain(struct repo *r, const struct point_info *p, struct chain *c, char *err,
	       size_t errlen)
{
	size_t cap = 0;
	uint64_t seq = p->seq;
	int rc = 0;
	c->m = NULL;
	c->n = 0;
	for (;;) {
		if (c->n == REPO_MAX_CHAIN) {
			repo_err(err, errlen, "domain %s epoch %" PRIu32 " point %" PRIu64 ": no full "
				 "map within %u points", p->domain, p->epoch, p->seq, REPO_MAX_CHAIN);
			rc = -EBADMSG;
			break;
		}
		if ((rc = ARRAY_RESERVE(c->m, cap, c->n + 1)) < 0)
			break;
		rc = manifest_load(r, p->domain, p->epoch, seq, &c->m[c->n], err, errlen);
		if (rc < 0)
			break;
		const struct point_info *pi = &c->m[c->n++].info;
		if (pi->flags & POINT_FULL)
			break;
		if (pi->parent_seq == 0) {
			repo_err(err, errlen, "domain %s epoch %" PRIu32 " point %" PRIu64 ": first "
				 "point of its epoch is not a full point", p->domain, p->epoch, pi->seq);
			rc = -EBADMSG;
			break;
		}
		seq = pi->parent_seq;
	}
	if (rc < 0) {
		chain_release(c);
		return rc;
	}
	for (size_t i = 0; i < c->n / 2; i++) {	/* oldest first */
		struct manifest t = c->m[i];
		c->m[i] = c->m[c->n - 1 - i];
		c->m[c->n - 1 - i] = t;
	}
	return 0;
}

const struct manifest_disk *find_disk(const struct manifest *m, const char *disk)
{
	for (size_t i = 0; i < m->ndisks; i++)
		if (!strcmp(m->disks[i].name, disk))
			return &m->disks[i];
	return NULL;
}

int repo_disk_map(struct repo *r, const struct point_info *p, const char *disk,
		  struct disk_map **out, char *err, size_t errlen)
{
	struct chain c;
	*out = NULL;
	if (!name_ok(disk) || !name_ok(p->domain)) {
		repo_err(err, errlen, "bad disk or domain name");
		return -EINVAL;
	}
	int rc = load_chain(r, p, &c, err, errlen);
	if (rc < 0)
		return rc;
	struct disk_map *m = calloc(1, sizeof(*m));
	if (!m) {
		chain_release(&c);
		return -ENOMEM;
	}
	snprintf(m->disk, sizeof(m->disk), "%s", disk);
	bool present = false;
	for (size_t i = 0; i < c.n && rc == 0; i++) {
		const struct manifest_disk *md = find_disk(&c.m[i], disk);
		if (!md)
			continue;
		present = true;
		m->size = md->size;
		if (md->has_regions)	/* a split full map (format 2): every region, in order */
			rc = regions_load_all(r, md, &m->ext, &m->n, err, errlen);
		else
			rc = map_apply(&m->ext, &m->n, md->ext, md->n, md->size);
	}
	chain_release(&c);
	if (rc == 0 && !present) {
		repo_err(err, errlen, "no disk '%s' in point %" PRIu32 ".%" PRIu64 " of domain %s",
			 disk, p->epoch, p->seq, p->domain);
		rc = -ENOENT;
	}
	if (rc < 0) {
		disk_map_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void disk_map_free(struct disk_map *m)
{
	if (!m)
		return;
	free(m->ext);
	free(m);
}

static int add_name(char ***names, size_t *n, size_t *cap, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*names)[i], s))
			return 0;
	char *name = strdup(s);
	if (!name || ARRAY_PUSH(*names, *n, *cap, name) < 0) {
		free(name);
		return -ENOMEM;
	}
	return 0;
}

int repo_point_disks(struct repo *r, const struct point_info *p, char ***names, size_t *n)
{
	struct chain c;
	size_t cap = 0;
	*names = NULL;
	*n = 0;
	if (!name_ok(p->domain))
		return -EINVAL;
	int rc = load_chain(r, p, &c, NULL, 0);
	for (size_t i = 0; i < c.n && rc == 0; i++)
		for (size_t d = 0; d < c.m[i].ndisks && rc == 0; d++)
			rc = add_name(names, n, &cap, c.m[i].disks[d].name);
	chain_release(&c);
	if (rc < 0) {
		for (size_t i = 0; i < *n; i++)
			free((*names)[i]);
		free(*names);
		*names = NULL;
		*n = 0;
	}
	return rc;
}

/* ---- chunks ---- */

int repo_refresh(struct repo *r)
{
	return index_refresh(r, NULL, NULL);
}

int repo_read_chunk(struct repo *r, const uint8_t id[CHUNK_ID_LEN], void *buf, uint32_t len)
{
	struct chunk_loc loc;
	struct frame_buf fb = FRAME_BUF_INIT;
	char key[64];
	size_t zlen;
	if (!index_lookup(&r->index, id, &loc))
		return -ENOENT;
	if (loc.plain_len != len)
		return -EBADMSG;
	void *blob = malloc(loc.blob_len);
	if (!blob)
		return -ENOMEM;
	pack_key(loc.pack, key, sizeof(key));
	int rc = store_get_range(r->st, key, loc.off, loc.blob_len, blob);
	if (rc == -EINVAL)
		rc = -EBADMSG;	/* the pack is shorter than the index says */
	if (rc == 0) {
		struct blob_ctx *cx = repo_cx_get(r);
		rc = cx ? frame_read(cx, &fb, blob, &loc, id, buf, NULL, 0, &zlen) : -ENOMEM;
		repo_cx_put(r, cx);
	}
	frame_buf_release(&fb);
	free(blob);
	return rc;
}
