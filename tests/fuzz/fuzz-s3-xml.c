/* Fuzz target for the S3 answer reader (repo/s3-xml.c): the input is taken as a
 * ListObjectsV2 page and as an <Error> body. Whatever the bytes, the parser must stay inside
 * them, hand out only NUL-terminated keys of at most 1024 bytes without NULs, and report a
 * truncated page only with a non-empty continuation token. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/s3-xml.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int entry(void *arg, const char *key, uint64_t size)
{
	(void)size;
	size_t n = strlen(key);
	if (n > 1024)
		abort();
	(*(unsigned *)arg)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a private copy without a terminator, so reading past the end is caught by ASan */
	char *doc = malloc(size ? size : 1);
	if (!doc)
		return 0;
	memcpy(doc, data, size);
	char token[1024], code[64];
	bool truncated;
	unsigned n = 0;
	int r = s3_xml_list_page(doc, size, entry, &n, &truncated, token, sizeof(token));
	if (r == 0 && truncated && !token[0])
		abort();
	if (s3_xml_get(doc, size, "Code", code, sizeof(code)) == 0 && strlen(code) >= sizeof(code))
		abort();
	free(doc);
	return 0;
}
