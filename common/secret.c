/* Reading secrets from files (see secret.h). The staging buffer is wiped on every path; the
 * wipe uses OpenSSL's cleanse, which the compiler cannot optimise away. */
#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/banned.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int secret_read(const char *path, bool spaces, char **out)
{
	char buf[SECRET_MAX + 1];
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, SECRET_MAX);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	char *s = buf, *end = buf + n;
	while (is_space(*s))
		s++;
	while (end > s && is_space(end[-1]))
		*--end = '\0';
	int r = 0;
	if (!*s || strpbrk(s, spaces ? "\r\n" : " \t\r\n"))
		r = -EINVAL;
	else if (!(*out = strdup(s)))
		r = -ENOMEM;
	secret_wipe(buf, sizeof buf);
	return r;
}

void secret_wipe(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}

void secret_free(char *s)
{
	if (s) {
		secret_wipe(s, strlen(s));
		free(s);
	}
}
