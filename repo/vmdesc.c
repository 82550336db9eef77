/* VM sets in the repository: each domain's VM descriptions, stored next to its points so a
 * recovery site needs nothing but the store and the key (contract: repo/vmdesc.h; bytes:
 * docs/repo-format.md section 14).
 *
 * A set is one metadata blob (zstd, encrypted in an encrypted repository) at
 * domains/<d>/vms/<time:020>. Objects are immutable, so a changed description is a new
 * object with a later time; readers pick the newest set at or before the point they
 * recover, which is the set ferryd had when it cut that point (ferryd stores its set
 * before its first point). Writing compares with the newest stored set first, so a
 * restart with the same configuration writes nothing. */
#include "repo/vmdesc-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/util.h"
#include "repo/repo-internal.h"
#include "common/banned.h"

static const uint8_t MAGIC[4] = { 'F', 'V', 'M', 'S' };
#define HDR_FIXED 24		/* magic, version, reserved, time, prev */
#define VM_MIN_BYTES 17		/* name (1 + 1), cpus, memory, firmware, 2 counts */
#define NIC_MIN_BYTES 19	/* network (1 + 1), mac, mode, addr, prefix, gw, dns count */

/* ---- encoding ---- */

static int put_name(struct dbuf *b, const char *s)
{
	uint8_t n = (uint8_t)strlen(s);
	int rc = dbuf_add(b, &n, 1);
	return rc ? rc : dbuf_add(b, s, n);
}

static int put_u8(struct dbuf *b, uint8_t v)
{
	return dbuf_add(b, &v, 1);
}

static int put_u32(struct dbuf *b, uint32_t v)
{
	uint8_t x[4];
	put_le32(x, v);
	return dbuf_add(b, x, 4);
}

static int put_u64(struct dbuf *b, uint64_t v)
{
	uint8_t x[8];
	put_le64(x, v);
	return dbuf_add(b, x, 8);
}

/* IPv4 addresses as their four octets in order (a.b.c.d) */
static int put_ip(struct dbuf *b, uint32_t v)
{
	uint8_t x[4];
	put_be32(x, v);
	return dbuf_add(b, x, 4);
}

static bool nic_ok(const struct vm_nic *n)
{
	if (!name_ok(n->network) || (n->mac[0] & 1) || n->n_dns > VM_MAX_DNS)
		return false;
	if (n->mode == VM_NIC_DHCP)
		return !n->addr && !n->prefix && !n->gw && !n->n_dns;
	if (n->mode != VM_NIC_STATIC || !n->addr || n->prefix < 1 || n->prefix > 32)
		return false;
	for (size_t i = 0; i < n->n_dns; i++)
		if (!n->dns[i])
			return false;
	return true;
}

static bool vm_ok(const struct vm_desc *v)
{
	if (!name_ok(v->name) || v->cpus == 0 || v->memory_mib == 0 ||
	    v->firmware > VM_FIRMWARE_UEFI || v->n_disks > VM_MAX_DISKS || v->n_nics > VM_MAX_NICS)
		return false;
	for (size_t i = 0; i < v->n_disks; i++)
		if (!name_ok(v->disks[i]))
			return false;
	for (size_t i = 0; i < v->n_nics; i++)
		if (!nic_ok(&v->nics[i]))
			return false;
	return true;
}

/* VM names and MACs are unique within a set */
static bool set_unique(const struct vm_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j <= i; j++) {
			if (j < i && !strcmp(s->vms[i].name, s->vms[j].name))
				return false;
			for (size_t a = 0; a < s->vms[i].n_nics; a++)
				for (size_t b = 0; b < (j < i ? s->vms[j].n_nics : a); b++)
					if (!memcmp(s->vms[i].nics[a].mac, s->vms[j].nics[b].mac, 6))
						return false;
		}
	return true;
}

static int encode_nic(struct dbuf *b, const struct vm_nic *n)
{
	int rc = put_name(b, n->network);
	if (!rc)
		rc = dbuf_add(b, n->mac, 6);
	if (!rc)
		rc = put_u8(b, n->mode);
	if (!rc)
		rc = put_ip(b, n->addr);
	if (!rc)
		rc = put_u8(b, n->prefix);
	if (!rc)
		rc = put_ip(b, n->gw);
	if (!rc)
		rc = put_u8(b, n->n_dns);
	for (size_t i = 0; i < n->n_dns && !rc; i++)
		rc = put_ip(b, n->dns[i]);
	return rc;
}

