/* NetworkManager keyfiles (*.nmconnection; nm-settings-keyfile(5) of NetworkManager 1.42):
 * INI with [connection], [ethernet] (or [802-3-ethernet]) mac-address=, and [ipv4] with
 * method=, address1=A/N[,GW] (also addressN=, addressesN=, and the old
 * addressesN=A;N;GW; form), gateway=, dns=A;B; (a ';'-separated list).
 *
 * A keyfile is one connection: it is the NIC's when its mac-address is the NIC's, or, with
 * no mac-address, when one of its [ipv4] addresses is the NIC's old (or new) address. A
 * connection with the NIC's MAC and method=auto is DHCP: not editable. */
#include "agent/netcfg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

struct kf {
	struct netcfg_ini ini;
	const char *in;
	struct netcfg_line *l;
	size_t n;
	const struct netcfg_nic *nic;
	struct netcfg_splices sp;
	char *what;
	size_t whatlen;
};

static bool span_is(const char *in, size_t off, size_t len, const char *s)
{
	return len == strlen(s) && !memcmp(in + off, s, len);
}

/* address1=..., addresses=..., address=...: the key names an address list */
static bool address_key(const struct kf *k, size_t i)
{
	const struct netcfg_line *l = &k->l[i];
	const char *s = k->in + l->name;
	size_t n = l->name_len, p = n >= 9 && !memcmp(s, "addresses", 9) ? 9 :
			n >= 7 && !memcmp(s, "address", 7) ? 7 : 0;
	if (l->kind != LINE_KEY || !p || !netcfg_ini_in(&k->ini, i, "ipv4"))
		return false;
	for (size_t j = p; j < n; j++)
		if (s[j] < '0' || s[j] > '9')
			return false;
	return true;
}

/* One address of a value: [a, a + alen) is "A/N" or (legacy) "A", with the prefix at
 * [p, p + plen) (legacy) and a gateway at [g, g + glen) (glen 0: none). */
struct item {
	size_t a, alen, p, plen, g, glen;
};

/* the first address item of a value (A/N[,GW], or legacy A;N;GW;) */
static bool first_item(const struct kf *k, size_t i, struct item *it)
{
	const char *in = k->in;
	size_t v = k->l[i].value, e = v + k->l[i].value_len, x = v;
	memset(it, 0, sizeof(*it));
	while (x < e && in[x] != ',' && in[x] != ';')
		x++;
	it->a = v;
	it->alen = x - v;
	if (memchr(in + v, '/', x - v)) {		/* A/N[,GW][;next] */
		if (x < e && in[x] == ',') {
			it->g = x + 1;
			while (x + 1 < e && in[x + 1] != ';' && in[x + 1] != ',')
				x++;
			it->glen = x + 1 - it->g;
		}
		return true;
	}
	if (x >= e || in[x] != ';')			/* legacy A;N;GW */
		return false;
	it->p = x + 1;
	while (++x < e && in[x] != ';')
		;
	it->plen = x - it->p;
	if (x < e) {
		it->g = x + 1;
		while (++x < e && in[x] != ';')
			;
		it->glen = x - it->g;
	}
	return it->plen > 0;
}

static int mac_line(const struct kf *k, size_t *at)
{
	for (size_t i = 0; i < k->n; i++)
		if (netcfg_ini_key(&k->ini, i, "ethernet", "mac-address") ||
		    netcfg_ini_key(&k->ini, i, "802-3-ethernet", "mac-address") ||
		    netcfg_ini_key(&k->ini, i, "wifi", "mac-address")) {
			*at = i;
			return netcfg_mac_eq(k->in + k->l[i].value, k->l[i].value_len,
					     k->nic->old_nic->mac) == 1;
		}
	return -1;
}

static void set(struct kf *k, size_t off, size_t len, const char *text)
{
	netcfg_splice(&k->sp, off, len, text, strlen(text));
}

static void edit_gateway_at(struct kf *k, size_t off, size_t len)
{
	uint32_t g;
	char was[16], now[16];
	if (vm_ipv4_parse(k->in + off, len, &g) < 0)
		return;
	uint32_t to = netcfg_gateway(k->nic, g);
	if (to == g)
		return;
	vm_ipv4_format(g, was);
	vm_ipv4_format(to, now);
	set(k, off, len, now);
	netcfg_note(k->what, k->whatlen, "gateway %s -> %s", was, now);
}

static void edit_address(struct kf *k, const struct item *it, bool *has_gw)
{
	const struct vm_nic *n = k->nic->new_nic;
	char now[24], a[16], was[40];
	vm_ipv4_format(n->addr, a);
	if (it->plen) {					/* legacy: A and N apart */
		char p[4];
		snprintf(was, sizeof(was), "%.*s/%.*s", (int)MIN(it->alen, 16), k->in + it->a,
			 (int)MIN(it->plen, 3), k->in + it->p);
		snprintf(p, sizeof(p), "%u", n->prefix);
		if (!span_is(k->in, it->a, it->alen, a))
			set(k, it->a, it->alen, a);
		if (!span_is(k->in, it->p, it->plen, p))
			set(k, it->p, it->plen, p);
		snprintf(now, sizeof(now), "%s/%s", a, p);
	} else {
		snprintf(was, sizeof(was), "%.*s", (int)MIN(it->alen, 39), k->in + it->a);
		snprintf(now, sizeof(now), "%s/%u", a, n->prefix);
		if (strcmp(was, now))
			set(k, it->a, it->alen, now);
	}
	if (strcmp(was, now))
		netcfg_note(k->what, k->whatlen, "%s -> %s", was, now);
	*has_gw = it->glen > 0;
	if (it->glen)
		edit_gateway_at(k, it->g, it->glen);
}

