/* VMDK descriptor text: a pure parser on a buffer, the canonical generator, the
 * descriptor of a new image, and reading a descriptor file.
 *
 * The parser is lenient where the spec is (keys case-insensitive, blanks around '=',
 * optional quotes, CRLF, unknown header keys ignored) because it reads files of other
 * tools; the generator is strict and writes exactly qemu 7.2's canonical form, because
 * qemu's own parser is case- and layout-sensitive (docs/vmdk.md: version first, CID
 * before parentCID, createType="x" without blanks, uppercase RW and extent types).
 * Generated keys and values are restricted to characters that need no escaping, so a
 * parsed-and-regenerated descriptor can never change meaning. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/array.h"
#include "common/strnum.h"
#include "common/util.h"
#include "image/vmdk-internal.h"
#include "common/errmsg.h"
#include "common/banned.h"

int vmdk_random(void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r, n -= (size_t)r;
	}
	return 0;
}

/* ---- validation of what we write ---- */

static bool key_ok(const char *k)
{
	if (strncasecmp(k, "ddb.", 4) != 0 || !k[4] || strlen(k) > 255)
		return false;
	for (const char *p = k; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return false;
	return true;
}

static bool text_ok(const char *v, size_t max)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++, n++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			return false;
	return n <= max;
}

static bool word_ok(const char *v)
{
	if (!*v)
		return false;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

/* ---- small parsing helpers ---- */

static int parse_hex32(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;
	if (n == 0 || n > 8)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int d = hex_digit(s[i]);
		if (d < 0)
			return -1;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_blank(**s))
		(*s)++, (*n)--;
	while (*n && is_blank((*s)[*n - 1]))
		(*n)--;
}

