/* netplan's YAML (/etc/netplan/ *.yaml, netplan 0.106 as in Debian 12 and Ubuntu): read
 * with libyaml into its node tree, whose marks say where each scalar is, then edited by
 * splicing the original bytes, so comments, order and quoting stay.
 *
 * A device is any mapping under network.<kind> (ethernets, bonds, bridges, vlans, wifis,
 * ...). It is the NIC's when its match.macaddress is the NIC's MAC, or, with no
 * match.macaddress, when one of its addresses is the NIC's old (or new) address. Edited:
 * the address item (a scalar, or the key of an item with options), gateway4, the via of
 * routes (the default route's as the gateway, others through the rules), and
 * nameservers.addresses (a flow list is rewritten in place; a block list item by item,
 * or as a flow list when its length changes). A gateway or nameservers is added after the
 * addresses only in block style.
 *
 * libyaml marks count characters, not bytes: they are mapped to byte offsets through the
 * UTF-8 of the input before any edit. Anchors and aliases are refused (an edit through an
 * alias would change what it points to elsewhere). */
#include "agent/netcfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/util.h"
#include "common/banned.h"

struct doc {
	const char *in;
	size_t len;
	yaml_document_t d;
	size_t *byte;		/* byte offset of each character index, and of the end */
	size_t nchars;
	const struct netcfg_nic *nic;
	struct netcfg_splices sp;
	char *what;
	size_t whatlen;
};

static yaml_node_t *node(struct doc *d, int id)
{
	return yaml_document_get_node(&d->d, id);
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
	       !memcmp(n->data.scalar.value, s, n->data.scalar.length);
}

/* the value of key in mapping m, or NULL */
static yaml_node_t *get(struct doc *d, const yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
		if (scalar_is(node(d, p->key), key))
			return node(d, p->value);
	return NULL;
}

static size_t at(const struct doc *d, size_t index)
{
	return d->byte[index < d->nchars ? index : d->nchars];
}

/* Map character indexes to byte offsets (UTF-8 lead bytes start a character). */
static int index_bytes(struct doc *d)
{
	d->byte = malloc((d->len + 1) * sizeof(*d->byte));
	if (!d->byte)
		return -ENOMEM;
	for (size_t i = 0; i < d->len; i++)
		if (((unsigned char)d->in[i] & 0xc0) != 0x80)
			d->byte[d->nchars++] = i;
	d->byte[d->nchars] = d->len;
	return 0;
}

static const char *text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* Replace a scalar's text, keeping its quotes. */
static void set_scalar(struct doc *d, const yaml_node_t *n, const char *value)
{
	size_t s = at(d, n->start_mark.index), e = at(d, n->end_mark.index);
	yaml_scalar_style_t st = n->data.scalar.style;
	const char *q = st == YAML_SINGLE_QUOTED_SCALAR_STYLE ? "'" :
			st == YAML_DOUBLE_QUOTED_SCALAR_STYLE ? "\"" : "";
	netcfg_splicef(&d->sp, s, e - s, "%s%s%s", q, value, q);
}

/* ---- the device ---- */

static int mac_matches(struct doc *d, const yaml_node_t *dev)
{
	const yaml_node_t *mac = get(d, get(d, dev, "match"), "macaddress");
	if (!mac || mac->type != YAML_SCALAR_NODE)
		return -1;		/* names no MAC */
	return netcfg_mac_eq(text(mac), mac->data.scalar.length, d->nic->old_nic->mac) == 1;
}

/* The address node of an item (a scalar, or the key of a mapping with options). */
static yaml_node_t *item_addr(struct doc *d, yaml_node_t *it)
{
	if (it && it->type == YAML_MAPPING_NODE &&
	    it->data.mapping.pairs.top - it->data.mapping.pairs.start == 1)
		it = node(d, it->data.mapping.pairs.start->key);
	return it && it->type == YAML_SCALAR_NODE ? it : NULL;
}

