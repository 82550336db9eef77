/* The generic store layer: picks a backend by URL scheme, owns the struct store, and checks
 * keys. Backends get the URL with "scheme://" removed and report -errno; this file turns
 * that into the one-line reason that store_open's callers (ferryctl, ferryd) print. Key
 * validation lives here so that every backend applies the same rules (store.h). */
#include "repo/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/repo-internal.h"
#include "common/banned.h"

struct scheme {
	const char *name;
	const struct store_ops *ops;	/* NULL: known but not built yet */
	const char *missing;		/* the reason given when ops is NULL */
};

static const struct scheme schemes[] = {
	{ "file", &store_file_ops, NULL },
	{ "s3", &store_s3_ops, NULL },
};

static int key_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int store_key_check(const char *key)
{
	size_t len, start = 0;

	if (!key)
		return -EINVAL;
	len = strnlen(key, STORE_KEY_MAX + 1);
	if (len == 0 || len > STORE_KEY_MAX)
		return -EINVAL;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && key[i] != '/') {
			if (!key_char_ok((unsigned char)key[i]))
				return -EINVAL;
			continue;
		}
		/* end of the component key[start, i) */
		size_t n = i - start;
		if (n == 0)
			return -EINVAL;
		if (key[start] == '.' && (n == 1 || (n == 2 && key[start + 1] == '.')))
			return -EINVAL;
		start = i + 1;
	}
	return 0;
}

int store_open(const char *url, struct store **out, char *err, size_t errlen)
{
	return store_open_opts(url, NULL, out, err, errlen);
}

const char *store_strerror(struct store *st, int r)
{
	const char *d = NULL;
	if (st && st->ops && st->ops->errdetail)
		d = st->ops->errdetail(st);
	return d && *d ? d : strerror(r < 0 ? -r : r);
}

int store_open_opts(const char *url, const struct store_opts *o, struct store **out, char *err,
		    size_t errlen)
{
	static const struct store_opts no_opts;
	const struct scheme *sc = NULL;
	const char *sep;
	struct store *st;
	int r;

	*out = NULL;
	if (!url || !*url) {
		repo_err(err, errlen, "empty store URL (expected file:///abs/dir or s3://bucket/prefix)");
		return -1;
	}
	sep = strstr(url, "://");
	if (!sep || sep == url) {
		repo_err(err, errlen, "store URL '%s' has no scheme (expected file:///abs/dir or "
			"s3://bucket/prefix)", url);
		return -1;
	}
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i].name);
		if ((size_t)(sep - url) == n && !strncmp(url, schemes[i].name, n))
			sc = &schemes[i];
	}
	if (!sc) {
		repo_err(err, errlen, "unknown store URL scheme '%.*s' in '%s' (expected file or s3)",
			(int)(sep - url), url, url);
		return -1;
	}
	if (!sc->ops) {
		repo_err(err, errlen, "%s", sc->missing);
		return -1;
	}
	const char *loc = sep + 3;
	if (sc->ops == &store_file_ops && loc[0] != '/') {
		repo_err(err, errlen, "store URL '%s' must name an absolute directory "
			"(file:///abs/dir)", url);
		return -1;
	}

	st = calloc(1, sizeof(*st));
	if (!st || !(st->url = strdup(url))) {
		free(st);
		repo_err(err, errlen, "store %s: out of memory", url);
		return -1;
	}
	st->ops = sc->ops;
	st->opts = o ? o : &no_opts;
	r = st->ops->open(st, loc);
	st->opts = NULL;
	if (r < 0) {
		repo_err(err, errlen, "store %s: %s", url, store_strerror(st, r));
		free(st->url);
		free(st);
		return -1;
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->ops && st->ops->close)
		st->ops->close(st);
	free(st->url);
	free(st);
}
