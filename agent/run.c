/* run_command() (agent/run.h): posix_spawn in a new process group, then one poll loop
 * that feeds stdin, drains stdout and stderr, and watches the deadline. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/run.h"
#include "common/dbuf.h"
#include "common/util.h"
#include "common/banned.h"

extern char **environ;

/* environ with extra's names replaced or added; the strings are borrowed */
static char **merged_env(const char *const *extra)
{
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	while (extra && extra[k])
		k++;
	char **env = calloc(n + k + 1, sizeof(*env));
	if (!env)
		return NULL;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		bool replaced = false;
		for (size_t j = 0; j < k && !replaced; j++)
			replaced = !strncmp(extra[j], environ[i], len) && extra[j][len] == '=';
		if (!replaced)
			env[m++] = environ[i];
	}
	for (size_t j = 0; j < k; j++)
		env[m++] = (char *)(uintptr_t)extra[j];
	return env;
}

/* keep the last line of stderr seen so far: tail holds the unfinished line */
static void err_feed(struct run_result *r, char *tail, size_t *tlen, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			size_t l = *tlen;
			while (l && (tail[l - 1] == '\r' || tail[l - 1] == ' '))
				l--;
			if (l) {
				memcpy(r->err_line, tail, l);
				r->err_line[l] = '\0';
			}
			*tlen = 0;
		} else if (*tlen < RUN_ERR_TAIL - 1) {
			tail[(*tlen)++] = p[i];
		}
	}
}

struct run_io {
	int in, out, err;		/* our ends; -1 when done */
	const char *input;
	size_t input_len, input_off;
	struct dbuf out_buf;
	char tail[RUN_ERR_TAIL];
	size_t tlen;
};

/* one round of poll; 0 or -errno */
static int io_round(struct run_io *io, struct run_result *r, int timeout_ms)
{
	struct pollfd p[3] = {
		{ io->in, POLLOUT, 0 }, { io->out, POLLIN, 0 }, { io->err, POLLIN, 0 },
	};
	int n = poll(p, 3, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (io->in >= 0 && p[0].revents) {
		ssize_t w = send(io->in, io->input + io->input_off, io->input_len - io->input_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0)
			io->input_off += (size_t)w;
		if ((w < 0 && errno != EAGAIN && errno != EINTR) || io->input_off == io->input_len) {
			close(io->in);
			io->in = -1;
		}
	}
	char buf[4096];
	for (int k = 1; k < 3; k++) {
		int *fd = k == 1 ? &io->out : &io->err;
		if (*fd < 0 || !p[k].revents)
			continue;
		ssize_t got = read(*fd, buf, sizeof(buf));
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0) {
			close(*fd);
			*fd = -1;
		} else if (k == 2) {
			err_feed(r, io->tail, &io->tlen, buf, (size_t)got);
		} else if (dbuf_add(&io->out_buf, buf, (size_t)got)) {
			r->out_truncated = true;
		}
	}
	return 0;
}

static int spawn(const char *const *argv, const char *const *env_extra, int fds[3], pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char **env = merged_env(env_extra);
	if (!env)
		return -ENOMEM;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	for (int i = 0; i < 3; i++)
		posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
	int rc = posix_spawnp(pid, argv[0], &fa, &at, (char *const *)(uintptr_t)argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(env);
	return -rc;
}

/* Move fds[0..n) to 3 and up: when this process runs without stdin/stdout/stderr, a new
 * descriptor can be 0, 1 or 2, and the child's dup2 onto 0-2 would then clobber one with
 * another. 0 or -errno. */
static int above_stdio(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fds[i] > 2)
			continue;
		int nfd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (nfd < 0)
			return -errno;
		close(fds[i]);
		fds[i] = nfd;
	}
	return 0;
}

int run_command(const char *const *argv, const char *const *env_extra, const char *input,
		size_t input_len, unsigned timeout_s, size_t max_out, struct run_result *r)
{
	memset(r, 0, sizeof(*r));
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int rc = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) ||
	    pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		rc = -errno;
	int child[3] = { in[1], out[1], err[1] };	/* the command's stdin, stdout, stderr */
	int mine[3] = { in[0], out[0], err[0] };
	if (!rc)
		rc = above_stdio(child, 3);
	pid_t pid = -1;
	if (!rc)
		rc = spawn(argv, env_extra, child, &pid);
	for (int i = 0; i < 3; i++) {
		if (child[i] >= 0)
			close(child[i]);
		if (rc && mine[i] >= 0)
			close(mine[i]);
	}
	if (rc)
		return rc;
	struct run_io io = { .in = in[0], .out = out[0], .err = err[0], .input = input,
			     .input_len = input ? input_len : 0, .out_buf = DBUF_INIT(max_out + 1) };
	if (!io.input_len) {
		close(io.in);
		io.in = -1;
	}
	uint64_t deadline = timeout_s ? now_mono_ns() + (uint64_t)timeout_s * 1000000000u : 0;
	while ((io.out >= 0 || io.err >= 0) && !rc) {
		uint64_t now = now_mono_ns();
		if (deadline && now >= deadline) {
			kill(-pid, SIGKILL);
			r->timed_out = true;
			break;
		}
		int ms = deadline ? (int)MIN((deadline - now) / 1000000 + 1, 1000) : 1000;
		rc = io_round(&io, r, ms);
	}
	for (int i = 0; i < 3; i++) {
		int fd = i == 0 ? io.in : i == 1 ? io.out : io.err;
		if (fd >= 0)
			close(fd);
	}
	err_feed(r, io.tail, &io.tlen, "\n", 1);
	/* its output is closed; the command itself may still run until the deadline */
	int ws;
	pid_t w;
	while ((w = waitpid(pid, &ws, r->timed_out ? 0 : WNOHANG)) == 0 ||
	       (w < 0 && errno == EINTR)) {
		if (w == 0 && deadline && now_mono_ns() >= deadline) {
			kill(-pid, SIGKILL);
			r->timed_out = true;
		} else if (w == 0) {
			poll(NULL, 0, 10);
		}
	}
	if (r->timed_out || WIFSIGNALED(ws)) {
		r->status = -1;
		r->signal = r->timed_out ? SIGKILL : WTERMSIG(ws);
	} else {
		r->status = WEXITSTATUS(ws);
	}
	if (!rc && dbuf_add(&io.out_buf, "", 1))
		rc = -ENOMEM;
	if (rc) {
		dbuf_release(&io.out_buf);
		return rc;
	}
	r->out = (char *)io.out_buf.data;
	r->out_len = io.out_buf.len - 1;
	return 0;
}

void run_result_release(struct run_result *r)
{
	free(r->out);
	r->out = NULL;
}
