/* Test tool for consistency groups: a libnbd client with two handles that writes in a
 * dependent order, and a checker for restored images.
 *
 *   nbd-depwriter write URI_A URI_B SECONDS [GENFILE [RATE]]
 *       For g = 1, 2, ...: write generation g to disk A, wait for the acknowledgement,
 *       then write generation g to disk B and wait again; so B's write g is only issued
 *       once A's write g is acknowledged. At most RATE generations per second (default:
 *       as fast as the server answers). Stops after SECONDS and writes the last
 *       acknowledged generation of each disk ("A B") to GENFILE. Exit 0, or 3 when a
 *       connection was lost.
 *   nbd-depwriter check FILE_A FILE_B
 *       Reads the generation each image holds (see below), checks that each image is
 *       exactly the state its disk had after that generation, and that the pair is a
 *       state the disks were in together: gen(A) == gen(B) or gen(A) == gen(B) + 1
 *       (B's write implies A's; A is never more than one step ahead). Prints
 *       "A=GA B=GB"; exit 0 if all holds, 1 if not.
 *
 * Layout: a disk is cut into SLOTS slots of 256 KiB; generation g writes slot g % SLOTS
 * with a write of 4-16 KiB (the length depends on the slot only, so a slot's content is
 * always one whole write). Every 4 KiB block of a write is self-describing: magic, the
 * generation, the disk tag ('A' or 'B'), its offset, then a pattern derived from all
 * three. The generation of an image is the largest generation found in it; since the
 * slots are written round-robin, that one number determines the expected content of
 * every slot, so a lost, reordered or torn write anywhere shows up. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libnbd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/banned.h"

#define SLOTS 256u
#define SLOT_SIZE (256u << 10)
#define BLOCK 4096u
#define MAX_LEN (16u << 10)
#define MAGIC "FERRYDEP"

static uint32_t slot_len(uint32_t slot)
{
	return BLOCK * (1 + slot % 4);
}

static uint64_t slot_off(uint32_t slot)
{
	return (uint64_t)slot * SLOT_SIZE;
}

static void fill_block(uint8_t *b, uint64_t gen, char tag, uint64_t off)
{
	uint64_t t = (uint64_t)(unsigned char)tag;
	memcpy(b, MAGIC, 8);
	memcpy(b + 8, &gen, 8);
	memcpy(b + 16, &t, 8);
	memcpy(b + 24, &off, 8);
	uint64_t x = gen * 0x9e3779b97f4a7c15ull ^ off ^ t << 56;
	for (uint32_t i = 32; i < BLOCK; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(b + i, &x, 8);
	}
}

static void fill_write(uint8_t *buf, uint64_t gen, char tag)
{
	uint32_t slot = (uint32_t)(gen % SLOTS);
	for (uint32_t i = 0; i < slot_len(slot); i += BLOCK)
		fill_block(buf + i, gen, tag, slot_off(slot) + i);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct nbd_handle *connect_uri(const char *uri)
{
	struct nbd_handle *h = nbd_create();
	if (!h || nbd_connect_uri(h, uri) < 0) {
		fprintf(stderr, "connect %s: %s\n", uri, nbd_get_error());
		if (h)
			nbd_close(h);
		return NULL;
	}
	return h;
}

static int do_write(int argc, char **argv)
{
	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: nbd-depwriter write URI_A URI_B SECONDS [GENFILE [RATE]]\n");
		return 2;
	}
	double secs = atof(argv[4]);
	double rate = argc > 6 ? atof(argv[6]) : 0;
	struct nbd_handle *ha = connect_uri(argv[2]);
	struct nbd_handle *hb = ha ? connect_uri(argv[3]) : NULL;
	if (!hb) {
		if (ha)
			nbd_close(ha);
		return 3;
	}
	uint8_t *buf = malloc(MAX_LEN);
	uint64_t ga = 0, gb = 0;
	int rc = 0;
	double start = now_s(), end = start + secs;
	for (uint64_t g = 1; now_s() < end; g++) {
		uint32_t slot = (uint32_t)(g % SLOTS);
		double ahead = rate > 0 ? start + (double)g / rate - now_s() : 0;
		if (ahead > 0)
			usleep((useconds_t)(ahead * 1e6));
		fill_write(buf, g, 'A');
		if (nbd_pwrite(ha, buf, slot_len(slot), slot_off(slot), 0) < 0) {
			fprintf(stderr, "write A gen %" PRIu64 ": %s\n", g, nbd_get_error());
			rc = 3;
			break;
		}
		ga = g;
		fill_write(buf, g, 'B');
		if (nbd_pwrite(hb, buf, slot_len(slot), slot_off(slot), 0) < 0) {
			fprintf(stderr, "write B gen %" PRIu64 ": %s\n", g, nbd_get_error());
			rc = 3;
			break;
		}
		gb = g;
	}
	if (rc == 0) {
		nbd_shutdown(ha, 0);
		nbd_shutdown(hb, 0);
	}
	nbd_close(ha);
	nbd_close(hb);
	free(buf);
	printf("A %" PRIu64 " B %" PRIu64 "\n", ga, gb);
	if (argc >= 6) {
		FILE *f = fopen(argv[5], "w");
		if (!f || fprintf(f, "%" PRIu64 " %" PRIu64 "\n", ga, gb) < 0 || fclose(f) != 0) {
			perror(argv[5]);
			return 2;
		}
	}
	return rc;
}

/* The generation an image holds: the largest generation found in a slot's first block
 * (0 when every slot is empty). -1 when a slot holds something that is neither zeroes nor
 * a block of this disk. */
