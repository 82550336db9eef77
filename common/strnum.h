/* Numbers in text: decimal and hexadecimal, the one set every parser and formatter uses.
 * Pure functions; nothing allocates. */
#ifndef FERRY_STRNUM_H
#define FERRY_STRNUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exactly n bytes of decimal digits (no sign, no blanks; 1 to 20 digits) that fit 64
 * bits: true and *out set. */
bool parse_u64(const char *s, size_t n, uint64_t *out);
/* The same for a NUL-terminated string. */
bool parse_u64_str(const char *s, uint64_t *out);

/* n bytes as 2n lowercase hex digits and a NUL (out holds 2n + 1 bytes). */
void hex_encode(const void *in, size_t n, char *out);
/* 2n hex digits (either case) into n bytes: 0, or -EINVAL (out then undefined). Reading
 * stops at the first byte that is not a hex digit, so a shorter NUL-terminated string is
 * safe to pass. */
int hex_decode(const char *in, size_t n, void *out);
/* The value of one hex digit (either case), or -1. */
int hex_digit(char c);

#endif
