/* Unit tests for the guest disk layer of Re-IP (agent/guest-*.c), on images made by the
 * real tools (mkfs.ext4 -d, sfdisk, debugfs's journal writer):
 * - partitions: the whole disk; MBR primary, extended with logical ones (EBR chain), LVM
 *   and other types noted; GPT Linux partitions and GPT LVM noted; a partition past the
 *   end of the disk noted, not used;
 * - files: read (symlinks followed inside the guest), list, rewrite larger and smaller,
 *   then `e2fsck -fn` passes and debugfs reads the new content;
 * - the journal: a transaction is replayed before anything is read; a block revoked by a
 *   later transaction is not; a transaction whose data block fails its checksum (v3) and
 *   everything after it are not replayed; needs_recovery is cleared and fsck passes. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/guest.h"
#include "common/util.h"
#include "tests/unit/unit-sh.h"
#include "common/banned.h"

static char dir[64], pbuf[256];

static const char *P(const char *name)
{
	snprintf(pbuf, sizeof(pbuf), "%s/%s", dir, name);
	return pbuf;
}

static int setup(void **state)
{
	(void)state;
	if (sh("command -v mkfs.ext4 debugfs sfdisk e2fsck >/dev/null"))
		return -1;
	snprintf(dir, sizeof(dir), "/tmp/test-guest.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	return sh("cd '%s' && mkdir -p root/etc/network root/etc/netplan && "
		  "printf 'auto eth0\\niface eth0 inet static\\n    address 10.1.0.11/24\\n' "
		  ">root/etc/network/interfaces && printf 'network: {}\\n' >root/etc/netplan/a.yaml && "
		  "ln -s ../network/interfaces root/etc/netplan/link && "
		  "mkfs.ext4 -q -F -d root fs.img 16M && mkfs.ext4 -q -F boot.img 8M", dir);
}

static int teardown(void **state)
{
	(void)state;
	return sh("rm -rf '%s'", dir) == 0 ? 0 : -1;
}

static struct guest_disk *open_disk(const char *path)
{
	struct guest_disk *d;
	char err[256];
	int rc = guest_disk_open(path, REIP_IMAGE_RAW, &d, err, sizeof(err));
	if (rc)
		fail_msg("%s: %s", path, err);
	return d;
}

static void parts_of(const char *img, size_t want, const char *names, const char *notes)
{
	struct guest_disk *d = open_disk(img);
	struct guest_part p[GUEST_MAX_PARTS];
	size_t n;
	char got_notes[512], got[512] = "";
	assert_int_equal(guest_parts(d, p, &n, got_notes, sizeof(got_notes)), 0);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(got);
		snprintf(got + l, sizeof(got) - l, "%s@%llu;", p[i].name,
			 (unsigned long long)p[i].offset);
	}
	if (n != want || strcmp(got, names) || !strstr(got_notes, notes))
		fail_msg("%s: got %zu '%s' notes '%s'", img, n, got, got_notes);
	guest_disk_close(d);
}

static void test_partitions(void **state)
{
	(void)state;
	parts_of(P("fs.img"), 1, "the whole disk@0;", "");
	/* MBR: 1 (83, no file system), 2 extended with logical 5 (83) and 6 (8e), 3 LVM,
	 * 4 FAT */
	assert_int_equal(sh("cd '%s' && truncate -s 64M mbr.img && printf 'label: dos\\n"
			    "start=2048, size=8192, type=83\\nstart=10240, size=45056, type=5\\n"
			    "start=55296, size=4096, type=8e\\nstart=59392, size=4096, type=c\\n"
			    "start=12288, size=34816, type=83\\nstart=49152, size=4096, type=8e\\n' | "
			    "sfdisk -q mbr.img && dd if=fs.img of=mbr.img bs=512 seek=12288 "
			    "conv=notrunc status=none", dir), 0);
	parts_of(P("mbr.img"), 2, "MBR partition 1@1048576;MBR partition 5@6291456;",
		 "MBR partition 6 is LVM (not read); MBR partition 3 is LVM (not read); MBR "
		 "partition 4 has type 0x0c (not Linux)");
	assert_int_equal(sh("cd '%s' && truncate -s 64M gpt.img && printf 'label: gpt\\n"
			    "start=2048, size=4096, type=E6D6D379-F507-44C2-A23C-238F2A3DF928\\n"
			    "start=6144, size=16384, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\\n"
			    "start=22528, size=40960, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709\\n' | "
			    "sfdisk -q gpt.img", dir), 0);
	parts_of(P("gpt.img"), 2, "GPT partition 2@3145728;GPT partition 3@11534336;",
		 "GPT partition 1 is LVM (not read)");
	/* a primary partition reaching past the end of the disk */
	assert_int_equal(sh("cd '%s' && cp mbr.img short.img && truncate -s 20M short.img", dir), 0);
	parts_of(P("short.img"), 1, "MBR partition 1@1048576;",
		 "MBR partition 5 lies outside the disk");
	assert_int_equal(sh("cd '%s' && truncate -s 1M empty.img", dir), 0);
	parts_of(P("empty.img"), 0, "", "no ext file system on the whole disk and no partition "
		 "table");
}