static int64_t image_gen(int fd, char tag, const char *name)
{
	uint8_t b[BLOCK], z[BLOCK] = { 0 };
	uint64_t best = 0;
	for (uint32_t s = 0; s < SLOTS; s++) {
		ssize_t r = pread(fd, b, BLOCK, (off_t)slot_off(s));
		if (r != (ssize_t)BLOCK) {
			fprintf(stderr, "%s: short read at slot %u\n", name, s);
			return -1;
		}
		if (!memcmp(b, z, BLOCK))
			continue;
		uint64_t gen, t;
		memcpy(&gen, b + 8, 8);
		memcpy(&t, b + 16, 8);
		if (memcmp(b, MAGIC, 8) || t != (uint64_t)(unsigned char)tag || gen % SLOTS != s) {
			fprintf(stderr, "%s: slot %u holds a foreign block\n", name, s);
			return -1;
		}
		if (gen > best)
			best = gen;
	}
	return (int64_t)best;
}

/* Every slot holds exactly what generation gen left there: the newest g <= gen of the slot,
 * or zeroes if there is none; the rest of each slot is zero. */
static bool image_is(int fd, char tag, uint64_t gen, const char *name)
{
	uint8_t *got = malloc(SLOT_SIZE), *want = calloc(1, SLOT_SIZE);
	bool ok = true;
	for (uint32_t s = 0; s < SLOTS && ok; s++) {
		memset(want, 0, SLOT_SIZE);
		uint64_t g = gen >= s ? gen - (gen - s) % SLOTS : 0;
		if (g >= 1)
			fill_write(want, g, tag);
		if (pread(fd, got, SLOT_SIZE, (off_t)slot_off(s)) != (ssize_t)SLOT_SIZE ||
		    memcmp(got, want, SLOT_SIZE) != 0) {
			fprintf(stderr, "%s: slot %u is not what generation %" PRIu64
				" left there (expected generation %" PRIu64 ")\n", name, s, gen, g);
			ok = false;
		}
	}
	free(got);
	free(want);
	return ok;
}

static int do_check(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: nbd-depwriter check FILE_A FILE_B\n");
		return 2;
	}
	int fa = open(argv[2], O_RDONLY), fb = open(argv[3], O_RDONLY);
	if (fa < 0 || fb < 0) {
		perror("open");
		return 2;
	}
	int64_t ga = image_gen(fa, 'A', argv[2]), gb = image_gen(fb, 'B', argv[3]);
	int rc = 0;
	if (ga < 0 || gb < 0) {
		rc = 1;
	} else {
		printf("A=%" PRId64 " B=%" PRId64 "\n", ga, gb);
		if (!image_is(fa, 'A', (uint64_t)ga, argv[2]) ||
		    !image_is(fb, 'B', (uint64_t)gb, argv[3]))
			rc = 1;
		if (gb > ga) {
			fprintf(stderr, "B holds generation %" PRId64 " but A only %" PRId64
				": B's write without the A write it depends on\n", gb, ga);
			rc = 1;
		} else if (ga > gb + 1) {
			fprintf(stderr, "A holds generation %" PRId64 " but B only %" PRId64
				": B's write %" PRId64 " was acknowledged before A's write %" PRId64
				" was issued, yet only the later one is there\n", ga, gb, gb + 1, ga);
			rc = 1;
		}
	}
	close(fa);
	close(fb);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "write"))
		return do_write(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return do_check(argc, argv);
	fprintf(stderr, "usage: nbd-depwriter write|check ...\n");
	return 2;
}
