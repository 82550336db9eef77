/* TEMPORARY, to be deleted piece by piece: weak placeholders for the contracts other
 * helpers implement (repo/vmdesc.h, agent/reip.h), so that ferry-agent links while they
 * have not landed on main. Each fails with -ENOSYS and says what is missing; none
 * pretends to work. (restore/ and the drivers have landed.) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/reip.h"
#include "repo/vmdesc.h"

#define PENDING __attribute__((weak))

static int missing(char *err, size_t errlen, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "%s has not landed yet", what);
	return -ENOSYS;
}

PENDING void vm_mac_format(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

PENDING void vm_ipv4_format(uint32_t addr, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255,
		 addr & 255);
}

PENDING int repo_vms_get(struct repo *r, const char *domain, uint64_t time_ns,
			 struct vm_set *out, char *err, size_t errlen)
{
	(void)r;
	(void)domain;
	(void)time_ns;
	memset(out, 0, sizeof(*out));
	return missing(err, errlen, "repo_vms_get");
}

PENDING void vm_set_release(struct vm_set *s)
{
	free(s->vms);
	memset(s, 0, sizeof(*s));
}

PENDING int repo_list_domains(struct repo *r, char ***names, size_t *n)
{
	(void)r;
	*names = NULL;
	*n = 0;
	return -ENOSYS;
}

PENDING int reip_rule_parse(const char *text, struct reip_rule *r, char *err, size_t errlen)
{
	(void)text;
	(void)r;
	return missing(err, errlen, "reip_rule_parse");
}

PENDING int reip_map_nic(const struct reip_rule *rules, size_t n, const struct vm_nic *in,
			 struct vm_nic *out)
{
	(void)rules;
	(void)n;
	*out = *in;
	return 0;
}

PENDING int reip_apply_disk(const char *image, enum reip_image kind,
			    const struct reip_nic_change *c, size_t n, char *detail,
			    size_t detaillen, char *err, size_t errlen)
{
	(void)image;
	(void)kind;
	(void)c;
	(void)n;
	(void)detail;
	(void)detaillen;
	return missing(err, errlen, "reip_apply_disk");
}

PENDING int reip_write_cidata(const char *path, const struct vm_desc *vm, char *err,
			      size_t errlen)
{
	(void)path;
	(void)vm;
	return missing(err, errlen, "reip_write_cidata");
}