/* The address item to edit, or NULL when this device is not the NIC's. */
static yaml_node_t *find_addr(struct doc *d, const yaml_node_t *dev, bool by_mac)
{
	yaml_node_t *addrs = get(d, dev, "addresses"), *best = NULL;
	int how = -1;
	if (!addrs || addrs->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *i = addrs->data.sequence.items.start;
	     i < addrs->data.sequence.items.top; i++) {
		yaml_node_t *a = item_addr(d, node(d, *i));
		uint8_t p;
		int m = a ? netcfg_addr_match(text(a), a->data.scalar.length, d->nic, &p) : -1;
		if (netcfg_addr_rank(m) > netcfg_addr_rank(how) &&
		    (m > NETCFG_ADDR_OTHER || by_mac)) {
			how = m;
			best = a;
		}
	}
	return best;
}

static void edit_address(struct doc *d, const yaml_node_t *a)
{
	char now[24];
	const struct vm_nic *n = d->nic->new_nic;
	char nowa[16];
	vm_ipv4_format(n->addr, nowa);
	snprintf(now, sizeof(now), "%s/%u", nowa, n->prefix);
	if (strcmp(text(a), now)) {
		set_scalar(d, a, now);
		netcfg_note(d->what, d->whatlen, "%s -> %s", text(a), now);
	}
}

/* A gateway scalar through netcfg_gateway (default) or the rules (other routes). */
static void edit_gw(struct doc *d, const yaml_node_t *g, bool dflt)
{
	uint32_t a, to;
	char was[16], now[16];
	if (!g || g->type != YAML_SCALAR_NODE ||
	    vm_ipv4_parse(text(g), g->data.scalar.length, &a) < 0)
		return;
	if (dflt) {
		to = netcfg_gateway(d->nic, a);
	} else {
		const struct reip_rule *r = reip_find_rule(d->nic->rules, d->nic->n_rules, a, 0);
		to = r ? reip_rule_apply(r, a) : a;
	}
	if (to == a)
		return;
	vm_ipv4_format(a, was);
	vm_ipv4_format(to, now);
	set_scalar(d, g, now);
	netcfg_note(d->what, d->whatlen, "%s %s -> %s", dflt ? "gateway" : "route via", was, now);
}

/* gateway4 and routes; whether the device has a default gateway */
static bool edit_routes(struct doc *d, const yaml_node_t *dev)
{
	const yaml_node_t *g4 = get(d, dev, "gateway4"), *routes = get(d, dev, "routes");
	bool dflt = g4 != NULL;
	edit_gw(d, g4, true);
	if (!routes || routes->type != YAML_SEQUENCE_NODE)
		return dflt;
	for (yaml_node_item_t *i = routes->data.sequence.items.start;
	     i < routes->data.sequence.items.top; i++) {
		const yaml_node_t *r = node(d, *i), *to = get(d, r, "to");
		bool is_default = scalar_is(to, "default") || scalar_is(to, "0.0.0.0/0");
		dflt |= is_default;
		edit_gw(d, get(d, r, "via"), is_default);
	}
	return dflt;
}

/* where an added key goes: after the last scalar of the addresses value, one line per
 * key at the column of "addresses" */
static size_t value_end(struct doc *d, const yaml_node_t *n)
{
	while (n && n->type == YAML_SEQUENCE_NODE &&
	       n->data.sequence.style == YAML_BLOCK_SEQUENCE_STYLE &&
	       n->data.sequence.items.top > n->data.sequence.items.start)
		n = node(d, n->data.sequence.items.top[-1]);
	while (n && n->type == YAML_MAPPING_NODE &&
	       n->data.mapping.style == YAML_BLOCK_MAPPING_STYLE &&
	       n->data.mapping.pairs.top > n->data.mapping.pairs.start)
		n = node(d, n->data.mapping.pairs.top[-1].value);
	return n ? at(d, n->end_mark.index) : d->len;
}

static const yaml_node_pair_t *pair_of(struct doc *d, const yaml_node_t *m, const char *key)
{
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
		if (scalar_is(node(d, p->key), key))
			return p;
	return NULL;
}

static int add_keys(struct doc *d, const yaml_node_t *dev, const char *body)
{
	const yaml_node_pair_t *p = pair_of(d, dev, "addresses");
	if (dev->data.mapping.style != YAML_BLOCK_MAPPING_STYLE || !p)
		return netcfg_unsupported(d->what, d->whatlen, "cannot add %s to a flow-style "
					  "device", body);
	size_t col = node(d, p->key)->start_mark.column;
	netcfg_splicef(&d->sp, value_end(d, node(d, p->value)), 0, "\n%*s%s", (int)col, "", body);
	return 0;
}

