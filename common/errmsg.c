/* Reasons for callers (contract in errmsg.h). */
#include "common/errmsg.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/banned.h"

int err_set(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}
