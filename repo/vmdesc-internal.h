/* Private interfaces of the VM set objects (repo/vmdesc.c; the public contract is
 * repo/vmdesc.h, the byte layout docs/repo-format.md section 14).
 *
 *   domains/<d>/vms/<time_ns:020>   one metadata blob per stored set (FVMS, version 1)
 *
 * A set names the time of the set it replaced (prev), so verify can tell a set that prune
 * must not have deleted (a point lies between it and its successor) from one that was
 * rightly pruned. */
#ifndef FERRY_VMDESC_INTERNAL_H
#define FERRY_VMDESC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/dbuf.h"
#include "repo/repo.h"
#include "repo/vmdesc.h"

#define VMSET_VERSION 1
#define VMSET_MAX_VMS 4096
#define VMSET_MAX_LEN (8u << 20)	/* a plaintext larger than this is corrupt */
#define VMSET_KEY_DIGITS 20

/* The plaintext of s (its time_ns, and prev_ns: the replaced set's time or 0). -EINVAL if
 * s breaks a rule the decoder checks; -ENOMEM/-ENOBUFS. */
int vmset_encode(const struct vm_set *s, uint64_t prev_ns, struct dbuf *out);
/* Decode and check (docs/repo-format.md section 14): 0 with *s filled (release it),
 * -EBADMSG (corrupt), -EPROTO (a newer version), -ENOMEM. */
int vmset_decode(const void *buf, size_t len, struct vm_set *s, uint64_t *prev_ns);
/* Equal VMs (names, disks, NICs, sizes; the domain and times are not compared). */
bool vmset_equal(const struct vm_set *a, const struct vm_set *b);

void vmset_key(const char *domain, uint64_t time_ns, char *key, size_t keylen);
/* domains/<d>/vms/<20 digits> -> d (REPO_NAME_MAX + 1 bytes), time. */
bool vmset_parse_key(const char *key, char *domain, uint64_t *time_ns);
/* The times of a domain's stored sets, ascending (*times malloc'd, NULL when n is 0). */
int vmset_list(struct repo *r, const char *domain, uint64_t **times, size_t *n);

/* Pure: which of the sets (times[0..n) ascending) to keep for the points (point_ns[0..np),
 * any order): the newest set at or before each point, the set after that one (its prev
 * names the needed set, so verify notices if the needed set goes missing), and the newest
 * set (the one the next point will use). keep[i] set for those. */
void vmset_select(const uint64_t *times, size_t n, const uint64_t *point_ns, size_t np,
		  bool *keep);

/* Verify every set object of the repository: it decodes, names its own domain and time,
 * and no point needs a set that is gone (a point between a missing prev and its
 * successor). fn per problem; the number of problems, or -errno. */
int vmset_verify(struct repo *r, repo_report_fn *fn, void *arg);

#endif
