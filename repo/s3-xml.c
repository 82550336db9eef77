/* Minimal, bounded reading of S3 XML answers (see s3-xml.h). Every scan is limited by the
 * document length (answers are not NUL-terminated), and nothing is ever written past the
 * caller's buffer. */
#include "repo/s3-xml.h"

#include <errno.h>
#include <string.h>

#include "common/strnum.h"
#include "common/banned.h"

/* Pointer to the first occurrence of needle in hay[0, hlen), or NULL. */
static const char *find(const char *hay, size_t hlen, const char *needle)
{
	return memmem(hay, hlen, needle, strlen(needle));
}

int s3_xml_next(const char *doc, size_t len, size_t *pos, const char *name, const char **val,
		size_t *vlen)
{
	size_t nlen = strlen(name);
	size_t p = *pos;

	while (p < len) {
		const char *lt = memchr(doc + p, '<', len - p);
		if (!lt)
			return 0;
		size_t at = (size_t)(lt - doc);
		p = at + 1;
		if (len - p < nlen + 1 || memcmp(doc + p, name, nlen))
			continue;
		char c = doc[p + nlen];
		if (c != '>' && c != '/' && c != ' ' && c != '\t' && c != '\r' && c != '\n')
			continue;	/* a longer name with this one as a prefix */
		const char *gt = memchr(doc + p, '>', len - p);
		if (!gt)
			return 0;
		size_t start = (size_t)(gt - doc) + 1;
		if (gt[-1] == '/') {	/* <name/> */
			*val = doc + start;
			*vlen = 0;
			*pos = start;
			return 1;
		}
		char close[80];
		if (nlen + 4 > sizeof(close))
			return 0;
		close[0] = '<';
		close[1] = '/';
		memcpy(close + 2, name, nlen);
		close[nlen + 2] = '>';
		close[nlen + 3] = '\0';
		const char *end = find(doc + start, len - start, close);
		if (!end)
			return 0;
		*val = doc + start;
		*vlen = (size_t)(end - (doc + start));
		*pos = (size_t)(end - doc) + nlen + 3;
		return 1;
	}
	return 0;
}

static int decode_ref(const char *s, size_t n, char *out)
{
	static const struct { const char *name; char c; } named[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
	};
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (strlen(named[i].name) == n && !memcmp(s, named[i].name, n)) {
			*out = named[i].c;
			return 0;
		}
	}
	if (n < 2 || s[0] != '#')
		return -EINVAL;
	unsigned v = 0, base = 10;
	size_t i = 1;
	if (s[1] == 'x' || s[1] == 'X') {
		base = 16;
		i = 2;
	}
	if (i == n)
		return -EINVAL;
	for (; i < n; i++) {
		unsigned d;
		char c = s[i];
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -EINVAL;
		v = v * base + d;
		if (v > 0x7f)	/* keys are ASCII; anything else is not ours */
			return -EINVAL;
	}
	if (v == 0)
		return -EINVAL;
	*out = (char)v;
	return 0;
}

int s3_xml_decode(const char *raw, size_t rlen, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < rlen; i++) {
		char c = raw[i];
		if (c == '\0')
			return -EINVAL;
		if (c == '&') {
			const char *semi = memchr(raw + i + 1, ';', rlen - i - 1);
			if (!semi || semi - (raw + i + 1) > 8)
				return -EINVAL;
			size_t n = (size_t)(semi - (raw + i + 1));
			if (decode_ref(raw + i + 1, n, &c) < 0)
				return -EINVAL;
			i += n + 1;
		}
		if (o + 1 >= outlen)
			return -ENAMETOOLONG;
		out[o++] = c;
	}
	if (outlen == 0)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return 0;
}

int s3_xml_get(const char *doc, size_t len, const char *name, char *out, size_t outlen)
{
	size_t pos = 0, vlen;
	const char *val;
	if (!s3_xml_next(doc, len, &pos, name, &val, &vlen))
		return -ENOENT;
	return s3_xml_decode(val, vlen, out, outlen);
}

int s3_xml_list_page(const char *doc, size_t len, s3_xml_entry_fn *fn, void *arg,
		     bool *truncated, char *token, size_t tokenlen)
{
	char key[1025], num[32];
	size_t pos = 0, blen;
	const char *blk;
	int r;

	*truncated = false;
	if (tokenlen)
		token[0] = '\0';
	while (s3_xml_next(doc, len, &pos, "Contents", &blk, &blen)) {
		uint64_t size;
		if (s3_xml_get(blk, blen, "Key", key, sizeof(key)) < 0 ||
		    s3_xml_get(blk, blen, "Size", num, sizeof(num)) < 0 || !parse_u64_str(num, &size))
			return -EBADMSG;
		r = fn(arg, key, size);
		if (r)
			return r;
	}
	/* IsTruncated and the token sit outside <Contents>, whose text is escaped */
	r = s3_xml_get(doc, len, "IsTruncated", num, sizeof(num));
	if (r == 0 && !strcmp(num, "true"))
		*truncated = true;
	else if (r == 0 && strcmp(num, "false"))
		return -EBADMSG;
	if (!*truncated)
		return 0;
	r = s3_xml_get(doc, len, "NextContinuationToken", token, tokenlen);
	if (r < 0 || !token[0])
		return -EBADMSG;
	return 0;
}
