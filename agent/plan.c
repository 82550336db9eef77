/* Recovery plan parser (agent/plan.h, docs/plan.md). Pure: text in, struct out, no I/O.
 *
 * Unlike ferry.conf's loader, which stops at the first error, this one goes on after a bad
 * line and reports every problem, because `ferryctl plan validate` is a dry run whose job
 * is to list everything an operator must fix before the day it matters. A bad value is
 * reported and skipped; a bad section header makes the keys under it ignored (reported
 * once). Whole-plan rules (required keys, defaults) run at the end. */
#include "agent/plan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ini.h"
#include "common/util.h"
#include "common/banned.h"

/* ---- problem lists ---- */

void problems_add(struct problems *p, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	char **v = realloc(p->v, (p->n + 1) * sizeof(*v));
	if (!v) {
		p->oom = true;
		return;
	}
	p->v = v;
	if (!(v[p->n] = strdup(buf))) {
		p->oom = true;
		return;
	}
	p->n++;
}

void problems_release(struct problems *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* ---- small value parsers ---- */

static int ipv4_parse(const char *s, uint32_t *out)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

/* "ADDR/PREFIX" */
static int cidr_parse(const char *s, uint32_t *addr, uint8_t *prefix)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = 0;
	char *end;
	long pf = strtol(slash + 1, &end, 10);
	if (ipv4_parse(buf, addr) < 0 || end == slash + 1 || *end || pf < 1 || pf > 32)
		return -1;
	*prefix = (uint8_t)pf;
	return 0;
}

/* "A -> B" into two trimmed words */
static int arrow_split(const char *s, char *a, size_t alen, char *b, size_t blen)
{
	const char *arrow = strstr(s, "->");
	if (!arrow)
		return -1;
	const char *e = arrow;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	const char *t = arrow + 2;
	while (*t == ' ' || *t == '\t')
		t++;
	if ((size_t)(e - s) >= alen || strlen(t) >= blen)
		return -1;
	memcpy(a, s, (size_t)(e - s));
	a[e - s] = 0;
	snprintf(b, blen, "%s", t);
	return 0;
}

/* ---- the parser ---- */

enum sec { S_NONE, S_BAD, S_PLAN, S_NETWORKS, S_REIP, S_BOOT, S_VM, S_HYPERVISOR, S_PROTECTED };

static const struct {
	const char *name;
	enum sec sec;
} sections[] = {
	{ "plan", S_PLAN }, { "networks", S_NETWORKS }, { "reip", S_REIP }, { "boot", S_BOOT },
	{ "vm", S_VM }, { "hypervisor", S_HYPERVISOR }, { "protected", S_PROTECTED },
};

#define MAX_SEEN 32

struct pp {
	const char *file;
	struct plan *p;
	struct problems *pr;
	unsigned line;
	enum sec sec;
	struct plan_vm *vm;			/* current [vm NAME] */
	unsigned sec_line[ARRAY_SIZE(sections)];
	struct { char key[64]; unsigned line; } seen[MAX_SEEN];	/* keys of this section */
	size_t n_seen;
	bool oom;
};

