/* The body shared by the network configuration editors' fuzz targets (fuzz-netcfg-*.c):
 * any bytes as the file, one NIC moved by `10.1.*.* -> 10.2.*.*`. The editor must return
 * a defined result, give a reason for every error, and once it edited a file find nothing
 * more to do in its own output (SAME). */
#ifndef FERRY_NETCFG_FUZZ_H
#define FERRY_NETCFG_FUZZ_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "agent/netcfg.h"

static inline int netcfg_fuzz(const struct netcfg_format *f, const uint8_t *data, size_t size)
{
	struct vm_nic old, now;
	struct reip_rule r;
	char err[160], what[512];
	if (vm_nic_parse("n 52:54:00:12:34:56 static 10.1.0.11/24 gw 10.1.0.1 dns 10.1.0.2", &old,
			 err, sizeof(err)) < 0 ||
	    reip_rule_parse("10.1.*.* -> 10.2.*.*", &r, err, sizeof(err)) < 0 ||
	    reip_map_nic(&r, 1, &old, &now) != 1)
		abort();
	struct netcfg_nic nic = { &old, &now, &r, 1 };
	struct dbuf out = DBUF_INIT(NETCFG_MAX_FILE * 2), again = DBUF_INIT(NETCFG_MAX_FILE * 2);
	if (size > NETCFG_MAX_FILE)
		return 0;
	int rc = f->edit((const char *)data, size, &nic, &out, what, sizeof(what));
	if (rc < 0 && rc != -EBADMSG && rc != -ENOTSUP && rc != -ENOMEM && rc != -ENOBUFS)
		abort();
	if (rc < 0 && !what[0])
		abort();
	if (rc > NETCFG_EDITED)
		abort();
	if (rc == NETCFG_EDITED &&
	    f->edit((const char *)out.data, out.len, &nic, &again, what, sizeof(what)) !=
		    NETCFG_SAME)
		abort();
	dbuf_release(&out);
	dbuf_release(&again);
	return 0;
}

#endif
