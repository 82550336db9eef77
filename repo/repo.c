/* The repository handle: create (the config object), open (config, keys, chunk index),
 * close, and the helpers every other repo file uses (blob context pool, metadata blobs).
 *
 * The config object is the only object that is not a blob: it must be readable before the
 * keys are known. It carries a CRC32C, not a MAC; what matters for security in it (the
 * wrapped keys) authenticates itself. A tampered chunk size or uuid can only make writers
 * cut differently or misreport, never make a reader accept wrong data (every chunk is
 * checked against its id).
 *
 * Readers run concurrently (restore fetches chunks on several threads), and blob contexts
 * are not thread-safe, so repo_cx_get hands out one context per caller from a small pool
 * (new ones are made when the pool is empty; at most REPO_CX_POOL are kept). */
#include "repo/repo-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <openssl/rand.h>

#include "common/config.h"
#include "common/crc32c.h"
#include "common/secret.h"
#include "common/util.h"
#include "common/banned.h"

#define CONFIG_MAGIC "FCFG"
#define CONFIG_FLAG_ENCRYPTED 1u
#define META_LEVEL 3

void repo_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

_Static_assert(REPO_NAME_MAX == FERRY_NAME_MAX, "repository names are ferry's names");

/* ---- config object ---- */

size_t repo_config_encode(const struct repo_config *c, uint8_t *out)
{
	size_t wl = c->encrypted ? KEYS_WRAPPED_LEN : 0;
	memcpy(out, CONFIG_MAGIC, 4);
	put_le16(out + 4, c->version);
	put_le16(out + 6, c->encrypted ? CONFIG_FLAG_ENCRYPTED : 0);
	put_le32(out + 8, c->chunk_size);
	put_le32(out + 12, c->version >= 2 ? c->region_chunks : 0);
	memcpy(out + 16, c->uuid, REPO_UUID_LEN);
	put_le64(out + 32, c->created_ns);
	put_le32(out + 40, (uint32_t)wl);
	if (wl)
		memcpy(out + 44, c->wrapped, wl);
	put_le32(out + 44 + wl, crc32c(0, out, 44 + wl));
	return 48 + wl;
}

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static bool chunk_size_ok(uint16_t version, uint32_t cs)
{
	return cs >= (version >= 2 ? REPO_CHUNK_MIN_V2 : REPO_CHUNK_MIN) && cs <= REPO_CHUNK_MAX &&
		pow2(cs);
}

static bool region_chunks_ok(uint32_t n)
{
	return n >= REPO_REGION_CHUNKS_MIN && n <= REPO_REGION_CHUNKS_MAX && pow2(n);
}

int repo_config_decode(const void *buf, size_t len, struct repo_config *c)
{
	const uint8_t *p = buf;
	memset(c, 0, sizeof(*c));
	if (len < REPO_CONFIG_LEN_PLAIN || memcmp(p, CONFIG_MAGIC, 4))
		return -EBADMSG;
	uint32_t wl = get_le32(p + 40);
	if (wl != 0 && wl != KEYS_WRAPPED_LEN)
		return -EBADMSG;
	if (len != 48 + (size_t)wl || get_le32(p + 44 + wl) != crc32c(0, p, 44 + wl))
		return -EBADMSG;
	c->version = get_le16(p + 4);
	uint16_t flags = get_le16(p + 6);
	if (c->version < 1 || c->version > REPO_FORMAT_VERSION || (flags & ~CONFIG_FLAG_ENCRYPTED) ||
	    (c->version == 1 && get_le32(p + 12)))
		return -EPROTO;
	c->encrypted = flags & CONFIG_FLAG_ENCRYPTED;
	if (c->encrypted != (wl == KEYS_WRAPPED_LEN))
		return -EBADMSG;
	c->chunk_size = get_le32(p + 8);
	if (!chunk_size_ok(c->version, c->chunk_size))
		return -EBADMSG;
	c->region_chunks = c->version >= 2 ? get_le32(p + 12) : 0;
	if (c->version >= 2 && !region_chunks_ok(c->region_chunks))
		return -EBADMSG;
	memcpy(c->uuid, p + 16, REPO_UUID_LEN);
	c->created_ns = get_le64(p + 32);
	if (wl)
		memcpy(c->wrapped, p + 44, wl);
	return 0;
}

/* ---- create ---- */

static int load_or_create_key(const char *path, uint8_t master[KEY_LEN], char *err,
			      size_t errlen)
{
	int r = key_file_load(path, master, NULL);
	if (r == -ENOENT) {
		r = key_file_create(path, master);
		if (r == -EEXIST)	/* raced with another creator: use theirs */
			r = key_file_load(path, master, NULL);
	}
	if (r < 0)
		repo_err(err, errlen, "key file %s: %s", path,
			 r == -EINVAL ? "not a key file (64 hex digits expected)" : strerror(-r));
	return r;
}

