/* INI tokenizer (see common/ini.h). Each line is copied into the reader's fixed buffer and
 * cut up in place, so the tokenizer never allocates and a hostile file cannot make it grow:
 * the only state is one line. Quoting and escapes are deliberately not supported — values
 * are taken as written, minus surrounding whitespace and a trailing comment. */
#include "common/ini.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/banned.h"

void ini_init(struct ini_reader *r, const char *text, size_t len)
{
	r->text = text;
	r->len = len;
	r->pos = 0;
	r->line = 0;
	r->buf[0] = '\0';
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		r->pos = 3;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

static char *trim(char *s)
{
	while (is_space(*s))
		s++;
	size_t n = strlen(s);
	while (n && is_space(s[n - 1]))
		s[--n] = '\0';
	return s;
}

static void strip_comment(char *s)
{
	for (size_t i = 0; s[i]; i++) {
		if ((s[i] == ';' || s[i] == '#') && (i == 0 || is_space(s[i - 1]))) {
			s[i] = '\0';
			return;
		}
	}
}

static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!is_name_char(*s))
			return false;
	return true;
}

/* Copy the next physical line into r->buf. Return 1, 0 at end, -1 on error. */
static int read_line(struct ini_reader *r, char *err, size_t errlen)
{
	if (r->pos >= r->len)
		return 0;
	r->line++;
	const char *start = r->text + r->pos;
	size_t avail = r->len - r->pos;
	const char *nl = memchr(start, '\n', avail);
	size_t n = nl ? (size_t)(nl - start) : avail;
	r->pos += nl ? n + 1 : n;
	if (n && start[n - 1] == '\r')
		n--;
	if (n > INI_MAX_LINE) {
		snprintf(err, errlen, "line too long (more than %d bytes)", INI_MAX_LINE);
		return -1;
	}
	if (memchr(start, '\0', n)) {
		snprintf(err, errlen, "NUL byte in line");
		return -1;
	}
	memcpy(r->buf, start, n);
	r->buf[n] = '\0';
	return 1;
}

static int parse_section(char *s, struct ini_item *it, char *err, size_t errlen)
{
	size_t n = strlen(s);
	if (n < 2 || s[n - 1] != ']') {
		snprintf(err, errlen, "bad section header (expected [NAME] or [NAME ARG])");
		return -1;
	}
	s[n - 1] = '\0';
	char *inner = trim(s + 1);
	if (strpbrk(inner, "[]")) {
		snprintf(err, errlen, "bad section header (stray '[' or ']')");
		return -1;
	}
	char *name = inner, *arg = NULL;
	char *sp = name;
	while (*sp && !is_space(*sp))
		sp++;
	if (*sp) {
		*sp = '\0';
		arg = trim(sp + 1);
	}
	if (!*name) {
		snprintf(err, errlen, "bad section header (empty section name)");
		return -1;
	}
	if (!valid_name(name)) {
		snprintf(err, errlen, "bad section header (invalid section name '%s')", name);
		return -1;
	}
	it->kind = INI_SECTION;
	it->name = name;
	it->arg = arg;
	it->value = NULL;
	return 1;
}

static int parse_key(char *s, struct ini_item *it, char *err, size_t errlen)
{
	char *eq = strchr(s, '=');
	if (!eq) {
		snprintf(err, errlen, "missing '=' (expected KEY = VALUE)");
		return -1;
	}
	*eq = '\0';
	char *key = trim(s), *value = trim(eq + 1);
	if (!*key) {
		snprintf(err, errlen, "missing key before '='");
		return -1;
	}
	if (!valid_name(key)) {
		snprintf(err, errlen, "invalid key '%s'", key);
		return -1;
	}
	if (!*value) {
		snprintf(err, errlen, "empty value for '%s'", key);
		return -1;
	}
	it->kind = INI_KEY;
	it->name = key;
	it->arg = NULL;
	it->value = value;
	return 1;
}

int ini_next(struct ini_reader *r, struct ini_item *it, char *err, size_t errlen)
{
	for (;;) {
		int rc = read_line(r, err, errlen);
		if (rc <= 0)
			return rc;
		strip_comment(r->buf);
		char *s = trim(r->buf);
		if (!*s)
			continue;
		it->line = r->line;
		if (*s == '[')
			return parse_section(s, it, err, errlen);
		return parse_key(s, it, err, errlen);
	}
}
