/* What the network configuration editors share (contract in netcfg.h): edits kept as
 * splices of the original bytes (so everything not edited stays byte for byte), address
 * and MAC matching, the rules for gateways and DNS servers, and an INI line scanner for
 * the keyfile-like formats. Pure. */
#include "agent/netcfg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/strnum.h"
#include "common/util.h"
#include "common/banned.h"

/* ---- splices ---- */

void netcfg_splice(struct netcfg_splices *s, size_t off, size_t len, const char *text,
		   size_t n)
{
	if (s->err)
		return;
	char *t = ARRAY_RESERVE(s->v, s->cap, s->n + 1) == 0 ? malloc(n + 1) : NULL;
	if (!t) {
		s->err = -ENOMEM;
		return;
	}
	memcpy(t, text, n);
	t[n] = '\0';
	s->v[s->n] = (struct netcfg_splice){ off, len, t, s->n };
	s->n++;
}

void netcfg_splicef(struct netcfg_splices *s, size_t off, size_t len, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		s->err = s->err ? s->err : -ENOBUFS;
		return;
	}
	netcfg_splice(s, off, len, buf, (size_t)n);
}

static int cmp_splice(const void *a, const void *b)
{
	const struct netcfg_splice *x = a, *y = b;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;	/* an insertion before a replacement */
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int netcfg_splice_apply(struct netcfg_splices *s, const char *in, size_t len,
			struct dbuf *out)
{
	size_t at = 0;
	int rc = s->err;
	dbuf_reset(out);
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), cmp_splice);
	for (size_t i = 0; i < s->n && !rc; i++) {
		const struct netcfg_splice *e = &s->v[i];
		if (e->off < at || e->off + e->len > len)
			return -EINVAL;
		rc = dbuf_add(out, in + at, e->off - at);
		if (!rc)
			rc = dbuf_add(out, e->text, strlen(e->text));
		at = e->off + e->len;
	}
	if (!rc)
		rc = dbuf_add(out, in + at, len - at);
	return rc;
}

int netcfg_finish(struct netcfg_splices *s, const char *in, size_t len, struct dbuf *out,
		  const char *stanza, size_t sn, const char *addr, size_t an, char *what,
		  size_t whatlen)
{
	if (s->n == 0 && !s->err) {
		snprintf(what, whatlen, "%.*s%salready %.*s", (int)MIN(sn, 64), stanza, sn ? " " : "",
			 (int)MIN(an, 40), addr);
		return NETCFG_SAME;
	}
	int rc = netcfg_splice_apply(s, in, len, out);
	return rc < 0 ? rc : NETCFG_EDITED;
}

void netcfg_splices_release(struct netcfg_splices *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].text);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ---- matching ---- */

int netcfg_addr_match(const char *s, size_t n, const struct netcfg_nic *nic, uint8_t *prefix)
{
	const char *slash = memchr(s, '/', n);
	size_t an = slash ? (size_t)(slash - s) : n;
	uint32_t a;
	*prefix = 0;
	if (vm_ipv4_parse(s, an, &a) < 0)
		return -1;
	if (slash) {
		unsigned p = 0;
		size_t pn = n - an - 1;
		for (size_t i = 0; i < pn; i++) {
			if (slash[1 + i] < '0' || slash[1 + i] > '9' || i >= 2)
				return -1;
			p = p * 10 + (unsigned)(slash[1 + i] - '0');
		}
		if (pn == 0 || p > 32)
			return -1;
		*prefix = (uint8_t)p;
	}
	if (a == nic->old_nic->addr)
		return NETCFG_ADDR_OLD;
	if (a == nic->new_nic->addr)
		return NETCFG_ADDR_NEW;
	return NETCFG_ADDR_OTHER;
}

int netcfg_mac_eq(const char *s, size_t n, const uint8_t mac[6])
{
	uint8_t m[6];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		int d = hex_digit(s[i]);
		if (d < 0) {
			if (s[i] != ':' && s[i] != '-' && s[i] != '.')
				return -1;
			continue;
		}
		if (k == 12)
			return -1;
		m[k / 2] = (uint8_t)(k % 2 ? m[k / 2] << 4 | d : d);
		k++;
	}
	return k == 12 ? !memcmp(m, mac, 6) : -1;
}