__attribute__((format(printf, 2, 3)))
static void bad(struct pp *pp, const char *fmt, ...)
{
	char buf[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	problems_add(pp->pr, "%s:%u: %s", pp->file, pp->line, buf);
}

static char *dup_or_oom(struct pp *pp, const char *s)
{
	char *d = strdup(s);
	if (!d)
		pp->oom = true;
	return d;
}

static void set_str(struct pp *pp, char **dst, const char *val)
{
	char *d = dup_or_oom(pp, val);
	if (d) {
		free(*dst);
		*dst = d;
	}
}

static bool grow(struct pp *pp, void **v, size_t n, size_t size)
{
	void *nv = realloc(*v, (n + 1) * size);
	if (!nv) {
		pp->oom = true;
		return false;
	}
	memset((char *)nv + n * size, 0, size);
	*v = nv;
	return true;
}

static bool parse_ms(struct pp *pp, const char *key, const char *val, uint32_t *out)
{
	uint64_t ms;
	if (parse_duration_ms(val, &ms) < 0 || ms > UINT32_MAX) {
		bad(pp, "bad duration '%s' for %s (expected e.g. 500ms, 30s, 5m)", val, key);
		return false;
	}
	*out = (uint32_t)ms;
	return true;
}

/* "a, b, c" into a list of VM names */
static bool name_list(struct pp *pp, const char *key, const char *val,
		      char (**out)[VM_NAME_MAX + 1], size_t *n)
{
	char buf[INI_MAX_LINE + 1];
	snprintf(buf, sizeof(buf), "%s", val);
	bool ok = true;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ' || *t == '\t')
			t++;
		size_t len = strlen(t);
		while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
			t[--len] = 0;
		if (!name_ok(t)) {
			bad(pp, "%s: '%s' is not a VM name", key, t);
			ok = false;
			continue;
		}
		if (!grow(pp, (void **)out, *n, sizeof(**out)))
			return false;
		snprintf((*out)[(*n)++], VM_NAME_MAX + 1, "%s", t);
	}
	if (*n == 0 && ok) {
		bad(pp, "%s: no VM named", key);
		ok = false;
	}
	return ok;
}

static void add_setting(struct pp *pp, struct plan_driver *d, const char *key, const char *val)
{
	if (!grow(pp, (void **)&d->settings, d->n, sizeof(*d->settings)))
		return;
	struct cfg_setting *s = &d->settings[d->n];
	s->key = dup_or_oom(pp, key);
	s->value = dup_or_oom(pp, val);
	s->line = pp->line;
	if (!s->key || !s->value) {
		free(s->key);
		free(s->value);
		return;
	}
	d->n++;
}

/* ---- per section ---- */

static void key_plan(struct pp *pp, const char *k, const char *v)
{
	struct plan *p = pp->p;
	if (!strcmp(k, "domain")) {
		if (!name_ok(v))
			bad(pp, "domain: '%s' is not a domain name", v);
		else
			snprintf(p->domain, sizeof(p->domain), "%s", v);
	} else if (!strcmp(k, "datastore") || !strcmp(k, "test_datastore")) {
		if (v[0] != '/')
			bad(pp, "%s: '%s' is not an absolute path", k, v);
		else
			set_str(pp, !strcmp(k, "datastore") ? &p->datastore : &p->test_datastore, v);
	} else if (!strcmp(k, "format")) {
		enum restore_format f;
		if (restore_format_parse(v, &f) < 0 || f == RESTORE_VMDK_STREAM)
			bad(pp, "format: '%s' (expected raw, vmdk or vmdk-flat)", v);
		else
			p->format = f;
	} else if (!strcmp(k, "vm_prefix")) {
		if (strlen(v) > 32 || !name_ok(v))
			bad(pp, "vm_prefix: '%s' (up to 32 of A-Z a-z 0-9 . _ -)", v);
		else
			set_str(pp, &p->vm_prefix, v);
	} else if (!strcmp(k, "test_network")) {
		if (!name_ok(v))
			bad(pp, "test_network: '%s' is not a network name", v);
		else
			set_str(pp, &p->test_network, v);
	} else if (!strcmp(k, "test_address")) {
		if (cidr_parse(v, &p->test_host, &p->test_prefix) < 0)
			bad(pp, "test_address: '%s' (expected ADDR/PREFIX, e.g. 10.2.0.1/24)", v);
	} else if (!strcmp(k, "interval")) {
		uint32_t ms;
		if (parse_ms(pp, k, v, &ms)) {
			if (ms < 100)
				bad(pp, "interval: at least 100ms (got %s)", v);
			else
				p->interval_ms = ms;
		}
	} else {
		bad(pp, "unknown key '%s' in [plan]", k);
	}
}

