/* Object stores behind one small interface: the repository (docs/design.md section 3) is a set
 * of immutable objects addressed by key. Backends: store-file.c (file:///abs/dir, the
 * embedded default) and, in a later issue, store-s3.c (s3://bucket/prefix).
 *
 * Rules every backend keeps:
 * - Objects are immutable: put() never overwrites an existing key (-EEXIST), so a retried
 *   or racing PUT, or a crash mid-upload, can never change what a reader sees.
 * - A put() that returned 0 is durable (file: temp file, fsync, rename without replace,
 *   fsync of the directory).
 * - All calls are thread-safe: the shipper and restore run several at once.
 * - Keys are relative paths of [A-Za-z0-9._-] components separated by '/', no empty
 *   component, no "." or "..", at most 1024 bytes; anything else is -EINVAL.
 * - Errors are -errno: -ENOENT no such object, -EEXIST exists, -EINVAL bad key or range,
 *   -EIO (or the underlying errno) for storage failures. Backends never log; callers do:
 *   store_strerror() gives the caller the backend's own words for the calling thread's
 *   last failure (e.g. which endpoint answered what), falling back to strerror().
 *
 * To add a backend: 1. write store-NAME.c with a `const struct store_ops` table;
 * 2. declare it below; 3. add its URL scheme to store_open(). */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_KEY_MAX 1024

struct store;

/* Called once per key, in ascending byte order of the key. Return 0 to go on, non-zero to
 * stop the listing (store_list then returns that value). */
typedef int store_list_fn(void *arg, const char *key, uint64_t size);

struct store_ops {
	const char *scheme;	/* "file", "s3" */
	int (*open)(struct store *st, const char *location);	/* the URL after "scheme://" */
	void (*close)(struct store *st);
	int (*put)(struct store *st, const char *key, const void *data, size_t len);
	/* whole object into a malloc'd buffer (*data owned by the caller) */
	int (*get)(struct store *st, const char *key, void **data, size_t *len);
	/* exactly len bytes at off; a range past the end is -EINVAL */
	int (*get_range)(struct store *st, const char *key, uint64_t off, size_t len, void *buf);
	int (*head)(struct store *st, const char *key, uint64_t *size);
	/* every key that starts with prefix ("" for all) */
	int (*list)(struct store *st, const char *prefix, store_list_fn *fn, void *arg);
	/* removing a missing key is -ENOENT */
	int (*del)(struct store *st, const char *key);
	/* optional: remove what interrupted puts left behind and nothing else (file: temporary
	 * files; S3: incomplete multipart uploads under the prefix), each at least min_age_ns
	 * old, so that puts still under way are left alone; *removed counts them. */
	int (*sweep)(struct store *st, uint64_t min_age_ns, uint64_t *removed);
	/* optional: a one-line description of the calling thread's last failed call on st
	 * (open included), or NULL. Never contains secrets. */
	const char *(*errdetail)(struct store *st);
};

/* Options of backends that need more than a URL (the [store] section of ferry.conf).
 * Every field may be NULL/0: the backend's default (store-s3.h). The file backend ignores
 * them all but read_only. */
struct store_opts {
	const char *endpoint;		/* http(s)://host[:port] */
	const char *region;
	const char *addressing;		/* "path" or "virtual" */
	const char *access_key_file;
	const char *secret_key_file;
	const char *ca_file;
	unsigned parallel;		/* requests in flight at most */
	bool read_only;			/* the caller only reads: open creates nothing (file: a
					 * missing root directory is -ENOENT, not made) */
};

struct store {
	const struct store_ops *ops;
	char *url;
	void *priv;
	const struct store_opts *opts;	/* valid during ops->open() only, never NULL there */
};

extern const struct store_ops store_file_ops;
extern const struct store_ops store_s3_ops;

/* Open a store by URL. Return 0, or -1 with a one-line reason in err. */
int store_open(const char *url, struct store **out, char *err, size_t errlen);
/* The same with backend options (o may be NULL: defaults). */
int store_open_opts(const char *url, const struct store_opts *o, struct store **out, char *err,
		    size_t errlen);
void store_close(struct store *st);
/* The reason for error r (-errno) of the calling thread's last failed call on st: the
 * backend's detail if it has one, else strerror(-r). Valid until the thread's next call. */
const char *store_strerror(struct store *st, int r);
/* 0 if key is well-formed per the rules above, else -EINVAL. */
int store_key_check(const char *key);

static inline int store_put(struct store *st, const char *key, const void *data, size_t len)
{
	return st->ops->put(st, key, data, len);
}
static inline int store_get(struct store *st, const char *key, void **data, size_t *len)
{
	return st->ops->get(st, key, data, len);
}
static inline int store_get_range(struct store *st, const char *key, uint64_t off, size_t len,
				  void *buf)
{
	return st->ops->get_range(st, key, off, len, buf);
}
static inline int store_head(struct store *st, const char *key, uint64_t *size)
{
	return st->ops->head(st, key, size);
}
static inline int store_list(struct store *st, const char *prefix, store_list_fn *fn, void *arg)
{
	return st->ops->list(st, prefix, fn, arg);
}
static inline int store_del(struct store *st, const char *key)
{
	return st->ops->del(st, key);
}
static inline int store_sweep(struct store *st, uint64_t min_age_ns, uint64_t *removed)
{
	*removed = 0;
	return st->ops->sweep ? st->ops->sweep(st, min_age_ns, removed) : 0;
}

#endif
