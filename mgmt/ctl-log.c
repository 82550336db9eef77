/* ferryctl log: offline inspection of the replication log.
 *
 *   stat   -c FILE [--json]              geometry, superblock state, domains, disks
 *   dump   -c FILE [--json]              one line (or JSON object) per record
 *   verify -c FILE                       full scan + CRC check
 *   replay -c FILE --disk NAME -o OUT    apply one disk's records onto OUT
 *   dirty  -c FILE --disk NAME [--json]  the disk's dirty extents, merged
 *
 * Every subcommand opens the log with opts.readonly: nothing is ever written to it (dirty
 * uses replog_dirty_take, which on a read-only log copies the bitmap without clearing it).
 * Exit codes: 0 ok, 1 failure (including a corrupt log), 2 bad usage or configuration. */
#include "mgmt/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/dbuf.h"
#include "common/json.h"
#include "common/util.h"
#include "mgmt/ctl-args.h"
#include "datapath/replog.h"
#include "common/banned.h"

#define USAGE "log stat|dump|verify|replay|dirty -c FILE [--json] [--disk NAME] [-o OUT]"

struct ctx {
	struct args a;
	const char *path;
	struct replog *log;
	struct replog_stat st;
};

/* ---- helpers ---- */

static int bad_usage(const char *why)
{
	fprintf(stderr, "ferryctl log: %s\nusage: ferryctl %s\n", why, USAGE);
	return 2;
}

