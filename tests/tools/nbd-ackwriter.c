/* Test tool for crash safety: a real NBD client (libnbd) that writes self-describing data
 * and records every write the server acknowledged, and a checker for those records.
 *
 *   nbd-ackwriter write URI SEED FIRST_SLOT SLOTS ACKFILE [QD [RATE]]
 *       The disk is cut into 64 KiB slots (FERRY_ACK_SLOT_KIB=N: N KiB, a multiple of 64,
 *       for every subcommand); slots [FIRST_SLOT, FIRST_SLOT+SLOTS) are each written once,
 *       in a seeded random order, with an extent of 1-16 sixteenths of the slot, aligned to
 *       a sixteenth, inside the slot (some with FUA), QD requests in flight (default 32), at most RATE
 *       writes issued per second (default: no limit). Every acknowledged write is appended
 *       to ACKFILE as "OFFSET LENGTH SEED" the moment its reply arrives. Exit 0 when all
 *       were written, 3 when the connection was lost (the expected outcome when the server
 *       is killed).
 *   nbd-ackwriter check FILE ACKFILE
 *       Every acknowledged extent in FILE holds exactly the data that was written.
 *   nbd-ackwriter pcheck FILE ACKFILE REQUIRED SEED...
 *       For a restored recovery point: the first REQUIRED acknowledged writes of ACKFILE
 *       are in FILE exactly; every other acknowledged write is either there exactly or
 *       not at all (its extent all zeroes); and every non-zero 4 KiB block of FILE is a
 *       block some writer with one of the SEEDs wrote at that offset (no torn, stale or
 *       misplaced data, including writes that were in flight when a server died). Prints
 *       "PRESENT of ACKED acknowledged writes in FILE"; exit 0, or 1 naming the first
 *       problem.
 *
 * Because no extent is ever written twice, "acknowledged" means "must be there", with no
 * ambiguity from later unacknowledged overwrites. */
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

static uint32_t SLOT = 64u << 10;	/* bytes per slot (FERRY_ACK_SLOT_KIB) */

