/* The one way a library function leaves a reason for its caller: functions that take
 * (char *err, size_t errlen) return -errno and, on failure, a one-line reason in err
 * (docs/style.md "Errors"). err may be NULL or errlen 0: no reason is wanted. */
#ifndef FERRY_ERRMSG_H
#define FERRY_ERRMSG_H

#include <stddef.h>

/* printf the reason into err (if there is room for it) and return rc, so that a failure
 * is one statement: return err_set(err, errlen, -EBADMSG, "%s: corrupt", path); */
int err_set(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