static int encode_vm(struct dbuf *b, const struct vm_desc *v)
{
	int rc = put_name(b, v->name);
	if (!rc)
		rc = put_u32(b, v->cpus);
	if (!rc)
		rc = put_u64(b, v->memory_mib);
	if (!rc)
		rc = put_u8(b, v->firmware);
	if (!rc)
		rc = put_u8(b, (uint8_t)v->n_disks);
	for (size_t i = 0; i < v->n_disks && !rc; i++)
		rc = put_name(b, v->disks[i]);
	if (!rc)
		rc = put_u8(b, (uint8_t)v->n_nics);
	for (size_t i = 0; i < v->n_nics && !rc; i++)
		rc = encode_nic(b, &v->nics[i]);
	return rc;
}

int vmset_encode(const struct vm_set *s, uint64_t prev_ns, struct dbuf *out)
{
	uint8_t hdr[HDR_FIXED] = { 0 };
	if (!name_ok(s->domain) || s->n > VMSET_MAX_VMS || !s->time_ns ||
	    prev_ns >= s->time_ns || !set_unique(s))
		return -EINVAL;
	for (size_t i = 0; i < s->n; i++)
		if (!vm_ok(&s->vms[i]))
			return -EINVAL;
	memcpy(hdr, MAGIC, 4);
	hdr[4] = VMSET_VERSION;
	put_le64(hdr + 8, s->time_ns);
	put_le64(hdr + 16, prev_ns);
	int rc = dbuf_add(out, hdr, sizeof(hdr));
	if (!rc)
		rc = put_name(out, s->domain);
	if (!rc)
		rc = put_u32(out, (uint32_t)s->n);
	for (size_t i = 0; i < s->n && !rc; i++)
		rc = encode_vm(out, &s->vms[i]);
	return rc;
}

/* ---- decoding: every length is checked against the bytes left ---- */

struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

static uint8_t get_u8(struct rd *r)
{
	const uint8_t *p = take(r, 1);
	return p ? p[0] : 0;
}

static uint32_t get_u32(struct rd *r)
{
	const uint8_t *p = take(r, 4);
	return p ? get_le32(p) : 0;
}

static uint64_t get_u64(struct rd *r)
{
	const uint8_t *p = take(r, 8);
	return p ? get_le64(p) : 0;
}

static uint32_t get_ip(struct rd *r)
{
	const uint8_t *p = take(r, 4);
	return p ? get_be32(p) : 0;
}