static uint64_t rng_state;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill(uint8_t *buf, uint64_t off, uint32_t len, uint64_t seed)
{
	for (uint32_t i = 0; i < len; i += 8) {
		uint64_t v = (off + i) * 0x9e3779b97f4a7c15ull ^ seed;
		memcpy(buf + i, &v, 8);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct wr {
	uint64_t off;
	uint32_t len;
	uint8_t *buf;
	int ackfd;
	uint64_t seed;
	int *inflight;
	int *failed;
};

static int on_done(void *user, int *error)
{
	struct wr *w = user;
	(*w->inflight)--;
	if (*error) {
		(*w->failed)++;
	} else {
		char line[96];
		int n = snprintf(line, sizeof line, "%" PRIu64 " %u %" PRIu64 "\n", w->off, w->len,
				 w->seed);
		if (write(w->ackfd, line, (size_t)n) != n)
			perror("ackfile");
	}
	free(w->buf);
	free(w);
	return 1;
}

static int do_write(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: nbd-ackwriter write URI SEED FIRST_SLOT SLOTS ACKFILE [QD]\n");
		return 2;
	}
	const char *uri = argv[2];
	uint64_t seed = strtoull(argv[3], NULL, 0);
	uint64_t first = strtoull(argv[4], NULL, 0), count = strtoull(argv[5], NULL, 0);
	int qd = argc > 7 ? atoi(argv[7]) : 32;
	double rate = argc > 8 ? atof(argv[8]) : 0;
	int ackfd = open(argv[6], O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (ackfd < 0) {
		perror(argv[6]);
		return 2;
	}
	rng_state = seed * 2654435761u + 1;
	uint64_t *order = malloc(count * sizeof *order);
	for (uint64_t i = 0; i < count; i++)
		order[i] = first + i;
	for (uint64_t i = count; i > 1; i--) {
		uint64_t j = rng() % i, t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	int rc = 0;
	struct nbd_handle *h = nbd_create();
	if (!h || nbd_connect_uri(h, uri) < 0) {
		fprintf(stderr, "connect %s: %s\n", uri, nbd_get_error());
		rc = 3;
		goto out;
	}
	int inflight = 0, failed = 0;
	uint64_t next = 0;
	double t0 = now_s();
	while (next < count || inflight > 0) {
		while (next < count && inflight < qd &&
		       (rate <= 0 || (double)next < (now_s() - t0) * rate)) {
			struct wr *w = calloc(1, sizeof *w);
			uint32_t blocks = 1 + (uint32_t)(rng() % 16);
			uint32_t start = (uint32_t)(rng() % (16 - blocks + 1));
			w->off = order[next++] * SLOT + start * (SLOT / 16);
			w->len = blocks * (SLOT / 16);
			w->buf = malloc(w->len);
			w->ackfd = ackfd;
			w->seed = seed;
			w->inflight = &inflight;
			w->failed = &failed;
			fill(w->buf, w->off, w->len, seed);
			uint32_t flags = rng() % 8 == 0 ? LIBNBD_CMD_FLAG_FUA : 0;
			nbd_completion_callback cb = { .callback = on_done, .user_data = w };
			if (nbd_aio_pwrite(h, w->buf, w->len, w->off, cb, flags) < 0) {
				fprintf(stderr, "write: %s\n", nbd_get_error());
				free(w->buf);
				free(w);
				rc = 3;
				goto out;
			}
			inflight++;
		}
		if (nbd_poll(h, rate > 0 ? 5 : -1) < 0) {
			fprintf(stderr, "poll: %s\n", nbd_get_error());
			rc = 3;
			goto out;
		}
		if (failed) {
			/* in-flight writes fail when the server dies: that is the expected crash */
			bool dead = nbd_aio_is_dead(h) || nbd_aio_is_closed(h);
			fprintf(stderr, "%d writes failed%s\n", failed,
				dead ? " (connection lost)" : "");
			rc = dead ? 3 : 1;
			goto out;
		}
	}
	nbd_shutdown(h, 0);
out:
	if (h)
		nbd_close(h);	/* retires what is still in flight, calling on_done */
	close(ackfd);
	free(order);
	return rc;
}

static int do_check(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: nbd-ackwriter check FILE ACKFILE\n");
		return 2;
	}
	int fd = open(argv[2], O_RDONLY);
	FILE *acks = fopen(argv[3], "r");
	if (fd < 0 || !acks) {
		perror("open");
		return 2;
	}
	uint64_t off, seed, n = 0;
	unsigned len;
	uint8_t *want = malloc(SLOT), *got = malloc(SLOT);
	while (fscanf(acks, "%" SCNu64 " %u %" SCNu64, &off, &len, &seed) == 3) {
		if (len > SLOT) {
			fprintf(stderr, "bad ack line\n");
			return 2;
		}
		fill(want, off, len, seed);
		ssize_t r = pread(fd, got, len, (off_t)off);
		if (r != (ssize_t)len || memcmp(want, got, len) != 0) {
			fprintf(stderr, "%s: acknowledged write at %" PRIu64 "+%u is missing or wrong\n",
				argv[2], off, len);
			return 1;
		}
		n++;
	}
	printf("%" PRIu64 " acknowledged writes verified in %s\n", n, argv[2]);
	free(want);
	free(got);
	fclose(acks);
	close(fd);
	return 0;
}

/* A 4 KiB block at off is all zeroes (0), a block written by one of seeds (1), or
 * something else (-1). */
static int classify_block(const uint8_t *b, uint64_t off, const uint64_t *seeds, int nseeds)
{
	static const uint8_t zero[4096];
	uint8_t want[4096];
	if (!memcmp(b, zero, sizeof zero))
		return 0;
	uint64_t v;
	memcpy(&v, b, 8);
	uint64_t seed = v ^ off * 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < nseeds; i++) {
		if (seeds[i] != seed)
			continue;
		fill(want, off, sizeof want, seed);
		return memcmp(b, want, sizeof want) ? -1 : 1;
	}
	return -1;
}

static int do_pcheck(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: nbd-ackwriter pcheck FILE ACKFILE REQUIRED SEED...\n");
		return 2;
	}
	const char *file = argv[2];
	uint64_t required = strtoull(argv[4], NULL, 0);
	int nseeds = argc - 5;
	uint64_t *seeds = calloc((size_t)nseeds, sizeof *seeds);
	for (int i = 0; i < nseeds; i++)
		seeds[i] = strtoull(argv[5 + i], NULL, 0);
	int fd = open(file, O_RDONLY);
	FILE *acks = fopen(argv[3], "r");
	if (fd < 0 || !acks) {
		perror("open");
		return 2;
	}
	uint8_t *want = malloc(SLOT), *got = malloc(SLOT), *zero = calloc(1, SLOT);
	uint64_t off, seed, n = 0, present = 0;
	unsigned len;
	int rc = 0;
	while (rc == 0 && fscanf(acks, "%" SCNu64 " %u %" SCNu64, &off, &len, &seed) == 3) {
		if (len > SLOT) {
			fprintf(stderr, "bad ack line\n");
			return 2;
		}
		fill(want, off, len, seed);
		ssize_t r = pread(fd, got, len, (off_t)off);
		if (r != (ssize_t)len) {
			fprintf(stderr, "%s: short read at %" PRIu64 "\n", file, off);
			rc = 1;
		} else if (!memcmp(want, got, len)) {
			present++;
		} else if (n < required) {
			fprintf(stderr, "%s: write #%" PRIu64 " at %" PRIu64 "+%u was acknowledged before"
				" the point was requested but is missing or wrong\n", file, n + 1, off,
				len);
			rc = 1;
		} else if (memcmp(zero, got, len) != 0) {
			fprintf(stderr, "%s: write #%" PRIu64 " at %" PRIu64 "+%u is there only in"
				" part\n", file, n + 1, off, len);
			rc = 1;
		}
		n++;
	}
	if (rc == 0 && n < required) {
		fprintf(stderr, "%s: only %" PRIu64 " acknowledged writes recorded, %" PRIu64
			" required\n", argv[3], n, required);
		rc = 1;
	}
	/* every stored block is one a writer wrote there */
	off_t end = lseek(fd, 0, SEEK_END), pos = 0;
	while (rc == 0 && pos < end) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0)
			break;	/* ENXIO: only a hole remains */
		off_t hole = lseek(fd, data, SEEK_HOLE);
		for (pos = data & ~(off_t)4095; pos < hole && rc == 0; pos += 4096) {
			if (pread(fd, got, 4096, pos) != 4096 ||
			    classify_block(got, (uint64_t)pos, seeds, nseeds) < 0) {
				fprintf(stderr, "%s: the block at %lld holds data no writer wrote"
					" there\n", file, (long long)pos);
				rc = 1;
			}
		}
	}
	if (rc == 0)
		printf("%" PRIu64 " of %" PRIu64 " acknowledged writes in %s\n", present, n, file);
	free(zero);
	free(want);
	free(got);
	free(seeds);
	fclose(acks);
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	const char *slot = getenv("FERRY_ACK_SLOT_KIB");
	if (slot) {
		unsigned long k = strtoul(slot, NULL, 10);
		if (k < 64 || k % 64 || k > 65536) {
			fprintf(stderr, "FERRY_ACK_SLOT_KIB must be a multiple of 64 up to 65536\n");
			return 2;
		}
		SLOT = (uint32_t)k << 10;
	}
	if (argc >= 2 && !strcmp(argv[1], "write"))
		return do_write(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return do_check(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "pcheck"))
		return do_pcheck(argc, argv);
	fprintf(stderr, "usage: nbd-ackwriter write|check|pcheck ...\n");
	return 2;
}
