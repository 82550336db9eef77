/* vmdk-tool: a small test CLI over image/vmdk.h, for integration tests and measurements.
 *
 *   vmdk-tool write sparse|flat|stream RAW OUT.vmdk [--chunk BYTES] [--level N]
 *             [--threads N] [--adapter TYPE] [--ddb KEY=VALUE]...
 *       RAW is read front to back in chunks (default 1 MiB), holes skipped with
 *       SEEK_DATA/SEEK_HOLE, and written in ascending order, as a restore does.
 *   vmdk-tool read IN.vmdk RAW     RAW gets the disk, sparse (only data ranges written)
 *   vmdk-tool info IN.vmdk         capacity, createType, extents, ddb lines
 *   vmdk-tool set-ddb FLAT.vmdk KEY=VALUE...   rewrite a monolithicFlat descriptor
 * Exit 0 success, 1 failure, 2 bad usage. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "image/vmdk.h"
#include "common/banned.h"

#define MAX_DDB 32

static int usage(void)
{
	fprintf(stderr, "usage: vmdk-tool write sparse|flat|stream RAW OUT.vmdk [--chunk N] "
		"[--level N] [--threads N] [--adapter T] [--ddb K=V]...\n"
		"       vmdk-tool read IN.vmdk RAW\n       vmdk-tool info IN.vmdk\n"
		"       vmdk-tool set-ddb FLAT.vmdk K=V...\n");
	return 2;
}

static int split_kv(char *s, struct vmdk_kv *kv)
{
	char *eq = strchr(s, '=');
	if (!eq)
		return -1;
	*eq = '\0';
	kv->key = s;
	kv->value = eq + 1;
	return 0;
}

static int cmd_write(int argc, char **argv)
{
	struct vmdk_meta m = { 0 };
	struct vmdk_kv kv[MAX_DDB];
	size_t chunk = 1 << 20;
	enum vmdk_format f;
	char err[256] = "";

	if (argc < 4)
		return usage();
	if (strcmp(argv[1], "sparse") == 0)
		f = VMDK_SPARSE;
	else if (strcmp(argv[1], "flat") == 0)
		f = VMDK_FLAT;
	else if (strcmp(argv[1], "stream") == 0)
		f = VMDK_STREAM;
	else
		return usage();
	for (int i = 4; i < argc; i++) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--chunk") == 0)
			chunk = strtoul(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--level") == 0)
			m.level = atoi(argv[++i]);
		else if (strcmp(argv[i], "--threads") == 0)
			m.threads = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--adapter") == 0)
			m.adapter_type = argv[++i];
		else if (strcmp(argv[i], "--ddb") == 0 && m.n_extra < MAX_DDB &&
			 split_kv(argv[i + 1], &kv[m.n_extra]) == 0)
			m.n_extra++, i++;
		else
			return usage();
	}
	if (chunk == 0)
		return usage();
	m.extra = kv;
	CLEANUP_CLOSE int in = open(argv[2], O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (in < 0 || fstat(in, &st) < 0) {
		perror(argv[2]);
		return 1;
	}
	uint64_t size = (uint64_t)st.st_size;
	m.capacity = ROUND_UP(size, VMDK_SECTOR);
	struct vmdk_writer *w;
	if (vmdk_writer_open(argv[3], f, &m, &w, err, sizeof err) < 0) {
		fprintf(stderr, "vmdk-tool: %s\n", err);
		return 1;
	}
	CLEANUP_FREE uint8_t *buf = malloc(chunk);
	int r = buf ? 0 : -ENOMEM;
	uint64_t off = 0;
	while (r == 0 && off < size) {
		off_t d = lseek(in, (off_t)off, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			break;
		off_t h = d < 0 ? (off_t)size : lseek(in, d, SEEK_HOLE);
		uint64_t end = h < 0 ? size : MIN((uint64_t)h, size);
		off = d < 0 ? off : (uint64_t)d;
		while (r == 0 && off < end) {
			size_t n = (size_t)MIN((uint64_t)chunk, end - off);
			r = pread_full(in, buf, n, off);
			if (r == 0)
				r = vmdk_writer_write(w, off, buf, n);
			off += n;
		}
	}
	if (r < 0) {
		fprintf(stderr, "vmdk-tool: write: %s\n", strerror(-r));
		vmdk_writer_abort(w);
		return 1;
	}
	if (vmdk_writer_finish(w, err, sizeof err) < 0) {
		fprintf(stderr, "vmdk-tool: %s\n", err);
		return 1;
	}
	return 0;
}

static int cmd_read(int argc, char **argv)
{
	struct vmdk_reader *r;
	char err[256] = "";

	if (argc != 3)
		return usage();
	if (vmdk_open(argv[1], &r, err, sizeof err) < 0) {
		fprintf(stderr, "vmdk-tool: %s\n", err);
		return 1;
	}
	int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = out < 0 ? -errno : vmdk_export_raw(r, out);
	if (rc == 0 && fsync(out) < 0)
		rc = -errno;
	if (rc < 0)
		fprintf(stderr, "vmdk-tool: read: %s\n", strerror(-rc));
	if (out >= 0)
		close(out);
	vmdk_close(r);
	return rc < 0;
}

static int cmd_info(int argc, char **argv)
{
	struct vmdk_reader *r;
	char err[256] = "";

	if (argc != 2)
		return usage();
	if (vmdk_open(argv[1], &r, err, sizeof err) < 0) {
		fprintf(stderr, "vmdk-tool: %s\n", err);
		return 1;
	}
	printf("capacity %" PRIu64 "\n", vmdk_capacity(r));
	const struct vmdk_desc *d = vmdk_reader_desc(r);
	if (d) {
		printf("createType %s\nCID %08" PRIx32 "\n", d->create_type, d->cid);
		for (size_t i = 0; i < d->n_extents; i++)
			printf("extent %s %" PRIu64 " %s\n", d->extents[i].type_name,
			       d->extents[i].sectors, d->extents[i].file ? d->extents[i].file : "");
		for (size_t i = 0; i < d->n_ddb; i++)
			printf("%s = %s\n", d->ddb[i].key, d->ddb[i].value);
	}
	vmdk_close(r);
	return 0;
}

static int cmd_set_ddb(int argc, char **argv)
{
	struct vmdk_kv kv[MAX_DDB];
	char err[256] = "";
	size_t n = 0;

	if (argc < 3 || argc - 2 > MAX_DDB)
		return usage();
	for (int i = 2; i < argc; i++)
		if (split_kv(argv[i], &kv[n++]) < 0)
			return usage();
	if (vmdk_flat_update_desc(argv[1], kv, n, err, sizeof err) < 0) {
		fprintf(stderr, "vmdk-tool: %s\n", err);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "write") == 0)
		return cmd_write(argc - 1, argv + 1);
	if (strcmp(argv[1], "read") == 0)
		return cmd_read(argc - 1, argv + 1);
	if (strcmp(argv[1], "info") == 0)
		return cmd_info(argc - 1, argv + 1);
	if (strcmp(argv[1], "set-ddb") == 0)
		return cmd_set_ddb(argc - 1, argv + 1);
	return usage();
}