int netcfg_other_address(const struct netcfg_nic *nic, const char *s, size_t n, char *out,
			 size_t outlen)
{
	const char *slash = memchr(s, '/', n);
	uint8_t p;
	uint32_t a;
	if (netcfg_addr_match(s, n, nic, &p) < 0 ||
	    vm_ipv4_parse(s, slash ? (size_t)(slash - s) : n, &a) < 0)
		return 0;
	const struct reip_rule *r = reip_find_rule(nic->rules, nic->n_rules, a, p);
	if (!r)
		return 0;
	uint32_t to = reip_rule_apply(r, a);
	uint8_t tp = slash && r->prefix ? r->prefix : p;
	char t[16];
	vm_ipv4_format(to, t);
	if (slash)
		snprintf(out, outlen, "%s/%u", t, tp);
	else
		snprintf(out, outlen, "%s", t);
	return to != a || tp != p;
}

static const struct reip_rule *addr_rule(const struct netcfg_nic *nic)
{
	return reip_find_rule(nic->rules, nic->n_rules, nic->old_nic->addr, nic->old_nic->prefix);
}

uint32_t netcfg_gateway(const struct netcfg_nic *nic, uint32_t gw)
{
	if (nic->old_nic->gw && gw == nic->old_nic->gw && nic->new_nic->gw)
		return nic->new_nic->gw;
	const struct reip_rule *r = addr_rule(nic);
	if (!r)
		return gw;
	return r->gw ? r->gw : reip_rule_apply(r, gw);
}

uint32_t netcfg_gateway_to_add(const struct netcfg_nic *nic)
{
	const struct reip_rule *r = addr_rule(nic);
	return r ? r->gw : 0;
}

size_t netcfg_dns(const struct netcfg_nic *nic, const uint32_t *in, size_t n, uint32_t *out)
{
	const struct reip_rule *r = addr_rule(nic);
	if (r && r->n_dns) {
		memcpy(out, r->dns, r->n_dns * sizeof(*out));
		return r->n_dns;
	}
	for (size_t i = 0; i < n; i++) {
		out[i] = in[i];
		const struct vm_nic *o = nic->old_nic;
		size_t k = 0;
		while (k < o->n_dns && o->dns[k] != in[i])
			k++;
		if (k < o->n_dns && k < nic->new_nic->n_dns) {
			out[i] = nic->new_nic->dns[k];
			continue;
		}
		const struct reip_rule *d = reip_find_rule(nic->rules, nic->n_rules, in[i], 0);
		if (d)
			out[i] = reip_rule_apply(d, in[i]);
	}
	return n;
}

int netcfg_dns_parse(const char *s, size_t n, const char *seps, uint32_t *v, size_t *count)
{
	for (size_t a = 0; a < n;) {
		size_t b = a;
		while (b < n && !strchr(seps, s[b]))
			b++;
		if (b > a && (*count == NETCFG_MAX_DNS || vm_ipv4_parse(s + a, b - a, &v[*count]) < 0))
			return -1;
		*count += b > a;
		a = b + 1;
	}
	return 0;
}

void netcfg_dns_format(const uint32_t *v, size_t n, const char *sep, bool trailing, char *out,
		       size_t len)
{
	size_t at = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && at < len; i++) {
		char a[16];
		vm_ipv4_format(v[i], a);
		at += (size_t)snprintf(out + at, len - at, "%s%s", a, i + 1 < n || trailing ? sep : "");
	}
}

void netcfg_note(char *what, size_t n, const char *fmt, ...)
{
	size_t len = strnlen(what, n);
	if (len + 3 >= n)
		return;
	if (len) {
		memcpy(what + len, ", ", 3);
		len += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what + len, n - len, fmt, ap);
	va_end(ap);
}

