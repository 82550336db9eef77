/* ferry's configuration: the semantic half (the INI syntax is common/ini.c).
 *
 * Everything is table-driven: `sections` lists the sections, `keys` lists every key with the
 * handler that parses and checks it and where the value goes (an offset into struct
 * ferry_config, or into struct domain_cfg for [domain] keys). Whole-file rules — defaults,
 * a domain must have disks, at least one domain — run when a section closes or at the end.
 * The first error stops the parse; the partly filled struct is released, never returned.
 *
 * To add a key: 1. add the field to struct ferry_config (or domain_cfg) in config.h with
 * its default in the comment; 2. add one row to `keys` (reuse a handler: string, size,
 * duration, engine, listen address); 3. set a non-zero default in set_defaults() or
 * fill_defaults(); 4. document it in docs/config.md and test it in tests/unit/test-config.c.
 * To add a section: one row in `sections`; a section that takes a name ([section NAME], one
 * instance per NAME) also gets an open function that creates the instance, and its checks
 * in close_section(). */
#include "common/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/config-vm.h"
#include "common/ini.h"
#include "common/strnum.h"
#include "common/util.h"
#include "common/banned.h"

#define CONFIG_MAX_FILE (1u << 20)

#define DEFAULT_STATE_DIR "/var/lib/ferry"
#define DEFAULT_NBD_LISTEN "127.0.0.1:10809"
#define DEFAULT_CONTROL_SOCKET "/run/ferry/ferryd.sock"
#define DEFAULT_LOG_SIZE (8ull << 30)
#define DEFAULT_LOG_METADATA_SIZE (64ull << 20)
#define DEFAULT_AGENT_STATE_DIR "/var/lib/ferry-agent"
#define DEFAULT_AGENT_SOCKET "/run/ferry/agent.sock"
#define DEFAULT_AGENT_PARALLEL 4

struct parser;
struct key_def;
typedef int key_set_fn(struct parser *p, const struct key_def *k, void *base, const char *val);

enum { KEY_REPEAT = 1, KEY_ALIGN4K = 2 };

struct key_def {
	const char *section;
	const char *key;
	key_set_fn *set;
	size_t off;		/* into ferry_config, or the instance of a named section */
	uint64_t min, max;	/* for sizes and durations; max 0 = unbounded */
	unsigned flags;
};

/* open: NULL for a plain [section]; for [section NAME] (one instance per NAME) it creates
 * the instance and points p->item at it (the base of the section's keys). */
typedef int section_open_fn(struct parser *p, const char *name);

struct section_def {
	const char *name;
	section_open_fn *open;
};

static key_set_fn set_string, set_size, set_duration_u32, set_engine, set_listen, set_socket,
	set_addressing, set_u32, set_tls, add_disk, set_vm, set_tcp_listen, add_hv_setting,
	set_engine_id, set_snmp_address, set_rcv_version, set_rcv_kind;
static section_open_fn open_domain, open_vm, open_receiver;

#define CFG(field) offsetof(struct ferry_config, field)
#define DOM(field) offsetof(struct domain_cfg, field)
#define RCV(field) offsetof(struct snmp_receiver_cfg, field)

static const struct section_def sections[] = {
	{ "appliance", NULL },
	{ "nbd", NULL },
	{ "log", NULL },
	{ "control", NULL },
	{ "store", NULL },
	{ "domain", open_domain },
	{ "vm", open_vm },
	{ "agent", NULL },
	{ "hypervisor", NULL },
	{ "snmp", NULL },
	{ "snmp-receiver", open_receiver },
};

