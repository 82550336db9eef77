#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

bool mem_is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n && i < 16; i++)
		if (b[i])
			return false;
	return n <= 16 || memcmp(b, b + 16, n - 16) == 0;
}

bool env_flag(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

uint64_t now_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t now_real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	return pwrite_full_flags(fd, buf, len, off, 0);
}

int pwrite_full_flags(int fd, const void *buf, size_t len, uint64_t off, int rwf)
{
	const char *p = buf;
	while (len) {
		struct iovec iov = { (void *)(uintptr_t)p, len };
		ssize_t n = pwritev2(fd, &iov, 1, (off_t)off, rwf);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n, len -= (size_t)n, off += (uint64_t)n;
	}
	return 0;
}

int pwrite_zeroes(int fd, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[64 << 10];
	while (len) {
		size_t n = (size_t)MIN(len, (uint64_t)sizeof zeros);
		int r = pwrite_full(fd, zeros, n, off);
		if (r < 0)
			return r;
		off += n, len -= n;
	}
	return 0;
}

int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n, len -= (size_t)n, off += (uint64_t)n;
	}
	return 0;
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n, len -= (size_t)n;
	}
	return 0;
}

int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n, len -= (size_t)n;
	}
	return 0;
}

bool name_ok_n(const char *s, size_t n)
{
	if (n == 0 || n > FERRY_NAME_MAX || (n == 1 && s[0] == '.') ||
	    (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool name_ok(const char *s)
{
	return name_ok_n(s, strnlen(s, FERRY_NAME_MAX + 1));
}

void fmt_bytes(uint64_t b, char *out, size_t n)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	size_t i = 0;
	while (v >= 1024 && i + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, units[i]);
}

int open_direct_twin(int fd, const char *path, int flags, uint32_t align, uint32_t *mem_align)
{
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) < 0 ||
	    !(sx.stx_mask & STATX_DIOALIGN) || !sx.stx_dio_offset_align ||
	    align % sx.stx_dio_offset_align || (sx.stx_dio_mem_align && align % sx.stx_dio_mem_align))
		return -1;
	struct stat a, b;
	int dfd = open(path, flags | O_DIRECT | O_CLOEXEC);
	if (dfd >= 0 && (fstat(dfd, &a) < 0 || fstat(fd, &b) < 0 || a.st_ino != b.st_ino ||
			 a.st_dev != b.st_dev || a.st_rdev != b.st_rdev)) {
		close(dfd);	/* the path names another file now */
		dfd = -1;
	}
	if (mem_align)
		*mem_align = sx.stx_dio_mem_align ? sx.stx_dio_mem_align : 1;
	return dfd;
}