static void key_networks(struct pp *pp, const char *k, const char *v)
{
	struct plan *p = pp->p;
	char a[VM_NAME_MAX + 2], b[VM_NAME_MAX + 2];
	if (strcmp(k, "map")) {
		bad(pp, "unknown key '%s' in [networks] (expected map = SOURCE -> TARGET)", k);
		return;
	}
	if (arrow_split(v, a, sizeof(a), b, sizeof(b)) < 0 || !name_ok(a) || !name_ok(b)) {
		bad(pp, "map: '%s' (expected SOURCE -> TARGET, two network names)", v);
		return;
	}
	for (size_t i = 0; i < p->n_maps; i++)
		if (!strcmp(p->maps[i].from, a)) {
			bad(pp, "map: network '%s' is already mapped at line %u", a, p->maps[i].line);
			return;
		}
	if (!grow(pp, (void **)&p->maps, p->n_maps, sizeof(*p->maps)))
		return;
	struct plan_map *m = &p->maps[p->n_maps++];
	memcpy(m->from, a, strlen(a) + 1);	/* name_ok: at most VM_NAME_MAX */
	memcpy(m->to, b, strlen(b) + 1);
	m->line = pp->line;
}

static void key_reip(struct pp *pp, const char *k, const char *v)
{
	struct plan *p = pp->p;
	if (strcmp(k, "rule")) {
		bad(pp, "unknown key '%s' in [reip] (expected rule = FROM -> TO ...)", k);
		return;
	}
	struct reip_rule r;
	char why[256] = "";
	if (reip_rule_parse(v, &r, why, sizeof(why)) < 0) {
		bad(pp, "rule '%s': %s", v, why[0] ? why : "bad rule");
		return;
	}
	if (!grow(pp, (void **)&p->rules, p->n_rules, sizeof(*p->rules)) ||
	    !grow(pp, (void **)&p->rule_src, p->n_rules, sizeof(*p->rule_src)))
		return;
	struct plan_rule_src *src = &p->rule_src[p->n_rules];
	p->rules[p->n_rules] = r;
	src->line = pp->line;
	if ((src->text = dup_or_oom(pp, v)))
		p->n_rules++;
}

static void key_boot(struct pp *pp, const char *k, const char *v)
{
	struct plan *p = pp->p;
	if (strcmp(k, "group")) {
		bad(pp, "unknown key '%s' in [boot] (expected group = VM[, VM...])", k);
		return;
	}
	if (!grow(pp, (void **)&p->groups, p->n_groups, sizeof(*p->groups)))
		return;
	struct plan_group *g = &p->groups[p->n_groups];
	g->line = pp->line;
	name_list(pp, "group", v, &g->vms, &g->n);
	if (g->n == 0) {
		free(g->vms);
		return;
	}
	for (size_t i = 0; i < g->n; i++)
		for (size_t j = 0; j <= p->n_groups; j++)
			for (size_t l = 0; l < p->groups[j].n && (j < p->n_groups || l < i); l++)
				if (!strcmp(p->groups[j].vms[l], g->vms[i]))
					bad(pp, "group: VM '%s' is already in a group (line %u)",
					    g->vms[i], p->groups[j].line);
	p->n_groups++;
}