int netcfg_fail(char *what, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, n, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

int netcfg_unsupported(char *what, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, n, fmt, ap);
	va_end(ap);
	return -ENOTSUP;
}

void netcfg_insert_line(struct netcfg_splices *s, const char *in, size_t next,
			const char *indent, size_t indent_len, const char *fmt, ...)
{
	char body[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(body)) {
		s->err = s->err ? s->err : -ENOBUFS;
		return;
	}
	if (next == 0 || in[next - 1] == '\n')
		netcfg_splicef(s, next, 0, "%.*s%s\n", (int)indent_len, indent, body);
	else
		netcfg_splicef(s, next, 0, "\n%.*s%s", (int)indent_len, indent, body);
}

/* ---- INI lines ---- */

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static void ini_line(const char *in, size_t len, size_t *pos, struct netcfg_line *l)
{
	size_t s = *pos, e = s;
	while (e < len && in[e] != '\n')
		e++;
	memset(l, 0, sizeof(*l));
	l->start = s;
	l->next = e < len ? e + 1 : e;
	*pos = l->next;
	while (e > s && blank(in[e - 1]))
		e--;
	l->end = e;
	while (s < e && blank(in[s]))
		s++;
	if (s == e) {
		l->kind = LINE_BLANK;
	} else if (in[s] == '#' || in[s] == ';') {
		l->kind = LINE_COMMENT;
	} else if (in[s] == '[') {
		const char *close = memchr(in + s, ']', e - s);
		l->kind = close ? LINE_SECTION : LINE_OTHER;
		l->name = s + 1;
		l->name_len = close ? (size_t)(close - in) - s - 1 : 0;
	} else {
		const char *eq = memchr(in + s, '=', e - s);
		if (!eq) {
			l->kind = LINE_OTHER;
			return;
		}
		size_t k = (size_t)(eq - in);
		l->kind = LINE_KEY;
		l->name = s;
		l->name_len = k - s;
		while (l->name_len && blank(in[l->name + l->name_len - 1]))
			l->name_len--;
		l->value = k + 1;
		while (l->value < e && blank(in[l->value]))
			l->value++;
		l->value_len = e - l->value;
	}
}

int netcfg_ini_scan(const char *in, size_t len, struct netcfg_ini *ini, char *what,
		    size_t whatlen)
{
	size_t sec = SIZE_MAX;
	memset(ini, 0, sizeof(*ini));
	ini->in = in;
	ini->len = len;
	ini->l = calloc(NETCFG_INI_MAX_LINES, sizeof(*ini->l));
	if (!ini->l)
		return -ENOMEM;
	for (size_t pos = 0; pos < len;) {
		if (ini->n == NETCFG_INI_MAX_LINES)
			return netcfg_unsupported(what, whatlen, "more than %d lines",
						  NETCFG_INI_MAX_LINES);
		struct netcfg_line *l = &ini->l[ini->n];
		ini_line(in, len, &pos, l);
		if (l->kind == LINE_OTHER)
			return netcfg_fail(what, whatlen, "line %zu is neither [section], key=value "
					   "nor a comment", ini->n + 1);
		if (l->kind == LINE_SECTION)
			sec = ini->n;
		l->section = sec;
		ini->n++;
	}
	return 0;
}

void netcfg_ini_release(struct netcfg_ini *ini)
{
	free(ini->l);
	memset(ini, 0, sizeof(*ini));
}

static bool span_is(const char *in, size_t off, size_t len, const char *s)
{
	return len == strlen(s) && !memcmp(in + off, s, len);
}

bool netcfg_ini_in(const struct netcfg_ini *ini, size_t i, const char *section)
{
	size_t s = ini->l[i].section;
	return s != SIZE_MAX && span_is(ini->in, ini->l[s].name, ini->l[s].name_len, section);
}

bool netcfg_ini_key(const struct netcfg_ini *ini, size_t i, const char *section,
		    const char *key)
{
	const struct netcfg_line *l = &ini->l[i];
	return l->kind == LINE_KEY && netcfg_ini_in(ini, i, section) &&
	       span_is(ini->in, l->name, l->name_len, key);
}
