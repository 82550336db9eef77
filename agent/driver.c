/* The table of hypervisor drivers (agent/driver.h). */
#include <string.h>

#include "agent/driver.h"
#include "common/util.h"
#include "common/banned.h"

static const struct driver_ops *const drivers[] = {
	&driver_libvirt_ops,
	&driver_script_ops,
};

const struct driver_ops *driver_find(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(drivers); i++)
		if (!strcmp(drivers[i]->name, name))
			return drivers[i];
	return NULL;
}