static const struct key_def keys[] = {
	{ "appliance", "state_dir", set_string, CFG(state_dir), 0, 0, 0 },
	{ "nbd", "listen", set_listen, CFG(nbd_listen), 0, 0, 0 },
	{ "nbd", "engine", set_engine, CFG(engine), 0, 0, 0 },
	{ "nbd", "tls", set_tls, CFG(tls), 0, 0, 0 },
	{ "nbd", "tls_cert_file", set_string, CFG(tls_cert_file), 0, 0, 0 },
	{ "nbd", "tls_key_file", set_string, CFG(tls_key_file), 0, 0, 0 },
	{ "nbd", "tls_ca_file", set_string, CFG(tls_ca_file), 0, 0, 0 },
	{ "nbd", "tls_psk_file", set_string, CFG(tls_psk_file), 0, 0, 0 },
	{ "log", "path", set_string, CFG(log_path), 0, 0, 0 },
	{ "log", "size", set_size, CFG(log_size), 1ull << 20, 0, KEY_ALIGN4K },
	{ "log", "metadata_size", set_size, CFG(log_metadata_size), 64ull << 10, 0, KEY_ALIGN4K },
	{ "log", "backpressure", set_duration_u32, CFG(log_backpressure_ms), 0, 50, 0 },
	{ "control", "socket", set_socket, CFG(control_socket), 0, 0, 0 },
	{ "store", "url", set_string, CFG(store_url), 0, 0, 0 },
	{ "store", "key_file", set_string, CFG(store_key_file), 0, 0, 0 },
	{ "store", "endpoint", set_string, CFG(store_endpoint), 0, 0, 0 },
	{ "store", "region", set_string, CFG(store_region), 0, 0, 0 },
	{ "store", "addressing", set_addressing, CFG(store_addressing), 0, 0, 0 },
	{ "store", "access_key_file", set_string, CFG(store_access_key_file), 0, 0, 0 },
	{ "store", "secret_key_file", set_string, CFG(store_secret_key_file), 0, 0, 0 },
	{ "store", "ca_file", set_string, CFG(store_ca_file), 0, 0, 0 },
	{ "store", "parallel", set_u32, CFG(store_parallel), 1, 256, 0 },
	{ "domain", "disk", add_disk, 0, 0, 0, KEY_REPEAT },
	{ "domain", "rpo", set_duration_u32, DOM(rpo_ms), 1000, 24u * 3600 * 1000, 0 },
	{ "domain", "compression", set_string, DOM(compression), 0, 0, 0 },
	{ "domain", "keep", set_string, DOM(keep), 0, 0, 0 },
	{ "vm", "domain", set_vm, 0, 0, 0, 0 },		/* [vm]: common/config-vm.c */
	{ "vm", "disks", set_vm, 0, 0, 0, 0 },
	{ "vm", "cpus", set_vm, 0, 0, 0, 0 },
	{ "vm", "memory", set_vm, 0, 0, 0, 0 },
	{ "vm", "firmware", set_vm, 0, 0, 0, 0 },
	{ "vm", "nic", set_vm, 0, 0, 0, KEY_REPEAT },
	{ "agent", "state_dir", set_string, CFG(agent_state_dir), 0, 0, 0 },
	{ "agent", "socket", set_socket, CFG(agent_socket), 0, 0, 0 },
	{ "agent", "listen", set_tcp_listen, CFG(agent_listen), 0, 0, 0 },
	{ "agent", "parallel", set_u32, CFG(agent_parallel), 1, 64, 0 },
	{ "hypervisor", "driver", set_string, CFG(hv_driver), 0, 0, 0 },
	{ "hypervisor", "*", add_hv_setting, 0, 0, 0, KEY_REPEAT },	/* the driver's keys */
	{ "domain", "rpo_alarm", set_duration_u32, DOM(rpo_alarm_ms), 1000, 0, 0 },
	{ "snmp", "engine_id", set_engine_id, CFG(snmp_engine_id), 0, 0, 0 },
	{ "snmp", "queue", set_u32, CFG(snmp_queue), 1, 1u << 20, 0 },
	{ "snmp", "inform_timeout", set_duration_u32, CFG(snmp_timeout_ms), 100, 60000, 0 },
	{ "snmp", "inform_retry_for", set_duration_u32, CFG(snmp_retry_for_ms), 0,
	  7u * 24 * 3600 * 1000, 0 },
	{ "snmp", "log_interval", set_duration_u32, CFG(snmp_log_interval_ms), 1000,
	  24u * 3600 * 1000, 0 },
	{ "snmp", "agentx_socket", set_string, CFG(snmp_agentx_socket), 0, 0, 0 },
	{ "snmp-receiver", "address", set_snmp_address, RCV(address), 0, 0, 0 },
	{ "snmp-receiver", "version", set_rcv_version, RCV(version), 0, 0, 0 },
	{ "snmp-receiver", "type", set_rcv_kind, RCV(kind), 0, 0, 0 },
	{ "snmp-receiver", "community_file", set_string, RCV(community_file), 0, 0, 0 },
	{ "snmp-receiver", "user", set_string, RCV(user), 0, 0, 0 },
	{ "snmp-receiver", "auth_password_file", set_string, RCV(auth_password_file), 0, 0, 0 },
	{ "snmp-receiver", "priv_password_file", set_string, RCV(priv_password_file), 0, 0, 0 },
};

struct parser {
	const char *file;
	struct ferry_config *cfg;
	char *err;
	size_t errlen;
	unsigned line;				/* of the item being handled */
	const char *key;			/* the key being handled */
	const struct section_def *sec;		/* current section, NULL before the first */
	void *item;				/* the current named section's instance */
	struct domain_cfg *dom;			/* current [domain], or NULL */
	struct vm_cfg *vm;			/* current [vm], or NULL */
	struct snmp_receiver_cfg *rcv;		/* current [snmp-receiver], or NULL */
	unsigned key_line[ARRAY_SIZE(keys)];	/* where each key was set; 0 = not yet */
	unsigned section_line[ARRAY_SIZE(sections)];
};