/* a name of 1..REPO_NAME_MAX valid characters into out[REPO_NAME_MAX + 1] */
static void get_name(struct rd *r, char *out)
{
	uint8_t n = get_u8(r);
	const uint8_t *p = take(r, n);
	out[0] = '\0';
	if (!p || n > REPO_NAME_MAX) {
		r->bad = true;
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	if (strlen(out) != n || !name_ok(out))	/* no NUL inside: canonical */
		r->bad = true;
}

static void decode_nic(struct rd *r, struct vm_nic *n)
{
	get_name(r, n->network);
	const uint8_t *mac = take(r, 6);
	if (mac)
		memcpy(n->mac, mac, 6);
	n->mode = get_u8(r);
	n->addr = get_ip(r);
	n->prefix = get_u8(r);
	n->gw = get_ip(r);
	n->n_dns = get_u8(r);
	if (n->n_dns > VM_MAX_DNS) {
		r->bad = true;
		return;
	}
	for (size_t i = 0; i < n->n_dns; i++)
		n->dns[i] = get_ip(r);
}

static void decode_vm(struct rd *r, struct vm_desc *v, const char *domain)
{
	get_name(r, v->name);
	memcpy(v->domain, domain, strlen(domain) + 1);
	v->cpus = get_u32(r);
	v->memory_mib = get_u64(r);
	v->firmware = get_u8(r);
	v->n_disks = get_u8(r);
	if (v->n_disks > VM_MAX_DISKS) {
		r->bad = true;
		return;
	}
	for (size_t i = 0; i < v->n_disks; i++)
		get_name(r, v->disks[i]);
	v->n_nics = get_u8(r);
	if (v->n_nics > VM_MAX_NICS || v->n_nics * NIC_MIN_BYTES > r->left) {
		r->bad = true;
		return;
	}
	for (size_t i = 0; i < v->n_nics && !r->bad; i++)
		decode_nic(r, &v->nics[i]);
	if (!r->bad && !vm_ok(v))
		r->bad = true;
}

int vmset_decode(const void *buf, size_t len, struct vm_set *s, uint64_t *prev_ns)
{
	struct rd r = { buf, len, false };
	memset(s, 0, sizeof(*s));
	*prev_ns = 0;
	const uint8_t *h = take(&r, HDR_FIXED);
	if (!h || len > VMSET_MAX_LEN || memcmp(h, MAGIC, 4))
		return -EBADMSG;
	if (h[4] != VMSET_VERSION || h[5] || h[6] || h[7])
		return h[4] == 0 ? -EBADMSG : -EPROTO;
	s->time_ns = get_le64(h + 8);
	*prev_ns = get_le64(h + 16);
	get_name(&r, s->domain);
	uint32_t n = get_u32(&r);
	if (r.bad || !s->time_ns || *prev_ns >= s->time_ns || n > VMSET_MAX_VMS ||
	    (uint64_t)n * VM_MIN_BYTES > r.left)
		return -EBADMSG;
	s->vms = calloc(n ? n : 1, sizeof(*s->vms));
	if (!s->vms)
		return -ENOMEM;
	s->n = n;
	for (size_t i = 0; i < n && !r.bad; i++)
		decode_vm(&r, &s->vms[i], s->domain);
	if (r.bad || r.left || !set_unique(s)) {
		vm_set_release(s);
		return -EBADMSG;
	}
	return 0;
}

void vm_set_release(struct vm_set *s)
{
	if (!s)
		return;
	free(s->vms);
	memset(s, 0, sizeof(*s));
}

static bool vm_equal(const struct vm_desc *a, const struct vm_desc *b)
{
	if (strcmp(a->name, b->name) || a->cpus != b->cpus || a->memory_mib != b->memory_mib ||
	    a->firmware != b->firmware || a->n_disks != b->n_disks || a->n_nics != b->n_nics)
		return false;
	for (size_t i = 0; i < a->n_disks; i++)
		if (strcmp(a->disks[i], b->disks[i]))
			return false;
	for (size_t i = 0; i < a->n_nics; i++) {
		const struct vm_nic *x = &a->nics[i], *y = &b->nics[i];
		if (strcmp(x->network, y->network) || memcmp(x->mac, y->mac, 6) ||
		    x->mode != y->mode || x->addr != y->addr || x->prefix != y->prefix ||
		    x->gw != y->gw || x->n_dns != y->n_dns ||
		    memcmp(x->dns, y->dns, x->n_dns * sizeof(x->dns[0])))
			return false;
	}
	return true;
}

bool vmset_equal(const struct vm_set *a, const struct vm_set *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!vm_equal(&a->vms[i], &b->vms[i]))
			return false;
	return true;
}

/* ---- keys and listing ---- */

void vmset_key(const char *domain, uint64_t time_ns, char *key, size_t keylen)
{
	snprintf(key, keylen, "domains/%s/vms/%020" PRIu64, domain, time_ns);
}

bool vmset_parse_key(const char *key, char *domain, uint64_t *time_ns)
{
	static const char pre[] = "domains/";
	if (strncmp(key, pre, sizeof(pre) - 1))
		return false;
	const char *d = key + sizeof(pre) - 1, *slash = strchr(d, '/');
	if (!slash || slash == d || (size_t)(slash - d) > REPO_NAME_MAX ||
	    strncmp(slash, "/vms/", 5))
		return false;
	const char *t = slash + 5;
	uint64_t v = 0;
	for (size_t i = 0; i < VMSET_KEY_DIGITS; i++) {
		if (t[i] < '0' || t[i] > '9')
			return false;
		unsigned dig = (unsigned)(t[i] - '0');
		if (v > (UINT64_MAX - dig) / 10)
			return false;
		v = v * 10 + dig;
	}
	if (t[VMSET_KEY_DIGITS] || !v)
		return false;
	memcpy(domain, d, (size_t)(slash - d));
	domain[slash - d] = '\0';
	if (!name_ok(domain))
		return false;
	*time_ns = v;
	return true;
}