static bool eq_word(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

/* Next blank-separated token of [*p, end). */
static bool token(const char **p, const char *end, const char **t, size_t *tn)
{
	while (*p < end && is_blank(**p))
		(*p)++;
	if (*p == end)
		return false;
	*t = *p;
	while (*p < end && !is_blank(**p))
		(*p)++;
	*tn = (size_t)(*p - *t);
	return true;
}

static const struct {
	const char *name;
	enum vmdk_ext_type type;
} ext_types[] = {
	{ "FLAT", VMDK_EXT_FLAT }, { "SPARSE", VMDK_EXT_SPARSE }, { "ZERO", VMDK_EXT_ZERO },
	{ "VMFS", VMDK_EXT_VMFS }, { "VMFSSPARSE", VMDK_EXT_OTHER },
	{ "VMFSRDM", VMDK_EXT_OTHER }, { "VMFSRAW", VMDK_EXT_OTHER },
	{ "SESPARSE", VMDK_EXT_OTHER },
};

static const char *const access_names[] = { "RW", "RDONLY", "NOACCESS" };

static int add_extent_raw(struct vmdk_desc *d, const struct vmdk_desc_extent *e,
			  const char *file, size_t file_len)
{
	if (d->n_extents >= VMDK_DESC_MAX_EXTENTS)
		return -E2BIG;
	if (ARRAY_RESERVE(d->extents, d->cap_extents, d->n_extents + 1) < 0)
		return -ENOMEM;
	struct vmdk_desc_extent *ne = d->extents;
	ne[d->n_extents] = *e;
	ne[d->n_extents].file = NULL;
	if (file && !(ne[d->n_extents].file = strndup(file, file_len)))
		return -ENOMEM;
	d->n_extents++;
	return 0;
}

/* ACCESS SECTORS TYPE ["FILE" [OFFSET]] */
static int parse_extent(struct vmdk_desc *d, const char *s, size_t n, unsigned lineno,
			char *err, size_t errlen)
{
	const char *p = s, *end = s + n, *t;
	size_t tn;
	struct vmdk_desc_extent e = { 0 };
	const char *file = NULL;
	size_t file_len = 0;

	token(&p, end, &t, &tn);
	for (unsigned i = 0; i < ARRAY_SIZE(access_names); i++)
		if (eq_word(t, tn, access_names[i]))
			e.access = (enum vmdk_access)i;
	if (!token(&p, end, &t, &tn) || !parse_u64(t, tn, &e.sectors) ||
	    e.sectors > (UINT64_MAX >> 10))
		return err_set(err, errlen, -EBADMSG, "line %u: bad extent size", lineno);
	if (!token(&p, end, &t, &tn) || tn >= sizeof(e.type_name))
		return err_set(err, errlen, -EBADMSG, "line %u: no extent type", lineno);
	unsigned i;
	for (i = 0; i < ARRAY_SIZE(ext_types); i++)
		if (eq_word(t, tn, ext_types[i].name))
			break;
	if (i == ARRAY_SIZE(ext_types))
		return err_set(err, errlen, -EBADMSG, "line %u: unknown extent type", lineno);
	e.type = ext_types[i].type;
	memcpy(e.type_name, ext_types[i].name, strlen(ext_types[i].name) + 1);
	while (p < end && is_blank(*p))
		p++;
	if (p < end) {
		if (*p != '"')
			return err_set(err, errlen, -EBADMSG, "line %u: extent file not quoted",
				    lineno);
		file = ++p;
		while (p < end && *p != '"')
			p++;
		if (p == end || p == file)
			return err_set(err, errlen, -EBADMSG, "line %u: bad extent file name",
				    lineno);
		file_len = (size_t)(p - file);
		if (memchr(file, '\0', file_len))
			return err_set(err, errlen, -EBADMSG, "line %u: bad extent file name",
				    lineno);
		p++;
		if (token(&p, end, &t, &tn) && (!parse_u64(t, tn, &e.offset) ||
						 e.offset > (UINT64_MAX >> 10)))
			return err_set(err, errlen, -EBADMSG, "line %u: bad extent offset", lineno);
		if (token(&p, end, &t, &tn))
			return err_set(err, errlen, -EBADMSG, "line %u: junk after extent", lineno);
	} else if (e.type != VMDK_EXT_ZERO) {
		return err_set(err, errlen, -EBADMSG, "line %u: extent without a file", lineno);
	}
	int r = add_extent_raw(d, &e, file, file_len);
	if (r == -E2BIG)
		return err_set(err, errlen, -EBADMSG, "more than %u extents", VMDK_DESC_MAX_EXTENTS);
	return r;
}

static int set_raw(struct vmdk_desc *d, const char *k, size_t kn, const char *v, size_t vn)
{
	for (size_t i = 0; i < d->n_ddb; i++) {
		if (strlen(d->ddb[i].key) == kn && strncasecmp(d->ddb[i].key, k, kn) == 0) {
			char *nv = strndup(v, vn);
			if (!nv)
				return -ENOMEM;
			free(d->ddb[i].value);
			d->ddb[i].value = nv;
			return 0;
		}
	}
	if (d->n_ddb >= VMDK_DESC_MAX_DDB)
		return -E2BIG;
	if (ARRAY_RESERVE(d->ddb, d->cap_ddb, d->n_ddb + 1) < 0)
		return -ENOMEM;
	char *nk = strndup(k, kn), *nv = strndup(v, vn);
	if (!nk || !nv) {
		free(nk);
		free(nv);
		return -ENOMEM;
	}
	d->ddb[d->n_ddb].key = nk;
	d->ddb[d->n_ddb].value = nv;
	d->n_ddb++;
	return 0;
}

struct seen {
	bool version, cid, create_type;
};

static int parse_kv(struct vmdk_desc *d, struct seen *seen, const char *s, size_t n,
		    unsigned lineno, char *err, size_t errlen)
{
	const char *eq = memchr(s, '=', n);
	if (!eq)
		return err_set(err, errlen, -EBADMSG, "line %u: not a descriptor line", lineno);
	const char *k = s, *v = eq + 1;
	size_t kn = (size_t)(eq - s), vn = n - kn - 1;
	trim(&k, &kn);
	trim(&v, &vn);
	if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"')
		v++, vn -= 2;
	if (kn == 0)
		return err_set(err, errlen, -EBADMSG, "line %u: empty key", lineno);
	if (memchr(v, '\0', vn))
		return err_set(err, errlen, -EBADMSG, "line %u: NUL in value", lineno);

	if (eq_word(k, kn, "version")) {
		uint64_t ver;
		if (!parse_u64(v, vn, &ver) || ver < 1 || ver > 3)
			return err_set(err, errlen, -EBADMSG, "line %u: bad version", lineno);
		d->version = (unsigned)ver;
		seen->version = true;
	} else if (eq_word(k, kn, "CID")) {
		if (parse_hex32(v, vn, &d->cid) < 0)
			return err_set(err, errlen, -EBADMSG, "line %u: bad CID", lineno);
		seen->cid = true;
	} else if (eq_word(k, kn, "parentCID")) {
		if (parse_hex32(v, vn, &d->parent_cid) < 0)
			return err_set(err, errlen, -EBADMSG, "line %u: bad parentCID", lineno);
	} else if (eq_word(k, kn, "createType")) {
		if (vn == 0 || vn >= sizeof(d->create_type))
			return err_set(err, errlen, -EBADMSG, "line %u: bad createType", lineno);
		memcpy(d->create_type, v, vn);
		d->create_type[vn] = '\0';
		if (!word_ok(d->create_type))
			return err_set(err, errlen, -EBADMSG, "line %u: bad createType", lineno);
		seen->create_type = true;
	} else if (eq_word(k, kn, "parentFileNameHint")) {
		free(d->parent_hint);
		if (!(d->parent_hint = strndup(v, vn)))
			return -ENOMEM;
	} else if (kn > 4 && strncasecmp(k, "ddb.", 4) == 0) {
		int r = set_raw(d, k, kn, v, vn);
		if (r == -E2BIG)
			return err_set(err, errlen, -EBADMSG, "more than %u ddb entries",
				    VMDK_DESC_MAX_DDB);
		return r;
	}
	/* other keys (encoding, changeTrackPath, isNativeSnapshot...) are ignored */
	return 0;
}

static bool is_extent_line(const char *s, size_t n)
{
	for (unsigned i = 0; i < ARRAY_SIZE(access_names); i++) {
		size_t an = strlen(access_names[i]);
		if (n > an && strncasecmp(s, access_names[i], an) == 0 && is_blank(s[an]))
			return true;
	}
	return false;
}

int vmdk_desc_parse(const char *text, size_t len, struct vmdk_desc *d, char *err,
		    size_t errlen)
{
	static const struct vmdk_desc empty = VMDK_DESC_INIT;
	struct seen seen = { 0 };
	unsigned lineno = 0;
	int r = 0;

	*d = empty;
	len = strnlen(text, len);
	if (len > VMDK_DESC_MAX)
		return err_set(err, errlen, -EBADMSG, "descriptor larger than %u bytes",
			    VMDK_DESC_MAX);
	for (const char *p = text, *end = text + len; p < end && r == 0;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *s = p;
		size_t n = (size_t)((nl ? nl : end) - p);
		p = nl ? nl + 1 : end;
		lineno++;
		trim(&s, &n);
		if (n == 0 || s[0] == '#')
			continue;
		if (is_extent_line(s, n))
			r = parse_extent(d, s, n, lineno, err, errlen);
		else
			r = parse_kv(d, &seen, s, n, lineno, err, errlen);
	}
	if (r == 0 && !seen.version)
		r = err_set(err, errlen, -EBADMSG, "no version line");
	if (r == 0 && !seen.cid)
		r = err_set(err, errlen, -EBADMSG, "no CID line");
	if (r == 0 && !seen.create_type)
		r = err_set(err, errlen, -EBADMSG, "no createType line");
	if (r == -ENOMEM)
		err_set(err, errlen, r, "out of memory");
	if (r < 0)
		vmdk_desc_release(d);
	return r;
}

/* ---- generator ---- */

struct out {
	char *buf;
	size_t cap, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = o->len < o->cap ? o->cap - o->len : 0;
	int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

ssize_t vmdk_desc_format(const struct vmdk_desc *d, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0 };

	if (d->version < 1 || d->version > 3 || !word_ok(d->create_type) ||
	    (d->parent_hint && !text_ok(d->parent_hint, 4096)))
		return -EINVAL;
	put(&o, "# Disk DescriptorFile\nversion=%u\nCID=%08" PRIx32 "\nparentCID=%08" PRIx32
	    "\n", d->version, d->cid, d->parent_cid);
	if (d->parent_hint)
		put(&o, "parentFileNameHint=\"%s\"\n", d->parent_hint);
	put(&o, "createType=\"%s\"\n\n# Extent description\n", d->create_type);
	for (size_t i = 0; i < d->n_extents; i++) {
		const struct vmdk_desc_extent *e = &d->extents[i];
		if ((unsigned)e->access >= ARRAY_SIZE(access_names) || !word_ok(e->type_name))
			return -EINVAL;
		put(&o, "%s %" PRIu64 " %s", access_names[e->access], e->sectors, e->type_name);
		if (e->file) {
			if (!e->file[0] || !text_ok(e->file, 4096))
				return -EINVAL;
			put(&o, " \"%s\"", e->file);
			if (e->type == VMDK_EXT_FLAT || e->type == VMDK_EXT_VMFS)
				put(&o, " %" PRIu64, e->offset);
		}
		put(&o, "\n");
	}
	put(&o, "\n# The Disk Data Base\n#DDB\n\n");
	for (size_t i = 0; i < d->n_ddb; i++) {
		if (!key_ok(d->ddb[i].key) || !text_ok(d->ddb[i].value, 4096))
			return -EINVAL;
		put(&o, "%s = \"%s\"\n", d->ddb[i].key, d->ddb[i].value);
	}
	if (o.len >= cap)
		return -E2BIG;
	return (ssize_t)o.len;
}

int vmdk_desc_set(struct vmdk_desc *d, const char *key, const char *value)
{
	if (!key_ok(key) || !text_ok(value, 4096))
		return -EINVAL;
	return set_raw(d, key, strlen(key), value, strlen(value));
}

const char *vmdk_desc_get(const struct vmdk_desc *d, const char *key)
{
	for (size_t i = 0; i < d->n_ddb; i++)
		if (strcasecmp(d->ddb[i].key, key) == 0)
			return d->ddb[i].value;
	return NULL;
}

int vmdk_desc_add_extent(struct vmdk_desc *d, enum vmdk_access access,
			 enum vmdk_ext_type type, uint64_t sectors, const char *file,
			 uint64_t offset)
{
	struct vmdk_desc_extent e = { .access = access, .type = type, .sectors = sectors,
				      .offset = offset };
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(ext_types); i++)
		if (ext_types[i].type == type && type != VMDK_EXT_OTHER)
			break;
	if (i == ARRAY_SIZE(ext_types) || (unsigned)access >= ARRAY_SIZE(access_names) ||
	    (!file && type != VMDK_EXT_ZERO) || (file && (!file[0] || !text_ok(file, 4096))))
		return -EINVAL;
	memcpy(e.type_name, ext_types[i].name, strlen(ext_types[i].name) + 1);
	return add_extent_raw(d, &e, file, file ? strlen(file) : 0);
}

