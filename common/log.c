/* stderr logger: one line per call, written with a single write() so lines from several
 * threads never interleave. errno is preserved so callers can log and then inspect it. */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "ferry";
static enum log_level log_max = LOG_LVL_INFO;

void log_setup(const char *progname, enum log_level max_level)
{
	log_prog = progname;
	log_max = max_level;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	int saved = errno;
	char line[1024];
	int n;
	va_list ap;

	if (lvl > log_max)
		return;
	n = snprintf(line, sizeof line, "%s: %s: ", log_prog, names[lvl]);
	va_start(ap, fmt);
	errno = saved;
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report */
	}
	errno = saved;
}