static int edit_dns(struct doc *d, const yaml_node_t *dev)
{
	const yaml_node_t *ns = get(d, dev, "nameservers"), *list = get(d, ns, "addresses");
	uint32_t in[NETCFG_MAX_DNS], out[NETCFG_MAX_DNS];
	const yaml_node_t *items[NETCFG_MAX_DNS];
	size_t n = 0;
	char was[NETCFG_MAX_DNS * 18], now[NETCFG_MAX_DNS * 18], body[NETCFG_MAX_DNS * 18 + 64];
	if (list && list->type != YAML_SEQUENCE_NODE)
		return netcfg_fail(d->what, d->whatlen, "nameservers.addresses is not a list");
	for (yaml_node_item_t *i = list ? list->data.sequence.items.start : NULL;
	     list && i < list->data.sequence.items.top; i++) {
		const yaml_node_t *a = node(d, *i);
		if (n == NETCFG_MAX_DNS || !a || a->type != YAML_SCALAR_NODE ||
		    vm_ipv4_parse(text(a), a->data.scalar.length, &in[n]) < 0)
			return netcfg_unsupported(d->what, d->whatlen, "nameservers.addresses holds "
						  "more than %d servers or one that is not IPv4",
						  NETCFG_MAX_DNS);
		items[n++] = a;
	}
	size_t m = netcfg_dns(d->nic, in, n, out);
	if (m == n && !memcmp(in, out, n * sizeof(*in)))
		return 0;
	netcfg_dns_format(in, n, ", ", false, was, sizeof(was));
	netcfg_dns_format(out, m, ", ", false, now, sizeof(now));
	if (!ns) {
		snprintf(body, sizeof(body), "nameservers:\n%*saddresses: [%s]",
			 (int)node(d, pair_of(d, dev, "addresses")->key)->start_mark.column + 2, "", now);
		netcfg_note(d->what, d->whatlen, "dns [%s] added", now);
		return add_keys(d, dev, body);
	}
	if (!list)
		return netcfg_unsupported(d->what, d->whatlen, "nameservers without addresses");
	netcfg_note(d->what, d->whatlen, "dns [%s] -> [%s]", was, now);
	if (m == n) {
		for (size_t i = 0; i < n; i++)
			if (in[i] != out[i]) {
				char a[16];
				vm_ipv4_format(out[i], a);
				set_scalar(d, items[i], a);
			}
		return 0;
	}
	if (list->data.sequence.style != YAML_FLOW_SEQUENCE_STYLE)
		return netcfg_unsupported(d->what, d->whatlen, "a block list of nameservers "
					  "whose length changes");
	size_t s = at(d, list->start_mark.index), e = at(d, list->end_mark.index);
	netcfg_splicef(&d->sp, s, e - s, "[%s]", now);
	return 0;
}

/* the device's other addresses, through the rules */
static void edit_other_addresses(struct doc *d, const yaml_node_t *dev, const yaml_node_t *a)
{
	const yaml_node_t *addrs = get(d, dev, "addresses");
	for (yaml_node_item_t *i = addrs->data.sequence.items.start;
	     i < addrs->data.sequence.items.top; i++) {
		const yaml_node_t *o = item_addr(d, node(d, *i));
		char now[24];
		if (!o || o == a || !netcfg_other_address(d->nic, text(o), o->data.scalar.length,
							  now, sizeof(now)))
			continue;
		set_scalar(d, o, now);
		netcfg_note(d->what, d->whatlen, "%s -> %s", text(o), now);
	}
}

static int edit_device(struct doc *d, const yaml_node_t *dev, const yaml_node_t *a)
{
	edit_address(d, a);
	edit_other_addresses(d, dev, a);
	if (!edit_routes(d, dev)) {
		uint32_t g = netcfg_gateway_to_add(d->nic);
		char gw[16], body[96];
		vm_ipv4_format(g, gw);
		size_t col = node(d, pair_of(d, dev, "addresses")->key)->start_mark.column;
		snprintf(body, sizeof(body), "routes:\n%*s- to: default\n%*svia: %s", (int)col + 2,
			 "", (int)col + 4, "", gw);
		if (g && get(d, dev, "routes"))
			return netcfg_unsupported(d->what, d->whatlen, "routes without a default "
						  "route: cannot add gateway %s", gw);
		if (g && add_keys(d, dev, body) < 0)
			return -ENOTSUP;
		if (g)
			netcfg_note(d->what, d->whatlen, "gateway %s added", gw);
	}
	return edit_dns(d, dev);
}

