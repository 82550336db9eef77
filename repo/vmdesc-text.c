/* VM descriptions as text: the `nic = ...` syntax of ferry.conf's [vm NAME] sections, MAC
 * and IPv4 addresses. Pure functions on strings (no allocation), shared by the config
 * parser, `ferryctl vm import`, `ferryctl domains` and Re-IP.
 *
 * Strictness is deliberate: a dotted quad with a leading zero ("010.1.0.1") is refused
 * because tools disagree on whether it is octal, and a multicast MAC is refused because no
 * NIC has one (it is almost always a typo in the first octet). */
#include "repo/vmdesc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/errmsg.h"
#include "common/tokens.h"
#include "common/strnum.h"
#include "common/util.h"
#include "repo/repo-internal.h"
#include "common/banned.h"

void vm_mac_format(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

void vm_ipv4_format(uint32_t addr, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
		 addr & 0xff);
}

int vm_mac_parse(const char *s, size_t n, uint8_t mac[6])
{
	if (n != 17)
		return -EINVAL;
	for (size_t i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int vm_ipv4_parse(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;
	size_t i = 0;
	for (int octet = 0; octet < 4; octet++) {
		if (octet && (i >= n || s[i++] != '.'))
			return -EINVAL;
		size_t start = i;
		unsigned x = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
			x = x * 10 + (unsigned)(s[i++] - '0');
		if (i == start || x > 255 || (s[start] == '0' && i - start > 1))
			return -EINVAL;
		v = v << 8 | x;
	}
	if (i != n)
		return -EINVAL;
	*out = v;
	return 0;
}

int vm_prefix_parse(const char *s, size_t n, uint8_t *out)
{
	unsigned v = 0;
	if (n == 0 || n > 2 || (n == 2 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < 1 || v > 32)
		return -EINVAL;
	*out = (uint8_t)v;
	return 0;
}

int vm_ipv4_list_parse(const char *s, size_t n, uint32_t *out, size_t max, size_t *count,
		       const char **bad_item, size_t *badlen)
{
	for (size_t i = 0; i <= n;) {
		size_t j = i;
		while (j < n && s[j] != ',')
			j++;
		*bad_item = s + i;
		*badlen = j - i;
		if (*count == max)
			return -E2BIG;
		if (vm_ipv4_parse(s + i, j - i, &out[*count]) < 0 || out[*count] == 0)
			return -EINVAL;
		(*count)++;
		i = j + 1;
	}
	return 0;
}

/* ---- nic = NETWORK MAC [static ADDR/PREFIX [gw GW] [dns D[,D...]] | dhcp] ---- */

/* ADDR/PREFIX */
static int parse_cidr(const struct token *t, uint32_t *addr, uint8_t *prefix, char *err,
		      size_t errlen)
{
	const char *slash = memchr(t->s, '/', t->n);
	if (!slash)
		return err_set(err, errlen, -EINVAL, "static address '%.*s' needs a prefix length "
			   "(ADDR/PREFIX, e.g. 10.1.0.11/24)", (int)t->n, t->s);
	size_t an = (size_t)(slash - t->s), pn = t->n - an - 1;
	if (vm_ipv4_parse(t->s, an, addr) < 0 || *addr == 0)
		return err_set(err, errlen, -EINVAL, "bad IPv4 address '%.*s'", (int)an, t->s);
	if (vm_prefix_parse(slash + 1, pn, prefix) < 0)
		return err_set(err, errlen, -EINVAL, "bad prefix length '%.*s' (1 to 32)", (int)pn,
			       slash + 1);
	return 0;
}

static int parse_dns(const struct token *t, struct vm_nic *nic, char *err, size_t errlen)
{
	const char *b;
	size_t bn, count = nic->n_dns;
	int rc = vm_ipv4_list_parse(t->s, t->n, nic->dns, VM_MAX_DNS, &count, &b, &bn);
	nic->n_dns = (uint8_t)count;
	if (rc == -E2BIG)
		return err_set(err, errlen, -EINVAL, "too many DNS servers (at most %d)",
			       VM_MAX_DNS);
	if (rc < 0)
		return err_set(err, errlen, -EINVAL,
			       "bad DNS server '%.*s' (a comma-separated list of IPv4 "
			       "addresses)",
			       (int)bn, b);
	return 0;
}

static int parse_static(const struct token *t, size_t n, struct vm_nic *nic, char *err,
			size_t errlen)
{
	if (n == 0)
		return err_set(err, errlen, -EINVAL, "'static' needs ADDR/PREFIX");
	if (parse_cidr(&t[0], &nic->addr, &nic->prefix, err, errlen) < 0)
		return -EINVAL;
	bool seen_gw = false, seen_dns = false;
	for (size_t i = 1; i < n; i += 2) {
		bool gw = token_is(&t[i], "gw"), dns = token_is(&t[i], "dns");
		if (!gw && !dns)
			return err_set(err, errlen, -EINVAL,
				       "unexpected '%.*s' (expected gw GW or dns D[,D...])",
				       (int)t[i].n, t[i].s);
		if ((gw && seen_gw) || (dns && seen_dns))
			return err_set(err, errlen, -EINVAL, "'%.*s' given twice", (int)t[i].n,
				       t[i].s);
		if (i + 1 == n)
			return err_set(err, errlen, -EINVAL, "'%.*s' needs a value", (int)t[i].n,
				       t[i].s);
		if (gw) {
			seen_gw = true;
			if (vm_ipv4_parse(t[i + 1].s, t[i + 1].n, &nic->gw) < 0 || nic->gw == 0)
				return err_set(err, errlen, -EINVAL, "bad gateway '%.*s'",
					       (int)t[i + 1].n, t[i + 1].s);
		} else {
			seen_dns = true;
			if (parse_dns(&t[i + 1], nic, err, errlen) < 0)
				return -EINVAL;
		}
	}
	return 0;
}

int vm_nic_parse(const char *text, struct vm_nic *nic, char *err, size_t errlen)
{
	struct token t[16];
	size_t n = tokens_split(text, t, 16);
	memset(nic, 0, sizeof(*nic));
	if (err && errlen)
		err[0] = '\0';
	if (n < 2 || n > 16)
		return err_set(err, errlen, -EINVAL,
			       "expected NETWORK MAC [static ADDR/PREFIX [gw GW] "
			       "[dns D,...] | dhcp]");
	if (t[0].n > VM_NAME_MAX)
		return err_set(err, errlen, -EINVAL,
			       "network name too long (at most %d characters)", VM_NAME_MAX);
	memcpy(nic->network, t[0].s, t[0].n);
	if (!name_ok(nic->network))
		return err_set(err, errlen, -EINVAL,
			       "invalid network name '%s' (1-%d characters from A-Z a-z "
			       "0-9 . _ -)",
			       nic->network, VM_NAME_MAX);
	if (vm_mac_parse(t[1].s, t[1].n, nic->mac) < 0)
		return err_set(err, errlen, -EINVAL, "bad MAC '%.*s' (expected six hex pairs like "
			   "52:54:00:12:34:56)", (int)t[1].n, t[1].s);
	if (nic->mac[0] & 1)
		return err_set(err, errlen, -EINVAL,
			       "MAC '%.*s' is a multicast address (the first octet must "
			       "be even)",
			       (int)t[1].n, t[1].s);
	if (n == 2 || (n == 3 && token_is(&t[2], "dhcp"))) {
		nic->mode = VM_NIC_DHCP;
		return 0;
	}
	if (!token_is(&t[2], "static"))
		return err_set(err, errlen, -EINVAL, "unexpected '%.*s' (expected static or dhcp)",
			       (int)t[2].n, t[2].s);
	nic->mode = VM_NIC_STATIC;
	return parse_static(t + 3, n - 3, nic, err, errlen);
}

/* snprintf into out at *len, keeping the total; the caller checks once at the end */
__attribute__((format(printf, 4, 5)))
static void put(char *out, size_t n, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(*len < n ? out + *len : NULL, *len < n ? n - *len : 0, fmt, ap);
	va_end(ap);
	if (k > 0)
		*len += (size_t)k;
}

int vm_nic_format(const struct vm_nic *nic, char *out, size_t n)
{
	char mac[18], a[16];
	size_t len = 0;
	vm_mac_format(nic->mac, mac);
	put(out, n, &len, "%s %s", nic->network, mac);
	if (nic->mode != VM_NIC_STATIC) {
		put(out, n, &len, " dhcp");
	} else {
		vm_ipv4_format(nic->addr, a);
		put(out, n, &len, " static %s/%u", a, nic->prefix);
		if (nic->gw) {
			vm_ipv4_format(nic->gw, a);
			put(out, n, &len, " gw %s", a);
		}
		for (size_t i = 0; i < nic->n_dns && i < VM_MAX_DNS; i++) {
			vm_ipv4_format(nic->dns[i], a);
			put(out, n, &len, "%s%s", i ? "," : " dns ", a);
		}
	}
	if (len >= n)
		return -ENOSPC;
	return (int)len;
}
