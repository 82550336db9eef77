/* Fuzz target for the configuration parser: any bytes go to config_parse (which must never
 * crash, leak or leave a half-filled struct), and the first line also to the value parsers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_config cfg;
	char err[256];
	if (config_parse("fuzz.conf", (const char *)data, size, &cfg, err, sizeof(err)) == 0) {
		/* a successful parse must be complete */
		if (!cfg.state_dir || !cfg.log_path || !cfg.nbd_listen || !cfg.control_socket ||
		    cfg.n_domains == 0 || cfg.domains[0].n_disks == 0)
			abort();
		for (size_t i = 0; i < cfg.n_vms; i++)	/* a [vm] is complete, and stays so */
			if (!cfg.vms[i].desc.domain[0] || !cfg.vms[i].desc.n_disks ||
			    !cfg.vms[i].desc.memory_mib || !cfg.vms[i].desc.cpus)
				abort();
		config_release(&cfg);
	} else if (err[0] == '\0' || cfg.domains || cfg.vms || cfg.file) {
		abort();
	}

	char line[64];
	size_t n = 0;
	while (n < size && n < sizeof(line) - 1 && data[n] != '\n')
		n++;
	memcpy(line, data, n);
	line[n] = '\0';
	uint64_t v;
	parse_size(line, &v);
	parse_duration_ms(line, &v);
	return 0;
}
