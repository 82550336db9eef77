/* The `compression = auto` rule (contract and reasons in compress-auto.h). */
#include "repo/compress-auto.h"

#include "common/banned.h"

void auto_codec_init(struct auto_codec *a, bool frames)
{
	a->frames = frames;
	a->type = frames ? COMPRESS_ZSTD : COMPRESS_IGZIP;
	a->level = frames ? AUTO_START : 1;
}

const char *auto_codec_next(struct auto_codec *a, const struct auto_sample *s)
{
	if (s->encode_ns < AUTO_MIN_WORK_NS && s->upload_ns < AUTO_MIN_WORK_NS)
		return NULL;	/* too small a point to tell */
	/* both are sums over threads (up to 3 uploads in flight, 2 encoders): call it
	 * upload-bound only when uploading clearly dominates */
	bool upload_bound = s->upload_ns > 2 * s->encode_ns;
	if (!a->frames) {
		enum compress_type t = upload_bound ? COMPRESS_ZSTD : COMPRESS_IGZIP;
		int level = upload_bound ? 3 : 1;
		if (t == a->type && level == a->level)
			return NULL;
		a->type = t;
		a->level = level;
		return upload_bound ? "upload-bound" : "CPU-bound";
	}
	bool late = s->rpo_ns && s->wall_ns > s->rpo_ns / 2;
	bool idle = s->rpo_ns && s->wall_ns < s->rpo_ns / 4;
	if (upload_bound && a->level < AUTO_MAX) {
		a->level++;
		return "upload-bound";
	}
	if (!upload_bound && late && s->encode_ns >= s->upload_ns && a->level > AUTO_MIN) {
		a->level--;
		return "CPU-bound and late";
	}
	if (!upload_bound && idle && a->level < AUTO_HEADROOM_MAX) {
		a->level++;
		return "CPU headroom";
	}
	return NULL;
}
