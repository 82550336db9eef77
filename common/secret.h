/* Secrets (S3 keys, SNMP communities and passphrases) come from files, never from the
 * command line, and are never logged. This reads one, and wipes it when done. */
#ifndef FERRY_SECRET_H
#define FERRY_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SECRET_MAX 256	/* bytes read from a secret file at most */

/* Read the secret in path: the file's first SECRET_MAX bytes with surrounding whitespace
 * removed. A key (spaces = false) is one word; a passphrase (spaces = true) may contain
 * spaces and tabs but no line break. Return 0 with *out malloc'd (free with secret_free), or
 * -errno: the open/read error, -EINVAL when empty or not of that shape. */
int secret_read(const char *path, bool spaces, char **out);
/* Overwrite s with zeroes, then free it. NULL is fine. */
void secret_free(char *s);
/* Overwrite n bytes at p with zeroes (the compiler may not drop it). */
void secret_wipe(void *p, size_t n);

#endif
