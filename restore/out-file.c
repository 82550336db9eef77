/* raw and vmdk-flat outputs: a random-access regular file (raw: PATH; vmdk-flat: the
 * extent NAME-flat.vmdk, the descriptor PATH written last).
 *
 * The sink queues io_uring writes straight from the pipeline's window buffer (the batch
 * writer, with an O_DIRECT descriptor for the aligned middle of each write: restored data
 * is not read back soon, and the page-cache copy cost as much CPU as decrypting and
 * decompressing it). Zero ranges are never written: the file is sparse. A window's writes
 * run on while the next windows are decoded; a checkpoint flushes them and fdatasyncs
 * first, since it must claim only what is durable. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic-file.h"
#include "common/batch-write.h"
#include "restore/restore-internal.h"
#include "common/errmsg.h"
#include "common/banned.h"

static int file_open(struct rout *o, uint64_t *start, char *err, size_t errlen)
{
	const struct restore_req *q = o->q;
	struct vmdk_ckpt c;
	o->final_path = q->fmt == RESTORE_VMDK_FLAT ? vmdk_flat_extent_path(q->path) :
						      strdup(q->path);
	if (!o->final_path)
		return -ENOMEM;
	int rc = ckpt_find(o, o->final_path, &c);
	if (rc < 0)
		return rc;
	*start = c.off;
	o->fd = open(o->part, O_RDWR | O_CREAT | O_CLOEXEC | (*start ? 0 : O_TRUNC), 0644);
	if (o->fd < 0)
		return err_set(err, errlen, -errno, "%s: %s", o->part, strerror(errno));
	if (ftruncate(o->fd, (off_t)o->size) < 0)
		return err_set(err, errlen, -errno, "%s: %s", o->part, strerror(errno));
	rc = bw_open(o->fd, 64, &o->bw);
	if (rc == 0)
		bw_use_direct(o->bw, o->part);
	return rc;
}

int rout_bw_sink(void *arg, uint64_t off, const void *buf, size_t len)
{
	struct rout *o = arg;
	return bw_write(o->bw, buf, len, off);
}

int rout_bw_drain(void *arg)
{
	struct rout *o = arg;
	return bw_flush(o->bw);
}

int rout_bw_window(struct rout *o)
{
	return bw_submit(o->bw);
}

static int file_sync(struct rout *o, uint64_t upto, struct vmdk_ckpt *c)
{
	*c = (struct vmdk_ckpt){ upto, 0 };
	int rc = bw_flush(o->bw);
	if (rc == 0 && fdatasync(o->fd) < 0)
		rc = -errno;
	return rc;
}

static int file_finish(struct rout *o, char *err, size_t errlen)
{
	const struct restore_req *q = o->q;
	int rc = bw_flush(o->bw);
	if (rc == 0 && fsync(o->fd) < 0)
		rc = -errno;
	if (close(o->fd) < 0 && rc == 0)
		rc = -errno;
	o->fd = -1;
	if (rc == 0)
		rc = rename_durable(o->part, o->final_path);
	if (rc < 0)
		return err_set(err, errlen, rc, "%s: %s", o->final_path, strerror(-rc));
	ckpt_remove(o);
	if (q->fmt != RESTORE_VMDK_FLAT)
		return 0;
	struct vmdk_meta m;
	rout_meta(o, &m);
	return vmdk_flat_write_desc(q->path, &m, err, errlen);
}

static void file_release(struct rout *o, bool keep)
{
	bw_close(o->bw);
	o->bw = NULL;
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (o->part && !keep) {
		unlink(o->part);
		ckpt_remove(o);
	}
}

const struct out_ops out_file_ops = {
	.open = file_open,
	.sink = rout_bw_sink,
	.drain = rout_bw_drain,
	.window = rout_bw_window,
	.sync = file_sync,
	.finish = file_finish,
	.release = file_release,
};
