#include "tenantd/buf.h"
#include "tenantd/util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void td_buf_init(struct td_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void td_buf_release(struct td_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void td_buf_reset(struct td_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int td_buf_reserve(struct td_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return -E2BIG;
    size_t need = b->len + extra + 1; /* room for the trailing NUL */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->max < SIZE_MAX && cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int td_buf_append(struct td_buf *b, const void *data, size_t n)
{
    int r = td_buf_reserve(b, n);
    if (r < 0)
        return r;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int td_buf_append_u64(struct td_buf *b, uint64_t v)
{
    char digits[TD_U64_DIGITS_MAX + 1];
    return td_buf_append(b, digits, td_format_u64(v, digits));
}

int td_buf_puts(struct td_buf *b, const char *s)
{
    return td_buf_append(b, s, strlen(s));
}

int td_buf_vprintf(struct td_buf *b, const char *fmt, va_list ap)
{
    /* One formatting pass when the text fits in the room there is (the usual case for a
     * buffer in use); a second, into exactly enough room, when it does not. */
    size_t room = b->data ? b->cap - b->len : 0;
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, copy);
    va_end(copy);
    if (n < 0) {
        if (b->data)
            b->data[b->len] = '\0';
        return -EINVAL;
    }
    if ((size_t)n < room) {
        if (b->len + (size_t)n > b->max) {
            b->data[b->len] = '\0';
            return -E2BIG;
        }
        b->len += (size_t)n;
        return 0;
    }
    int r = td_buf_reserve(b, (size_t)n);
    if (r < 0) {
        if (b->data)
            b->data[b->len] = '\0';
        return r;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int td_buf_printf(struct td_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = td_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

char *td_buf_steal(struct td_buf *b, size_t *ret_len)
{
    char *p = b->data;
    if (ret_len)
        *ret_len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
