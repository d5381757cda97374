/* Capped, length-carrying byte buffers (after curl's dynbuf).
 *
 * Invariants: `data` is NULL or points to `cap` bytes; `len <= cap`; when data is not NULL
 * data[len] is a NUL byte (so text can be used as a C string); the buffer never grows past
 * `max` bytes of content. Appending past `max` fails with -E2BIG and leaves the buffer as it was.
 */
#ifndef TENANTD_BUF_H
#define TENANTD_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct td_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

#define TD_BUF_INIT(maxlen)                                                                        \
    {                                                                                              \
        .data = NULL, .len = 0, .cap = 0, .max = (maxlen)                                          \
    }

void td_buf_init(struct td_buf *b, size_t max);
/* Free the contents; the buffer can be reused (empty, same max). */
void td_buf_release(struct td_buf *b);
/* Make room for `extra` more bytes of content. */
int td_buf_reserve(struct td_buf *b, size_t extra);
int td_buf_append(struct td_buf *b, const void *data, size_t n);
int td_buf_puts(struct td_buf *b, const char *s);
/* The decimal digits of v (no printf on hot paths). */
int td_buf_append_u64(struct td_buf *b, uint64_t v);
int td_buf_printf(struct td_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int td_buf_vprintf(struct td_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Take the bytes out; the buffer is left empty. Returns NULL for an empty buffer. */
char *td_buf_steal(struct td_buf *b, size_t *ret_len);
void td_buf_reset(struct td_buf *b);

static inline void td_buf_releasep(struct td_buf *b)
{
    td_buf_release(b);
}
#define _cleanup_buf_ __attribute__((cleanup(td_buf_releasep)))

#endif
