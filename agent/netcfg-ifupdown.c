/* ifupdown's /etc/network/interfaces (and the files it sources), as interfaces(5) of
 * Debian 12 describes it: lines of words; `#` at the start of a line (after blanks) is a
 * comment, a backslash at the end of a line continues it; a stanza begins with iface,
 * mapping, auto, allow-*, source, source-directory, rename, no-auto-down or no-scripts,
 * and an iface stanza's options are the lines up to the next stanza.
 *
 * The NIC's stanza is an `iface NAME inet METHOD` whose `hwaddress [ether] MAC` is the
 * NIC's, or, without hwaddress, whose `address` is the NIC's old (or new) address. Its
 * options address (A or A/N), netmask (dotted or a length), gateway and dns-nameservers
 * (resolvconf) are edited in place; a netmask keeps its form. */
#include "agent/netcfg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

#define MAX_WORDS 64

struct word {
	size_t off, len;
};

/* a logical line: its words, and where it ends (after its line end) */
struct lline {
	size_t start, next;
	struct word w[MAX_WORDS];
	size_t n;
	bool truncated;		/* more than MAX_WORDS words */
};

static bool ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Read the logical line at *pos. Comments are lines with no words. */
static void read_line(const char *in, size_t len, size_t *pos, struct lline *l)
{
	size_t i = *pos;
	l->start = i;
	l->n = 0;
	l->truncated = false;
	while (i < len && ws(in[i]))
		i++;
	bool comment = i < len && in[i] == '#';
	while (i < len && in[i] != '\n') {
		if (in[i] == '\\' && i + 1 == len) {
			i++;
			continue;
		}
		if (in[i] == '\\' && (in[i + 1] == '\n' ||
				      (in[i + 1] == '\r' && i + 2 < len && in[i + 2] == '\n'))) {
			i += in[i + 1] == '\r' ? 3 : 2;		/* continued */
			continue;
		}
		if (ws(in[i])) {
			i++;
			continue;
		}
		size_t s = i;
		while (i < len && in[i] != '\n' && !ws(in[i]) &&
		       !(in[i] == '\\' && (i + 1 == len || in[i + 1] == '\n')))
			i++;
		if (comment)
			continue;
		if (l->n == MAX_WORDS)
			l->truncated = true;
		else
			l->w[l->n++] = (struct word){ s, i - s };
	}
	*pos = l->next = i < len ? i + 1 : i;
}

static bool word_is(const char *in, const struct word *w, const char *s)
{
	return w->len == strlen(s) && !memcmp(in + w->off, s, w->len);
}

static bool stanza_start(const char *in, const struct lline *l)
{
	static const char *const kw[] = { "iface", "mapping", "auto", "source", "source-directory",
					  "source-dir", "rename", "no-auto-down", "no-scripts" };
	if (!l->n)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(kw); i++)
		if (word_is(in, &l->w[0], kw[i]))
			return true;
	return l->w[0].len > 6 && !memcmp(in + l->w[0].off, "allow-", 6);
}