__attribute__((format(printf, 3, 4)))
static int fail(struct parser *p, unsigned line, const char *fmt, ...)
{
	int n = snprintf(p->err, p->errlen, "%s:%u: ", p->file, line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int oom(struct parser *p)
{
	return fail(p, p->line, "out of memory");
}

/* ---- value parsers ---- */

/* Parse decimal digits at *s; advance *s past them. Return -1 if none or on overflow. */
static int parse_uint(const char **s, uint64_t *out)
{
	const char *c = *s;
	uint64_t v = 0;
	if (*c < '0' || *c > '9')
		return -1;
	for (; *c >= '0' && *c <= '9'; c++) {
		unsigned d = (unsigned)(*c - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*s = c;
	*out = v;
	return 0;
}

static int mul_checked(uint64_t v, uint64_t m, uint64_t *out)
{
	if (m && v > UINT64_MAX / m)
		return -1;
	*out = v * m;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	uint64_t v, mult = 1;
	if (!s || parse_uint(&s, &v) < 0)
		return -1;
	switch (*s) {
	case '\0': break;
	case 'K': case 'k': mult = 1ull << 10; s++; break;
	case 'M': case 'm': mult = 1ull << 20; s++; break;
	case 'G': case 'g': mult = 1ull << 30; s++; break;
	case 'T': case 't': mult = 1ull << 40; s++; break;
	default: return -1;
	}
	if (*s)
		return -1;
	return mul_checked(v, mult, out);
}

int parse_duration_ms(const char *s, uint64_t *out)
{
	uint64_t v, mult;
	if (!s || parse_uint(&s, &v) < 0)
		return -1;
	if (strcmp(s, "") == 0 || strcmp(s, "s") == 0)
		mult = 1000;
	else if (strcmp(s, "ms") == 0)
		mult = 1;
	else if (strcmp(s, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(s, "h") == 0)
		mult = 3600 * 1000;
	else
		return -1;
	return mul_checked(v, mult, out);
}

static bool valid_port(const char *s)
{
	uint64_t port;
	return parse_uint(&s, &port) == 0 && *s == '\0' && port >= 1 && port <= 65535;
}

/* "host:port", "[v6addr]:port" or "unix:/abs/path" */
static bool valid_listen(const char *v)
{
	if (strncmp(v, "unix:", 5) == 0)
		return v[5] == '/' && strlen(v + 5) < sizeof(((struct sockaddr_un *)0)->sun_path);
	const char *colon = strrchr(v, ':');
	if (!colon || colon == v || !valid_port(colon + 1))
		return false;
	size_t hostlen = (size_t)(colon - v);
	if (v[0] == '[')
		return hostlen > 2 && v[hostlen - 1] == ']' && !memchr(v + 1, ']', hostlen - 2);
	for (size_t i = 0; i < hostlen; i++)
		if (v[i] == ':' || v[i] == '[' || v[i] == ']' || v[i] == ' ' || v[i] == '\t')
			return false;
	return true;
}

/* ---- key handlers ---- */

static char **str_field(void *base, const struct key_def *k)
{
	return (char **)((char *)base + k->off);
}

static int store_string(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	char *copy = strdup(val);
	if (!copy)
		return oom(p);
	char **dst = str_field(base, k);
	free(*dst);
	*dst = copy;
	return 0;
}

static int set_string(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	return store_string(p, k, base, val);
}

static int set_socket(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	if (strlen(val) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return fail(p, p->line, "%s.%s: socket path too long (max %zu bytes)", k->section,
			    k->key, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	return store_string(p, k, base, val);
}

static int set_listen(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	if (!valid_listen(val))
		return fail(p, p->line, "bad %s.%s '%s' (expected HOST:PORT or unix:/PATH)",
			    k->section, k->key, val);
	return store_string(p, k, base, val);
}

static int set_engine(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	enum engine_choice *dst = (enum engine_choice *)((char *)base + k->off);
	if (strcmp(val, "auto") == 0)
		*dst = ENGINE_AUTO;
	else if (strcmp(val, "uring") == 0)
		*dst = ENGINE_URING;
	else if (strcmp(val, "aio") == 0)
		*dst = ENGINE_AIO;
	else
		return fail(p, p->line, "bad %s.%s '%s' (expected auto, uring or aio)", k->section,
			    k->key, val);
	return 0;
}

static int set_tls(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	enum tls_choice *dst = (enum tls_choice *)((char *)base + k->off);
	if (strcmp(val, "off") == 0)
		*dst = TLS_OFF;
	else if (strcmp(val, "on") == 0)
		*dst = TLS_ON;
	else if (strcmp(val, "require") == 0)
		*dst = TLS_REQUIRE;
	else
		return fail(p, p->line, "bad %s.%s '%s' (expected off, on or require)", k->section,
			    k->key, val);
	return 0;
}

static int set_addressing(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	if (strcmp(val, "path") && strcmp(val, "virtual"))
		return fail(p, p->line, "bad %s.%s '%s' (expected path or virtual)", k->section,
			    k->key, val);
	return store_string(p, k, base, val);
}

static bool is_hex(char c)
{
	return hex_digit(c) >= 0;
}

/* 0x followed by 5 to 32 bytes in hex (RFC 3411 SnmpEngineID) */
static int set_engine_id(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	size_t n = strlen(val);
	bool ok = n > 2 && val[0] == '0' && (val[1] == 'x' || val[1] == 'X') && n % 2 == 0 &&
		  (n - 2) / 2 >= 5 && (n - 2) / 2 <= 32;
	for (size_t i = 2; ok && i < n; i++)
		ok = is_hex(val[i]);
	if (!ok)
		return fail(p, p->line, "bad %s.%s '%s' (expected 0x and 5 to 32 bytes in hex)",
			    k->section, k->key, val);
	return store_string(p, k, base, val);
}

/* [udp:|udp6:|tcp:|tcp6:]HOST[:PORT], HOST a name, an IPv4 address or [IPv6] */
static bool valid_snmp_address(const char *v)
{
	static const char *const transports[] = { "udp:", "udp6:", "tcp:", "tcp6:" };
	for (size_t i = 0; i < ARRAY_SIZE(transports); i++)
		if (strncmp(v, transports[i], strlen(transports[i])) == 0) {
			v += strlen(transports[i]);
			break;
		}
	const char *end = v + strlen(v), *port = NULL;
	if (*v == '[') {
		const char *close = strchr(v, ']');
		if (!close || close == v + 1)
			return false;
		for (const char *c = v + 1; c < close; c++)
			if (!is_hex(*c) && *c != ':' && *c != '.')
				return false;
		if (close[1] && close[1] != ':')
			return false;
		port = close[1] ? close + 2 : NULL;
		end = close + 1;
	} else {
		const char *colon = strchr(v, ':');
		if (colon) {
			port = colon + 1;
			end = colon;
		}
		if (end == v)
			return false;
		for (const char *c = v; c < end; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == '_'))
				return false;
	}
	return !port || valid_port(port);
}

static int set_snmp_address(struct parser *p, const struct key_def *k, void *base,
			    const char *val)
{
	if (!valid_snmp_address(val))
		return fail(p, p->line, "bad %s.%s '%s' (expected [udp:|udp6:|tcp:|tcp6:]HOST[:PORT])",
			    k->section, k->key, val);
	return store_string(p, k, base, val);
}

static int set_rcv_version(struct parser *p, const struct key_def *k, void *base,
			   const char *val)
{
	enum snmp_rcv_version *dst = (enum snmp_rcv_version *)((char *)base + k->off);
	if (strcmp(val, "v2c") == 0)
		*dst = SNMP_RCV_V2C;
	else if (strcmp(val, "v3") == 0)
		*dst = SNMP_RCV_V3;
	else
		return fail(p, p->line, "bad %s.%s '%s' (expected v2c or v3)", k->section, k->key,
			    val);
	return 0;
}

static int set_rcv_kind(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	enum snmp_rcv_kind *dst = (enum snmp_rcv_kind *)((char *)base + k->off);
	if (strcmp(val, "trap") == 0)
		*dst = SNMP_RCV_TRAP;
	else if (strcmp(val, "inform") == 0)
		*dst = SNMP_RCV_INFORM;
	else
		return fail(p, p->line, "bad %s.%s '%s' (expected trap or inform)", k->section,
			    k->key, val);
	return 0;
}

/* a plain number within [min, max] */
static int set_u32(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	uint64_t v;
	const char *s = val;
	if (parse_uint(&s, &v) < 0 || *s || v < k->min || v > k->max)
		return fail(p, p->line, "bad %s.%s '%s' (expected a number from %llu to %llu)",
			    k->section, k->key, val, (unsigned long long)k->min,
			    (unsigned long long)k->max);
	*(uint32_t *)((char *)base + k->off) = (uint32_t)v;
	return 0;
}

static void format_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;
	while (u < 3 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)v, units[u]);
}

static int set_size(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	uint64_t v;
	char lim[32];
	if (parse_size(val, &v) < 0)
		return fail(p, p->line, "bad size '%s' for %s.%s (expected a number with an optional "
			    "K, M, G or T suffix)", val, k->section, k->key);
	if ((k->flags & KEY_ALIGN4K) && v % 4096)
		return fail(p, p->line, "%s.%s must be a multiple of 4096 (got %s)", k->section,
			    k->key, val);
	if (v < k->min) {
		format_size(k->min, lim, sizeof(lim));
		return fail(p, p->line, "%s.%s must be at least %s (got %s)", k->section, k->key, lim, val);
	}
	if (k->max && v > k->max) {
		format_size(k->max, lim, sizeof(lim));
		return fail(p, p->line, "%s.%s must be at most %s (got %s)", k->section, k->key, lim, val);
	}
	*(uint64_t *)((char *)base + k->off) = v;
	return 0;
}

static int set_duration_u32(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	uint64_t v;
	if (parse_duration_ms(val, &v) < 0)
		return fail(p, p->line, "bad duration '%s' for %s.%s (expected e.g. 50ms, 15s, 2m, "
			    "1h; a bare number is seconds)", val, k->section, k->key);
	if (v < k->min)
		return fail(p, p->line, "%s.%s must be at least %llums (got %s)", k->section, k->key,
			    (unsigned long long)k->min, val);
	if ((k->max && v > k->max) || v > UINT32_MAX)
		return fail(p, p->line, "%s.%s must be at most %llums (got %s)", k->section, k->key,
			    (unsigned long long)(k->max ? k->max : UINT32_MAX), val);
	*(uint32_t *)((char *)base + k->off) = (uint32_t)v;
	return 0;
}

static const struct disk_cfg *find_export(const struct ferry_config *cfg, const char *name)
{
	for (size_t d = 0; d < cfg->n_domains; d++)
		for (size_t i = 0; i < cfg->domains[d].n_disks; i++)
			if (strcmp(cfg->domains[d].disks[i].name, name) == 0)
				return &cfg->domains[d].disks[i];
	return NULL;
}

static char *trim_in_place(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* disk = EXPORT:PATH */
static int add_disk(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	(void)k;
	struct domain_cfg *dom = base;
	CLEANUP_FREE char *copy = strdup(val);
	if (!copy)
		return oom(p);
	char *colon = strchr(copy, ':');
	if (!colon)
		return fail(p, p->line, "bad disk '%s' (expected EXPORT:PATH)", val);
	*colon = '\0';
	char *name = trim_in_place(copy), *path = trim_in_place(colon + 1);
	if (!*name)
		return fail(p, p->line, "bad disk '%s': empty export name (expected EXPORT:PATH)", val);
	if (!*path)
		return fail(p, p->line, "bad disk '%s': empty path (expected EXPORT:PATH)", val);
	if (!name_ok(name))
		return fail(p, p->line, "invalid export name '%s' (1-%d characters from A-Z a-z 0-9 "
			    ". _ -, not '.' or '..')", name, FERRY_NAME_MAX);
	const struct disk_cfg *other = find_export(p->cfg, name);
	if (other)
		return fail(p, p->line, "duplicate export name '%s' (first defined at line %u)", name,
			    other->line);

	struct disk_cfg *disks = realloc(dom->disks, (dom->n_disks + 1) * sizeof(*disks));
	if (!disks)
		return oom(p);
	dom->disks = disks;
	struct disk_cfg *dc = &disks[dom->n_disks];
	dc->name = strdup(name);
	dc->path = strdup(path);
	dc->line = p->line;
	if (!dc->name || !dc->path) {
		free(dc->name);
		free(dc->path);
		return oom(p);
	}
	dom->n_disks++;
	return 0;
}

static int set_vm(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	char why[256];
	if (config_vm_key(base, k->key, val, p->line, why, sizeof(why)) < 0)
		return fail(p, p->line, "%s", why);
	return 0;
}

/* [agent] listen: a TCP address only (the unix socket has its own key) */
static int set_tcp_listen(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	if (strncmp(val, "unix:", 5) == 0 || !valid_listen(val))
		return fail(p, p->line, "bad %s.%s '%s' (expected HOST:PORT)", k->section, k->key,
			    val);
	return store_string(p, k, base, val);
}

/* [hypervisor] KEY = VALUE other than driver: kept for the driver, which checks them */
static int add_hv_setting(struct parser *p, const struct key_def *k, void *base, const char *val)
{
	(void)k;
	struct ferry_config *cfg = base;
	for (size_t i = 0; i < cfg->n_hv_settings; i++)
		if (strcmp(cfg->hv_settings[i].key, p->key) == 0)
			return fail(p, p->line, "duplicate key '%s' in [hypervisor] (first set at line "
				    "%u)", p->key, cfg->hv_settings[i].line);
	struct cfg_setting *v = realloc(cfg->hv_settings, (cfg->n_hv_settings + 1) * sizeof(*v));
	if (!v)
		return oom(p);
	cfg->hv_settings = v;
	v += cfg->n_hv_settings;
	v->key = strdup(p->key);
	v->value = strdup(val);
	v->line = p->line;
	if (!v->key || !v->value) {
		free(v->key);
		free(v->value);
		return oom(p);
	}
	cfg->n_hv_settings++;
	return 0;
}

/* ---- sections ---- */

static int open_vm(struct parser *p, const char *name)
{
	struct ferry_config *cfg = p->cfg;
	struct vm_cfg vm;
	char why[256];
	if (config_vm_open(cfg, &vm, name, p->line, why, sizeof(why)) < 0)
		return fail(p, p->line, "%s", why);
	struct vm_cfg *vms = realloc(cfg->vms, (cfg->n_vms + 1) * sizeof(*vms));
	if (!vms)
		return oom(p);
	cfg->vms = vms;
	vms[cfg->n_vms] = vm;
	p->vm = &vms[cfg->n_vms++];
	p->item = p->vm;
	return 0;
}

static int open_domain(struct parser *p, const char *name)
{
	struct ferry_config *cfg = p->cfg;
	if (!name)
		return fail(p, p->line, "[domain] needs a name: [domain NAME]");
	if (!name_ok(name))
		return fail(p, p->line, "invalid domain name '%s' (1-%d characters from A-Z a-z 0-9 "
			    ". _ -, not '.' or '..')", name, FERRY_NAME_MAX);
	for (size_t i = 0; i < cfg->n_domains; i++)
		if (strcmp(cfg->domains[i].name, name) == 0)
			return fail(p, p->line, "duplicate domain '%s' (first defined at line %u)",
				    name, cfg->domains[i].line);
	struct domain_cfg *doms = realloc(cfg->domains, (cfg->n_domains + 1) * sizeof(*doms));
	if (!doms)
		return oom(p);
	cfg->domains = doms;
	struct domain_cfg *d = &doms[cfg->n_domains];
	memset(d, 0, sizeof(*d));
	d->name = strdup(name);
	if (!d->name)
		return oom(p);
	d->line = p->line;
	d->rpo_ms = DEFAULT_RPO_MS;
	cfg->n_domains++;
	p->dom = d;
	p->item = d;
	return 0;
}

static int open_receiver(struct parser *p, const char *name)
{
	struct ferry_config *cfg = p->cfg;
	if (!name)
		return fail(p, p->line, "[snmp-receiver] needs a name: [snmp-receiver NAME]");
	if (!name_ok(name))
		return fail(p, p->line, "invalid receiver name '%s' (1-%d characters from A-Z a-z "
			    "0-9 . _ -, not '.' or '..')", name, FERRY_NAME_MAX);
	for (size_t i = 0; i < cfg->n_snmp_receivers; i++)
		if (strcmp(cfg->snmp_receivers[i].name, name) == 0)
			return fail(p, p->line, "duplicate receiver '%s' (first defined at line %u)",
				    name, cfg->snmp_receivers[i].line);
	struct snmp_receiver_cfg *rs = realloc(cfg->snmp_receivers,
					       (cfg->n_snmp_receivers + 1) * sizeof(*rs));
	if (!rs)
		return oom(p);
	cfg->snmp_receivers = rs;
	struct snmp_receiver_cfg *r = &rs[cfg->n_snmp_receivers];
	memset(r, 0, sizeof(*r));
	r->name = strdup(name);
	if (!r->name)
		return oom(p);
	r->line = p->line;
	r->kind = SNMP_RCV_TRAP;
	cfg->n_snmp_receivers++;
	p->rcv = r;
	p->item = r;
	return 0;
}

/* Whether key `key` of the current section instance was set. */
static bool key_given(const struct parser *p, const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].section, p->sec->name) == 0 && strcmp(keys[i].key, key) == 0)
			return p->key_line[i] != 0;
	return false;
}

/* A receiver has its address and version, and exactly the keys its version uses. */
static int close_receiver(struct parser *p)
{
	const struct snmp_receiver_cfg *r = p->rcv;
	const char *v3keys[] = { "user", "auth_password_file", "priv_password_file" };
	if (!r->address)
		return fail(p, r->line, "receiver '%s' has no address (add 'address = HOST[:PORT]')",
			    r->name);
	if (!key_given(p, "version"))
		return fail(p, r->line, "receiver '%s' has no version (add 'version = v2c' or 'v3')",
			    r->name);
	if (r->version == SNMP_RCV_V2C) {
		if (!r->community_file)
			return fail(p, r->line, "receiver '%s': v2c needs community_file", r->name);
		for (size_t i = 0; i < ARRAY_SIZE(v3keys); i++)
			if (key_given(p, v3keys[i]))
				return fail(p, r->line, "receiver '%s': %s is for v3 only", r->name,
					    v3keys[i]);
		return 0;
	}
	if (r->community_file)
		return fail(p, r->line, "receiver '%s': community_file is for v2c only", r->name);
	for (size_t i = 0; i < ARRAY_SIZE(v3keys); i++)
		if (!key_given(p, v3keys[i]))
			return fail(p, r->line, "receiver '%s': v3 needs %s", r->name, v3keys[i]);
	return 0;
}

/* Checks that can only run once a section is complete. */
static int close_section(struct parser *p)
{
	if (p->dom && p->dom->n_disks == 0)
		return fail(p, p->dom->line, "domain '%s' has no disks (add 'disk = EXPORT:PATH')",
			    p->dom->name);
	if (p->rcv && close_receiver(p) < 0)
		return -1;
	p->dom = NULL;
	if (p->vm) {
		char why[256];
		unsigned line;
		if (config_vm_close(p->vm, &line, why, sizeof(why)) < 0)
			return fail(p, line, "%s", why);
	}
	p->vm = NULL;
	p->rcv = NULL;
	p->item = NULL;
	return 0;
}

static int open_section(struct parser *p, const struct ini_item *it)
{
	if (close_section(p) < 0)
		return -1;
	const struct section_def *sec = NULL;
	size_t idx = 0;
	for (idx = 0; idx < ARRAY_SIZE(sections); idx++) {
		if (strcmp(sections[idx].name, it->name) == 0) {
			sec = &sections[idx];
			break;
		}
	}
	if (!sec)
		return fail(p, p->line, "unknown section [%s]", it->name);
	p->sec = sec;
	if (sec->open) {
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++)	/* keys are per instance */
			if (strcmp(keys[i].section, sec->name) == 0)
				p->key_line[i] = 0;
		return sec->open(p, it->arg);
	}
	if (it->arg)
		return fail(p, p->line, "section [%s] takes no name (got '%s')", sec->name, it->arg);
	if (p->section_line[idx])
		return fail(p, p->line, "duplicate section [%s] (first at line %u)", sec->name,
			    p->section_line[idx]);
	p->section_line[idx] = p->line;
	return 0;
}

static int handle_key(struct parser *p, const struct ini_item *it)
{
	if (!p->sec)
		return fail(p, p->line, "key '%s' outside of any section", it->name);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key_def *k = &keys[i];
		if (strcmp(k->section, p->sec->name) != 0 ||
		    (strcmp(k->key, it->name) != 0 && strcmp(k->key, "*") != 0))
			continue;
		if (!(k->flags & KEY_REPEAT) && p->key_line[i])
			return fail(p, p->line, "duplicate key '%s' in [%s] (first set at line %u)",
				    it->name, p->sec->name, p->key_line[i]);
		p->key_line[i] = p->line;
		p->key = it->name;
		void *base = p->sec->open ? p->item : (void *)p->cfg;
		return k->set(p, k, base, it->value);
	}
	return fail(p, p->line, "unknown key '%s' in [%s]", it->name, p->sec->name);
}

