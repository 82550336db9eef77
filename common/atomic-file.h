/* Small files that must never be seen half-written (descriptors, checkpoints, state):
 * written whole under a temporary name, fsynced, renamed over the real name, and the
 * directory fsynced, so that after a crash the file holds either its old or its new
 * content, and a new name survives the crash once the call returned.
 *
 * Errors are -errno; nothing here logs. */
#ifndef FERRY_ATOMIC_FILE_H
#define FERRY_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Replace (or create) path with len bytes of buf, file mode `mode`: "PATH.tmp" is
 * written, fsynced, renamed to path, and path's directory fsynced. On failure path is
 * unchanged and the temporary file is removed. 0 or -errno. */
int atomic_file_write(const char *path, const void *buf, size_t len, mode_t mode);

/* fsync the directory that holds path (so a rename or a new name in it is durable). */
int fsync_parent_dir(const char *path);

/* Rename from over to and fsync to's directory: the last step of publishing a file written
 * and fsynced under a temporary name. 0 or -errno. */
int rename_durable(const char *from, const char *to);

#endif
