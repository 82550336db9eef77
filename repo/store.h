/* Object stores behind one small interface: the repository (DESIGN.md section 3) is a set
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
 *   -EIO (or the underlying errno) for storage failures. Backends never log; callers do.
 *
 * To add a backend: 1. write store-NAME.c with a `const struct store_ops` table;
 * 2. declare it below; 3. add its URL scheme to store_open(). */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

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
};

struct store {
	const struct store_ops *ops;
	char *url;
	void *priv;
};

extern const struct store_ops store_file_ops;

/* Open a store by URL. Return 0, or -1 with a one-line reason in err. */
int store_open(const char *url, struct store **out, char *err, size_t errlen);
void store_close(struct store *st);
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

#endif
