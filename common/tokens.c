#include "common/tokens.h"

#include <string.h>

#include "common/banned.h"

size_t tokens_split(const char *text, struct token *t, size_t max)
{
	size_t n = 0;
	for (const char *p = text;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return n;
		if (n == max)
			return max + 1;
		t[n].s = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		t[n].n = (size_t)(p - t[n].s);
		n++;
	}
}

bool token_is(const struct token *t, const char *word)
{
	return t->n == strlen(word) && !memcmp(t->s, word, t->n);
}