static void fmt_uuid(const uint8_t *u, char *out, size_t n)
{
	snprintf(out, n, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7],
		 u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

static void fmt_time(uint64_t ns, char *out, size_t n)
{
	time_t s = (time_t)(ns / 1000000000u);
	struct tm tm;
	char buf[32];
	gmtime_r(&s, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, n, "%s.%09" PRIu64 "Z", buf, ns % 1000000000u);
}

static const char *type_name(uint16_t t)
{
	return t == REPLOG_REC_WRITE ? "write" : t == REPLOG_REC_ZERO ? "zero" :
	       t == REPLOG_REC_PAD ? "pad" : "unknown";
}

static const struct replog_disk_stat *disk_by_id(const struct replog_stat *st, uint32_t id)
{
	for (size_t i = 0; i < st->n_disks; i++)
		if (st->disks[i].disk_id == id)
			return &st->disks[i];
	return NULL;
}

static const struct replog_disk_stat *disk_by_name(const struct replog_stat *st,
						   const char *name)
{
	for (size_t i = 0; i < st->n_disks; i++)
		if (!strcmp(st->disks[i].name, name))
			return &st->disks[i];
	return NULL;
}

/* Print a dbuf built with the JSON helpers, newline-terminated. */
static int flush_json(struct dbuf *b, int r)
{
	if (!r)
		r = dbuf_add(b, "\n", 1);
	if (r) {
		fprintf(stderr, "ferryctl log: formatting output: %s\n", strerror(-r));
		dbuf_release(b);
		return 1;
	}
	fwrite(b->data, 1, b->len, stdout);
	dbuf_release(b);
	return 0;
}

/* ---- stat ---- */

static int stat_text(const struct ctx *c)
{
	const struct replog_stat *st = &c->st;
	char uuid[40];
	fmt_uuid(st->uuid, uuid, sizeof uuid);
	printf("path: %s\nuuid: %s\nversion: %u\n", c->path, uuid, st->version);
	printf("superblocks: 0, 4096 (4096 bytes each)\n");
	printf("metadata: offset %" PRIu64 ", %" PRIu64 " bytes\n", st->meta_off, st->meta_size);
	printf("data: offset %" PRIu64 ", %" PRIu64 " bytes\n", st->data_off, st->data_size);
	printf("superblock generation: %" PRIu64 "\nopen generation: %u\nclean: %s\n",
	       st->sb_gen, st->open_gen, st->clean ? "yes" : "no");
	printf("tail: seq %" PRIu64 ", offset %" PRIu64 "\n", st->tail_seq, st->tail_off);
	printf("head: seq %" PRIu64 ", offset %" PRIu64 "\n", st->head_seq, st->head_off);
	printf("used: %" PRIu64 " bytes (%.1f%%)\nrecords: %" PRIu64 "\n", st->used_bytes,
	       st->data_size ? 100.0 * (double)st->used_bytes / (double)st->data_size : 0.0,
	       st->records);
	for (size_t i = 0; i < st->n_domains; i++)
		printf("domain %s: id %u, %s, shipped %" PRIu64 "\n", st->domains[i].name,
		       st->domains[i].id, st->domains[i].overflow ? "overflow" : "ok",
		       st->domains[i].shipped_seq);
	for (size_t i = 0; i < st->n_disks; i++) {
		const struct replog_disk_stat *d = &st->disks[i];
		printf("disk %s: id %u, domain %s, size %" PRIu64 ", grain %u, dirty %" PRIu64
		       " bits (%" PRIu64 " bytes)\n", d->name, d->disk_id, d->domain, d->size,
		       d->grain, d->dirty_bits, MIN(d->dirty_bits * d->grain, d->size));
	}
	return 0;
}

static int stat_json(const struct ctx *c)
{
	const struct replog_stat *st = &c->st;
	struct dbuf b = DBUF_INIT(1 << 20);
	char uuid[40];
	fmt_uuid(st->uuid, uuid, sizeof uuid);
	int r = dbuf_printf(&b, "{\"uuid\":\"%s\",\"version\":%u,\"sb_offsets\":[0,4096],"
			    "\"meta_off\":%" PRIu64 ",\"meta_size\":%" PRIu64 ",\"data_off\":%"
			    PRIu64 ",\"data_size\":%" PRIu64 ",\"sb_gen\":%" PRIu64 ",\"open_gen\":"
			    "%u,\"clean\":%s,\"tail_seq\":%" PRIu64 ",\"tail_off\":%" PRIu64
			    ",\"head_seq\":%" PRIu64 ",\"head_off\":%" PRIu64 ",\"used_bytes\":%"
			    PRIu64 ",\"used_percent\":%.2f,\"records\":%" PRIu64 ",\"domains\":[",
			    uuid, st->version, st->meta_off, st->meta_size, st->data_off,
			    st->data_size, st->sb_gen, st->open_gen, st->clean ? "true" : "false",
			    st->tail_seq, st->tail_off, st->head_seq, st->head_off, st->used_bytes,
			    st->data_size ? 100.0 * (double)st->used_bytes / (double)st->data_size
					  : 0.0, st->records);
	for (size_t i = 0; !r && i < st->n_domains; i++) {
		const struct replog_domain_stat *d = &st->domains[i];
		r = dbuf_printf(&b, "%s{\"name\":", i ? "," : "");
		r = r ? r : json_add_str(&b, d->name);
		r = r ? r : dbuf_printf(&b, ",\"id\":%u,\"state\":\"%s\",\"shipped_seq\":%" PRIu64
					"}", d->id, d->overflow ? "overflow" : "ok", d->shipped_seq);
	}
	r = r ? r : dbuf_printf(&b, "],\"disks\":[");
	for (size_t i = 0; !r && i < st->n_disks; i++) {
		const struct replog_disk_stat *d = &st->disks[i];
		r = dbuf_printf(&b, "%s{\"name\":", i ? "," : "");
		r = r ? r : json_add_str(&b, d->name);
		r = r ? r : dbuf_printf(&b, ",\"domain\":");
		r = r ? r : json_add_str(&b, d->domain);
		r = r ? r : dbuf_printf(&b, ",\"id\":%u,\"domain_id\":%u,\"size\":%" PRIu64
					",\"grain\":%u,\"dirty_bits\":%" PRIu64 ",\"dirty_bytes\":%"
					PRIu64 "}", d->disk_id, d->domain_id, d->size, d->grain,
					d->dirty_bits, MIN(d->dirty_bits * d->grain, d->size));
	}
	r = r ? r : dbuf_printf(&b, "]}");
	return flush_json(&b, r);
}

static int cmd_stat(struct ctx *c)
{
	return c->a.json ? stat_json(c) : stat_text(c);
}

/* ---- dump ---- */

static int dump_one(const struct ctx *c, const struct replog_record *rec)
{
	const struct replog_disk_stat *d = disk_by_id(&c->st, rec->disk_id);
	const char *disk = d ? d->name : "?", *dom = d ? d->domain : "?";
	char when[48];
	fmt_time(rec->time_ns, when, sizeof when);
	if (!c->a.json) {
		printf("seq %" PRIu64 " %s domain %s disk %s offset %" PRIu64 " length %u time %s "
		       "log_off %" PRIu64 "%s\n", rec->seq, type_name(rec->type), dom, disk,
		       rec->offset, rec->length, when, rec->log_off,
		       rec->flags & REPLOG_RF_FUA ? " fua" : "");
		return 0;
	}
	struct dbuf b = DBUF_INIT(4096);
	int r = dbuf_printf(&b, "{\"seq\":%" PRIu64 ",\"type\":\"%s\",\"domain\":", rec->seq,
			    type_name(rec->type));
	r = r ? r : json_add_str(&b, dom);
	r = r ? r : dbuf_printf(&b, ",\"disk\":");
	r = r ? r : json_add_str(&b, disk);
	r = r ? r : dbuf_printf(&b, ",\"domain_id\":%u,\"disk_id\":%u,\"offset\":%" PRIu64
				",\"length\":%u,\"time\":\"%s\",\"time_ns\":%" PRIu64 ",\"log_off\":%"
				PRIu64 ",\"file_off\":%" PRIu64 ",\"fua\":%s,\"crc_ok\":true}",
				rec->domain_id, rec->disk_id, rec->offset, rec->length, when,
				rec->time_ns, rec->log_off, c->st.data_off + rec->log_off,
				rec->flags & REPLOG_RF_FUA ? "true" : "false");
	return flush_json(&b, r);
}

/* A cursor error: say where the log is bad (verify knows the offset and the reason). */
static int report_cursor_error(const struct ctx *c, int r)
{
	uint64_t bad = 0;
	char why[160];
	if (r == -EBADMSG && replog_verify(c->log, &bad, why, sizeof why) == 1)
		return ctl_fail(&c->a, 1, "bad record at offset %" PRIu64 ": %s", bad, why);
	return ctl_fail(&c->a, 1, "reading records: %s", strerror(-r));
}

static int cmd_dump(struct ctx *c)
{
	struct replog_cursor *cur;
	struct replog_record rec;
	const void *pl;
	int r = replog_cursor_open(c->log, 0, &cur);
	if (r < 0)
		return report_cursor_error(c, r);
	while ((r = replog_cursor_next(cur, &rec, &pl)) == 1)
		if (dump_one(c, &rec)) {
			r = -EIO;
			break;
		}
	replog_cursor_close(cur);
	return r < 0 ? report_cursor_error(c, r) : 0;
}

/* ---- verify ---- */

static int cmd_verify(struct ctx *c)
{
	uint64_t bad = 0;
	char why[160];
	int r = replog_verify(c->log, &bad, why, sizeof why);
	if (r < 0)
		return ctl_fail(&c->a, 1, "verify: %s", strerror(-r));
	if (r == 1) {
		printf("bad record at offset %" PRIu64 ": %s\n", bad, why);
		return 1;
	}
	printf("ok: %" PRIu64 " records, seq %" PRIu64 "..%" PRIu64 "\n", c->st.records,
	       c->st.tail_seq, c->st.head_seq - 1);
	return 0;
}

/* ---- replay ---- */

static int write_zeroes(int fd, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[1 << 16];
	while (len) {
		size_t n = (size_t)MIN(len, sizeof zeros);
		int r = pwrite_full(fd, zeros, n, off);
		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

static int apply_zero(int fd, bool is_file, uint64_t off, uint64_t len)
{
	if (is_file) {
		struct stat st;
		if (fstat(fd, &st) < 0)
			return -errno;
		/* the extent exists on the primary: make it exist here (never shrink) */
		if ((uint64_t)st.st_size < off + len && ftruncate(fd, (off_t)(off + len)) < 0)
			return -errno;
	}
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
		return -errno;
	return write_zeroes(fd, off, len);
}

static int cmd_replay(struct ctx *c)
{
	const struct replog_disk_stat *d = disk_by_name(&c->st, c->a.disk);
	struct replog_cursor *cur = NULL;
	struct replog_record rec;
	const void *pl;
	uint64_t writes = 0, zeroes = 0, bytes = 0;
	struct stat sb;

	if (!d)
		return ctl_fail(&c->a, 2, "no disk named '%s' in the log", c->a.disk);
	int fd = open(c->a.out, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		fprintf(stderr, "ferryctl log: %s: %s\n", c->a.out, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	int r = replog_cursor_open(c->log, 0, &cur);
	while (r == 0 && (r = replog_cursor_next(cur, &rec, &pl)) == 1) {
		r = 0;
		if (rec.disk_id != d->disk_id)
			continue;
		if (rec.type == REPLOG_REC_WRITE) {
			r = pwrite_full(fd, pl, rec.length, rec.offset);
			writes++;
			bytes += rec.length;
		} else if (rec.type == REPLOG_REC_ZERO) {
			r = apply_zero(fd, S_ISREG(sb.st_mode), rec.offset, rec.length);
			zeroes++;
		}
		if (r < 0) {
			fprintf(stderr, "ferryctl log: %s: %s\n", c->a.out, strerror(-r));
			replog_cursor_close(cur);
			close(fd);
			return 1;
		}
	}
	replog_cursor_close(cur);
	if (r < 0) {
		close(fd);
		return report_cursor_error(c, r);
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return ctl_fail(&c->a, 1, "%s: %s", c->a.out, strerror(errno));
	printf("replayed %" PRIu64 " records of %s onto %s: %" PRIu64 " writes (%" PRIu64
	       " bytes), %" PRIu64 " zero ranges\n", writes + zeroes, d->name, c->a.out, writes,
	       bytes, zeroes);
	return 0;
}

/* ---- dirty ---- */

static int cmd_dirty(struct ctx *c)
{
	const struct replog_disk_stat *d = disk_by_name(&c->st, c->a.disk);
	uint8_t *bits;
	uint64_t nbits;
	uint32_t grain;

	if (!d)
		return ctl_fail(&c->a, 2, "no disk named '%s' in the log", c->a.disk);
	int r = replog_dirty_take(c->log, d->disk_id, &bits, &nbits, &grain);
	if (r < 0)
		return ctl_fail(&c->a, 1, "reading dirty bitmap: %s", strerror(-r));
	struct dbuf b = DBUF_INIT(SIZE_MAX);
	if (c->a.json) {
		r = dbuf_printf(&b, "{\"disk\":");
		r = r ? r : json_add_str(&b, d->name);
		r = r ? r : dbuf_printf(&b, ",\"grain\":%u,\"extents\":[", grain);
	}
	bool first = true;
	for (uint64_t i = 0; !r && i < nbits;) {
		if (!(bits[i / 8] & (1u << (i % 8)))) {
			i++;
			continue;
		}
		uint64_t j = i;
		while (j < nbits && bits[j / 8] & (1u << (j % 8)))
			j++;
		uint64_t off = i * grain, end = MIN(j * grain, d->size);
		if (c->a.json)
			r = dbuf_printf(&b, "%s[%" PRIu64 ",%" PRIu64 "]", first ? "" : ",", off,
					end - off);
		else
			r = dbuf_printf(&b, "%" PRIu64 " %" PRIu64 "\n", off, end - off);
		first = false;
		i = j;
	}
	free(bits);
	if (c->a.json)
		return flush_json(&b, r ? r : dbuf_printf(&b, "]}"));
	if (r) {
		dbuf_release(&b);
		return ctl_fail(&c->a, 1, "formatting output: %s", strerror(-r));
	}
	if (b.len)
		fwrite(b.data, 1, b.len, stdout);
	dbuf_release(&b);
	return 0;
}

/* ---- dispatch ---- */

static const struct {
	const char *name, *cmd;
	int (*run)(struct ctx *c);
	uint64_t allowed, required;
	const char *usage;
} subs[] = {
	{ "stat", "log stat", cmd_stat, OPT(CONF) | OPT(JSON), OPT(CONF),
	  "log stat -c FILE [--json]" },
	{ "dump", "log dump", cmd_dump, OPT(CONF) | OPT(JSON), OPT(CONF),
	  "log dump -c FILE [--json]" },
	{ "verify", "log verify", cmd_verify, OPT(CONF), OPT(CONF), "log verify -c FILE" },
	{ "replay", "log replay", cmd_replay, OPT(CONF) | OPT(DISK) | OPT(OUT),
	  OPT(CONF) | OPT(DISK) | OPT(OUT), "log replay -c FILE --disk NAME -o OUT" },
	{ "dirty", "log dirty", cmd_dirty, OPT(CONF) | OPT(JSON) | OPT(DISK), OPT(CONF) | OPT(DISK),
	  "log dirty -c FILE --disk NAME [--json]" },
};

/* 0 (a and *which set), CTL_HELP_SHOWN, or the exit code after printing why. */
static int parse_args(int argc, char **argv, struct args *a, size_t *which)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: ferryctl %s\n", USAGE);
		return CTL_HELP_SHOWN;
	}
	if (argc < 2)
		return bad_usage("missing subcommand");
	for (*which = 0; *which < ARRAY_SIZE(subs); (*which)++)
		if (!strcmp(subs[*which].name, argv[1]))
			break;
	if (*which == ARRAY_SIZE(subs)) {
		char why[128];
		snprintf(why, sizeof(why), "unknown subcommand '%.64s'", argv[1]);
		return bad_usage(why);
	}
	a->cmd = subs[*which].cmd;
	a->usage = subs[*which].usage;
	return ctl_parse(argc - 1, argv + 1, subs[*which].allowed, subs[*which].required, a);
}

int ctl_log_main(int argc, char **argv)
{
	struct ctx c;
	struct ferry_config cfg;
	struct replog_open_opts o = { 0, 0, false, true };
	char err[512];
	size_t which;

	memset(&c, 0, sizeof c);
	int r = parse_args(argc, argv, &c.a, &which);
	if (r)
		return r;
	if (config_load(c.a.conf, &cfg, err, sizeof err) < 0)
		return ctl_fail(&c.a, 2, "%s", err);
	if (replog_open(cfg.log_path, &o, &c.log, err, sizeof err) < 0) {
		config_release(&cfg);
		return ctl_fail(&c.a, 1, "%s", err);
	}
	c.path = cfg.log_path;
	replog_get_stat(c.log, &c.st);
	r = subs[which].run(&c);
	replog_close(c.log, false);
	config_release(&cfg);
	if (fflush(stdout) != 0 && !r)
		r = 1;
	return r;
}