struct times {
	uint64_t *v;
	size_t n, cap;
	const char *domain;
};

static int collect_time(void *arg, const char *key, uint64_t size)
{
	struct times *t = arg;
	char dom[REPO_NAME_MAX + 1];
	uint64_t ns;
	(void)size;
	if (!vmset_parse_key(key, dom, &ns) || strcmp(dom, t->domain))
		return 0;	/* other keys under the prefix are not sets */
	return ARRAY_PUSH(t->v, t->n, t->cap, ns);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int vmset_list(struct repo *r, const char *domain, uint64_t **times, size_t *n)
{
	char prefix[STORE_KEY_MAX];
	struct times t = { .domain = domain };
	*times = NULL;
	*n = 0;
	if (!name_ok(domain))
		return -EINVAL;
	snprintf(prefix, sizeof(prefix), "domains/%s/vms/", domain);
	int rc = store_list(repo_store(r), prefix, collect_time, &t);
	if (rc < 0) {
		free(t.v);
		return rc;
	}
	if (t.n)
		qsort(t.v, t.n, sizeof(*t.v), cmp_u64);
	*times = t.v;
	*n = t.n;
	return 0;
}

/* ---- reading and writing sets ---- */

/* Load the set stored at time ns and check it names its own key. */
static int load_set(struct repo *r, const char *domain, uint64_t ns, struct vm_set *out,
		    uint64_t *prev, char *err, size_t errlen)
{
	char key[STORE_KEY_MAX];
	void *plain;
	size_t len;
	vmset_key(domain, ns, key, sizeof(key));
	int rc = repo_get_meta(r, key, &plain, &len);
	if (rc == 0) {
		rc = vmset_decode(plain, len, out, prev);
		free(plain);
	}
	if (rc == 0 && (out->time_ns != ns || strcmp(out->domain, domain))) {
		vm_set_release(out);
		rc = -EBADMSG;
	}
	if (rc < 0)
		repo_err(err, errlen, "%s: %s", key, rc == -EBADMSG ? "corrupt VM set" :
			 rc == -EPROTO ? "VM set of a newer format" :
			 store_strerror(repo_store(r), rc));
	return rc;
}

int repo_vms_get(struct repo *r, const char *domain, uint64_t time_ns, struct vm_set *out,
		 char *err, size_t errlen)
{
	uint64_t *t, prev;
	size_t n;
	memset(out, 0, sizeof(*out));
	int rc = vmset_list(r, domain, &t, &n);
	if (rc < 0) {
		repo_err(err, errlen, "domain '%s': cannot list its VM sets: %s", domain,
			 rc == -EINVAL ? "bad domain name" : store_strerror(repo_store(r), rc));
		return rc;
	}
	size_t i = n;
	while (i > 0 && t[i - 1] > time_ns)
		i--;
	if (i == 0) {
		repo_err(err, errlen, "domain '%s' has no VM descriptions stored%s", domain,
			 n ? " at or before that time" : "");
		free(t);
		return -ENOENT;
	}
	rc = load_set(r, domain, t[i - 1], out, &prev, err, errlen);
	free(t);
	return rc;
}

int repo_vms_put(struct repo *r, const struct vm_set *s, char *err, size_t errlen)
{
	uint64_t *t, prev = 0, ns = s->time_ns ? s->time_ns : now_real_ns();
	size_t n;
	struct vm_set last = { 0 };
	int rc = vmset_list(r, s->domain, &t, &n);
	if (rc < 0) {
		repo_err(err, errlen, "domain '%s': cannot list its VM sets: %s", s->domain,
			 rc == -EINVAL ? "bad domain name" : store_strerror(repo_store(r), rc));
		return rc;
	}
	if (n) {
		uint64_t lp;
		prev = t[n - 1];
		rc = load_set(r, s->domain, prev, &last, &lp, err, errlen);
	}
	free(t);
	if (rc < 0)
		return rc;
	bool same = n ? vmset_equal(&last, s) : s->n == 0;	/* no set and no VMs: equal */
	vm_set_release(&last);
	if (same)
		return 0;
	if (ns <= prev) {
		if (s->time_ns) {
			repo_err(err, errlen, "domain '%s': a VM set must be newer than the newest "
				 "stored one", s->domain);
			return -EINVAL;
		}
		ns = prev + 1;		/* the clock went back: keep the keys in order */
	}
	struct vm_set w = *s;
	w.time_ns = ns;
	struct dbuf b = DBUF_INIT(VMSET_MAX_LEN);
	char key[STORE_KEY_MAX];
	rc = vmset_encode(&w, prev, &b);
	if (rc == -EINVAL)
		repo_err(err, errlen, "domain '%s': invalid VM description", s->domain);
	vmset_key(s->domain, ns, key, sizeof(key));
	if (rc == 0 && (rc = repo_put_meta(r, key, b.data, b.len)) < 0)
		repo_err(err, errlen, "%s: %s", key, store_strerror(repo_store(r), rc));
	dbuf_release(&b);
	return rc < 0 ? rc : 1;
}

/* ---- prune and verify ---- */

void vmset_select(const uint64_t *times, size_t n, const uint64_t *point_ns, size_t np,
		  bool *keep)
{
	memset(keep, 0, n * sizeof(*keep));
	if (!n)
		return;
	keep[n - 1] = true;
	for (size_t p = 0; p < np; p++) {
		size_t lo = 0, hi = n;	/* the first set after the point */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (times[mid] <= point_ns[p])
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo > 0)
			keep[lo - 1] = true;
		if (lo > 0 && lo < n)	/* its successor names it: verify can tell it is gone */
			keep[lo] = true;
	}
}

