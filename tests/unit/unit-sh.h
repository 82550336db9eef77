/* A shell command from the unit tests that build their fixtures with real tools (mkfs.ext4,
 * debugfs, qemu-img, ...): sh("qemu-img create -f raw '%s' 1M", path) runs it through
 * system() and returns its exit status (-1 when it did not exit normally). */
#ifndef FERRY_UNIT_SH_H
#define FERRY_UNIT_SH_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

__attribute__((format(printf, 1, 2)))
static inline int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int r = system(cmd);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

#endif