/* ---- whole file ---- */

static void set_defaults(struct ferry_config *cfg)
{
	cfg->engine = ENGINE_AUTO;
	cfg->log_size = DEFAULT_LOG_SIZE;
	cfg->log_metadata_size = DEFAULT_LOG_METADATA_SIZE;
	cfg->log_backpressure_ms = 0;
	cfg->agent_parallel = DEFAULT_AGENT_PARALLEL;
	cfg->snmp_queue = DEFAULT_SNMP_QUEUE;
	cfg->snmp_timeout_ms = DEFAULT_SNMP_TIMEOUT_MS;
	cfg->snmp_retry_for_ms = DEFAULT_SNMP_RETRY_FOR_MS;
	cfg->snmp_log_interval_ms = DEFAULT_SNMP_LOG_INTERVAL_MS;
}

static int default_string(struct parser *p, char **dst, const char *val)
{
	if (*dst)
		return 0;
	*dst = strdup(val);
	return *dst ? 0 : oom(p);
}

/* The [nbd] TLS keys fit together: credentials when TLS is on, a key with a certificate. */
static int check_tls(struct parser *p)
{
	const struct ferry_config *c = p->cfg;
	unsigned line = 1;
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
		if (!strcmp(sections[i].name, "nbd") && p->section_line[i])
			line = p->section_line[i];
	if (!c->tls_cert_file != !c->tls_key_file)
		return fail(p, line, "nbd.tls_cert_file and nbd.tls_key_file go together");
	if (c->tls_ca_file && !c->tls_cert_file)
		return fail(p, line, "nbd.tls_ca_file (client certificates) needs nbd.tls_cert_file");
	if (c->tls != TLS_OFF && !c->tls_cert_file && !c->tls_psk_file)
		return fail(p, line, "nbd.tls = %s needs nbd.tls_cert_file and nbd.tls_key_file, "
			    "or nbd.tls_psk_file", c->tls == TLS_ON ? "on" : "require");
	return 0;
}

