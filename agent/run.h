/* Running an operator's command (the script driver): arguments, extra environment, input
 * on stdin, stdout captured up to a cap, the end of stderr kept for the error message, and
 * a deadline after which the command and everything it started are killed.
 *
 * The command runs in a process group of its own, so the kill at the deadline reaches the
 * children a shell script started too. Its stdin is one end of a socket pair (written with
 * MSG_NOSIGNAL: a command that exits without reading its input cannot SIGPIPE the agent).
 * Nothing here logs. */
#ifndef FERRY_RUN_H
#define FERRY_RUN_H

#include <stdbool.h>
#include <stddef.h>

#define RUN_ERR_TAIL 512

struct run_result {
	int status;		/* exit code 0..255, or -1 when killed by a signal */
	int signal;		/* the signal, when status == -1 */
	bool timed_out;		/* killed at the deadline */
	bool out_truncated;	/* stdout was longer than max_out (the rest was read, dropped) */
	char *out;		/* stdout, NUL-terminated, malloc'd (run_result_release) */
	size_t out_len;
	char err_line[RUN_ERR_TAIL];	/* the last non-empty line of stderr, or "" */
};

/* Run argv[0] (a path, or a name looked up in PATH) with argv; env_extra ("NAME=VALUE",
 * NULL-terminated, may be NULL) added to this process's environment (replacing the same
 * names). 0 when the command ran (whatever its exit status: see r), or -errno when it
 * could not be started (-ENOENT no such command, ...). timeout_s 0: no deadline. */
int run_command(const char *const *argv, const char *const *env_extra, const char *input,
		size_t input_len, unsigned timeout_s, size_t max_out, struct run_result *r);
void run_result_release(struct run_result *r);

#endif
