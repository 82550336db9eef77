/* The little XML that an S3 client must read: ListObjectsV2 pages and <Error> bodies.
 *
 * Not a general XML parser: elements are found by their exact local name ("<Key>",
 * "<Key attr=...>", "<Key/>"), which is safe for S3 answers because every text value is
 * escaped (a '<' inside a key arrives as "&lt;"), and namespaces differ between servers
 * anyway. Values are entity-decoded (&amp; &lt; &gt; &quot; &apos; &#N; &#xH;); a value
 * with a malformed entity, a NUL, or too long for the caller's buffer is an error, never
 * a truncated or mangled name. Pure functions, no allocation except where stated. */
#ifndef FERRY_S3_XML_H
#define FERRY_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Find the next element `name` in doc[*pos, len): on success point *val and *vlen at its raw
 * content, move *pos past its end tag, and return 1; return 0 if there is none (or it is
 * not closed). */
int s3_xml_next(const char *doc, size_t len, size_t *pos, const char *name, const char **val,
		size_t *vlen);
/* Decode entities of raw[0, rlen) into out (NUL-terminated). 0, or -EINVAL (bad entity,
 * NUL, non-ASCII character reference) or -ENAMETOOLONG (does not fit in outlen). */
int s3_xml_decode(const char *raw, size_t rlen, char *out, size_t outlen);
/* Find and decode the first element `name` (anywhere in doc). 0, -ENOENT or as above. */
int s3_xml_get(const char *doc, size_t len, const char *name, char *out, size_t outlen);

/* One ListObjectsV2 page. fn is called for each <Contents> entry in document order with its
 * decoded key (at most 1024 bytes) and size; its non-zero return stops the parse and is
 * returned. The page's <IsTruncated> lands in *truncated and <NextContinuationToken> (decoded,
 * empty if none) in token. Returns 0, or -EBADMSG for an entry without a valid Key or Size
 * or a truncated page without a token, or fn's value. */
typedef int s3_xml_entry_fn(void *arg, const char *key, uint64_t size);
int s3_xml_list_page(const char *doc, size_t len, s3_xml_entry_fn *fn, void *arg,
		     bool *truncated, char *token, size_t tokenlen);

#endif
