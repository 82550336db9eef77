/* Readiness checks: a TCP check is ready only when a line can be read (a listener that
 * accepts and says nothing is not ready, nor is a refused port); a serial check finds a
 * matching complete line, ignoring carriage returns, and not a line still being written. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/check.h"
#include "common/banned.h"

struct server {
	int fd;
	uint16_t port;
	const char *say;	/* NULL: accept and say nothing */
	pthread_t t;
};

static void *serve(void *arg)
{
	struct server *s = arg;
	int c = accept(s->fd, NULL, NULL);
	if (c >= 0) {
		if (s->say && write(c, s->say, strlen(s->say)) < 0)
			perror("write");
		else if (!s->say)
			usleep(700000);	/* longer than the check waits */
		close(c);
	}
	return NULL;
}

static void listen_local(struct server *s)
{
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->fd, 4), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&s->t, NULL, serve, s), 0);
}

static void stop(struct server *s)
{
	pthread_join(s->t, NULL);
	close(s->fd);
}

static void test_tcp(void **state)
{
	(void)state;
	char out[256];
	struct server s = { .say = "FERRY-GUEST name=db ip=10.2.0.11/24\r\n" };
	listen_local(&s);
	assert_int_equal(check_tcp_once(INADDR_LOOPBACK, s.port, 2000, out, sizeof(out)), 1);
	assert_string_equal(out, "FERRY-GUEST name=db ip=10.2.0.11/24");
	stop(&s);

	/* connected, but no line: not ready (user-mode networking accepts every connect) */
	struct server q = { .say = NULL };
	listen_local(&q);
	assert_int_equal(check_tcp_once(INADDR_LOOPBACK, q.port, 300, out, sizeof(out)), 0);
	assert_string_equal(out, "connected, but no line came");
	stop(&q);

	/* closed without a line */
	struct server e = { .say = "" };
	listen_local(&e);
	assert_int_equal(check_tcp_once(INADDR_LOOPBACK, e.port, 2000, out, sizeof(out)), 0);
	assert_string_equal(out, "closed without a line");
	stop(&e);

	/* nobody there */
	assert_int_equal(check_tcp_once(INADDR_LOOPBACK, q.port, 500, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "refused"));
}

static void test_serial(void **state)
{
	(void)state;
	char path[] = "/tmp/ferry-serial-XXXXXX", out[256];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	regex_t re;
	assert_int_equal(regcomp(&re, "^FERRY-GUEST name=web( |$)", REG_EXTENDED | REG_NOSUB), 0);
	const char *boot = "SeaBIOS\r\nbooting...\r\nFERRY-GUEST name=webserver\r\nFERRY-GUEST name=we";
	assert_int_equal(write(fd, boot, strlen(boot)), (ssize_t)strlen(boot));
	/* the matching line is still being written: not yet */
	assert_int_equal(check_serial_once(path, &re, out, sizeof(out)), 0);
	const char *rest = "b ip=10.2.0.13/24\r\n";
	assert_int_equal(write(fd, rest, strlen(rest)), (ssize_t)strlen(rest));
	assert_int_equal(check_serial_once(path, &re, out, sizeof(out)), 1);
	assert_string_equal(out, "FERRY-GUEST name=web ip=10.2.0.13/24");
	close(fd);
	unlink(path);
	/* no file yet: not started */
	assert_int_equal(check_serial_once(path, &re, out, sizeof(out)), 0);
	regfree(&re);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_serial),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