static int fill_defaults(struct parser *p)
{
	struct ferry_config *cfg = p->cfg;
	if (default_string(p, &cfg->state_dir, DEFAULT_STATE_DIR) < 0 ||
	    default_string(p, &cfg->nbd_listen, DEFAULT_NBD_LISTEN) < 0 ||
	    default_string(p, &cfg->control_socket, DEFAULT_CONTROL_SOCKET) < 0 ||
	    default_string(p, &cfg->agent_state_dir, DEFAULT_AGENT_STATE_DIR) < 0 ||
	    default_string(p, &cfg->agent_socket, DEFAULT_AGENT_SOCKET) < 0 ||
	    default_string(p, &cfg->snmp_agentx_socket, DEFAULT_SNMP_AGENTX_SOCKET) < 0)
		return -1;
	if (cfg->n_hv_settings && !cfg->hv_driver)
		return fail(p, cfg->hv_settings[0].line, "[hypervisor] has settings but no driver "
			    "(add 'driver = libvirt' or 'driver = script')");
	for (size_t i = 0; i < cfg->n_domains; i++) {
		struct domain_cfg *d = &cfg->domains[i];
		if (!d->rpo_alarm_ms)
			d->rpo_alarm_ms = d->rpo_ms > UINT32_MAX / 2 ? UINT32_MAX : 2 * d->rpo_ms;
		else if (d->rpo_alarm_ms < d->rpo_ms)
			return fail(p, d->line, "domain '%s': rpo_alarm (%ums) must be at least its "
				    "rpo (%ums)", d->name, d->rpo_alarm_ms, d->rpo_ms);
	}
	if (!cfg->log_path) {
		size_t n = strlen(cfg->state_dir);
		bool slash = n && cfg->state_dir[n - 1] == '/';
		char *path = malloc(n + sizeof("/replog"));
		if (!path)
			return oom(p);
		snprintf(path, n + sizeof("/replog"), "%s%s", cfg->state_dir, slash ? "replog" : "/replog");
		cfg->log_path = path;
	}
	return 0;
}