int repo_create(const struct repo_create_opts *o, char *err, size_t errlen)
{
	return repo_create_with_store(o, NULL, err, errlen);
}

int repo_create_with_store(const struct repo_create_opts *o, const struct store_opts *so,
			   char *err, size_t errlen)
{
	struct repo_config c = { .version = o->format ? o->format : REPO_FORMAT_VERSION };
	uint8_t buf[REPO_CONFIG_LEN_ENC];
	struct store *st;
	int r;

	if (c.version < 1 || c.version > REPO_FORMAT_VERSION) {
		repo_err(err, errlen, "bad repository format %u (1 or %u)", c.version,
			 REPO_FORMAT_VERSION);
		return -EINVAL;
	}
	c.chunk_size = o->chunk_size ? o->chunk_size : REPO_DEFAULT_CHUNK;
	if (!chunk_size_ok(c.version, c.chunk_size)) {
		repo_err(err, errlen, "bad chunk size %u (a power of two, %u bytes to 1 MiB)",
			 c.chunk_size, c.version >= 2 ? REPO_CHUNK_MIN_V2 : REPO_CHUNK_MIN);
		return -EINVAL;
	}
	if (c.version >= 2) {
		c.region_chunks = o->region_chunks ? o->region_chunks : REPO_DEFAULT_REGION_CHUNKS;
		if (!region_chunks_ok(c.region_chunks)) {
			repo_err(err, errlen, "bad map region size %u chunks (a power of two, %u "
				 "to %u)", c.region_chunks, REPO_REGION_CHUNKS_MIN,
				 REPO_REGION_CHUNKS_MAX);
			return -EINVAL;
		}
	} else if (o->region_chunks) {
		repo_err(err, errlen, "format 1 repositories have no map regions");
		return -EINVAL;
	}
	c.encrypted = o->encrypted;
	if (c.encrypted && !o->key_file) {
		repo_err(err, errlen, "an encrypted repository needs a key file");
		return -EINVAL;
	}
	if (store_open_opts(o->url, so, &st, err, errlen) < 0)
		return -EINVAL;
	uint64_t sz;
	if (store_head(st, "config", &sz) == 0) {
		repo_err(err, errlen, "%s: a repository already exists there", o->url);
		store_close(st);
		return -EEXIST;
	}
	if (RAND_bytes(c.uuid, REPO_UUID_LEN) != 1) {
		repo_err(err, errlen, "no randomness");
		store_close(st);
		return -EIO;
	}
	c.created_ns = now_real_ns();
	if (c.encrypted) {
		uint8_t master[KEY_LEN];
		struct repo_keys k;
		r = load_or_create_key(o->key_file, master, err, errlen);
		if (r == 0) {
			r = keys_generate(&k);
			if (r == 0)
				r = keys_wrap(master, k.data_key, k.id_key, c.wrapped);
			if (r < 0)
				repo_err(err, errlen, "cannot make repository keys: %s", strerror(-r));
		}
		secret_wipe(master, sizeof(master));
		secret_wipe(&k, sizeof(k));
		if (r < 0) {
			store_close(st);
			return r;
		}
	}
	size_t len = repo_config_encode(&c, buf);
	r = store_put(st, "config", buf, len);
	if (r == -EEXIST)
		repo_err(err, errlen, "%s: a repository already exists there", o->url);
	else if (r < 0)
		repo_err(err, errlen, "%s: cannot write config: %s", o->url, store_strerror(st, r));
	store_close(st);
	return r;
}

/* ---- open / close ---- */

void repo_store_opts(const struct ferry_config *cfg, struct store_opts *o)
{
	*o = (struct store_opts){
		.endpoint = cfg->store_endpoint,
		.region = cfg->store_region,
		.addressing = cfg->store_addressing,
		.access_key_file = cfg->store_access_key_file,
		.secret_key_file = cfg->store_secret_key_file,
		.ca_file = cfg->store_ca_file,
		.parallel = cfg->store_parallel,
	};
}

static int open_repo(const char *url, const char *key_file, const struct store_opts *so,
		     const char *scratch, struct repo **out, char *err, size_t errlen);