int netcfg_ifupdown_sources(const char *in, size_t len,
			    int (*fn)(void *arg, bool directory, const char *path, size_t n),
			    void *arg)
{
	struct lline l;
	for (size_t pos = 0; pos < len;) {
		read_line(in, len, &pos, &l);
		if (l.n < 2)
			continue;
		bool dir = word_is(in, &l.w[0], "source-directory") ||
			   word_is(in, &l.w[0], "source-dir");
		if (!dir && !word_is(in, &l.w[0], "source"))
			continue;
		int rc = fn(arg, dir, in + l.w[1].off, l.w[1].len);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- one iface stanza ---- */

struct stanza {
	struct lline head;
	struct lline opt[64];		/* its option lines */
	size_t n;
	bool overflow;
};

/* the option line named name, or NULL */
static const struct lline *find_opt(const char *in, const struct stanza *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (word_is(in, &s->opt[i].w[0], name))
			return &s->opt[i];
	return NULL;
}

struct edit {
	const char *in;
	const struct netcfg_nic *nic;
	struct netcfg_splices sp;
	char *what;
	size_t whatlen;
	const struct lline *addr_line;	/* where added options go after */
};

/* The stanza's relation to the NIC: the address word to edit (NULL: not this NIC);
 * -ENOTSUP when the NIC's MAC names a stanza without a static address. */
static int match(struct edit *e, const struct stanza *s, const struct word **addr,
		 int *how)
{
	const char *in = e->in;
	const struct lline *hw = find_opt(in, s, "hwaddress");
	*addr = NULL;
	*how = NETCFG_ADDR_OTHER;
	if (hw && hw->n >= 2) {
		const struct word *m = &hw->w[hw->n >= 3 && word_is(in, &hw->w[1], "ether") ? 2 : 1];
		if (netcfg_mac_eq(in + m->off, m->len, e->nic->old_nic->mac) != 1)
			return 0;	/* another NIC's stanza */
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct lline *o = &s->opt[i];
		uint8_t p;
		if (!word_is(in, &o->w[0], "address") || o->n < 2)
			continue;
		int m = netcfg_addr_match(in + o->w[1].off, o->w[1].len, e->nic, &p);
		if (netcfg_addr_rank(m) > netcfg_addr_rank(*how) || (!*addr && hw)) {
			*addr = &o->w[1];
			*how = m < 0 ? NETCFG_ADDR_OTHER : m;
			e->addr_line = o;
		}
	}
	if (!hw && *how == NETCFG_ADDR_OTHER)
		*addr = NULL;
	if (hw && !*addr) {
		const struct word *m = &s->head.w[3];
		return netcfg_unsupported(e->what, e->whatlen, "iface %.*s has the NIC's MAC but "
					  "method %.*s, no static address", (int)s->head.w[1].len,
					  in + s->head.w[1].off, (int)m->len, in + m->off);
	}
	return 0;
}

/* a new option line after the address line, indented as it is */
static void insert_opt(struct edit *e, const char *key, const char *value)
{
	netcfg_insert_line(&e->sp, e->in, e->addr_line->next, e->in + e->addr_line->start,
			   e->addr_line->w[0].off - e->addr_line->start, "%s %s", key, value);
}

static uint32_t prefix_mask(unsigned p)
{
	return p ? ~0u << (32 - p) : 0;
}

static void edit_address(struct edit *e, const struct stanza *s, const struct word *a)
{
	const struct vm_nic *n = e->nic->new_nic;
	const struct lline *nm = find_opt(e->in, s, "netmask");
	uint8_t fp;
	char old[40], now[16];
	netcfg_addr_match(e->in + a->off, a->len, e->nic, &fp);
	snprintf(old, sizeof(old), "%.*s", (int)MIN(a->len, 39), e->in + a->off);
	vm_ipv4_format(n->addr, now);
	if (fp || !nm) {
		char text[24];
		snprintf(text, sizeof(text), "%s/%u", now, n->prefix);
		if (strcmp(text, old)) {
			netcfg_splice(&e->sp, a->off, a->len, text, strlen(text));
			netcfg_note(e->what, e->whatlen, "%s -> %s", old, text);
		}
		return;
	}
	if (strcmp(now, old)) {
		netcfg_splice(&e->sp, a->off, a->len, now, strlen(now));
		netcfg_note(e->what, e->whatlen, "%s -> %s", old, now);
	}
	if (nm->n < 2)
		return;
	const struct word *v = &nm->w[1];
	char want[16], was[16];
	snprintf(was, sizeof(was), "%.*s", (int)MIN(v->len, 15), e->in + v->off);
	if (memchr(e->in + v->off, '.', v->len))
		vm_ipv4_format(prefix_mask(n->prefix), want);
	else
		snprintf(want, sizeof(want), "%u", n->prefix);
	if (strcmp(want, was)) {
		netcfg_splice(&e->sp, v->off, v->len, want, strlen(want));
		netcfg_note(e->what, e->whatlen, "netmask %s -> %s", was, want);
	}
}

/* the stanza's other address lines, through the rules */
static void edit_other_addresses(struct edit *e, const struct stanza *s, const struct word *a)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct lline *o = &s->opt[i];
		char now[24];
		if (!word_is(e->in, &o->w[0], "address") || o->n < 2 || &o->w[1] == a ||
		    !netcfg_other_address(e->nic, e->in + o->w[1].off, o->w[1].len, now, sizeof(now)))
			continue;
		netcfg_splice(&e->sp, o->w[1].off, o->w[1].len, now, strlen(now));
		netcfg_note(e->what, e->whatlen, "%.*s -> %s", (int)o->w[1].len, e->in + o->w[1].off,
			    now);
	}
}

static void edit_gateways(struct edit *e, const struct stanza *s)
{
	bool any = false;
	for (size_t i = 0; i < s->n; i++) {
		const struct lline *o = &s->opt[i];
		uint32_t g;
		if (!word_is(e->in, &o->w[0], "gateway") || o->n < 2)
			continue;
		any = true;
		if (vm_ipv4_parse(e->in + o->w[1].off, o->w[1].len, &g) < 0)
			continue;
		uint32_t to = netcfg_gateway(e->nic, g);
		char a[16], b[16];
		if (to == g)
			continue;
		vm_ipv4_format(g, a);
		vm_ipv4_format(to, b);
		netcfg_splice(&e->sp, o->w[1].off, o->w[1].len, b, strlen(b));
		netcfg_note(e->what, e->whatlen, "gateway %s -> %s", a, b);
	}
	uint32_t add = any ? 0 : netcfg_gateway_to_add(e->nic);
	if (add) {
		char b[16];
		vm_ipv4_format(add, b);
		insert_opt(e, "gateway", b);
		netcfg_note(e->what, e->whatlen, "gateway %s added", b);
	}
}