static int parse(const char *file, const char *text, size_t len, struct ferry_config *cfg,
		 char *err, size_t errlen, bool need_domains)
{
	char dummy[1];
	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	memset(cfg, 0, sizeof(*cfg));
	set_defaults(cfg);

	struct parser *p = calloc(1, sizeof(*p));
	struct ini_reader *r = malloc(sizeof(*r));
	cfg->file = strdup(file ? file : "");
	if (!p || !r || !cfg->file) {
		snprintf(err, errlen, "%s: out of memory", file ? file : "");
		free(p);
		free(r);
		config_release(cfg);
		return -1;
	}
	p->file = cfg->file;
	p->cfg = cfg;
	p->err = err;
	p->errlen = errlen;

	ini_init(r, text, len);
	char reason[256];
	struct ini_item it;
	int rc;
	while ((rc = ini_next(r, &it, reason, sizeof(reason))) > 0) {
		p->line = it.line;
		rc = it.kind == INI_SECTION ? open_section(p, &it) : handle_key(p, &it);
		if (rc < 0)
			break;
	}
	if (rc < 0 && err[0] == '\0')
		fail(p, r->line, "%s", reason);		/* a syntax error from the tokenizer */
	if (rc == 0)
		rc = close_section(p);
	if (rc == 0) {
		unsigned line;
		if ((rc = config_vms_check(cfg, &line, reason, sizeof(reason))) < 0)
			fail(p, line, "%s", reason);
	}
	if (rc == 0 && need_domains && cfg->n_domains == 0)
		rc = fail(p, 1, "no [domain] section (at least one protected domain is required)");
	if (rc == 0)
		rc = check_tls(p);
	if (rc == 0)
		rc = fill_defaults(p);

	free(p);
	free(r);
	if (rc < 0) {
		config_release(cfg);
		return -1;
	}
	return 0;
}