static void key_check(struct pp *pp, struct plan_vm *vm, const char *v)
{
	if (!strcmp(v, "power-on")) {
		vm->check = CHECK_POWER_ON;
	} else if (!strncmp(v, "tcp ", 4)) {
		const char *t = v + 4, *colon = strrchr(t, ':');
		char addr[32] = "";
		if (colon) {
			if ((size_t)(colon - t) >= sizeof(addr))
				goto bad_tcp;
			memcpy(addr, t, (size_t)(colon - t));
			addr[colon - t] = 0;
			t = colon + 1;
			if (ipv4_parse(addr, &vm->tcp_addr) < 0)
				goto bad_tcp;
		}
		char *end;
		long port = strtol(t, &end, 10);
		if (end == t || *end || port < 1 || port > 65535)
			goto bad_tcp;
		vm->tcp_port = (uint16_t)port;
		vm->check = CHECK_TCP;
	} else if (!strncmp(v, "serial ", 7)) {
		const char *re = v + 7;
		while (*re == ' ')
			re++;
		if (!*re) {
			bad(pp, "check: serial needs a regular expression");
			return;
		}
		set_str(pp, &vm->serial_re, re);
		vm->check = CHECK_SERIAL;
	} else {
		bad(pp, "check: '%s' (expected power-on, tcp [ADDR:]PORT or serial REGEX)", v);
	}
	return;
bad_tcp:
	bad(pp, "check: '%s' (expected tcp PORT or tcp ADDR:PORT)", v);
}

static void key_vm(struct pp *pp, const char *k, const char *v)
{
	struct plan_vm *vm = pp->vm;
	if (!strcmp(k, "after")) {
		name_list(pp, "after", v, &vm->after, &vm->n_after);
	} else if (!strcmp(k, "check")) {
		key_check(pp, vm, v);
	} else if (!strcmp(k, "timeout")) {
		uint32_t ms;
		if (parse_ms(pp, k, v, &ms)) {
			if (ms == 0)
				bad(pp, "timeout: must be more than 0");
			else
				vm->timeout_ms = ms;
		}
	} else if (!strcmp(k, "delay")) {
		parse_ms(pp, k, v, &vm->delay_ms);
	} else if (!strcmp(k, "on_timeout")) {
		if (strcmp(v, "stop") && strcmp(v, "continue"))
			bad(pp, "on_timeout: '%s' (expected stop or continue)", v);
		else
			vm->on_timeout_continue = !strcmp(v, "continue");
	} else if (!strcmp(k, "reip")) {
		if (!strcmp(v, "disk"))
			vm->reip = REIP_DISK;
		else if (!strcmp(v, "cidata"))
			vm->reip = REIP_CIDATA;
		else if (!strcmp(v, "none"))
			vm->reip = REIP_NONE;
		else
			bad(pp, "reip: '%s' (expected disk, cidata or none)", v);
	} else {
		bad(pp, "unknown key '%s' in [vm %s]", k, vm->name);
	}
}

static void key_driver(struct pp *pp, struct plan_driver *d, const char *k, const char *v)
{
	if (!strcmp(k, "driver")) {
		if (!name_ok(v))
			bad(pp, "driver: '%s' is not a driver name", v);
		else
			set_str(pp, &d->driver, v);
	} else {
		add_setting(pp, d, k, v);
	}
}

static void key_protected(struct pp *pp, const char *k, const char *v)
{
	struct plan *p = pp->p;
	if (!strcmp(k, "control")) {
		if (v[0] != '/' || strlen(v) > 107)
			bad(pp, "control: '%s' (expected ferryd's control socket, an absolute path)", v);
		else
			set_str(pp, &p->prot_control, v);
	} else if (!strcmp(k, "stop_timeout")) {
		parse_ms(pp, k, v, &p->prot_stop_timeout_ms);
	} else {
		key_driver(pp, &p->prot, k, v);
	}
}

/* Repeatable keys; every other key may be set once per section. */
static bool repeatable(enum sec s, const char *k)
{
	return (s == S_NETWORKS && !strcmp(k, "map")) || (s == S_REIP && !strcmp(k, "rule")) ||
	       (s == S_BOOT && !strcmp(k, "group"));
}

static bool first_time(struct pp *pp, const char *k)
{
	if (repeatable(pp->sec, k))
		return true;
	for (size_t i = 0; i < pp->n_seen; i++)
		if (!strcmp(pp->seen[i].key, k)) {
			bad(pp, "duplicate key '%s' (first set at line %u)", k, pp->seen[i].line);
			return false;
		}
	if (pp->n_seen < MAX_SEEN && strlen(k) < sizeof(pp->seen[0].key)) {
		snprintf(pp->seen[pp->n_seen].key, sizeof(pp->seen[0].key), "%s", k);
		pp->seen[pp->n_seen++].line = pp->line;
	}
	return true;
}

