/* A line-at-a-time INI tokenizer: the syntax half of common/config.c, with no knowledge of
 * which sections or keys exist.
 *
 * Lines: `[name]`, `[name argument]`, `key = value`, comments, blank. A ';' or '#' at the
 * start of a line or preceded by whitespace starts a comment. Leading/trailing whitespace
 * (and a trailing '\r') is ignored; a UTF-8 byte order mark at the start of input is skipped.
 * Lines are at most INI_MAX_LINE bytes (without the newline); a NUL byte is an error. */
#ifndef FERRY_INI_H
#define FERRY_INI_H

#include <stddef.h>

#define INI_MAX_LINE 4096

enum ini_kind { INI_SECTION, INI_KEY };

struct ini_item {
	enum ini_kind kind;
	unsigned line;		/* 1-based */
	const char *name;	/* section name or key; never empty */
	const char *arg;	/* INI_SECTION: the argument after the name, or NULL */
	const char *value;	/* INI_KEY: the trimmed value; never empty */
};

struct ini_reader {
	const char *text;
	size_t len, pos;
	unsigned line;		/* line of the item (or error) last returned */
	char buf[INI_MAX_LINE + 1];
};

void ini_init(struct ini_reader *r, const char *text, size_t len);
/* Next item: return 1 with *it filled (its strings live in r until the next call), 0 at end
 * of input, or -1 with a reason (no FILE:LINE prefix) in err and the line in r->line. */
int ini_next(struct ini_reader *r, struct ini_item *it, char *err, size_t errlen);

#endif