int config_parse(const char *file, const char *text, size_t len, struct ferry_config *cfg,
		 char *err, size_t errlen)
{
	return parse(file, text, len, cfg, err, errlen, true);
}

int config_parse_any(const char *file, const char *text, size_t len, struct ferry_config *cfg,
		     char *err, size_t errlen)
{
	return parse(file, text, len, cfg, err, errlen, false);
}

static int load(const char *file, struct ferry_config *cfg, char *err, size_t errlen,
		bool need_domains)
{
	memset(cfg, 0, sizeof(*cfg));
	CLEANUP_CLOSE int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	CLEANUP_FREE char *buf = malloc(CONFIG_MAX_FILE + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", file);
		return -1;
	}
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, CONFIG_MAX_FILE + 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: %s", file, strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_MAX_FILE) {
			snprintf(err, errlen, "%s: file too large (max %u bytes)", file, CONFIG_MAX_FILE);
			return -1;
		}
	}
	return parse(file, buf, len, cfg, err, errlen, need_domains);
}

int config_load(const char *file, struct ferry_config *cfg, char *err, size_t errlen)
{
	return load(file, cfg, err, errlen, true);
}

int config_load_any(const char *file, struct ferry_config *cfg, char *err, size_t errlen)
{
	return load(file, cfg, err, errlen, false);
}

