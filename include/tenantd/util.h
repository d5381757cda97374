/* Small helpers shared by every component: encodings, hashing, ids, time, strict numbers. */
#ifndef TENANTD_UTIL_H
#define TENANTD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tenantd/buf.h"

#define TD_SHA256_LEN     32
#define TD_SHA256_HEX_LEN 64
#define TD_UUID_LEN       36

/* Standard base64 with padding, appended to out. */
int td_base64_encode(const void *data, size_t len, struct td_buf *out);
/* Strict standard base64 (padding required, no whitespace); appended to out. -EINVAL if bad. */
int td_base64_decode(const char *text, size_t len, struct td_buf *out);

void td_sha256(const void *data, size_t len, uint8_t out[TD_SHA256_LEN]);
/* The value of a hex digit (either case), or -1. */
int td_hex_value(char c);
/* Lower-case hex; out must hold 2 * len + 1 bytes. */
void td_hex(const uint8_t *data, size_t len, char *out);

/* Random (version 4) UUID, lower case, NUL-terminated. */
int td_uuid4(char out[TD_UUID_LEN + 1]);
/* Fill buf with random bytes from the kernel. */
int td_random(void *buf, size_t len);
/* Random bytes for identifiers, from a buffered pool (see util.c); never for secrets. */
/* BSD strlcpy/strlcat: copy or append within size bytes (always NUL-terminated when size > 0);
 * return the length the full result would have had, so truncation is `ret >= size`. */
size_t td_strlcpy(char *dst, const char *src, size_t size);
/* The decimal digits of v, NUL-terminated, without printf (hot paths); returns their count. */
#define TD_U64_DIGITS_MAX 20
size_t td_format_u64(uint64_t v, char out[TD_U64_DIGITS_MAX + 1]);
size_t td_strlcat(char *dst, const char *src, size_t size);
int td_random_id_bytes(void *buf, size_t len);

/* Monotonic and wall clocks, in milliseconds and microseconds. */
int64_t td_mono_ms(void);
int64_t td_mono_us(void);
int64_t td_wall_ms(void);

/* "2024-01-01T00:00:00.000+0000" (Lambda's LastModified format); out holds 29 bytes. */
void td_format_lambda_time(int64_t wall_ms, char out[29]);
/* "2026-11-26T10:00:49.726Z"; out holds 25 bytes. */
void td_format_iso_ms(int64_t wall_ms, char out[25]);

/* Parse a whole string as a decimal integer within [min, max]. -EINVAL otherwise. */
int td_parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);

/* Constant-time comparison of two equal-length byte strings. */
bool td_const_eq(const void *a, const void *b, size_t len);

/* Write all of data to fd, retrying on EINTR and short writes. */
int td_write_all(int fd, const void *data, size_t len);
/* Write a file atomically (temp file + rename) with the given mode. */
int td_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);

#endif
