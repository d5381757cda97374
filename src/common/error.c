#include "tenantd/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void err_fill(struct td_err *err, int status, const char *type, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void err_fill(struct td_err *err, int status, const char *type, const char *fmt, va_list ap)
{
    if (!err)
        return;
    err->status = status;
    snprintf(err->type, sizeof(err->type), "%s", type);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

int td_err_set(struct td_err *err, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_fill(err, status, type, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int td_err_setc(struct td_err *err, int code, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_fill(err, status, type, fmt, ap);
    va_end(ap);
    return code < 0 ? code : -EINVAL;
}

void td_err_clear(struct td_err *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}
