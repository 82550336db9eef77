/* Restoring one disk at one point into a file of a given format (ferryctl restore, and the
 * rehydrator's first full copy).
 *
 *   raw          sparse raw image
 *   vmdk         monolithicSparse (one file, grains only where the disk has data)
 *   vmdk-flat    monolithicFlat: PATH is the descriptor, NAME-flat.vmdk beside it the raw
 *                extent (sparse)
 *   vmdk-stream  streamOptimized (the format of OVA disks), compressed on all cores
 *
 * Output is written under temporary names (PATH.part, or for vmdk-flat the extent's
 * NAME-flat.vmdk.part) and renamed into place only once complete and fsynced: an
 * interrupted or failed restore never leaves a file at PATH that looks complete. A
 * checkpoint (PATH.part.resume, or the extent's .part.resume) records how far the output
 * is durable, and --resume continues from there if it names the same point, disk and
 * format (docs/restore.md). */
#ifndef FERRY_CTL_RESTORE_H
#define FERRY_CTL_RESTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "image/vmdk.h"
#include "repo/repo.h"

enum out_format { OUT_RAW, OUT_VMDK, OUT_FLAT, OUT_STREAM };

enum progress_mode { PROGRESS_NONE, PROGRESS_TTY, PROGRESS_JSON };

struct restore_req {
	struct repo *r;
	const struct point_info *p;
	const char *domain, *disk;
	const char *path;
	enum out_format fmt;
	bool resume;
	enum progress_mode progress;	/* on stderr */
	const struct vmdk_kv *extra;	/* VMDK formats: more ddb keys */
	size_t n_extra;
	unsigned threads;		/* 0: default */
	int level;			/* vmdk-stream: ISA-L level 1..3; 0: the default (1,
					 * storing the repository's igzip grains as they are) */
};

/* "raw", "vmdk", "vmdk-flat", "vmdk-stream": 0, or -EINVAL. */
int out_format_parse(const char *s, enum out_format *f);
/* The path of a vmdk-flat descriptor's extent ("dir/NAME-flat.vmdk"), malloc'd. */
char *flat_extent_path(const char *desc_path);

/* Restore. 0, or -errno with a reason in err (a missing or corrupt chunk names the disk
 * and the offset). Prints nothing but progress. */
int restore_disk(const struct restore_req *q, char *err, size_t errlen);

int ctl_restore_main(int argc, char **argv);

#endif