static int edit_dns(struct kf *k, size_t addr_line)
{
	size_t line = SIZE_MAX, n = 0;
	uint32_t in[NETCFG_MAX_DNS], out[NETCFG_MAX_DNS];
	char was[NETCFG_MAX_DNS * 17], now[NETCFG_MAX_DNS * 17];
	for (size_t i = 0; i < k->n && line == SIZE_MAX; i++)
		if (netcfg_ini_key(&k->ini, i, "ipv4", "dns"))
			line = i;
	if (line != SIZE_MAX) {
		if (netcfg_dns_parse(k->in + k->l[line].value, k->l[line].value_len, ";,", in, &n) < 0)
			return netcfg_unsupported(k->what, k->whatlen, "dns= holds more than %d "
						  "servers or one that is not IPv4", NETCFG_MAX_DNS);
	}
	size_t m = netcfg_dns(k->nic, in, n, out);
	if (m == n && !memcmp(in, out, n * sizeof(*in)))
		return 0;
	netcfg_dns_format(in, n, ";", true, was, sizeof(was));
	netcfg_dns_format(out, m, ";", true, now, sizeof(now));
	if (line != SIZE_MAX) {
		set(k, k->l[line].value, k->l[line].value_len, now);
		netcfg_note(k->what, k->whatlen, "dns %s -> %s", was, now);
	} else {
		const struct netcfg_line *a = &k->l[addr_line];
		netcfg_insert_line(&k->sp, k->in, a->next, k->in + a->start, a->name - a->start,
				   "dns=%s", now);
		netcfg_note(k->what, k->whatlen, "dns %s added", now);
	}
	return 0;
}

/* The address line to edit, or SIZE_MAX when the keyfile is not the NIC's. */
static int find(struct kf *k, size_t *line, struct item *it)
{
	size_t macl = 0;
	int mac = mac_line(k, &macl), best = -1;
	*line = SIZE_MAX;
	if (mac == 0)
		return 0;
	for (size_t i = 0; i < k->n; i++) {
		struct item x;
		uint8_t p;
		if (!address_key(k, i) || !first_item(k, i, &x))
			continue;
		int m = netcfg_addr_match(k->in + x.a, x.alen, k->nic, &p);
		if (netcfg_addr_rank(m) > netcfg_addr_rank(best) && (m > NETCFG_ADDR_OTHER || mac == 1)) {
			best = m;
			*line = i;
			*it = x;
		}
	}
	if (mac == 1 && *line == SIZE_MAX)
		return netcfg_unsupported(k->what, k->whatlen, "the connection with the NIC's MAC "
					  "has no static [ipv4] address (method=auto?)");
	return 0;
}

static int edit(const char *in, size_t len, const struct netcfg_nic *nic, struct dbuf *out,
		char *what, size_t whatlen)
{
	struct kf k = { .in = in, .nic = nic, .what = what, .whatlen = whatlen };
	struct item it = { 0 };
	size_t line;
	bool has_gw = false;
	what[0] = '\0';
	int rc = netcfg_ini_scan(in, len, &k.ini, what, whatlen);
	k.l = k.ini.l;
	k.n = k.ini.n;
	if (rc == 0)
		rc = find(&k, &line, &it);
	if (rc == 0 && line != SIZE_MAX) {
		edit_address(&k, &it, &has_gw);
		for (size_t i = 0; i < k.n; i++) {	/* the other addresses, through the rules */
			struct item o;
			char now[24];
			if (i == line || !address_key(&k, i) || !first_item(&k, i, &o) || o.plen ||
			    !netcfg_other_address(nic, in + o.a, o.alen, now, sizeof(now)))
				continue;
			set(&k, o.a, o.alen, now);
			netcfg_note(what, whatlen, "%.*s -> %s", (int)MIN(o.alen, 40), in + o.a, now);
		}
		for (size_t i = 0; i < k.n; i++)
			if (netcfg_ini_key(&k.ini, i, "ipv4", "gateway")) {
				has_gw = true;
				edit_gateway_at(&k, k.l[i].value, k.l[i].value_len);
			}
		uint32_t g = has_gw ? 0 : netcfg_gateway_to_add(nic);
		if (g) {
			const struct netcfg_line *l = &k.l[line];
			char a[16];
			vm_ipv4_format(g, a);
			netcfg_insert_line(&k.sp, in, l->next, in + l->start, l->name - l->start,
					   "gateway=%s", a);
			netcfg_note(what, whatlen, "gateway %s added", a);
		}
		rc = edit_dns(&k, line);
		if (rc == 0)
			rc = netcfg_finish(&k.sp, in, len, out, "", 0, in + it.a, it.alen, what,
					   whatlen);
	}
	netcfg_splices_release(&k.sp);
	netcfg_ini_release(&k.ini);
	return rc;
}

const struct netcfg_format netcfg_nm = { "networkmanager", edit };
