/* ferryctl domains: what the repository holds for each protection domain — its VMs (the
 * VM set stored by ferryd, repo/vmdesc.h), their disks with sizes, and the newest
 * consistent point with its age — from the store and the key alone (the recovery site's
 * "review the imported domain" step).
 *
 * One gathering pass builds a JSON document (jansson; each VM as the agent's API shows
 * it, agent/vmjson.h, its disks with their sizes); --json prints it, otherwise it is
 * drawn as text. The VMs and disk sizes shown are those of the newest consistent point
 * (what `latest` restores), or of the newest point when none is consistent yet. */
#include "mgmt/ctl-domains.h"
#include "mgmt/ctl-args.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "agent/vmjson.h"
#include "repo/repo.h"
#include "repo/vmdesc.h"
#include "common/banned.h"

/* ---- gathering ---- */

/* the size of a disk at the point, or -1 when the point does not have it */
static json_t *disk_size(struct repo *r, const struct point_info *p, const char *disk)
{
	struct disk_map *m;
	char err[256];
	if (!p || repo_disk_map(r, p, disk, &m, err, sizeof(err)) < 0)
		return json_null();
	json_t *v = json_integer((json_int_t)m->size);
	disk_map_free(m);
	return v;
}

/* The VM as the agent's API and journal show it (agent/vmjson.h), its disks with their
 * sizes at the point. */
static json_t *vm_json(struct repo *r, const struct point_info *p, const struct vm_desc *v)
{
	json_t *o = vm_desc_json(v), *disks = json_array();
	for (size_t i = 0; disks && i < v->n_disks; i++)
		json_array_append_new(disks, json_pack("{s:s, s:o}", "name", v->disks[i], "size",
						       disk_size(r, p, v->disks[i])));
	if (o && disks && json_object_set_new(o, "disks", disks) == 0)
		return o;
	json_decref(o);
	return NULL;
}

static json_t *point_json(const struct point_info *p, uint64_t now)
{
	char id[48], t[32];
	snprintf(id, sizeof(id), "%" PRIu32 ".%" PRIu64, p->epoch, p->seq);
	ctl_fmt_time(p->time_ns, t, sizeof(t));
	return json_pack("{s:s, s:s, s:I, s:b}", "id", id, "time", t, "age_s",
			 (json_int_t)(now > p->time_ns ? (now - p->time_ns) / 1000000000u : 0),
			 "consistent", (p->flags & POINT_CONSISTENT) != 0);
}

/* The disks of the point that no VM lists (a domain without VM descriptions has only
 * these). */
static json_t *other_disks(struct repo *r, const struct point_info *p, const struct vm_set *s)
{
	json_t *a = json_array();
	char **names;
	size_t n;
	if (!p || repo_point_disks(r, p, &names, &n) < 0)
		return a;
	for (size_t i = 0; i < n; i++) {
		bool listed = false;
		for (size_t v = 0; v < s->n && !listed; v++)
			for (size_t d = 0; d < s->vms[v].n_disks && !listed; d++)
				listed = !strcmp(s->vms[v].disks[d], names[i]);
		if (!listed)
			json_array_append_new(a, json_pack("{s:s, s:o}", "name", names[i], "size",
							   disk_size(r, p, names[i])));
		free(names[i]);
	}
	free(names);
	return a;
}

static int domain_json(const struct args *a, struct repo *r, const char *name, uint64_t now,
		       json_t **out)
{
	struct point_info *v = NULL, *latest = NULL;
	struct vm_set s = { 0 };
	size_t n = 0;
	char err[512] = "";
	int rc = repo_list_points(r, name, &v, &n);
	if (rc < 0 && rc != -ENOENT) {
		ctl_fail(a, 1, "domain '%s': %s", name, rc == -EBADMSG ?
			 "a manifest is corrupt (run ferryctl verify)" : strerror(-rc));
		return rc;
	}
	for (size_t i = n; i-- > 0 && !latest;)
		if (v[i].flags & POINT_CONSISTENT)
			latest = &v[i];
	const struct point_info *at = latest ? latest : n ? &v[n - 1] : NULL;
	rc = repo_vms_get(r, name, at ? at->time_ns : UINT64_MAX, &s, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT) {
		ctl_fail(a, 1, "%s", err);
		free(v);
		return rc;
	}
	json_t *vms = json_array();
	for (size_t i = 0; i < s.n; i++)
		json_array_append_new(vms, vm_json(r, at, &s.vms[i]));
	char t[32] = "";
	if (s.time_ns)
		ctl_fmt_time(s.time_ns, t, sizeof(t));
	*out = json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "name", name, "points",
			 (json_int_t)n, "latest", latest ? point_json(latest, now) : json_null(),
			 "newest", n ? point_json(&v[n - 1], now) : json_null(), "vms_stored",
			 s.time_ns ? json_string(t) : json_null(), "vms", vms, "other_disks",
			 other_disks(r, at, &s));
	vm_set_release(&s);
	free(v);
	return *out ? 0 : -ENOMEM;
}

/* ---- text ---- */

