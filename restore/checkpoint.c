/* The resume checkpoint of a restore: PATH.part holds the output so far, PATH.part.resume
 * says how much of it is durable (docs/restore.md "--resume"):
 *
 *   ferry-restore-state 2
 *   point E.S
 *   domain D
 *   disk X
 *   format F
 *   size N
 *   done OFF next SECTORS
 *
 * done: every byte of the disk below OFF is durable in PATH.part; next: the VMDK writer's
 * end of grains (vmdk, vmdk-stream; 0 otherwise). A checkpoint names everything that
 * determines the output, so --resume never continues a different restore: anything that
 * differs means starting over. The file is replaced atomically (temporary, fsync, rename,
 * directory fsync), so after a crash it is the old checkpoint or the new one. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic-file.h"
#include "restore/restore-internal.h"
#include "common/banned.h"

#define STATE_MAX 512

static int state_text(const struct rout *o, const struct vmdk_ckpt *c, char *buf, size_t n)
{
	const struct restore_req *q = o->q;
	return snprintf(buf, n, "ferry-restore-state 2\npoint %" PRIu32 ".%" PRIu64
			"\ndomain %s\ndisk %s\nformat %s\nsize %" PRIu64 "\ndone %" PRIu64
			" next %" PRIu64 "\n", q->p->epoch, q->p->seq, q->domain, q->disk,
			restore_format_name(q->fmt), o->size, c->off, c->next);
}

int ckpt_write(struct rout *o, const struct vmdk_ckpt *c)
{
	char buf[STATE_MAX];
	int n = state_text(o, c, buf, sizeof(buf));
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	return atomic_file_write(o->state, buf, (size_t)n, 0600);
}

void ckpt_remove(struct rout *o)
{
	if (o->state)
		unlink(o->state);
}

/* The checkpoint of this very restore (same point, disk, format and size) in c: 0, or
 * -ENOENT if there is none (c is then all zero). */
static int read_state(const struct rout *o, struct vmdk_ckpt *c)
{
	char want[STATE_MAX], have[STATE_MAX];
	*c = (struct vmdk_ckpt){ 0, 0 };
	int fd = open(o->state, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	ssize_t n = read(fd, have, sizeof(have) - 1);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	have[n] = '\0';
	state_text(o, c, want, sizeof(want));
	size_t fixed = strlen(want) - strlen("0 next 0\n");	/* all but the two numbers */
	unsigned long long done, next;
	int used = 0;
	if (strncmp(want, have, fixed) ||
	    sscanf(have + fixed, "%llu next %llu\n%n", &done, &next, &used) != 2 ||
	    have[fixed + (size_t)used] || done > o->size || !done)
		return -ENOENT;
	*c = (struct vmdk_ckpt){ done, next };
	return 0;
}

int ckpt_find(struct rout *o, const char *final_path, struct vmdk_ckpt *c)
{
	size_t n = strlen(final_path) + sizeof(".part.resume");
	o->part = malloc(n);
	o->state = malloc(n);
	if (!o->part || !o->state)
		return -ENOMEM;
	snprintf(o->part, n, "%s.part", final_path);
	snprintf(o->state, n, "%s.part.resume", final_path);
	*c = (struct vmdk_ckpt){ 0, 0 };
	bool had_part = access(o->part, F_OK) == 0;
	if (o->q->resume && had_part && read_state(o, c) < 0)
		rout_notice(o, "nothing to resume for %s: starting over", final_path);
	if (!c->off)
		ckpt_remove(o);
	return 0;
}
