/* VM descriptions to and from JSON (agent/vmjson.h). Reading checks every field: the text
 * comes from the journal, which a damaged disk may have changed. */
#include "agent/vmjson.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

static bool put(json_t *o, const char *k, json_t *v)
{
	return v && json_object_set_new(o, k, v) == 0;
}

static json_t *ip_json(uint32_t a)
{
	char s[16];
	vm_ipv4_format(a, s);
	return json_string(s);
}

static json_t *nic_json(const struct vm_nic *n)
{
	json_t *o = json_object(), *dns = json_array();
	char mac[18];
	vm_mac_format(n->mac, mac);
	bool ok = o && dns && put(o, "network", json_string(n->network)) &&
		  put(o, "mac", json_string(mac)) &&
		  put(o, "mode", json_string(n->mode == VM_NIC_STATIC ? "static" : "dhcp"));
	if (ok && n->mode == VM_NIC_STATIC) {
		ok = put(o, "addr", ip_json(n->addr)) && put(o, "prefix", json_integer(n->prefix));
		if (ok && n->gw)
			ok = put(o, "gw", ip_json(n->gw));
		for (uint8_t i = 0; ok && i < n->n_dns && i < VM_MAX_DNS; i++)
			ok = json_array_append_new(dns, ip_json(n->dns[i])) == 0;
		if (ok && n->n_dns) {
			ok = put(o, "dns", dns);
			dns = NULL;
		}
	}
	json_decref(dns);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *vm_desc_json(const struct vm_desc *vm)
{
	json_t *o = json_object(), *disks = json_array(), *nics = json_array();
	bool ok = o && disks && nics && put(o, "name", json_string(vm->name)) &&
		  put(o, "cpus", json_integer(vm->cpus)) &&
		  put(o, "memory_mib", json_integer((json_int_t)vm->memory_mib)) &&
		  put(o, "firmware", json_string(vm->firmware == VM_FIRMWARE_UEFI ? "uefi" : "bios"));
	for (size_t i = 0; ok && i < vm->n_disks && i < VM_MAX_DISKS; i++)
		ok = json_array_append_new(disks, json_string(vm->disks[i])) == 0;
	for (size_t i = 0; ok && i < vm->n_nics && i < VM_MAX_NICS; i++)
		ok = json_array_append_new(nics, nic_json(&vm->nics[i])) == 0;
	if (ok) {
		ok = put(o, "disks", disks) && put(o, "nics", nics);
		disks = nics = NULL;
	}
	json_decref(disks);
	json_decref(nics);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *vm_set_json(const struct vm_set *set)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < set->n; i++)
		if (json_array_append_new(a, vm_desc_json(&set->vms[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* ---- reading ---- */

static int name_copy(const json_t *v, char *dst, size_t n)
{
	const char *s = json_string_value(v);
	if (!s || !*s || strlen(s) >= n)
		return -EINVAL;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* the same text syntax as the configuration's nic lines (repo/vmdesc.h) */
static int ip_read(const json_t *v, uint32_t *out)
{
	const char *s = json_string_value(v);
	return s ? vm_ipv4_parse(s, strlen(s), out) : -EINVAL;
}

static int mac_read(const json_t *v, uint8_t mac[6])
{
	const char *s = json_string_value(v);
	return s ? vm_mac_parse(s, strlen(s), mac) : -EINVAL;
}

static int nic_read(const json_t *o, struct vm_nic *n)
{
	memset(n, 0, sizeof(*n));
	const char *mode = json_string_value(json_object_get(o, "mode"));
	if (!json_is_object(o) || name_copy(json_object_get(o, "network"), n->network,
					    sizeof(n->network)) < 0 ||
	    mac_read(json_object_get(o, "mac"), n->mac) < 0 || !mode)
		return -EINVAL;
	if (!strcmp(mode, "dhcp"))
		return 0;
	if (strcmp(mode, "static"))
		return -EINVAL;
	n->mode = VM_NIC_STATIC;
	json_int_t pf = json_integer_value(json_object_get(o, "prefix"));
	if (ip_read(json_object_get(o, "addr"), &n->addr) < 0 || pf < 1 || pf > 32)
		return -EINVAL;
	n->prefix = (uint8_t)pf;
	json_t *gw = json_object_get(o, "gw"), *dns = json_object_get(o, "dns");
	if (gw && ip_read(gw, &n->gw) < 0)
		return -EINVAL;
	if (dns && (!json_is_array(dns) || json_array_size(dns) > VM_MAX_DNS))
		return -EINVAL;
	for (size_t i = 0; i < json_array_size(dns); i++)
		if (ip_read(json_array_get(dns, i), &n->dns[n->n_dns++]) < 0)
			return -EINVAL;
	return 0;
}

static int vm_read(const json_t *o, const char *domain, struct vm_desc *vm)
{
	memset(vm, 0, sizeof(*vm));
	json_t *disks = json_object_get(o, "disks"), *nics = json_object_get(o, "nics");
	json_int_t cpus = json_integer_value(json_object_get(o, "cpus"));
	json_int_t mem = json_integer_value(json_object_get(o, "memory_mib"));
	const char *fw = json_string_value(json_object_get(o, "firmware"));
	if (!json_is_object(o) || name_copy(json_object_get(o, "name"), vm->name,
					    sizeof(vm->name)) < 0 ||
	    !json_is_array(disks) || json_array_size(disks) > VM_MAX_DISKS ||
	    !json_is_array(nics) || json_array_size(nics) > VM_MAX_NICS || cpus < 0 ||
	    cpus > UINT32_MAX || mem < 0 || !fw || (strcmp(fw, "bios") && strcmp(fw, "uefi")))
		return -EINVAL;
	snprintf(vm->domain, sizeof(vm->domain), "%s", domain);
	vm->cpus = (uint32_t)cpus;
	vm->memory_mib = (uint64_t)mem;
	vm->firmware = strcmp(fw, "uefi") ? VM_FIRMWARE_BIOS : VM_FIRMWARE_UEFI;
	for (; vm->n_disks < json_array_size(disks); vm->n_disks++)
		if (name_copy(json_array_get(disks, vm->n_disks), vm->disks[vm->n_disks],
			      sizeof(vm->disks[0])) < 0)
			return -EINVAL;
	for (; vm->n_nics < json_array_size(nics); vm->n_nics++)
		if (nic_read(json_array_get(nics, vm->n_nics), &vm->nics[vm->n_nics]) < 0)
			return -EINVAL;
	return 0;
}

int vm_set_from_json(const json_t *arr, const char *domain, struct vm_set *set, char *err,
		     size_t errlen)
{
	memset(set, 0, sizeof(*set));
	if (!json_is_array(arr) || json_array_size(arr) > 4096) {
		snprintf(err, errlen, "VM descriptions: not an array");
		return -EINVAL;
	}
	snprintf(set->domain, sizeof(set->domain), "%s", domain);
	size_t n = json_array_size(arr);
	if (!(set->vms = calloc(n + 1, sizeof(*set->vms))))
		return -ENOMEM;
	for (; set->n < n; set->n++)
		if (vm_read(json_array_get(arr, set->n), domain, &set->vms[set->n]) < 0) {
			snprintf(err, errlen, "VM description %zu is malformed", set->n);
			free(set->vms);
			memset(set, 0, sizeof(*set));
			return -EINVAL;
		}
	return 0;
}