static void fmt_age(json_int_t s, char *out, size_t n)
{
	if (s < 120)
		snprintf(out, n, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(out, n, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 172800)
		snprintf(out, n, "%lldh%lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
	else
		snprintf(out, n, "%lldd%lldh", (long long)(s / 86400), (long long)(s / 3600 % 24));
}

static void print_disks(const json_t *disks, const char *indent)
{
	size_t i;
	json_t *d;
	json_array_foreach(disks, i, d) {
		json_t *size = json_object_get(d, "size");
		if (json_is_integer(size))
			printf("%sdisk %-20s %" JSON_INTEGER_FORMAT " bytes\n", indent,
			       json_string_value(json_object_get(d, "name")), json_integer_value(size));
		else
			printf("%sdisk %-20s (not in the point)\n", indent,
			       json_string_value(json_object_get(d, "name")));
	}
}

static void print_nic(const json_t *n)
{
	printf("    nic  %s %s %s", json_string_value(json_object_get(n, "network")),
	       json_string_value(json_object_get(n, "mac")),
	       json_string_value(json_object_get(n, "mode")));
	json_t *a = json_object_get(n, "addr"), *gw = json_object_get(n, "gw");
	if (a)
		printf(" %s/%" JSON_INTEGER_FORMAT, json_string_value(a),
		       json_integer_value(json_object_get(n, "prefix")));
	if (gw)
		printf(" gw %s", json_string_value(gw));
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(n, "dns"), i, d)
		printf("%s%s", i ? "," : " dns ", json_string_value(d));
	printf("\n");
}

static void print_domain(const json_t *dom)
{
	const json_t *latest = json_object_get(dom, "latest");
	char age[32];
	printf("domain %s: %" JSON_INTEGER_FORMAT " points", json_string_value(json_object_get(dom, "name")),
	       json_integer_value(json_object_get(dom, "points")));
	if (json_is_object(latest)) {
		fmt_age(json_integer_value(json_object_get(latest, "age_s")), age, sizeof(age));
		printf(", newest consistent %s at %s (%s ago)\n",
		       json_string_value(json_object_get(latest, "id")),
		       json_string_value(json_object_get(latest, "time")), age);
	} else {
		printf(", no consistent point yet\n");
	}
	size_t i;
	json_t *vm, *n;
	json_array_foreach(json_object_get(dom, "vms"), i, vm) {
		printf("  vm %s: %" JSON_INTEGER_FORMAT " cpus, %" JSON_INTEGER_FORMAT " MiB, %s\n",
		       json_string_value(json_object_get(vm, "name")),
		       json_integer_value(json_object_get(vm, "cpus")),
		       json_integer_value(json_object_get(vm, "memory_mib")),
		       json_string_value(json_object_get(vm, "firmware")));
		print_disks(json_object_get(vm, "disks"), "    ");
		size_t k;
		json_array_foreach(json_object_get(vm, "nics"), k, n)
			print_nic(n);
	}
	if (json_array_size(json_object_get(dom, "vms")) == 0)
		printf("  no VM descriptions stored\n");
	const json_t *other = json_object_get(dom, "other_disks");
	if (json_array_size(other)) {
		printf("  disks of no VM:\n");
		print_disks(other, "    ");
	}
}

int ctl_domains_main(int argc, char **argv)
{
	struct args a = { .usage = "domains --store URL --key-file PATH [--domain D] [--json] | "
			  "domains -c FILE [--domain D] [--json]" };
	struct repo *r = NULL;
	json_t *doms = json_array();
	char **names = NULL;
	size_t n = 0;
	int rc = ctl_parse(argc, argv, OPT(STORE) | OPT(KEY) | OPT(CONF) | OPT(DOMAIN) |
			   OPT(JSON) | OPT_S3, 0, &a);
	if (rc || (rc = ctl_open_repo(&a, true, &r)))
		goto out;
	int e = repo_list_domains(r, &names, &n);
	if (e < 0) {
		rc = ctl_fail(&a, 1, "cannot list the domains: %s", store_strerror(repo_store(r), e));
		goto out;
	}
	uint64_t now = now_real_ns();
	bool found = false;
	for (size_t i = 0; i < n && rc == 0; i++) {
		json_t *d;
		if (a.domain && strcmp(a.domain, names[i]))
			continue;
		found = true;
		if (domain_json(&a, r, names[i], now, &d) < 0)
			rc = 1;
		else
			json_array_append_new(doms, d);
	}
	if (rc == 0 && a.domain && !found)
		rc = ctl_check_domain(&a, r);
	if (rc == 0 && a.json) {
		/* one line, like every --json output of ferryctl (mgmt/ctl-json.h) */
		json_t *top = json_pack("{s:s, s:O}", "event", "result", "domains", doms);
		char *text = top ? json_dumps(top, JSON_COMPACT) : NULL;
		if (text)
			printf("%s\n", text);
		else
			rc = ctl_fail(&a, 1, "out of memory");
		free(text);
		json_decref(top);
	} else if (rc == 0) {
		size_t i;
		json_t *d;
		json_array_foreach(doms, i, d)
			print_domain(d);
		if (json_array_size(doms) == 0)
			printf("no domains in %s\n", a.store);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	json_decref(doms);
	repo_close(r);
	ctl_args_release(&a);
	return rc;
}
