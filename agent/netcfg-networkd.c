/* systemd-networkd .network files (systemd.network(5) of systemd 252): INI with [Match]
 * MACAddress= (a blank-separated list; PermanentMACAddress= too), [Network] Address=,
 * Gateway=, DNS= (each may repeat; DNS= takes a blank-separated list), DHCP=, [Address]
 * Address= and [Route] Gateway= (Destination= absent or 0.0.0.0/0: the default route).
 *
 * A file is the NIC's when its [Match] lists the NIC's MAC, or, when [Match] names no MAC,
 * when one of its addresses is the NIC's old (or new) address. A file whose [Match] lists
 * only other MACs is another NIC's. With the NIC's MAC and no static address it is DHCP:
 * not editable. When the DNS list changes length, the first DNS= line takes the whole
 * list and the other DNS= lines go. */
#include "agent/netcfg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

struct nf {
	struct netcfg_ini ini;
	const char *in;
	struct netcfg_line *l;
	size_t n;
	const struct netcfg_nic *nic;
	struct netcfg_splices sp;
	char *what;
	size_t whatlen;
};

/* 1: [Match] lists the NIC's MAC, 0: only other MACs, -1: no MAC */
static int match_mac(const struct nf *f)
{
	int r = -1;
	for (size_t i = 0; i < f->n; i++) {
		if (!netcfg_ini_key(&f->ini, i, "Match", "MACAddress") &&
		    !netcfg_ini_key(&f->ini, i, "Match", "PermanentMACAddress"))
			continue;
		const struct netcfg_line *l = &f->l[i];
		for (size_t s = l->value, e = l->value + l->value_len; s < e;) {
			size_t x = s;
			while (x < e && f->in[x] != ' ' && f->in[x] != '\t')
				x++;
			if (x > s) {
				int m = netcfg_mac_eq(f->in + s, x - s, f->nic->old_nic->mac);
				if (m == 1)
					return 1;
				r = 0;
			}
			s = x + 1;
		}
	}
	return r;
}

static bool is_address(const struct nf *f, size_t i)
{
	return netcfg_ini_key(&f->ini, i, "Network", "Address") ||
	       netcfg_ini_key(&f->ini, i, "Address", "Address");
}

/* the Address= line to edit, or SIZE_MAX */
static int find(struct nf *f, size_t *line)
{
	int mac = match_mac(f), best = -1;
	*line = SIZE_MAX;
	if (mac == 0)
		return 0;
	for (size_t i = 0; i < f->n; i++) {
		uint8_t p;
		if (!is_address(f, i))
			continue;
		int m = netcfg_addr_match(f->in + f->l[i].value, f->l[i].value_len, f->nic, &p);
		if (netcfg_addr_rank(m) > netcfg_addr_rank(best) &&
		    (m > NETCFG_ADDR_OTHER || mac == 1)) {
			best = m;
			*line = i;
		}
	}
	if (mac == 1 && *line == SIZE_MAX)
		return netcfg_unsupported(f->what, f->whatlen, "the file whose [Match] has the NIC's "
					  "MAC gives it no static Address= (DHCP?)");
	return 0;
}

static void set(struct nf *f, size_t off, size_t len, const char *text)
{
	netcfg_splice(&f->sp, off, len, text, strlen(text));
}

static void edit_address(struct nf *f, size_t i)
{
	char now[24], a[16], was[40];
	const struct netcfg_line *l = &f->l[i];
	vm_ipv4_format(f->nic->new_nic->addr, a);
	snprintf(now, sizeof(now), "%s/%u", a, f->nic->new_nic->prefix);
	snprintf(was, sizeof(was), "%.*s", (int)MIN(l->value_len, 39), f->in + l->value);
	if (strcmp(was, now)) {
		set(f, l->value, l->value_len, now);
		netcfg_note(f->what, f->whatlen, "%s -> %s", was, now);
	}
}

/* [Route] sections: is the one containing line i a default route? */
static bool default_route(const struct nf *f, size_t i)
{
	size_t s = i, e = i;
	while (s > 0 && f->l[s].kind != LINE_SECTION)
		s--;
	while (e + 1 < f->n && f->l[e + 1].kind != LINE_SECTION)
		e++;
	for (size_t j = s; j <= e; j++)
		if (netcfg_ini_key(&f->ini, j, "Route", "Destination"))
			return f->l[j].value_len == 9 && !memcmp(f->in + f->l[j].value, "0.0.0.0/0", 9);
	return true;
}

/* Gateway= of [Network] and [Route]; whether one gives a default gateway */
static bool edit_gateways(struct nf *f)
{
	bool dflt = false;
	for (size_t i = 0; i < f->n; i++) {
		bool net = netcfg_ini_key(&f->ini, i, "Network", "Gateway"),
		     route = netcfg_ini_key(&f->ini, i, "Route", "Gateway");
		uint32_t g, to;
		if ((!net && !route) ||
		    vm_ipv4_parse(f->in + f->l[i].value, f->l[i].value_len, &g) < 0)
			continue;
		bool is_default = net || default_route(f, i);
		const struct reip_rule *r = reip_find_rule(f->nic->rules, f->nic->n_rules, g, 0);
		dflt |= is_default;
		to = is_default ? netcfg_gateway(f->nic, g) : r ? reip_rule_apply(r, g) : g;
		if (to == g)
			continue;
		char was[16], now[16];
		vm_ipv4_format(g, was);
		vm_ipv4_format(to, now);
		set(f, f->l[i].value, f->l[i].value_len, now);
		netcfg_note(f->what, f->whatlen, "%s %s -> %s", is_default ? "gateway" : "route via",
			    was, now);
	}
	return dflt;
}

