/* vmdk (monolithicSparse) and vmdk-stream (streamOptimized) outputs: image/'s ordered
 * writers, which take the pipeline's data in disk order.
 *
 * Their checkpoint is the writer's own (vmdk_writer_checkpoint: the offset below which the
 * image is complete and durable, and where its grains end), and a resume reopens PATH.part
 * there (vmdk_writer_resume), dropping whatever a killed run wrote after it. A .part that
 * does not fit its checkpoint is not resumed: the restore starts over and says why. For
 * vmdk-stream at --level 1, a chunk a format 1 repository holds as one whole grain in
 * zlib form (igzip) is stored as it is (sink_z) instead of being compressed again. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "restore/restore-internal.h"
#include "common/banned.h"

static enum vmdk_format vmdk_kind(const struct rout *o)
{
	return o->q->fmt == RESTORE_VMDK ? VMDK_SPARSE : VMDK_STREAM;
}

/* A new writer, or the interrupted one reopened at its checkpoint. */
static int vmdk_out_open(struct rout *o, uint64_t *start, char *err, size_t errlen)
{
	const struct restore_req *q = o->q;
	struct vmdk_meta vm;
	struct vmdk_ckpt c;
	rout_meta(o, &vm);
	if (!(o->final_path = strdup(q->path)))
		return -ENOMEM;
	int rc = ckpt_find(o, q->path, &c);
	if (rc < 0)
		return rc;
	*start = 0;
	if (c.off && vmdk_writer_resume(q->path, vmdk_kind(o), &vm, &c, &o->vw, err,
					errlen) == 0) {
		*start = c.off;
		return 0;
	}
	if (c.off) {
		rout_notice(o, "cannot resume %s (%s): starting over", o->part, err);
		err[0] = '\0';
		ckpt_remove(o);
	}
	return vmdk_writer_open(q->path, vmdk_kind(o), &vm, &o->vw, err, errlen);
}

static int vmdk_out_sink(void *arg, uint64_t off, const void *buf, size_t len)
{
	struct rout *o = arg;
	return vmdk_writer_write(o->vw, off, buf, len);
}

/* a whole grain the repository holds in zlib form: stored as is, not compressed again */
static int vmdk_out_sink_z(void *arg, uint64_t off, const void *buf, size_t len, const void *z,
			   size_t zlen)
{
	struct rout *o = arg;
	return vmdk_writer_write_zgrain(o->vw, off, buf, len, z, zlen);
}

static int vmdk_out_sync(struct rout *o, uint64_t upto, struct vmdk_ckpt *c)
{
	(void)upto;	/* the writer knows how far it is durable: the grain it assembles is not */
	return vmdk_writer_checkpoint(o->vw, c);
}

static int vmdk_out_finish(struct rout *o, char *err, size_t errlen)
{
	struct vmdk_writer *vw = o->vw;
	o->vw = NULL;
	int rc = vmdk_writer_finish(vw, err, errlen);
	if (rc == 0)
		ckpt_remove(o);
	return rc;
}

static void vmdk_out_release(struct rout *o, bool keep)
{
	if (o->vw && keep)
		vmdk_writer_suspend(o->vw);
	else if (o->vw)
		vmdk_writer_abort(o->vw);
	o->vw = NULL;
	if (o->part && !keep) {
		unlink(o->part);
		ckpt_remove(o);
	}
}

const struct out_ops out_vmdk_ops = {
	.open = vmdk_out_open,
	.sink = vmdk_out_sink,
	.sink_z = vmdk_out_sink_z,
	.sync = vmdk_out_sync,
	.finish = vmdk_out_finish,
	.release = vmdk_out_release,
};
