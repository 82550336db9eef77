/* Numbers in text (contract in strnum.h). */
#include "common/strnum.h"

#include <errno.h>
#include <string.h>

#include "common/banned.h"

bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool parse_u64_str(const char *s, uint64_t *out)
{
	return parse_u64(s, strlen(s), out);
}

void hex_encode(const void *in, size_t n, char *out)
{
	static const char dig[] = "0123456789abcdef";
	const unsigned char *b = in;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = dig[b[i] >> 4];
		out[2 * i + 1] = dig[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *in, size_t n, void *out)
{
	unsigned char *b = out;
	for (size_t i = 0; i < n; i++) {
		/* the second digit is only read after the first: a string that ends early is
		 * never read past its NUL */
		int hi = hex_digit(in[2 * i]), lo = hi < 0 ? -1 : hex_digit(in[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}
