/* What the VMDK files share and callers do not see: the writer's common state, the table of
 * functions each image kind (a "body") implements, and small helpers.
 *
 *   vmdk_writer_open/write/finish (vmdk-write.c: checks, names, .part files, publishing,
 *        |                          grain assembly for the ordered bodies)
 *        v
 *   body ops:  vmdk-sparse.c  monolithicSparse   ordered, embedded descriptor
 *              vmdk-flat.c    monolithicFlat     any order, descriptor file written last
 *              vmdk-stream.c  streamOptimized    ordered, embedded descriptor, threads
 *
 * An ordered body sees whole grains in ascending order (grain(), and zgrain() for grains
 * already in zlib form); an unordered one sees every write as it comes (write()).
 *
 * To add a VMDK kind: 1. write image/vmdk-NAME.c with a `const struct vmdk_body_ops`
 * table (the unused hooks left NULL); 2. declare it below; 3. add an enum vmdk_format
 * value in vmdk.h and its row to `bodies` in vmdk-write.c; 4. document the layout in
 * docs/vmdk.md and add it to tests/unit/test-vmdk.c's format loops. */
#ifndef FERRY_VMDK_INTERNAL_H
#define FERRY_VMDK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/vmdk.h"

struct vmdk_writer {
	const struct vmdk_body_ops *ops;
	uint64_t capacity;	/* bytes */
	int level;		/* STREAM: ISA-L level (1..3) */
	unsigned threads;	/* STREAM: compression threads (0: one per CPU) */
	int err;		/* sticky: the first failure */
	int fd;			/* the temporary image (FLAT: the temporary extent) */
	char *path, *tmp;	/* PATH and PATH.part (FLAT: the extent's) */
	char *desc_path;	/* FLAT: the descriptor, written by finish() */
	char *desc;		/* the descriptor text */
	size_t desc_len;

	/* ordered bodies: ascending writes assembled into whole grains */
	uint64_t pos;		/* lowest offset the next write may start at */
	uint64_t cur_grain;	/* the grain in gbuf, when have_grain */
	bool have_grain;
	uint8_t *gbuf;

	void *body;		/* the body's own state */
};

struct vmdk_body_ops {
	const char *create_type;	/* the descriptor's createType */
	enum vmdk_ext_type ext_type;	/* its extent line's type */
	bool ordered;			/* writes ascend; grain()/zgrain() get whole grains */
	bool desc_file;			/* the descriptor is its own file (FLAT), else embedded */
	/* Optional: set up w->body before any file exists (layout, limits). -EFBIG etc.,
	 * with a reason in err. */
	int (*init)(struct vmdk_writer *w, char *err, size_t errlen);
	/* A new, empty w->fd: write what comes before the data. */
	int (*start)(struct vmdk_writer *w);
	/* unordered: len bytes at off (already checked against the capacity) */
	int (*write)(struct vmdk_writer *w, uint64_t off, const void *data, size_t len);
	/* ordered: grain g, not all zero, len its valid bytes */
	int (*grain)(struct vmdk_writer *w, uint64_t g, const void *data, size_t len);
	/* Optional (ordered): grain g given in zlib form; NULL: the body cannot store it as is */
	int (*zgrain)(struct vmdk_writer *w, uint64_t g, const void *z, size_t zlen);
	/* Optional: write what comes after the data (before the fsync and rename). */
	int (*finish)(struct vmdk_writer *w);
	/* Optional: make everything handed in so far reach the file (not yet synced) and set
	 * *next to the sector where the grain data ends. NULL: no checkpoints (-EINVAL). */
	int (*checkpoint)(struct vmdk_writer *w, uint64_t *next);
	/* Optional: an existing w->fd left by a writer of this image, at checkpoint c. */
	int (*reopen)(struct vmdk_writer *w, const struct vmdk_ckpt *c, char *err, size_t errlen);
	/* Optional: free w->body (NULL is possible: a writer that failed early). */
	void (*release)(struct vmdk_writer *w);
};

extern const struct vmdk_body_ops vmdk_sparse_ops;
extern const struct vmdk_body_ops vmdk_flat_ops;
extern const struct vmdk_body_ops vmdk_stream_ops;

/* vmdk-stream.c's default codec (level 0): igzip at VMDK_MIX_IGZIP_LEVEL, and libdeflate at
 * VMDK_MIX_LD_LEVEL for the grains (by index) where vmdk_stream_strong_grain is true, one
 * in 1 << VMDK_MIX_STRONG_BITS. */
#define VMDK_MIX_IGZIP_LEVEL 2
#define VMDK_MIX_LD_LEVEL 2
#define VMDK_MIX_STRONG_BITS 2
bool vmdk_stream_strong_grain(uint64_t g);

/* ---- helpers ---- */

int vmdk_random(void *buf, size_t n);				/* getrandom; 0 or -errno */
/* The whole descriptor file at path, NUL-terminated (*text malloc'd); -EBADMSG if it is
 * not a regular file of at most VMDK_DESC_MAX bytes, or is a sparse extent. */
int vmdk_read_desc_file(const char *path, char **text, size_t *len, char *err,
			size_t errlen);
/* file (an extent named by a descriptor) as a path beside path, the descriptor: file
 * itself if absolute. malloc'd, or NULL. */
char *vmdk_path_beside(const char *path, const char *file);
/* Build the descriptor for a new image: header lines, one extent line, and the DDB. */
int vmdk_desc_build(struct vmdk_desc *d, const struct vmdk_meta *m, const char *create_type,
		    enum vmdk_ext_type type, const char *extent_file);

#endif
