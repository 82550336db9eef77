/* Logging to stderr for daemons and tools.
 *
 * Convention (docs/style.md "Errors"): I/O helpers and libraries return -errno and never
 * log; daemon code reports at the failure site with log_error() (glibc printf understands
 * %m), then returns -1. Only main() exits. Secrets are never passed to these functions. */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Program name shown in each line, and the most verbose level printed (default INFO). */
void log_setup(const char *progname, enum log_level max_level);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
