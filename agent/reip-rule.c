/* Re-IP rules: `FROM -> TO [prefix N] [gw G] [dns D,...]` (contract in reip.h, the syntax
 * in docs/reip.md). Pure: parsing, matching and mapping of host-order IPv4 addresses.
 *
 * Octet i of a pattern is octet i from the left (10 in 10.1.2.3), bit i of the masks;
 * `*` in FROM matches any octet, `*` in TO keeps the source's octet. */
#include "agent/reip.h"
#include "common/errmsg.h"
#include "common/tokens.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/banned.h"

#define MAX_TOKENS 12

static uint8_t octet(uint32_t a, int i)
{
	return (uint8_t)(a >> (24 - 8 * i));
}

/* a.b.c.d with `*` octets, optionally /N */
static int parse_pattern(const char *s, size_t n, uint8_t oct[4], uint8_t *any,
			 uint8_t *prefix)
{
	const char *slash = memchr(s, '/', n);
	size_t pn = slash ? (size_t)(slash - s) : n, i = 0;
	*any = 0;
	*prefix = 0;
	if (slash && vm_prefix_parse(slash + 1, n - pn - 1, prefix) < 0)
		return -EINVAL;
	for (int k = 0; k < 4; k++) {
		if (k && (i >= pn || s[i++] != '.'))
			return -EINVAL;
		if (i < pn && s[i] == '*') {
			*any |= (uint8_t)(1u << k);
			oct[k] = 0;
			i++;
			continue;
		}
		size_t start = i;
		unsigned v = 0;
		while (i < pn && s[i] >= '0' && s[i] <= '9' && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
			return -EINVAL;
		oct[k] = (uint8_t)v;
	}
	return i == pn ? 0 : -EINVAL;
}

static int parse_addr(const struct token *t, uint32_t *out)
{
	return vm_ipv4_parse(t->s, t->n, out) < 0 || *out == 0 ? -EINVAL : 0;
}

static int parse_options(const struct token *t, size_t n, struct reip_rule *r, char *err,
			 size_t errlen)
{
	bool seen_prefix = r->prefix != 0, seen_gw = false, seen_dns = false;
	for (size_t i = 0; i < n; i += 2) {
		if (i + 1 == n)
			return err_set(err, errlen, -EINVAL, "'%.*s' needs a value", (int)t[i].n,
				       t[i].s);
		const struct token *v = &t[i + 1];
		if (token_is(&t[i], "prefix") && !seen_prefix) {
			seen_prefix = true;
			if (vm_prefix_parse(v->s, v->n, &r->prefix) < 0)
				return err_set(err, errlen, -EINVAL, "bad prefix '%.*s' (1 to 32)",
					       (int)v->n, v->s);
		} else if (token_is(&t[i], "gw") && !seen_gw) {
			seen_gw = true;
			if (parse_addr(v, &r->gw) < 0)
				return err_set(err, errlen, -EINVAL, "bad gateway '%.*s'",
					       (int)v->n, v->s);
		} else if (token_is(&t[i], "dns") && !seen_dns) {
			seen_dns = true;
			const char *b;
			size_t bn, count = 0;
			int rc =
			    vm_ipv4_list_parse(v->s, v->n, r->dns, VM_MAX_DNS, &count, &b, &bn);
			r->n_dns = (uint8_t)count;
			if (rc == -E2BIG)
				return err_set(err, errlen, -EINVAL,
					       "too many DNS servers (at most %d)", VM_MAX_DNS);
			if (rc < 0)
				return err_set(err, errlen, -EINVAL, "bad DNS server '%.*s'",
					       (int)bn, b);
		} else if (token_is(&t[i], "prefix") || token_is(&t[i], "gw") ||
			   token_is(&t[i], "dns")) {
			return err_set(err, errlen, -EINVAL, "'%.*s' given twice", (int)t[i].n,
				       t[i].s);
		} else {
			return err_set(err, errlen, -EINVAL,
				       "unexpected '%.*s' (expected prefix N, gw G or dns "
				       "D,...)",
				       (int)t[i].n, t[i].s);
		}
	}
	return 0;
}

int reip_rule_parse(const char *text, struct reip_rule *r, char *err, size_t errlen)
{
	struct token t[MAX_TOKENS];
	size_t n = tokens_split(text, t, MAX_TOKENS);
	memset(r, 0, sizeof(*r));
	if (err && errlen)
		err[0] = '\0';
	if (n < 3 || n > MAX_TOKENS || !token_is(&t[1], "->"))
		return err_set(err, errlen, -EINVAL,
			       "expected FROM -> TO [prefix N] [gw G] [dns D,...], e.g. "
			       "10.1.*.* -> 10.2.*.*");
	if (parse_pattern(t[0].s, t[0].n, r->from, &r->from_any, &r->from_prefix) < 0)
		return err_set(err, errlen, -EINVAL,
			       "bad pattern '%.*s' (four octets, each 0-255 or *, "
			       "optionally /PREFIX)",
			       (int)t[0].n, t[0].s);
	if (parse_pattern(t[2].s, t[2].n, r->to, &r->to_keep, &r->prefix) < 0)
		return err_set(err, errlen, -EINVAL,
			       "bad target '%.*s' (four octets, each 0-255 or * to keep "
			       "it, optionally /PREFIX)",
			       (int)t[2].n, t[2].s);
	if (!r->to_keep && !r->to[0] && !r->to[1] && !r->to[2] && !r->to[3])
		return err_set(err, errlen, -EINVAL, "target 0.0.0.0 is not an address");
	return parse_options(t + 3, n - 3, r, err, errlen);
}

static void put_pattern(char *out, size_t n, size_t *len, const uint8_t oct[4], uint8_t any,
			uint8_t prefix)
{
	for (int k = 0; k < 4; k++) {
		int w;
		if (any & (1u << k))
			w = snprintf(*len < n ? out + *len : NULL, *len < n ? n - *len : 0, "%s*",
				     k ? "." : "");
		else
			w = snprintf(*len < n ? out + *len : NULL, *len < n ? n - *len : 0, "%s%u",
				     k ? "." : "", oct[k]);
		*len += (size_t)(w > 0 ? w : 0);
	}
	if (prefix) {
		int w = snprintf(*len < n ? out + *len : NULL, *len < n ? n - *len : 0, "/%u",
				 prefix);
		*len += (size_t)(w > 0 ? w : 0);
	}
}

int reip_rule_format(const struct reip_rule *r, char *out, size_t n)
{
	size_t len = 0;
	char a[16];
	int w;
	put_pattern(out, n, &len, r->from, r->from_any, r->from_prefix);
	w = snprintf(len < n ? out + len : NULL, len < n ? n - len : 0, " -> ");
	len += (size_t)(w > 0 ? w : 0);
	put_pattern(out, n, &len, r->to, r->to_keep, 0);
	if (r->prefix) {
		w = snprintf(len < n ? out + len : NULL, len < n ? n - len : 0, " prefix %u",
			     r->prefix);
		len += (size_t)(w > 0 ? w : 0);
	}
	if (r->gw) {
		vm_ipv4_format(r->gw, a);
		w = snprintf(len < n ? out + len : NULL, len < n ? n - len : 0, " gw %s", a);
		len += (size_t)(w > 0 ? w : 0);
	}
	for (size_t i = 0; i < r->n_dns && i < VM_MAX_DNS; i++) {
		vm_ipv4_format(r->dns[i], a);
		w = snprintf(len < n ? out + len : NULL, len < n ? n - len : 0, "%s%s",
			     i ? "," : " dns ", a);
		len += (size_t)(w > 0 ? w : 0);
	}
	return len < n ? (int)len : -ENOSPC;
}

static bool matches(const struct reip_rule *r, uint32_t addr)
{
	for (int k = 0; k < 4; k++)
		if (!(r->from_any & (1u << k)) && octet(addr, k) != r->from[k])
			return false;
	return true;
}

const struct reip_rule *reip_find_rule(const struct reip_rule *rules, size_t n, uint32_t addr,
				       uint8_t prefix)
{
	for (size_t i = 0; i < n; i++)
		if (matches(&rules[i], addr) &&
		    (!rules[i].from_prefix || !prefix || rules[i].from_prefix == prefix))
			return &rules[i];
	return NULL;
}

uint32_t reip_rule_apply(const struct reip_rule *r, uint32_t addr)
{
	uint32_t out = 0;
	for (int k = 0; k < 4; k++)
		out = out << 8 | (r->to_keep & (1u << k) ? octet(addr, k) : r->to[k]);
	return out;
}

int reip_map_nic(const struct reip_rule *rules, size_t n, const struct vm_nic *in,
		 struct vm_nic *out)
{
	*out = *in;
	if (in->mode != VM_NIC_STATIC)
		return 0;
	const struct reip_rule *r = reip_find_rule(rules, n, in->addr, in->prefix);
	if (!r)
		return 0;
	out->addr = reip_rule_apply(r, in->addr);
	if (r->prefix)
		out->prefix = r->prefix;
	out->gw = r->gw ? r->gw : in->gw ? reip_rule_apply(r, in->gw) : 0;
	if (r->n_dns) {
		memcpy(out->dns, r->dns, sizeof(out->dns));
		out->n_dns = r->n_dns;
	} else {
		for (size_t i = 0; i < in->n_dns; i++) {
			const struct reip_rule *d = reip_find_rule(rules, n, in->dns[i], 0);
			out->dns[i] = d ? reip_rule_apply(d, in->dns[i]) : in->dns[i];
		}
	}
	return 1;
}
