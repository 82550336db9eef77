/* ferryctl import --vmdk IN.vmdk -o DISK.raw: make a protected disk's primary from an
 * existing VMDK (monolithicSparse, monolithicFlat, streamOptimized, twoGbMaxExtent*).
 *
 * The primary is written as a sparse raw file under DISK.raw.part and renamed into place
 * only when complete and fsynced, so a failed import never leaves a primary that looks
 * whole. Configured as a `disk =` of a domain, ferryd then seeds it into the repository
 * like any disk with existing content (holes skipped). An existing DISK.raw is never
 * overwritten: it may be a live primary. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic-file.h"
#include "image/vmdk.h"
#include "mgmt/ctl-args.h"
#include "mgmt/ctl-import.h"
#include "common/banned.h"

int ctl_import_main(int argc, char **argv)
{
	struct args a = { .usage = "import --vmdk IN.vmdk -o DISK.raw" };
	int rc = ctl_parse(argc, argv, OPT(VMDK) | OPT(OUT), OPT(VMDK) | OPT(OUT), &a);
	if (rc)
		return rc;
	const char *in = a.vmdk, *out = a.out;
	if (access(out, F_OK) == 0) {
		fprintf(stderr, "ferryctl import: %s exists (it may be a live primary): not "
			"overwriting it\n", out);
		return 1;
	}
	struct vmdk_reader *r;
	char err[512] = "", part[PATH_MAX];
	if (vmdk_open(in, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "ferryctl import: %s: %s\n", in, err);
		return 1;
	}
	snprintf(part, sizeof(part), "%s.part", out);
	int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rc = fd < 0 ? -errno : vmdk_export_raw(r, fd);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && link(part, out) < 0)	/* never replaces an existing file */
		rc = -errno;
	unlink(part);
	if (rc == 0)
		rc = fsync_parent_dir(out);
	uint64_t cap = vmdk_capacity(r);
	vmdk_close(r);
	if (rc < 0) {
		fprintf(stderr, "ferryctl import: %s -> %s: %s\n", in, out,
			rc == -EBADMSG ? "the VMDK is corrupt" : strerror(-rc));
		return 1;
	}
	printf("imported %s (%" PRIu64 " bytes) to %s\n", in, cap, out);
	return 0;
}