struct vstate {
	repo_report_fn *fn;
	void *arg;
	int problems;
};

static void problem(struct vstate *v, const char *key, const char *what)
{
	v->fn(v->arg, key, what);
	v->problems++;
}

/* The sets of one domain: each decodes and names its key; a point between a missing prev
 * and its successor lost its set. */
static int verify_domain(struct repo *r, const char *domain, struct vstate *v)
{
	uint64_t *t;
	size_t n, np = 0;
	struct point_info *pts = NULL;
	int rc = vmset_list(r, domain, &t, &n);
	if (rc < 0 || n == 0)
		return rc;
	rc = repo_list_points(r, domain, &pts, &np);
	if (rc == -ENOENT || rc == -EBADMSG)	/* manifests are verify's other half */
		rc = 0;
	for (size_t i = 0; i < n && rc >= 0; i++) {
		char key[STORE_KEY_MAX], err[512], what[256];
		struct vm_set s;
		uint64_t prev;
		vmset_key(domain, t[i], key, sizeof(key));
		int lr = load_set(r, domain, t[i], &s, &prev, err, sizeof(err));
		if (lr == -ENOMEM) {
			rc = lr;
			break;
		}
		if (lr < 0) {
			const char *why = strstr(err, ": ");
			problem(v, key, why ? why + 2 : err);
			continue;
		}
		vm_set_release(&s);
		bool prev_there = !prev || bsearch(&prev, t, n, sizeof(*t), cmp_u64);
		for (size_t p = 0; p < np && !prev_there; p++)
			if (pts[p].time_ns >= prev && pts[p].time_ns < t[i]) {
				snprintf(what, sizeof(what), "the VM set it replaced (%020" PRIu64
					 ") is missing, and point %" PRIu32 ".%" PRIu64 " needs it",
					 prev, pts[p].epoch, pts[p].seq);
				problem(v, key, what);
				break;
			}
	}
	free(pts);
	free(t);
	return rc;
}

int vmset_verify(struct repo *r, repo_report_fn *fn, void *arg)
{
	struct vstate v = { fn, arg, 0 };
	char **names;
	size_t n;
	int rc = repo_list_domains(r, &names, &n);
	for (size_t i = 0; i < n; i++) {
		if (rc >= 0)
			rc = verify_domain(r, names[i], &v);
		free(names[i]);
	}
	free(names);
	return rc < 0 ? rc : v.problems;
}
