/* `compression = auto`: the rule that picks the codec and level of a domain's next point
 * from what its last point cost (docs/config.md "compression"). Pure: no clock, no I/O,
 * so a unit test can drive it through any sequence of points.
 *
 * Format 2 repositories (frames of up to 1 MiB, docs/repo-format.md section 15): zstd,
 * starting at level AUTO_START. After each point that did enough work to tell:
 *   - the store is the bottleneck (pack uploads took more than twice the encode CPU
 *     time): one level up, to AUTO_MAX. CPU spent on compression is then free, and every
 *     byte saved is a byte less over the slow link;
 *   - CPU is the bottleneck and the point was late (it took more than half its RPO, and
 *     encoding took at least as long as uploading): one level down, to AUTO_MIN;
 *   - CPU headroom (the point took less than a quarter of its RPO, and it was not
 *     upload-bound): one level up, to AUTO_HEADROOM_MAX only, so that a burst after a
 *     quiet spell still finds a cheap level;
 *   - otherwise the level stays.
 * One step per point keeps the rule from oscillating and bounds how wrong a level can be
 * for one point.
 *
 * Format 1 repositories (each chunk compressed alone): ISA-L igzip level 1 (the fastest
 * codec), zstd level 3 while upload-bound; as before format 2. */
#ifndef FERRY_COMPRESS_AUTO_H
#define FERRY_COMPRESS_AUTO_H

#include <stdbool.h>
#include <stdint.h>

#include "repo/compress.h"

#define AUTO_MIN 1
#define AUTO_START 3		/* the seed's level: 1.01x restic's size on vm-a */
#define AUTO_HEADROOM_MAX 6
#define AUTO_MAX 9
#define AUTO_MIN_WORK_NS 50000000ull	/* a point with less encode and upload time than
					 * this says nothing about the bottleneck */

struct auto_codec {
	bool frames;		/* format 2 */
	enum compress_type type;
	int level;
};

/* What one point cost. */
struct auto_sample {
	uint64_t encode_ns;	/* CPU time of ids, compression, encryption */
	uint64_t upload_ns;	/* time in pack uploads */
	uint64_t wall_ns;	/* from the cut to the durable manifest */
	uint64_t rpo_ns;	/* the domain's rpo */
};

/* The starting codec for a repository of this format. */
void auto_codec_init(struct auto_codec *a, bool frames);
/* After a point: the codec for the next one. Returns a short reason when it changed
 * ("upload-bound", "CPU-bound and late", "CPU headroom"), else NULL. */
const char *auto_codec_next(struct auto_codec *a, const struct auto_sample *s);

#endif
