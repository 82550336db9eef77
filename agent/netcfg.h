/* Guest network configuration editors for Re-IP (docs/reip.md): pure functions on a file's
 * bytes, one file format per file, behind one small table.
 *
 *   netcfg-ifupdown.c   /etc/network/interfaces and the files it sources
 *   netcfg-netplan.c    /etc/netplan/ *.yaml (YAML read with libyaml)
 *   netcfg-nm.c         NetworkManager keyfiles (*.nmconnection)
 *   netcfg-networkd.c   systemd-networkd *.network files
 *   netcfg.c            what they share: edits as splices of the original bytes, address
 *                       and MAC matching, where a gateway or DNS server goes, INI lines
 *
 * An editor finds the stanza of one NIC — by MAC where the stanza names one (a stanza
 * naming another MAC is never this NIC), else by its old address, or by its new address
 * (Re-IP already done: nothing to change) — and replaces only the values that change,
 * keeping every other byte of the file (comments, order, spacing, quoting). What changes:
 *   address   the matched address becomes the new address and prefix (a netmask too);
 *             the stanza's other addresses go through the first rule matching them;
 *   gateway   the old description's gateway becomes the new one; any other gateway of the
 *             stanza goes through the rule that matched the address (its gw, or its
 *             pattern); one is added only when that rule gives a gateway;
 *   dns       the rule's list when it gives one (added if the stanza had none); otherwise
 *             each server that the description lists becomes the mapped one, and the others
 *             go through the first rule matching them (kept when none does).
 *
 * To add a format: 1. write netcfg-NAME.c with a `const struct netcfg_format`; 2. declare
 * it below; 3. give it its place in reip.c's precedence list and a fuzz target. */
#ifndef FERRY_NETCFG_H
#define FERRY_NETCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/reip.h"
#include "common/dbuf.h"

#define NETCFG_MAX_FILE (1u << 20)	/* a network config larger than this is refused */
#define NETCFG_MAX_DNS 16		/* DNS servers of one stanza, at most */

/* One NIC to move. */
struct netcfg_nic {
	const struct vm_nic *old_nic;	/* static: its address is what is looked for */
	const struct vm_nic *new_nic;	/* what it becomes */
	const struct reip_rule *rules;	/* for values the description does not give; may be 0 */
	size_t n_rules;
};

enum netcfg_result {
	NETCFG_ABSENT = 0,	/* no stanza of this file configures the NIC */
	NETCFG_SAME = 1,	/* the stanza already has the new values */
	NETCFG_EDITED = 2,	/* out holds the whole new file */
};

/* Edit in[0..len) for nic. Returns a netcfg_result; what gets "ADDR -> ADDR, gateway G ->
 * G, dns D -> D" (EDITED), "already ADDR" (SAME), or the reason of an error: -EBADMSG (the
 * file does not parse as this format), -ENOTSUP (the NIC's stanza takes no static address,
 * e.g. DHCP, or the change needs an edit the editor does not make), -ENOMEM/-ENOBUFS. out
 * is reset first and written only on EDITED. */
typedef int netcfg_edit_fn(const char *in, size_t len, const struct netcfg_nic *nic,
			   struct dbuf *out, char *what, size_t whatlen);

struct netcfg_format {
	const char *name;		/* "netplan", "ifupdown", "networkmanager", "networkd" */
	netcfg_edit_fn *edit;
};

extern const struct netcfg_format netcfg_ifupdown;
extern const struct netcfg_format netcfg_netplan;
extern const struct netcfg_format netcfg_nm;
extern const struct netcfg_format netcfg_networkd;

/* ifupdown's `source PATTERN` and `source-directory DIR` (also `source-dir`) lines of a
 * file, in order: fn(arg, directory?, path, length). Pure; 0, or fn's non-zero result. */
int netcfg_ifupdown_sources(const char *in, size_t len,
			    int (*fn)(void *arg, bool directory, const char *path, size_t n),
			    void *arg);

/* ---- shared by the editors (netcfg.c) ---- */

/* Edits of the original bytes: replace [off, off + len) with text. */
struct netcfg_splices {
	struct netcfg_splice {
		size_t off, len;
		char *text;
		size_t seq;		/* insertions at one offset stay in call order */
	} *v;
	size_t n, cap;
	int err;			/* -ENOMEM once an add failed */
};

/* Add a replacement (text is copied; n bytes of it). Errors are kept in s->err. */
void netcfg_splice(struct netcfg_splices *s, size_t off, size_t len, const char *text,
		   size_t n);
__attribute__((format(printf, 4, 5)))
void netcfg_splicef(struct netcfg_splices *s, size_t off, size_t len, const char *fmt, ...);
/* The input with the replacements applied (sorted by offset; overlapping ones are
 * -EINVAL: an editor bug, never silently merged) into out. */
int netcfg_splice_apply(struct netcfg_splices *s, const char *in, size_t len,
			struct dbuf *out);
void netcfg_splices_release(struct netcfg_splices *s);
/* An editor's last step once the stanza is found and every edit made: no splice is
 * NETCFG_SAME with what = "STANZA already ADDR" (stanza, addr: n bytes each), else the
 * splices applied into out: NETCFG_EDITED (or -errno). */