void vmdk_desc_release(struct vmdk_desc *d)
{
	static const struct vmdk_desc empty = VMDK_DESC_INIT;

	for (size_t i = 0; i < d->n_extents; i++)
		free(d->extents[i].file);
	for (size_t i = 0; i < d->n_ddb; i++) {
		free(d->ddb[i].key);
		free(d->ddb[i].value);
	}
	free(d->extents);
	free(d->ddb);
	free(d->parent_hint);
	*d = empty;
}

/* ---- uuid ---- */

void vmdk_uuid_format(const uint8_t u[16], char out[48])
{
	size_t n = 0;
	for (unsigned i = 0; i < 16; i++) {
		if (i)
			out[n++] = i == 8 ? '-' : ' ';
		hex_encode(&u[i], 1, out + n);
		n += 2;
	}
	out[n] = '\0';
}

int vmdk_uuid_parse(const char *s, uint8_t u[16])
{
	for (unsigned i = 0; i < 16; i++) {
		uint32_t v;
		if (i)
			while (*s == ' ' || *s == '-')
				s++;
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]) ||
		    parse_hex32(s, 2, &v) < 0)
			return -EINVAL;
		u[i] = (uint8_t)v;
		s += 2;
	}
	while (*s == ' ')
		s++;
	return *s ? -EINVAL : 0;
}

