/* Fuzz target for `ferryctl vm import`'s reading of a libvirt domain XML
 * (agent/vm-import.c): any bytes as the XML, with a fixed --domain and one --nic. A VM that
 * imports must be complete (name, domain, disks, cpus, memory) and its [vm] section must
 * parse back in ferry.conf (next to a [domain] holding its disks) into the same VM. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/vm-import.h"
#include "common/config.h"
#include "common/json.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *nic[] = { "52:54:00:12:34:56=static 10.1.0.11/24 gw 10.1.0.1" };
	struct vm_import_opts o = { .domain = "prod", .nic_ip = nic, .n_nic_ip = 1 };
	struct vm_desc v;
	char err[512];
	if (vm_import_xml((const char *)data, size, &o, &v, NULL, err, sizeof(err)) < 0) {
		if (!err[0])
			abort();
		return 0;
	}
	if (!v.name[0] || strcmp(v.domain, "prod") || !v.n_disks || !v.cpus || !v.memory_mib)
		abort();
	struct dbuf b = DBUF_INIT(1 << 20);
	if (dbuf_printf(&b, "[domain prod]\n") < 0)
		abort();
	for (size_t i = 0; i < v.n_disks; i++)
		if (dbuf_printf(&b, "disk = %s:/dev/x%zu\n", v.disks[i], i) < 0)
			abort();
	if (vm_desc_format_section(&v, &b) < 0)
		abort();
	struct ferry_config cfg;
	if (config_parse("fuzz.conf", (const char *)b.data, b.len, &cfg, err, sizeof(err)) < 0 ||
	    cfg.n_vms != 1 || memcmp(&cfg.vms[0].desc, &v, sizeof(v)))
		abort();
	config_release(&cfg);
	dbuf_release(&b);
	return 0;
}