int netcfg_finish(struct netcfg_splices *s, const char *in, size_t len, struct dbuf *out,
		  const char *stanza, size_t sn, const char *addr, size_t an, char *what,
		  size_t whatlen);

/* How an address text relates to the NIC. */
enum netcfg_addr_match { NETCFG_ADDR_OTHER = 0, NETCFG_ADDR_OLD = 1, NETCFG_ADDR_NEW = 2 };
/* "A" or "A/N" (n bytes): OLD or NEW when A is the old or new address, OTHER for another
 * address; -1 when it is not an IPv4 address. *prefix: N, or 0 without /N. */
int netcfg_addr_match(const char *s, size_t n, const struct netcfg_nic *nic, uint8_t *prefix);
/* How well a netcfg_addr_match result names the NIC: the editors take the first address of
 * the highest rank (OLD and NEW rank the same, so a second run picks the same address). */
static inline int netcfg_addr_rank(int m)
{
	return m > NETCFG_ADDR_OTHER ? 2 : m == NETCFG_ADDR_OTHER ? 1 : 0;
}
/* A MAC in any of the spellings these files use (aa:bb:..., aa-bb-..., aabb.ccdd.eeff,
 * aabbccddeeff; either case) equal to mac? -1 when s is no MAC at all. */
int netcfg_mac_eq(const char *s, size_t n, const uint8_t mac[6]);
/* Another address of the NIC's stanza ("A" or "A/N", n bytes) through the first rule that
 * matches it: 1 with the new text in out (same form; the rule's prefix if it gives one),
 * 0 when no rule changes it. */
int netcfg_other_address(const struct netcfg_nic *nic, const char *s, size_t n, char *out,
			 size_t outlen);
/* A gateway of the stanza after the move (netcfg.h's rules). */
uint32_t netcfg_gateway(const struct netcfg_nic *nic, uint32_t gw);
/* The gateway to add to a stanza that has none, or 0 (only a rule's own gateway). */
uint32_t netcfg_gateway_to_add(const struct netcfg_nic *nic);
/* The DNS servers of the stanza after the move (the file's in[0..n), n <= NETCFG_MAX_DNS,
 * possibly none) into out[NETCFG_MAX_DNS]; the count. With n == 0 only a rule's own list
 * comes out. */
size_t netcfg_dns(const struct netcfg_nic *nic, const uint32_t *in, size_t n, uint32_t *out);
/* The IPv4 addresses in s[0..n), separated by any of the characters of seps, appended to
 * v[*count..NETCFG_MAX_DNS). 0, or -1 when one is not an IPv4 address or they are too many. */
int netcfg_dns_parse(const char *s, size_t n, const char *seps, uint32_t *v, size_t *count);
/* v[0..n) as text, sep between them (and after the last one with trailing). */
void netcfg_dns_format(const uint32_t *v, size_t n, const char *sep, bool trailing, char *out,
		       size_t len);
/* Append ", " and the formatted text to what (a change description). */
__attribute__((format(printf, 3, 4)))
void netcfg_note(char *what, size_t n, const char *fmt, ...);
__attribute__((format(printf, 3, 4)))
int netcfg_fail(char *what, size_t n, const char *fmt, ...);	/* returns -EBADMSG */
__attribute__((format(printf, 3, 4)))
int netcfg_unsupported(char *what, size_t n, const char *fmt, ...);	/* -ENOTSUP */
/* Insert a line after the line that ends at next (in[next - 1] is its '\n', or next is
 * the end of a file without a final line end, which then still has none): indent, then
 * the formatted text. */
__attribute__((format(printf, 6, 7)))
void netcfg_insert_line(struct netcfg_splices *s, const char *in, size_t next,
			const char *indent, size_t indent_len, const char *fmt, ...);

/* INI-style files (keyfiles, .network files) as lines: [Section], Key=value (blanks
 * around '=' and at the ends trimmed), comments (# or ; first) and blank lines. */
struct netcfg_line {
	size_t start, end;		/* the line without its line end */
	size_t next;			/* where the next line starts */
	enum { LINE_BLANK, LINE_COMMENT, LINE_SECTION, LINE_KEY, LINE_OTHER } kind;
	size_t name, name_len;		/* section name or key */
	size_t value, value_len;	/* key's value, trimmed */
	size_t section;			/* the line of its [Section], SIZE_MAX before any */
};

struct netcfg_ini {
	const char *in;
	size_t len;
	struct netcfg_line *l;
	size_t n;
};

#define NETCFG_INI_MAX_LINES 4096
/* Split in into lines. 0; -EBADMSG (a line that is none of the kinds) or -ENOTSUP (more
 * than NETCFG_INI_MAX_LINES) with the reason in what; -ENOMEM. Release it either way. */
int netcfg_ini_scan(const char *in, size_t len, struct netcfg_ini *ini, char *what,
		    size_t whatlen);
void netcfg_ini_release(struct netcfg_ini *ini);
/* Is line i in [section]? A Key=value line named key in [section]? */
bool netcfg_ini_in(const struct netcfg_ini *ini, size_t i, const char *section);
bool netcfg_ini_key(const struct netcfg_ini *ini, size_t i, const char *section,
		    const char *key);

#endif
