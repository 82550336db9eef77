/* A libvirt domain's XML into a VM description (contract and mapping rules: vm-import.h).
 *
 * libxml2 reads the XML (no network access, no entity substitution, no DTD loading: the
 * XML may come from a hypervisor we do not trust more than a file); the rest is a walk of
 * the element tree. Only what a recovery site needs is taken; everything libvirt-specific
 * (buses, addresses, drivers) stays behind. */
#include "agent/vm-import.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/json.h"
#include "common/util.h"
#include "common/banned.h"

#define XML_MAX (4u << 20)

struct ctx {
	const struct vm_import_opts *o;
	struct vm_desc *v;
	struct dbuf *notes;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int bad(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

__attribute__((format(printf, 2, 3)))
static void note(struct ctx *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	if (!c->notes)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	dbuf_printf(c->notes, "# %s\n", line);
}

static bool is(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static xmlNode *child(const xmlNode *n, const char *name)
{
	for (xmlNode *k = n ? n->children : NULL; k; k = k->next)
		if (is(k, name))
			return k;
	return NULL;
}

/* An attribute's value copied into out (n bytes); "" when absent or too long (the caller
 * treats "" as missing). */
static const char *attr(const xmlNode *n, const char *name, char *out, size_t len)
{
	out[0] = '\0';
	xmlChar *v = n ? xmlGetProp(n, (const xmlChar *)name) : NULL;
	if (v && strlen((const char *)v) < len)
		memcpy(out, v, strlen((const char *)v) + 1);
	xmlFree(v);
	return out;
}

static int text_u64(const xmlNode *n, uint64_t *out)
{
	xmlChar *t = n ? xmlNodeGetContent(n) : NULL;
	const char *s = (const char *)t;
	uint64_t v = 0;
	int rc = -EINVAL;
	while (s && (*s == ' ' || *s == '\n' || *s == '\t'))
		s++;
	if (s && *s >= '0' && *s <= '9') {
		for (; *s >= '0' && *s <= '9' && v < (1ull << 50); s++)
			v = v * 10 + (uint64_t)(*s - '0');
		while (*s == ' ' || *s == '\n' || *s == '\t')
			s++;
		rc = *s || v >= (1ull << 50) ? -EINVAL : 0;
	}
	xmlFree(t);
	*out = v;
	return rc;
}

/* ---- cpus, memory, firmware ---- */

static int unit_bytes(const char *u, uint64_t *mult)
{
	static const struct { const char *name; uint64_t mult; } units[] = {
		{ "", 1024 }, { "b", 1 }, { "bytes", 1 }, { "KB", 1000 }, { "k", 1024 },
		{ "KiB", 1024 }, { "MB", 1000000 }, { "M", 1u << 20 }, { "MiB", 1u << 20 },
		{ "GB", 1000000000 }, { "G", 1u << 30 }, { "GiB", 1u << 30 },
		{ "TB", 1000000000000ull }, { "T", 1ull << 40 }, { "TiB", 1ull << 40 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (!strcmp(u, units[i].name)) {
			*mult = units[i].mult;
			return 0;
		}
	return -EINVAL;
}

static int take_sizes(struct ctx *c, const xmlNode *dom)
{
	char buf[32];
	uint64_t v, mult;
	const xmlNode *vcpu = child(dom, "vcpu"), *mem = child(dom, "memory");
	if (text_u64(vcpu, &v) < 0 || v < 1 || v > 4096)
		return bad(c, "<vcpu> is missing or not a number from 1 to 4096");
	c->v->cpus = (uint32_t)v;
	attr(vcpu, "current", buf, sizeof(buf));
	if (buf[0] && (v = strtoull(buf, NULL, 10)) >= 1 && v <= c->v->cpus)
		c->v->cpus = (uint32_t)v;
	if (text_u64(mem, &v) < 0 || unit_bytes(attr(mem, "unit", buf, sizeof(buf)), &mult) < 0 ||
	    v == 0 || v > (1ull << 50) / mult)
		return bad(c, "<memory> is missing or not a size libvirt writes");
	c->v->memory_mib = (v * mult + (1u << 20) - 1) >> 20;
	const xmlNode *os = child(dom, "os");
	bool efi = !strcmp(attr(os, "firmware", buf, sizeof(buf)), "efi") ||
		   !strcmp(attr(child(os, "loader"), "type", buf, sizeof(buf)), "pflash");
	c->v->firmware = efi ? VM_FIRMWARE_UEFI : VM_FIRMWARE_BIOS;
	return 0;
}

/* ---- disks ---- */

struct lv_disk {
	char target[32];
	char source[4096];
	bool nbd;
	unsigned order;		/* <boot order>, 0: none */
	size_t doc;		/* document position */
};

static int read_disk(struct ctx *c, const xmlNode *n, struct lv_disk *d)
{
	char type[32], buf[32];
	const xmlNode *src = child(n, "source");
	attr(child(n, "target"), "dev", d->target, sizeof(d->target));
	if (!d->target[0])
		return bad(c, "a <disk> without a target dev");
	attr(n, "type", type, sizeof(type));
	if (!strcmp(type, "file"))
		attr(src, "file", d->source, sizeof(d->source));
	else if (!strcmp(type, "block"))
		attr(src, "dev", d->source, sizeof(d->source));
	else if (!strcmp(type, "network") && !strcmp(attr(src, "protocol", buf, sizeof(buf)), "nbd")) {
		attr(src, "name", d->source, sizeof(d->source));
		d->nbd = true;
	}
	attr(child(n, "boot"), "order", buf, sizeof(buf));
	d->order = buf[0] ? (unsigned)strtoul(buf, NULL, 10) : 0;
	return 0;
}

static int cmp_boot(const void *a, const void *b)
{
	const struct lv_disk *x = a, *y = b;
	if (x->order && y->order && x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (!x->order != !y->order)
		return x->order ? -1 : 1;
	return x->doc < y->doc ? -1 : x->doc > y->doc;
}

/* the export of d, by the rules of vm-import.h; *dom_of: the [domain] that has it */
static int map_disk(struct ctx *c, const struct lv_disk *d, char *exp, const char **dom_of)
{
	const struct vm_import_opts *o = c->o;
	size_t tl = strlen(d->target);
	*dom_of = NULL;
	for (size_t i = 0; i < o->n_disk_map; i++)
		if (!strncmp(o->disk_map[i], d->target, tl) && o->disk_map[i][tl] == '=') {
			snprintf(exp, REPO_NAME_MAX + 1, "%s", o->disk_map[i] + tl + 1);
			note(c, "disk %s: export %s (--disk)", d->target, exp);
			goto found;
		}
	if (d->nbd && d->source[0]) {
		snprintf(exp, REPO_NAME_MAX + 1, "%s", d->source + (d->source[0] == '/'));
		note(c, "disk %s: export %s (its NBD source)", d->target, exp);
		goto found;
	}
	for (size_t i = 0; o->cfg && d->source[0] && i < o->cfg->n_domains; i++)
		for (size_t j = 0; j < o->cfg->domains[i].n_disks; j++)
			if (!strcmp(o->cfg->domains[i].disks[j].path, d->source)) {
				snprintf(exp, REPO_NAME_MAX + 1, "%s", o->cfg->domains[i].disks[j].name);
				note(c, "disk %s: export %s (%s in %s)", d->target, exp, d->source,
				     o->cfg->file);
				goto found;
			}
	return bad(c, "disk %s (%s): no export name for it: give --disk %s=EXPORT, attach it "
		   "over NBD from ferryd, or -c FILE whose [domain] has it as disk = EXPORT:%s",
		   d->target, d->source[0] ? d->source : "no source", d->target,
		   d->source[0] ? d->source : "PATH");
found:
	if (!name_ok(exp))
		return bad(c, "disk %s: '%s' is not a valid export name", d->target, exp);
	for (size_t i = 0; o->cfg && i < o->cfg->n_domains; i++)
		for (size_t j = 0; j < o->cfg->domains[i].n_disks; j++)
			if (!strcmp(o->cfg->domains[i].disks[j].name, exp))
				*dom_of = o->cfg->domains[i].name;
	return 0;
}

static int take_disks(struct ctx *c, const xmlNode *devs)
{
	struct lv_disk *d = calloc(VM_MAX_DISKS, sizeof(*d));
	size_t n = 0, doc = 0;
	int rc = d ? 0 : -ENOMEM;
	for (const xmlNode *k = devs ? devs->children : NULL; k && rc == 0; k = k->next) {
		char dev[16];
		if (!is(k, "disk"))
			continue;
		attr(k, "device", dev, sizeof(dev));
		if (dev[0] && strcmp(dev, "disk") && strcmp(dev, "lun"))
			continue;	/* cdrom, floppy */
		if (n == VM_MAX_DISKS)
			rc = bad(c, "more than %d disks", VM_MAX_DISKS);
		else if ((rc = read_disk(c, k, &d[n])) == 0)
			d[n++].doc = doc++;
	}
	if (rc == 0 && n == 0)
		rc = bad(c, "the domain has no disk");
	if (rc == 0)
		qsort(d, n, sizeof(*d), cmp_boot);
	const char *dom = NULL;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *owner;
		if ((rc = map_disk(c, &d[i], c->v->disks[i], &owner)) < 0)
			break;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(c->v->disks[j], c->v->disks[i]))
				rc = bad(c, "disks %s and %s both map to export %s", d[j].target,
					 d[i].target, c->v->disks[i]);
		if (rc == 0 && owner && dom && strcmp(owner, dom))
			rc = bad(c, "the disks belong to two domains of %s (%s and %s)",
				 c->o->cfg->file, dom, owner);
		if (owner)
			dom = owner;
	}
	c->v->n_disks = n;
	const char *want = c->o->domain ? c->o->domain : dom;
	if (rc == 0 && !want)
		rc = bad(c, "which protection domain? give --domain D (or -c FILE whose [domain] "
			 "has the disks)");
	if (rc == 0 && !name_ok(want))
		rc = bad(c, "'%s' is not a valid domain name", want);
	if (rc == 0)
		snprintf(c->v->domain, sizeof(c->v->domain), "%s", want);
	free(d);
	return rc;
}

/* ---- NICs ---- */

/* the interface's network name; returns where it came from */
static const char *nic_network(const xmlNode *n, char *out, size_t len)
{
	static const struct { const char *type, *attr, *what; } from[] = {
		{ "network", "network", "its source network" },
		{ "bridge", "bridge", "its source bridge" },
		{ "direct", "dev", "its source device" },
	};
	char type[32];
	attr(n, "type", type, sizeof(type));
	for (size_t i = 0; i < ARRAY_SIZE(from); i++)
		if (!strcmp(type, from[i].type) && attr(child(n, "source"), from[i].attr, out, len)[0])
			return from[i].what;
	snprintf(out, len, "%s", type[0] ? type : "unknown");
	return "its interface type";
}

static int take_nic(struct ctx *c, const xmlNode *n)
{
	char net[128], mac[32], text[512], reason[160];
	const char *how = "dhcp", *from = nic_network(n, net, sizeof(net));
	attr(child(n, "mac"), "address", mac, sizeof(mac));
	if (!mac[0])
		return bad(c, "an <interface> on %s has no MAC address", net);
	for (size_t i = 0; i < c->o->n_nic_ip; i++)
		if (!strncasecmp(c->o->nic_ip[i], mac, strlen(mac)) &&
		    c->o->nic_ip[i][strlen(mac)] == '=')
			how = c->o->nic_ip[i] + strlen(mac) + 1;
	if (c->v->n_nics == VM_MAX_NICS)
		return bad(c, "more than %d interfaces", VM_MAX_NICS);
	snprintf(text, sizeof(text), "%s %s %s", net, mac, how);
	struct vm_nic *nic = &c->v->nics[c->v->n_nics];
	if (vm_nic_parse(text, nic, reason, sizeof(reason)) < 0)
		return bad(c, "interface %s: %s", mac, reason);
	for (size_t i = 0; i < c->v->n_nics; i++)
		if (!memcmp(c->v->nics[i].mac, nic->mac, 6))
			return bad(c, "two interfaces have MAC %s", mac);
	c->v->n_nics++;
	note(c, "nic %s: network %s (%s), %s", mac, net, from,
	     strcmp(how, "dhcp") ? "address from --nic" : "dhcp: libvirt does not know the "
	     "guest's address; add it with --nic MAC='static ADDR/PREFIX ...'");
	return 0;
}

static int take_nics(struct ctx *c, const xmlNode *devs)
{
	int rc = 0;
	for (const xmlNode *k = devs ? devs->children : NULL; k && rc == 0; k = k->next)
		if (is(k, "interface"))
			rc = take_nic(c, k);
	/* a --nic for a MAC the domain does not have is a typo, not something to skip */
	for (size_t i = 0; i < c->o->n_nic_ip && rc == 0; i++) {
		uint8_t mac[6];
		const char *eq = strchr(c->o->nic_ip[i], '=');
		bool found = false;
		if (!eq || vm_mac_parse(c->o->nic_ip[i], (size_t)(eq - c->o->nic_ip[i]), mac) < 0)
			return bad(c, "bad --nic '%s' (expected MAC=static ADDR/PREFIX ...)",
				   c->o->nic_ip[i]);
		for (size_t j = 0; j < c->v->n_nics && !found; j++)
			found = !memcmp(c->v->nics[j].mac, mac, 6);
		if (!found)
			rc = bad(c, "--nic %.*s: the domain has no interface with that MAC",
				 (int)(eq - c->o->nic_ip[i]), c->o->nic_ip[i]);
	}
	return rc;
}

int vm_import_xml(const char *xml, size_t len, const struct vm_import_opts *o,
		  struct vm_desc *out, struct dbuf *notes, char *err, size_t errlen)
{
	struct ctx c = { o, out, notes, err, errlen };
	memset(out, 0, sizeof(*out));
	if (len > XML_MAX || len > INT32_MAX)
		return bad(&c, "the domain XML is larger than %u bytes", XML_MAX);
	xmlDoc *doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	const xmlNode *dom = doc ? xmlDocGetRootElement(doc) : NULL;
	int rc = 0;
	char name[REPO_NAME_MAX + 2] = "";
	if (!is(dom, "domain"))
		rc = bad(&c, "not a libvirt domain XML");
	if (rc == 0) {
		xmlChar *t = xmlNodeGetContent(child(dom, "name"));
		snprintf(name, sizeof(name), "%s", o->name ? o->name : t ? (const char *)t : "");
		xmlFree(t);
		if (!name_ok(name))
			rc = bad(&c, "the VM name '%s' is not a valid name (1-63 of A-Z a-z 0-9 . _ "
				 "-): give --name", name);
		else
			memcpy(out->name, name, strlen(name) + 1);
	}
	const xmlNode *devs = child(dom, "devices");
	if (rc == 0)
		rc = take_sizes(&c, dom);
	if (rc == 0)
		rc = take_disks(&c, devs);
	if (rc == 0)
		rc = take_nics(&c, devs);
	xmlFreeDoc(doc);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int vm_desc_format_section(const struct vm_desc *v, struct dbuf *out)
{
	char nic[256];
	int rc = dbuf_printf(out, "[vm %s]\ndomain = %s\ndisks = ", v->name, v->domain);
	for (size_t i = 0; i < v->n_disks && !rc; i++)
		rc = dbuf_printf(out, "%s%s", i ? ", " : "", v->disks[i]);
	bool gib = v->memory_mib % 1024 == 0;
	if (!rc)
		rc = dbuf_printf(out, "\ncpus = %u\nmemory = %llu%c\nfirmware = %s\n", v->cpus,
				 (unsigned long long)(gib ? v->memory_mib / 1024 : v->memory_mib),
				 gib ? 'G' : 'M', v->firmware == VM_FIRMWARE_UEFI ? "uefi" : "bios");
	for (size_t i = 0; i < v->n_nics && !rc; i++)
		rc = vm_nic_format(&v->nics[i], nic, sizeof(nic)) < 0 ? -ENOBUFS :
			dbuf_printf(out, "nic = %s\n", nic);
	return rc;
}