static void on_key(struct pp *pp, const char *k, const char *v)
{
	if (pp->sec == S_BAD)
		return;		/* reported at the header */
	if (pp->sec == S_NONE) {
		bad(pp, "key '%s' outside of any section", k);
		return;
	}
	if (!first_time(pp, k))
		return;
	switch (pp->sec) {
	case S_PLAN: key_plan(pp, k, v); break;
	case S_NETWORKS: key_networks(pp, k, v); break;
	case S_REIP: key_reip(pp, k, v); break;
	case S_BOOT: key_boot(pp, k, v); break;
	case S_VM: key_vm(pp, k, v); break;
	case S_HYPERVISOR: key_driver(pp, &pp->p->hv, k, v); break;
	case S_PROTECTED: key_protected(pp, k, v); break;
	case S_NONE: case S_BAD: break;
	}
}

static void open_vm(struct pp *pp, const char *name)
{
	struct plan *p = pp->p;
	pp->sec = S_BAD;
	if (!name || !name_ok(name)) {
		bad(pp, "[vm] needs a VM name: [vm NAME]");
		return;
	}
	for (size_t i = 0; i < p->n_vms; i++)
		if (!strcmp(p->vms[i].name, name)) {
			bad(pp, "duplicate section [vm %s] (first at line %u)", name, p->vms[i].line);
			return;
		}
	if (p->n_vms >= PLAN_MAX_VMS) {
		bad(pp, "too many [vm] sections (at most %d)", PLAN_MAX_VMS);
		return;
	}
	if (!grow(pp, (void **)&p->vms, p->n_vms, sizeof(*p->vms)))
		return;
	struct plan_vm *vm = &p->vms[p->n_vms++];
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	vm->timeout_ms = PLAN_DEFAULT_TIMEOUT_MS;
	vm->line = pp->line;
	pp->vm = vm;
	pp->sec = S_VM;
}

static void on_section(struct pp *pp, const char *name, const char *arg)
{
	pp->n_seen = 0;
	pp->vm = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++) {
		if (strcmp(sections[i].name, name))
			continue;
		if (sections[i].sec == S_VM) {
			open_vm(pp, arg);
			return;
		}
		pp->sec = S_BAD;
		if (arg)
			bad(pp, "section [%s] takes no name (got '%s')", name, arg);
		else if (pp->sec_line[i])
			bad(pp, "duplicate section [%s] (first at line %u)", name, pp->sec_line[i]);
		else {
			pp->sec_line[i] = pp->line;
			pp->sec = sections[i].sec;
		}
		return;
	}
	bad(pp, "unknown section [%s]", name);
	pp->sec = S_BAD;
}

/* Whole-plan rules and defaults. */
static void finish(struct pp *pp)
{
	struct plan *p = pp->p;
	pp->line = 1;
	if (!p->domain[0])
		bad(pp, "[plan] domain is required");
	if (!p->datastore)
		bad(pp, "[plan] datastore is required (the directory the disks are restored into)");
	if (p->datastore && !p->test_datastore) {
		size_t n = strlen(p->datastore) + sizeof("/test");
		if ((p->test_datastore = malloc(n)))
			snprintf(p->test_datastore, n, "%s%stest", p->datastore,
				 p->datastore[strlen(p->datastore) - 1] == '/' ? "" : "/");
		else
			pp->oom = true;
	}
	if (p->test_host && !p->test_network)
		bad(pp, "[plan] test_address needs test_network");
	if ((p->prot.n || p->prot.driver) && !p->prot.driver)
		bad(pp, "[protected] has driver settings but no driver");
	if (p->hv.n && !p->hv.driver)
		bad(pp, "[hypervisor] has settings but no driver");
	if (!p->vm_prefix)
		p->vm_prefix = dup_or_oom(pp, "");
}