/* ---- descriptor of a new image ---- */

static const char *const adapters[] = { "ide", "buslogic", "lsilogic", "legacyESX",
					"lsisas1068", "pvscsi" };

int vmdk_desc_build(struct vmdk_desc *d, const struct vmdk_meta *m, const char *create_type,
		    enum vmdk_ext_type type, const char *extent_file)
{
	static const struct vmdk_desc empty = VMDK_DESC_INIT;
	static const uint8_t zero_uuid[16];
	const char *adapter = m->adapter_type ? m->adapter_type : "lsilogic";
	const char *hw = m->hw_version ? m->hw_version : "4";
	uint64_t sectors = m->capacity / VMDK_SECTOR;
	uint8_t uuid[16];
	char num[24], us[48];
	unsigned i;
	int r;

	*d = empty;
	for (i = 0; i < ARRAY_SIZE(adapters); i++)
		if (strcmp(adapter, adapters[i]) == 0)
			break;
	if (i == ARRAY_SIZE(adapters) || strlen(create_type) >= sizeof(d->create_type))
		return -EINVAL;
	memcpy(d->create_type, create_type, strlen(create_type) + 1);
	do {
		if ((r = vmdk_random(&d->cid, sizeof(d->cid))) < 0)
			return r;
	} while (d->cid == 0xffffffffu);
	memcpy(uuid, m->uuid, 16);
	if (memcmp(uuid, zero_uuid, 16) == 0 && (r = vmdk_random(uuid, 16)) < 0)
		return r;
	vmdk_uuid_format(uuid, us);