static int edit_dns(struct edit *e, const struct stanza *s)
{
	const struct lline *o = find_opt(e->in, s, "dns-nameservers");
	uint32_t in[NETCFG_MAX_DNS], out[NETCFG_MAX_DNS];
	size_t n = 0;
	char was[NETCFG_MAX_DNS * 16 + 1], now[NETCFG_MAX_DNS * 16 + 1];
	for (size_t i = 1; o && i < o->n; i++) {
		if (n == NETCFG_MAX_DNS)
			return netcfg_unsupported(e->what, e->whatlen, "more than %d dns-nameservers",
						  NETCFG_MAX_DNS);
		if (vm_ipv4_parse(e->in + o->w[i].off, o->w[i].len, &in[n]) < 0)
			return netcfg_unsupported(e->what, e->whatlen, "dns-nameservers has '%.*s', "
						  "not an IPv4 address", (int)o->w[i].len,
						  e->in + o->w[i].off);
		n++;
	}
	size_t m = netcfg_dns(e->nic, in, n, out);
	if (m == n && !memcmp(in, out, n * sizeof(*in)))
		return 0;
	netcfg_dns_format(in, n, " ", false, was, sizeof(was));
	netcfg_dns_format(out, m, " ", false, now, sizeof(now));
	if (o && o->n >= 2) {
		size_t a = o->w[1].off, b = o->w[o->n - 1].off + o->w[o->n - 1].len;
		netcfg_splice(&e->sp, a, b - a, now, strlen(now));
		netcfg_note(e->what, e->whatlen, "dns %s -> %s", was, now);
	} else if (!o) {
		insert_opt(e, "dns-nameservers", now);
		netcfg_note(e->what, e->whatlen, "dns %s added", now);
	}
	return 0;
}

/* Read the iface stanza whose head is l, up to the next stanza; *pos moves past it. */
static void read_stanza(const char *in, size_t len, size_t *pos, struct stanza *s)
{
	s->n = 0;
	s->overflow = false;
	while (*pos < len) {
		size_t at = *pos;
		struct lline *o = &s->opt[s->n < ARRAY_SIZE(s->opt) ? s->n : ARRAY_SIZE(s->opt) - 1];
		read_line(in, len, pos, o);
		if (stanza_start(in, o)) {
			*pos = at;
			return;
		}
		if (!o->n)
			continue;
		if (s->n == ARRAY_SIZE(s->opt))
			s->overflow = true;
		else
			s->n++;
	}
}

static int edit(const char *in, size_t len, const struct netcfg_nic *nic, struct dbuf *out,
		char *what, size_t whatlen)
{
	struct edit e = { .in = in, .nic = nic, .what = what, .whatlen = whatlen };
	struct stanza *s = calloc(1, sizeof(*s));
	int rc = s ? NETCFG_ABSENT : -ENOMEM;
	what[0] = '\0';
	for (size_t pos = 0; pos < len && rc == NETCFG_ABSENT;) {
		read_line(in, len, &pos, &s->head);
		const struct lline *h = &s->head;
		if (!h->n || !word_is(in, &h->w[0], "iface"))
			continue;
		if (h->n < 4)
			rc = netcfg_fail(what, whatlen, "'iface' needs NAME FAMILY METHOD");
		if (rc || !word_is(in, &h->w[2], "inet"))
			continue;
		read_stanza(in, len, &pos, s);
		if (s->overflow || h->truncated)
			rc = netcfg_fail(what, whatlen, "iface %.*s has too many options",
					 (int)h->w[1].len, in + h->w[1].off);
		const struct word *a;
		int how;
		if (rc == 0 && (rc = match(&e, s, &a, &how)) == 0 && a) {
			edit_address(&e, s, a);
			edit_other_addresses(&e, s, a);
			edit_gateways(&e, s);
			rc = edit_dns(&e, s);
			if (rc == 0)
				rc = netcfg_finish(&e.sp, in, len, out, in + h->w[1].off, h->w[1].len,
						   in + a->off, a->len, what, whatlen);
		}
	}
	netcfg_splices_release(&e.sp);
	free(s);
	return rc;
}

const struct netcfg_format netcfg_ifupdown = { "ifupdown", edit };