int plan_parse(const char *file, const char *text, size_t len, struct plan *p,
	       struct problems *pr)
{
	memset(p, 0, sizeof(*p));
	p->format = RESTORE_VMDK_FLAT;
	p->interval_ms = PLAN_DEFAULT_INTERVAL_MS;
	p->prot_stop_timeout_ms = 120000;
	struct pp pp = { .file = file ? file : "plan", .p = p, .pr = pr };
	size_t before = pr->n;
	if (len > PLAN_MAX_TEXT) {
		problems_add(pr, "%s: too large (at most %u bytes)", pp.file, PLAN_MAX_TEXT);
		return -1;
	}
	struct ini_reader *r = malloc(sizeof(*r));
	if (!r) {
		problems_add(pr, "%s: out of memory", pp.file);
		return -1;
	}
	ini_init(r, text, len);
	struct ini_item it;
	char why[256];
	int rc;
	while ((rc = ini_next(r, &it, why, sizeof(why))) != 0) {
		pp.line = r->line;
		if (rc < 0) {
			bad(&pp, "%s", why);
			if (!strncmp(why, "bad section header", 18))
				pp.sec = S_BAD;	/* its keys belong to no known section */
			if (r->pos >= r->len)
				break;
			continue;
		}
		if (it.kind == INI_SECTION)
			on_section(&pp, it.name, it.arg);
		else
			on_key(&pp, it.name, it.value);
	}
	free(r);
	finish(&pp);
	if (pp.oom)
		problems_add(pr, "%s: out of memory", pp.file);
	if (pr->n > before || pr->oom) {
		plan_release(p);
		return -1;
	}
	return 0;
}

static void driver_release(struct plan_driver *d)
{
	free(d->driver);
	for (size_t i = 0; i < d->n; i++) {
		free(d->settings[i].key);
		free(d->settings[i].value);
	}
	free(d->settings);
}

void plan_release(struct plan *p)
{
	free(p->datastore);
	free(p->vm_prefix);
	free(p->test_network);
	free(p->test_datastore);
	free(p->maps);
	for (size_t i = 0; i < p->n_rules; i++)
		free(p->rule_src[i].text);
	free(p->rules);
	free(p->rule_src);
	for (size_t i = 0; i < p->n_groups; i++)
		free(p->groups[i].vms);
	free(p->groups);
	for (size_t i = 0; i < p->n_vms; i++) {
		free(p->vms[i].after);
		free(p->vms[i].serial_re);
	}
	free(p->vms);
	driver_release(&p->hv);
	driver_release(&p->prot);
	free(p->prot_control);
	memset(p, 0, sizeof(*p));
}

const struct plan_vm *plan_vm_find(const struct plan *p, const char *name)
{
	for (size_t i = 0; i < p->n_vms; i++)
		if (!strcmp(p->vms[i].name, name))
			return &p->vms[i];
	return NULL;
}

const char *plan_map_network(const struct plan *p, const char *source)
{
	for (size_t i = 0; i < p->n_maps; i++)
		if (!strcmp(p->maps[i].from, source))
			return p->maps[i].to;
	return NULL;
}

static const char *const mode_names[] = {
	[PLAN_ANY] = "any", [PLAN_PLANNED] = "planned", [PLAN_FORCED] = "forced",
	[PLAN_TEST] = "test", [PLAN_CONTINUOUS] = "continuous",
};

int plan_mode_parse(const char *s, enum plan_mode *m)
{
	for (size_t i = 1; i < ARRAY_SIZE(mode_names); i++)
		if (!strcmp(s, mode_names[i])) {
			*m = (enum plan_mode)i;
			return 0;
		}
	return -EINVAL;
}

const char *plan_mode_name(enum plan_mode m)
{
	return (unsigned)m < ARRAY_SIZE(mode_names) ? mode_names[m] : "?";
}