	/* geometry (docs/vmdk.md): IDE 16 heads, SCSI 255; 63 sectors; cylinders capped */
	unsigned heads = strcmp(adapter, "ide") == 0 ? 16 : 255;
	uint64_t cyl = sectors / (heads * 63u), cap = heads == 16 ? 16383 : 65535;
	cyl = MIN(cyl, cap);

	if ((r = vmdk_desc_add_extent(d, VMDK_RW, type, sectors, extent_file, 0)) < 0 ||
	    (r = vmdk_desc_set(d, "ddb.virtualHWVersion", hw)) < 0)
		goto out;
	snprintf(num, sizeof num, "%" PRIu64, cyl);
	if ((r = vmdk_desc_set(d, "ddb.geometry.cylinders", num)) < 0)
		goto out;
	snprintf(num, sizeof num, "%u", heads);
	if ((r = vmdk_desc_set(d, "ddb.geometry.heads", num)) < 0 ||
	    (r = vmdk_desc_set(d, "ddb.geometry.sectors", "63")) < 0 ||
	    (r = vmdk_desc_set(d, "ddb.adapterType", adapter)) < 0 ||
	    (r = vmdk_desc_set(d, "ddb.toolsVersion", "2147483647")) < 0 ||
	    (r = vmdk_desc_set(d, "ddb.uuid", us)) < 0)
		goto out;
	for (size_t k = 0; k < m->n_extra; k++)
		if ((r = vmdk_desc_set(d, m->extra[k].key, m->extra[k].value)) < 0)
			goto out;
out:
	if (r < 0)
		vmdk_desc_release(d);
	return r;
}

/* ---- descriptor files ---- */

/* The whole descriptor file, NUL-terminated; -EBADMSG if larger than VMDK_DESC_MAX. */
int vmdk_read_desc_file(const char *path, char **text, size_t *len, char *err,
			size_t errlen)
{
	CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size > VMDK_DESC_MAX)
		return err_set(err, errlen, -EBADMSG, "%s: not a VMDK descriptor file", path);
	char *b = malloc((size_t)st.st_size + 1);
	if (!b)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	int r = pread_full(fd, b, (size_t)st.st_size, 0);
	if (r < 0) {
		free(b);
		return err_set(err, errlen, r, "%s: %s", path, strerror(-r));
	}
	b[st.st_size] = '\0';
	if (st.st_size >= 4 && memcmp(b, "KDMV", 4) == 0) {
		free(b);
		return err_set(err, errlen, -EBADMSG, "%s: a sparse extent, not a descriptor file",
			    path);
	}
	*text = b;
	*len = (size_t)st.st_size;
	return 0;
}

char *vmdk_path_beside(const char *path, const char *file)
{
	const char *slash = strrchr(path, '/');
	size_t dn = slash && file[0] != '/' ? (size_t)(slash - path) + 1 : 0;
	size_t fn = strlen(file);
	char *p = malloc(dn + fn + 1);
	if (p) {
		memcpy(p, path, dn);
		memcpy(p + dn, file, fn + 1);
	}
	return p;
}
