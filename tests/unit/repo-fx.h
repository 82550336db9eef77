/* A fixture shared by the repository unit tests that need a scratch store: a temporary
 * directory holding a file:// store, a key file path and an output path, removed at
 * teardown; and a raw restore through the restore library. Header-only (each test is its
 * own program). */
#ifndef FERRY_TEST_REPO_FX_H
#define FERRY_TEST_REPO_FX_H

#include <stdio.h>
#include <stdlib.h>

#include "restore/restore.h"

struct fx {
	char dir[64];
	char url[128];
	char key[128];
	char out[128];
};

static inline int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-repo-fx.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->url, sizeof(f->url), "file://%s/store", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/key", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/out.raw", f->dir);
	*state = f;
	return 0;
}

static inline int fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	int rc = system(cmd);
	free(f);
	return rc == 0 ? 0 : -1;
}

/* The disk at point p into path as a raw image, through the restore library. */
static inline int fx_restore_raw(struct repo *r, const struct point_info *p, const char *disk,
				 const char *path, char *err, size_t errlen)
{
	struct restore_req q = { .r = r, .p = p, .domain = p->domain, .disk = disk,
				 .path = path, .fmt = RESTORE_RAW, .force = true };
	struct restore_result res;
	return restore_disk(&q, &res, err, errlen);
}

#endif
