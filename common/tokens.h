/* Blank-separated words of a one-line text (a config value, a rule): pure, no copies. */
#ifndef FERRY_TOKENS_H
#define FERRY_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

struct token {
	const char *s;
	size_t n;
};

/* Split text at spaces and tabs into t[0..max): the count, or max + 1 when there are more
 * (t holds the first max then). */
size_t tokens_split(const char *text, struct token *t, size_t max);
/* Is the token exactly word? */
bool token_is(const struct token *t, const char *word);

#endif