static struct guest_fs *open_fs(struct guest_disk *d, unsigned *replayed)
{
	struct guest_part p = { 0, guest_disk_size(d), "the disk" };
	struct guest_fs *fs;
	char err[256];
	int rc = guest_fs_open(d, &p, &fs, replayed, err, sizeof(err));
	if (rc)
		fail_msg("guest_fs_open: %s", err);
	return fs;
}

static void test_files(void **state)
{
	(void)state;
	struct guest_disk *d = open_disk(P("fs.img"));
	unsigned replayed;
	struct guest_fs *fs = open_fs(d, &replayed);
	char *data, err[256], **names;
	size_t len, n;
	assert_int_equal(replayed, 0);
	assert_int_equal(guest_fs_read(fs, "/etc/netplan/link", 4096, &data, &len, err,
				       sizeof(err)), 0);	/* ../network/interfaces */
	assert_non_null(strstr(data, "address 10.1.0.11/24"));
	free(data);
	assert_int_equal(guest_fs_read(fs, "/etc/network/interfaces", 10, &data, &len, err,
				       sizeof(err)), -EFBIG);
	assert_int_equal(guest_fs_read(fs, "/etc/nope", 4096, &data, &len, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/etc/nope: no such file"));
	assert_int_equal(guest_fs_read(fs, "/etc", 4096, &data, &len, err, sizeof(err)), -EISDIR);
	assert_int_equal(guest_fs_list(fs, "/etc/netplan", &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "a.yaml");
	assert_string_equal(names[1], "link");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	assert_int_equal(guest_fs_list(fs, "/etc/none", &names, &n), -ENOENT);
	assert_true(guest_fs_is_dir(fs, "/etc"));
	assert_false(guest_fs_is_dir(fs, "/etc/netplan/a.yaml"));
	/* larger than a block, then smaller again (through the symlink) */
	char *big = malloc(10000);
	memset(big, 'x', 10000);
	assert_int_equal(guest_fs_write(fs, "/etc/netplan/a.yaml", big, 10000, err, sizeof(err)), 0);
	assert_int_equal(guest_fs_write(fs, "/etc/netplan/link", "short\n", 6, err, sizeof(err)), 0);
	assert_int_equal(guest_fs_write(fs, "/etc/missing", "x", 1, err, sizeof(err)), -ENOENT);
	assert_int_equal(guest_fs_close(fs, err, sizeof(err)), 0);
	assert_int_equal(guest_disk_close(d), 0);
	free(big);
	assert_int_equal(sh("e2fsck -fn '%s' >/dev/null 2>&1", P("fs.img")), 0);
	assert_int_equal(sh("[ \"$(debugfs -R 'cat /etc/network/interfaces' '%s' 2>/dev/null)\" = "
			    "short ]", P("fs.img")), 0);
	assert_int_equal(sh("[ \"$(debugfs -R 'cat /etc/netplan/a.yaml' '%s' 2>/dev/null | wc -c)\" "
			    "= 10000 ]", P("fs.img")), 0);
	/* not an ext file system */
	struct guest_disk *e = open_disk(P("empty.img"));
	struct guest_part p = { 0, guest_disk_size(e), "the disk" };
	struct guest_fs *none;
	assert_int_equal(guest_fs_open(e, &p, &none, &replayed, err, sizeof(err)), -EUCLEAN);
	assert_non_null(strstr(err, "the disk: no readable ext2/3/4 file system"));
	guest_disk_close(e);
}

/* A journal of transactions written by debugfs onto a copy of boot.img: the file's
 * block gets "NEW", from a journal the guest's kernel would replay. */
static void journal(const char *img, const char *script)
{
	assert_int_equal(sh("cd '%s' && cp boot.img %s && printf OLD >old && "
			    "debugfs -w -R 'write old f' %s >/dev/null 2>&1 && "
			    "blk=$(debugfs -R 'stat f' %s 2>/dev/null | grep -A1 EXTENTS | tail -1 | "
			    "sed 's/.*://') && printf NEW >new && truncate -s 1024 new && "
			    "printf '%s' | sed \"s/BLK/$blk/g\" | debugfs -w -f - %s >/dev/null 2>&1 && "
			    "dumpe2fs -h %s 2>/dev/null | grep -q needs_recovery",
			    dir, img, img, img, script, img, img), 0);
}

static void expect_content(const char *img, unsigned want_replayed, const char *want)
{
	struct guest_disk *d = open_disk(P(img));
	unsigned replayed;
	struct guest_fs *fs = open_fs(d, &replayed);
	char *data, err[256];
	size_t len;
	assert_int_equal(replayed, want_replayed);
	assert_int_equal(guest_fs_read(fs, "/f", 4096, &data, &len, err, sizeof(err)), 0);
	assert_memory_equal(data, want, 3);
	free(data);
	assert_int_equal(guest_fs_close(fs, err, sizeof(err)), 0);
	assert_int_equal(guest_disk_close(d), 0);
	assert_int_equal(sh("e2fsck -fn '%s' >/dev/null 2>&1", P(img)), 0);
	assert_int_equal(sh("dumpe2fs -h '%s' 2>/dev/null | grep -q needs_recovery", P(img)), 1);
	assert_int_equal(sh("dumpe2fs -h '%s' 2>/dev/null | grep -q 'Journal start: *0$'", P(img)), 0);
}

static void test_journal(void **state)
{
	(void)state;
	journal("j1.img", "jo -c\\njw -b BLK new\\njc\\n");
	expect_content("j1.img", 1, "NEW");
	/* the second transaction revokes the block: the first one's copy is not replayed */
	journal("j2.img", "jo -c\\njw -b BLK new\\njc\\njo\\njw -r BLK\\njc\\n");
	expect_content("j2.img", 2, "OLD");
	/* without checksums */
	journal("j3.img", "jo\\njw -b BLK new\\njc\\n");
	expect_content("j3.img", 1, "NEW");
	/* a data block that fails its checksum ends the log: nothing replayed */
	journal("j4.img", "jo -c\\njw -b BLK new\\njc\\n");
	assert_int_equal(sh("cd '%s' && jb=$(debugfs -R 'bmap <8> 2' j4.img 2>/dev/null) && "
			    "printf X | dd of=j4.img bs=1 seek=$((jb * 1024 + 1)) conv=notrunc "
			    "status=none", dir), 0);
	expect_content("j4.img", 0, "OLD");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partitions),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_journal),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
