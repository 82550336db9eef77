/* Small helpers shared by every component: endian load/store for wire and disk formats,
 * scoped cleanup, array sizes. Everything here is header-only and has no state. */
#ifndef FERRY_UTIL_H
#define FERRY_UTIL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ROUND_UP(x, a) ((((x) + (a) - 1) / (a)) * (a))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define UNUSED __attribute__((unused))

/* Free on scope exit: CLEANUP_FREE char *p = malloc(...); */
static inline void cleanup_free(void *p) { free(*(void **)p); }
#define CLEANUP_FREE __attribute__((cleanup(cleanup_free)))
static inline void cleanup_close(int *fd) { if (*fd >= 0) close(*fd); }
#define CLEANUP_CLOSE __attribute__((cleanup(cleanup_close)))

/* Big-endian (network order: NBD) */
static inline void put_be16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static inline void put_be32(uint8_t *p, uint32_t v) { put_be16(p, v >> 16); put_be16(p + 2, (uint16_t)v); }
static inline void put_be64(uint8_t *p, uint64_t v) { put_be32(p, v >> 32); put_be32(p + 4, (uint32_t)v); }
static inline uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get_be32(const uint8_t *p) { return (uint32_t)get_be16(p) << 16 | get_be16(p + 2); }
static inline uint64_t get_be64(const uint8_t *p) { return (uint64_t)get_be32(p) << 32 | get_be32(p + 4); }

/* Little-endian (ferry's own on-disk formats, VMDK) */
static inline void put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = v >> 8; }
static inline void put_le32(uint8_t *p, uint32_t v) { put_le16(p, (uint16_t)v); put_le16(p + 2, v >> 16); }
static inline void put_le64(uint8_t *p, uint64_t v) { put_le32(p, (uint32_t)v); put_le32(p + 4, v >> 32); }
static inline uint16_t get_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t get_le32(const uint8_t *p) { return get_le16(p) | (uint32_t)get_le16(p + 2) << 16; }
static inline uint64_t get_le64(const uint8_t *p) { return get_le32(p) | (uint64_t)get_le32(p + 4) << 32; }

/* True if all n bytes at p are zero (fast: one memcmp against itself after 16 bytes). */
bool mem_is_zero(const void *p, size_t n);
/* The value of one hex digit (either case), or -1. */
static inline int hex_nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The names ferry gives things (domains, exports, VMs, networks, receivers...): 1 to
 * FERRY_NAME_MAX bytes of A-Z a-z 0-9 . _ -, and not "." or ".." (so a name is always a
 * safe path component and object-key component). name_ok_n: exactly n bytes at s. */
#define FERRY_NAME_MAX 63
bool name_ok(const char *s);
bool name_ok_n(const char *s, size_t n);

/* An on/off switch from the environment: set, non-empty and not "0" means on. */
bool env_flag(const char *name);

/* A byte count for people: "512 B", "64.0 MiB", "1.5 GiB" (powers of 1024). */
void fmt_bytes(uint64_t b, char *out, size_t n);

/* Monotonic and wall clocks in nanoseconds. */
uint64_t now_mono_ns(void);
uint64_t now_real_ns(void);

/* Write/read the whole buffer with pwrite/pread, retrying short transfers and EINTR.
 * Return 0, or -errno (a read past EOF returns -EIO). */
int pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
/* pwrite_full with pwritev2 flags (RWF_DSYNC: exactly these bytes are durable on return). */
int pwrite_full_flags(int fd, const void *buf, size_t len, uint64_t off, int rwf);
int pread_full(int fd, void *buf, size_t len, uint64_t off);
/* Same for a stream socket/pipe. Return 0, or -errno; -ECONNRESET on EOF while reading. */
int write_full(int fd, const void *buf, size_t len);
int read_full(int fd, void *buf, size_t len);
/* Write len zero bytes at off (pwrite of a static zero block; for where punching a hole or
 * a device's write-zeroes is refused). 0 or -errno. */
int pwrite_zeroes(int fd, uint64_t off, uint64_t len);

/* A second descriptor, opened with O_DIRECT and flags (O_WRONLY or O_RDWR), on the file that
 * fd has open at path: only where the kernel reports direct I/O alignment (statx
 * STATX_DIOALIGN) that offsets, lengths and memory aligned to `align` bytes satisfy, and
 * only if path still names that file. Return the descriptor, or -1 (then do buffered I/O);
 * *mem_align (if not NULL) gets the memory alignment the kernel asks for. */
int open_direct_twin(int fd, const char *path, int flags, uint32_t align, uint32_t *mem_align);

#endif
