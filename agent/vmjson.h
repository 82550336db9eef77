/* VM descriptions (repo/vmdesc.h) as JSON: how the API shows a domain's VMs, and how an
 * operation's journal record carries the descriptions it was started with, so that a
 * resumed operation works on exactly the same VMs (docs/journal-format.md "vms"). */
#ifndef FERRY_AGENT_VMJSON_H
#define FERRY_AGENT_VMJSON_H

#include <jansson.h>

#include "repo/vmdesc.h"

/* A new JSON object, or NULL when out of memory. */
json_t *vm_desc_json(const struct vm_desc *vm);
/* An array of the set's VMs, or NULL. */
json_t *vm_set_json(const struct vm_set *set);
/* Parse what vm_set_json wrote back into *set (malloc'd vms; release with
 * vm_set_release). 0, or -EINVAL with the reason in err (a bad name, MAC, address, or
 * too many disks/NICs), -ENOMEM. */
int vm_set_from_json(const json_t *arr, const char *domain, struct vm_set *set, char *err,
		     size_t errlen);

#endif