int repo_open_cfg(const struct ferry_config *cfg, struct repo **out, char *err, size_t errlen)
{
	struct store_opts so;
	*out = NULL;
	if (!cfg->store_url) {
		repo_err(err, errlen, "%s: no [store] url", cfg->file ? cfg->file : "config");
		return -EINVAL;
	}
	repo_store_opts(cfg, &so);
	/* scratch files next to the appliance's state, where there is one (ferryd's) */
	const char *sd = cfg->state_dir && !access(cfg->state_dir, W_OK | X_OK) ? cfg->state_dir :
			 NULL;
	return open_repo(cfg->store_url, cfg->store_key_file, &so, sd, out, err, errlen);
}

int repo_open(const char *url, const char *key_file, struct repo **out, char *err,
	      size_t errlen)
{
	return repo_open_opts(url, key_file, NULL, out, err, errlen);
}

int repo_open_opts(const char *url, const char *key_file, const struct store_opts *so,
		   struct repo **out, char *err, size_t errlen)
{
	return open_repo(url, key_file, so, NULL, out, err, errlen);
}

/* scratch: where the chunk index spills (and point writers' scratch files go; NULL: the
 * default of repo_scratch_dir). */
static int open_repo(const char *url, const char *key_file, const struct store_opts *so,
		     const char *scratch, struct repo **out, char *err, size_t errlen)
{
	struct repo_config c;
	void *buf = NULL;
	size_t len;
	int r;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	struct repo *rp = calloc(1, sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	pthread_mutex_init(&rp->cx_lock, NULL);
	pthread_mutex_init(&rp->marks_lock, NULL);
	rp->ctype = COMPRESS_ZSTD;
	rp->clevel = 1;
	rp->auto_skip = true;
	r = index_init(&rp->index);
	if (r == 0 && (r = index_init(&rp->dropped)) < 0)
		index_release(&rp->index);
	if (r < 0) {
		pthread_mutex_destroy(&rp->cx_lock);
		pthread_mutex_destroy(&rp->marks_lock);
		free(rp);
		return r;
	}
	if (store_open_opts(url, so, &rp->st, err, errlen) < 0) {
		r = -EINVAL;
		goto fail;
	}
	r = store_get(rp->st, "config", &buf, &len);
	if (r < 0) {
		repo_err(err, errlen, "%s: %s", url, r == -ENOENT ? "no repository here (no config "
			 "object; run ferryctl init)" : store_strerror(rp->st, r));
		goto fail;
	}
	r = repo_config_decode(buf, len, &c);
	free(buf);
	if (r < 0) {
		repo_err(err, errlen, "config: %s", r == -EPROTO ? "written by a newer ferry "
			 "(unsupported format version or flag)" : "corrupt");
		goto fail;
	}
	rp->format = c.version;
	rp->encrypted = c.encrypted;
	rp->chunk_size = c.chunk_size;
	rp->region_chunks = c.region_chunks;
	memcpy(rp->uuid, c.uuid, REPO_UUID_LEN);
	rp->created_ns = c.created_ns;
	if (c.encrypted) {
		uint8_t master[KEY_LEN];
		if (!key_file) {
			repo_err(err, errlen, "the repository is encrypted: a key file is needed");
			r = -EKEYREJECTED;
			goto fail;
		}
		r = key_file_load(key_file, master, NULL);
		if (r < 0) {
			repo_err(err, errlen, "key file %s: %s", key_file, r == -EINVAL ?
				 "not a key file (64 hex digits expected)" : strerror(-r));
			goto fail;
		}
		r = keys_unwrap(master, c.wrapped, KEYS_WRAPPED_LEN, &rp->keys);
		secret_wipe(master, sizeof(master));
		if (r < 0) {
			repo_err(err, errlen, "%s", r == -EKEYREJECTED ?
				 "wrong key file for this repository" : r == -EPROTO ?
				 "config: unsupported key wrapping" : "config: corrupt wrapped keys");
			goto fail;
		}
	}
	if (scratch && (r = repo_set_scratch_dir(rp, scratch)) < 0)
		goto fail;
	/* a big index keeps its records in a scratch file (repo/index-table.c) */
	if ((r = index_spill_to(&rp->index, repo_scratch_dir(rp), INDEX_RAM_RECS)) < 0)
		goto fail;
	r = index_load(rp, err, errlen);
	if (r < 0)
		goto fail;
	*out = rp;
	return 0;
fail:
	repo_close(rp);
	return r;
}

void repo_close(struct repo *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->cx_n; i++) {
		blob_ctx_release(r->cx_pool[i]);
		free(r->cx_pool[i]);
	}
	for (size_t i = 0; i < r->n_problems; i++) {
		free(r->problems[i].key);
		free(r->problems[i].what);
	}
	free(r->problems);
	free(r->scratch_dir);
	index_release(&r->index);
	index_release(&r->dropped);
	index_state_release(r);
	if (r->st)
		store_close(r->st);
	pthread_mutex_destroy(&r->cx_lock);
	pthread_mutex_destroy(&r->marks_lock);
	secret_wipe(&r->keys, sizeof(r->keys));
	free(r);
}

