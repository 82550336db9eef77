/* Readiness checks of recovered VMs (a plan's `check`): one attempt each, the caller
 * retries until its timeout. A TCP check must READ a line: with user-mode networking the
 * hypervisor accepts any connection itself, so a connect alone proves nothing. */
#ifndef FERRY_AGENT_CHECK_H
#define FERRY_AGENT_CHECK_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

/* Connect to addr:port (host order) and read one line within timeout_ms. 1 with the line
 * (without its end) in out, 0 when not ready (why in out: refused, no line, ...). */
int check_tcp_once(uint32_t addr, uint16_t port, unsigned timeout_ms, char *out, size_t n);

/* Does a line of the file match re? 1 with the line in out, 0 when none does (yet),
 * -errno when the file cannot be read (a missing file is 0: not started yet). Carriage
 * returns are ignored. */
int check_serial_once(const char *path, const regex_t *re, char *out, size_t n);

#endif
