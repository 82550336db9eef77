/* Unit tests of ferryd's control-socket client (common/control-client.c) against a small
 * server on a thread: the request line arrives with its newline, the answer is read to the
 * server's close; a path too long for a unix socket is refused (never truncated); no
 * server, a server that closes without a word, an answer larger than the cap and a server
 * that never answers each give their error. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/control-client.h"
#include "common/util.h"
#include "common/banned.h"

struct server {
	char path[108];
	int lfd;
	const char *answer;	/* NULL: close at once; "" : never answer (sleep) */
	size_t answer_len;
	char got[256];
	pthread_t t;
};

static void *serve(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, s->got, sizeof s->got - 1);
	s->got[n > 0 ? n : 0] = '\0';
	if (s->answer && !s->answer_len)
		sleep(3);
	else if (s->answer)
		assert_int_equal(write_full(fd, s->answer, s->answer_len), 0);
	close(fd);
	return NULL;
}

static void start(struct server *s, const char *answer, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(s->path, sizeof s->path, "/tmp/test-ctl.%d.sock", (int)getpid());
	unlink(s->path);
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(s->lfd, 1), 0);
	s->answer = answer;
	s->answer_len = len;
	assert_int_equal(pthread_create(&s->t, NULL, serve, s), 0);
}

static void stop(struct server *s)
{
	pthread_join(s->t, NULL);
	close(s->lfd);
	unlink(s->path);
}

static void test_answer(void **state)
{
	(void)state;
	struct server s;
	char *ans;
	start(&s, "line 1\nline 2\n", 14);
	assert_int_equal(control_request(s.path, "status json", 5, 1024, &ans), 0);
	stop(&s);
	assert_string_equal(s.got, "status json\n");
	assert_string_equal(ans, "line 1\nline 2\n");
	free(ans);
	assert_int_equal(control_request(s.path, "a\nb", 5, 1024, &ans), -EINVAL);
}

static void test_errors(void **state)
{
	(void)state;
	struct server s;
	char *ans, long_path[200];
	memset(long_path, 'x', sizeof long_path - 1);
	long_path[0] = '/';
	long_path[sizeof long_path - 1] = '\0';
	assert_int_equal(control_request(long_path, "status", 1, 64, &ans), -ENAMETOOLONG);
	assert_null(ans);
	assert_int_equal(control_request("/tmp/no-such-ferryd.sock", "status", 1, 64, &ans),
			 -ENOENT);
	start(&s, NULL, 0);	/* closes without a word */
	assert_int_equal(control_request(s.path, "status", 5, 64, &ans), -EPROTO);
	stop(&s);
	start(&s, "0123456789", 10);	/* more than max */
	assert_int_equal(control_request(s.path, "status", 5, 4, &ans), -EMSGSIZE);
	stop(&s);
	start(&s, "", 0);	/* never answers */
	assert_int_equal(control_request(s.path, "point dom", 1, 64, &ans), -ETIMEDOUT);
	stop(&s);
	/* each failure in words */
	assert_non_null(strstr(control_strerror(-ENOENT), "is ferryd running?"));
	assert_non_null(strstr(control_strerror(-ECONNREFUSED), "is ferryd running?"));
	assert_non_null(strstr(control_strerror(-EPROTO), "without answering"));
	assert_non_null(strstr(control_strerror(-ENAMETOOLONG), "107 bytes"));
	assert_non_null(strstr(control_strerror(-ETIMEDOUT), "timed out"));
	assert_string_equal(control_strerror(-EACCES), strerror(EACCES));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