uint32_t repo_chunk_size(const struct repo *r)
{
	return r->chunk_size;
}

uint16_t repo_format(const struct repo *r)
{
	return r->format;
}

bool repo_encrypted(const struct repo *r)
{
	return r->encrypted;
}

struct store *repo_store(struct repo *r)
{
	return r->st;
}

int repo_set_compression(struct repo *r, enum compress_type type, int level, bool auto_skip)
{
	if (compress_level_check(type, level) < 0)
		return -EINVAL;
	r->ctype = type;
	r->clevel = level;
	r->auto_skip = auto_skip;
	return 0;
}

int repo_set_scratch_dir(struct repo *r, const char *dir)
{
	char *d = strdup(dir);
	if (!d)
		return -ENOMEM;
	free(r->scratch_dir);
	r->scratch_dir = d;
	return 0;
}

const char *repo_scratch_dir(const struct repo *r)
{
	const char *t = getenv("TMPDIR");
	return r->scratch_dir ? r->scratch_dir : t && t[0] ? t : "/var/tmp";
}

int repo_add_problem(struct repo *r, const char *key, const char *what)
{
	struct repo_problem *p = realloc(r->problems, (r->n_problems + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	r->problems = p;
	p[r->n_problems].key = strdup(key);
	p[r->n_problems].what = strdup(what);
	if (!p[r->n_problems].key || !p[r->n_problems].what) {
		free(p[r->n_problems].key);
		free(p[r->n_problems].what);
		return -ENOMEM;
	}
	r->n_problems++;
	return 0;
}

/* ---- blob contexts ---- */

struct blob_ctx *repo_cx_get(struct repo *r)
{
	struct blob_ctx *cx = NULL;
	pthread_mutex_lock(&r->cx_lock);
	if (r->cx_n)
		cx = r->cx_pool[--r->cx_n];
	pthread_mutex_unlock(&r->cx_lock);
	if (cx)
		return cx;
	cx = calloc(1, sizeof(*cx));
	if (!cx)
		return NULL;
	if (blob_ctx_init(cx, r->encrypted ? &r->keys : NULL) < 0) {
		free(cx);
		return NULL;
	}
	return cx;
}

void repo_cx_put(struct repo *r, struct blob_ctx *cx)
{
	if (!cx)
		return;
	pthread_mutex_lock(&r->cx_lock);
	if (r->cx_n < REPO_CX_POOL) {
		r->cx_pool[r->cx_n++] = cx;
		cx = NULL;
	}
	pthread_mutex_unlock(&r->cx_lock);
	if (cx) {
		blob_ctx_release(cx);
		free(cx);
	}
}

/* ---- metadata blobs ---- */

int repo_put_meta(struct repo *r, const char *key, const void *plain, size_t len)
{
	size_t cap = blob_max_size(len, r->encrypted);
	void *blob = malloc(cap);
	struct blob_ctx *cx = repo_cx_get(r);
	ssize_t n = -ENOMEM;
	if (blob && cx)
		n = blob_encode(cx, plain, len, COMPRESS_ZSTD, META_LEVEL, blob, cap);
	repo_cx_put(r, cx);
	int rc = n < 0 ? (int)n : store_put(r->st, key, blob, (size_t)n);
	free(blob);
	return rc;
}

int repo_decode_meta(struct repo *r, const void *blob, size_t blen, void **plain, size_t *len)
{
	struct blob_info bi;
	*plain = NULL;
	*len = 0;
	int rc = blob_peek(blob, blen, &bi);
	if (rc < 0)
		return rc;
	if (bi.plain_len > REPO_META_MAX || bi.blob_len != blen)
		return -EBADMSG;
	void *out = malloc(bi.plain_len ? bi.plain_len : 1);
	struct blob_ctx *cx = repo_cx_get(r);
	rc = out && cx ? blob_decode(cx, blob, blen, out, bi.plain_len, NULL) : -ENOMEM;
	repo_cx_put(r, cx);
	if (rc < 0) {
		free(out);
		return rc;
	}
	*plain = out;
	*len = bi.plain_len;
	return 0;
}

int repo_get_meta(struct repo *r, const char *key, void **plain, size_t *len)
{
	void *blob;
	size_t blen;
	int rc = store_get(r->st, key, &blob, &blen);
	if (rc < 0)
		return rc;
	rc = repo_decode_meta(r, blob, blen, plain, len);
	free(blob);
	return rc;
}
