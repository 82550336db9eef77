/* Growable arrays of any element type, kept as a pointer plus a count and a capacity in
 * the caller's own struct (any field names):
 *
 *   struct point_info *v = NULL;
 *   size_t n = 0, cap = 0;
 *   if (ARRAY_PUSH(v, n, cap, p) < 0) ...       // v[n++] = p, growing v as needed
 *   if (ARRAY_RESERVE(v, cap, n + k) < 0) ...   // room for k more
 *   free(v);
 *
 * Capacity doubles (at least 8 elements), so n appends cost O(n) copies whatever the
 * growth pattern; the size computation is overflow-checked. On failure (-ENOMEM) the array
 * is unchanged. The macros evaluate their array and capacity arguments more than once:
 * pass plain lvalues. */
#ifndef FERRY_ARRAY_H
#define FERRY_ARRAY_H

#include <stddef.h>

/* Make *v (capacity *cap elements of elem bytes) hold at least need elements: 0 or
 * -ENOMEM (*v and *cap unchanged). */
int array_reserve(void **v, size_t *cap, size_t need, size_t elem);

#define ARRAY_RESERVE(p, cap, need) __extension__({ \
	void *array_p_ = (p); \
	int array_r_ = array_reserve(&array_p_, &(cap), (need), sizeof(*(p))); \
	(p) = array_p_; \
	array_r_; })

#define ARRAY_PUSH(p, n, cap, x) __extension__({ \
	int array_pr_ = ARRAY_RESERVE(p, cap, (n) + 1); \
	if (array_pr_ == 0) \
		(p)[(n)++] = (x); \
	array_pr_; })

#endif