/* The NIC's device: its address item in *a. 1 found, 0 not, <0 error. */
static int find_device(struct doc *d, yaml_node_t **dev, yaml_node_t **a, char *id, size_t idlen)
{
	const yaml_node_t *root = node(d, 1), *net = get(d, root, "network");
	if (root && root->type != YAML_MAPPING_NODE)
		return netcfg_fail(d->what, d->whatlen, "the document is not a mapping");
	if (!net || net->type != YAML_MAPPING_NODE)
		return 0;
	for (yaml_node_pair_t *k = net->data.mapping.pairs.start; k < net->data.mapping.pairs.top;
	     k++) {
		const yaml_node_t *kind = node(d, k->value);
		if (!kind || kind->type != YAML_MAPPING_NODE)
			continue;	/* version, renderer */
		for (yaml_node_pair_t *p = kind->data.mapping.pairs.start;
		     p < kind->data.mapping.pairs.top; p++) {
			yaml_node_t *v = node(d, p->value), *key = node(d, p->key);
			int mac = mac_matches(d, v);
			if (mac == 0 || !key || key->type != YAML_SCALAR_NODE)
				continue;	/* another NIC's */
			*a = find_addr(d, v, mac == 1);
			snprintf(id, idlen, "%s", text(key));
			if (mac == 1 && !*a)
				return netcfg_unsupported(d->what, d->whatlen, "%s has the NIC's MAC "
							  "but no static address (dhcp?)", id);
			if (*a) {
				*dev = v;
				return 1;
			}
		}
	}
	return 0;
}

static bool has_alias(const char *in, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	bool alias = false, done = false;
	if (!yaml_parser_initialize(&p))
		return true;
	yaml_parser_set_input_string(&p, (const unsigned char *)in, len);
	while (!done && !alias && yaml_parser_parse(&p, &ev)) {
		alias = ev.type == YAML_ALIAS_EVENT ||
			(ev.type == YAML_SCALAR_EVENT && ev.data.scalar.anchor) ||
			(ev.type == YAML_MAPPING_START_EVENT && ev.data.mapping_start.anchor) ||
			(ev.type == YAML_SEQUENCE_START_EVENT && ev.data.sequence_start.anchor);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return alias;
}

static int edit(const char *in, size_t len, const struct netcfg_nic *nic, struct dbuf *out,
		char *what, size_t whatlen)
{
	struct doc d = { .in = in, .len = len, .nic = nic, .what = what, .whatlen = whatlen };
	yaml_parser_t p;
	char id[64];
	int rc = 0;
	what[0] = '\0';
	if (!in)
		d.in = in = "";		/* libyaml asserts on a NULL input */
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)in, len);
	if (!yaml_parser_load(&p, &d.d)) {
		rc = netcfg_fail(what, whatlen, "YAML error at line %zu: %s",
				 p.problem_mark.line + 1, p.problem ? p.problem : "?");
		yaml_parser_delete(&p);
		return rc;
	}
	yaml_parser_delete(&p);
	yaml_node_t *dev = NULL, *a = NULL;
	if (has_alias(in, len))
		rc = netcfg_unsupported(what, whatlen, "YAML anchors and aliases are not edited");
	if (rc == 0)
		rc = index_bytes(&d);
	if (rc == 0)
		rc = find_device(&d, &dev, &a, id, sizeof(id));
	if (rc == 1) {
		rc = edit_device(&d, dev, a);
		if (rc == 0)
			rc = netcfg_finish(&d.sp, in, len, out, id, strlen(id), text(a),
					   a->data.scalar.length, what, whatlen);
	}
	netcfg_splices_release(&d.sp);
	free(d.byte);
	yaml_document_delete(&d.d);
	return rc;
}

const struct netcfg_format netcfg_netplan = { "netplan", edit };