static int edit_dns(struct nf *f, size_t addr_line)
{
	uint32_t in[NETCFG_MAX_DNS], out[NETCFG_MAX_DNS];
	size_t n = 0, lines[NETCFG_MAX_DNS], nl = 0;
	char was[NETCFG_MAX_DNS * 17], now[NETCFG_MAX_DNS * 17];
	for (size_t i = 0; i < f->n; i++) {
		if (!netcfg_ini_key(&f->ini, i, "Network", "DNS"))
			continue;
		if (nl == NETCFG_MAX_DNS)
			return netcfg_unsupported(f->what, f->whatlen, "too many DNS= lines");
		lines[nl++] = i;
		if (netcfg_dns_parse(f->in + f->l[i].value, f->l[i].value_len, " \t", in, &n) < 0)
			return netcfg_unsupported(f->what, f->whatlen, "DNS= holds more than %d "
						  "servers or one that is not IPv4", NETCFG_MAX_DNS);
	}
	size_t m = netcfg_dns(f->nic, in, n, out);
	if (m == n && !memcmp(in, out, n * sizeof(*in)))
		return 0;
	netcfg_dns_format(in, n, " ", false, was, sizeof(was));
	netcfg_dns_format(out, m, " ", false, now, sizeof(now));
	netcfg_note(f->what, f->whatlen, nl ? "dns %s -> %s" : "dns %s%s added", was, now);
	if (!nl) {
		const struct netcfg_line *a = &f->l[addr_line];
		if (!netcfg_ini_in(&f->ini, addr_line, "Network"))
			return netcfg_unsupported(f->what, f->whatlen, "cannot add DNS= next to an "
						  "[Address] section");
		netcfg_insert_line(&f->sp, f->in, a->next, f->in + a->start, a->name - a->start,
				   "DNS=%s", now);
		return 0;
	}
	if (nl == 1 || m == n) {	/* each line keeps its servers, mapped */
		size_t k = 0;
		for (size_t j = 0; j < nl; j++) {
			const struct netcfg_line *l = &f->l[lines[j]];
			uint32_t tmp[NETCFG_MAX_DNS];
			size_t cnt = 0;
			netcfg_dns_parse(f->in + l->value, l->value_len, " \t", tmp, &cnt);
			char t[NETCFG_MAX_DNS * 17];
			netcfg_dns_format(out + k, nl == 1 ? m : cnt, " ", false, t, sizeof(t));
			k += cnt;
			if (l->value_len != strlen(t) || memcmp(f->in + l->value, t, l->value_len))
				set(f, l->value, l->value_len, t);
		}
		return 0;
	}
	set(f, f->l[lines[0]].value, f->l[lines[0]].value_len, now);
	for (size_t j = 1; j < nl; j++)
		set(f, f->l[lines[j]].start, f->l[lines[j]].next - f->l[lines[j]].start, "");
	return 0;
}

static int edit(const char *in, size_t len, const struct netcfg_nic *nic, struct dbuf *out,
		char *what, size_t whatlen)
{
	struct nf f = { .in = in, .nic = nic, .what = what, .whatlen = whatlen };
	size_t line = SIZE_MAX;
	what[0] = '\0';
	int rc = netcfg_ini_scan(in, len, &f.ini, what, whatlen);
	f.l = f.ini.l;
	f.n = f.ini.n;
	if (rc == 0)
		rc = find(&f, &line);
	if (rc == 0 && line != SIZE_MAX) {
		edit_address(&f, line);
		for (size_t i = 0; i < f.n; i++) {	/* the other addresses, through the rules */
			const struct netcfg_line *l = &f.l[i];
			char now[24];
			if (i == line || !is_address(&f, i) ||
			    !netcfg_other_address(nic, in + l->value, l->value_len, now, sizeof(now)))
				continue;
			set(&f, l->value, l->value_len, now);
			netcfg_note(what, whatlen, "%.*s -> %s", (int)MIN(l->value_len, 40),
				    in + l->value, now);
		}
		uint32_t g = edit_gateways(&f) ? 0 : netcfg_gateway_to_add(nic);
		if (g && !netcfg_ini_in(&f.ini, line, "Network")) {
			rc = netcfg_unsupported(what, whatlen, "cannot add Gateway= next to an "
						"[Address] section");
		} else if (g) {
			const struct netcfg_line *a = &f.l[line];
			char s[16];
			vm_ipv4_format(g, s);
			netcfg_insert_line(&f.sp, in, a->next, in + a->start, a->name - a->start,
					   "Gateway=%s", s);
			netcfg_note(what, whatlen, "gateway %s added", s);
		}
		if (rc == 0)
			rc = edit_dns(&f, line);
		if (rc == 0)
			rc = netcfg_finish(&f.sp, in, len, out, "", 0, in + f.l[line].value,
					   f.l[line].value_len, what, whatlen);
	}
	netcfg_splices_release(&f.sp);
	netcfg_ini_release(&f.ini);
	return rc;
}

const struct netcfg_format netcfg_networkd = { "networkd", edit };