void config_release(struct ferry_config *cfg)
{
	if (!cfg)
		return;
	for (size_t d = 0; d < cfg->n_domains; d++) {
		struct domain_cfg *dom = &cfg->domains[d];
		for (size_t i = 0; i < dom->n_disks; i++) {
			free(dom->disks[i].name);
			free(dom->disks[i].path);
		}
		free(dom->disks);
		free(dom->name);
		free(dom->compression);
		free(dom->keep);
	}
	free(cfg->domains);
	free(cfg->vms);
	for (size_t i = 0; i < cfg->n_snmp_receivers; i++) {
		struct snmp_receiver_cfg *r = &cfg->snmp_receivers[i];
		free(r->name);
		free(r->address);
		free(r->community_file);
		free(r->user);
		free(r->auth_password_file);
		free(r->priv_password_file);
	}
	free(cfg->snmp_receivers);
	free(cfg->snmp_engine_id);
	free(cfg->snmp_agentx_socket);
	free(cfg->file);
	free(cfg->state_dir);
	free(cfg->nbd_listen);
	free(cfg->tls_cert_file);
	free(cfg->tls_key_file);
	free(cfg->tls_ca_file);
	free(cfg->tls_psk_file);
	free(cfg->log_path);
	free(cfg->control_socket);
	free(cfg->store_url);
	free(cfg->store_key_file);
	free(cfg->store_endpoint);
	free(cfg->store_region);
	free(cfg->store_addressing);
	free(cfg->store_access_key_file);
	free(cfg->store_secret_key_file);
	free(cfg->store_ca_file);
	free(cfg->agent_state_dir);
	free(cfg->agent_socket);
	free(cfg->agent_listen);
	free(cfg->hv_driver);
	for (size_t i = 0; i < cfg->n_hv_settings; i++) {
		free(cfg->hv_settings[i].key);
		free(cfg->hv_settings[i].value);
	}
	free(cfg->hv_settings);
	memset(cfg, 0, sizeof(*cfg));
}
