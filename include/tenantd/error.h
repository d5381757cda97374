/* The one error convention of tenantd.
 *
 * Every fallible function returns an int: >= 0 on success, a negative errno on failure.
 * Functions that judge untrusted input also take a `struct td_err *` and, on failure,
 * fill it with what the client must see: an HTTP status, an AWS error type
 * ("ResourceNotFoundException") and a message. td_err_set() returns a negative code so
 * that `return td_err_set(err, 404, "ResourceNotFoundException", "...")` does both jobs.
 */
#ifndef TENANTD_ERROR_H
#define TENANTD_ERROR_H

#include <stdarg.h>

#define TD_ERR_TYPE_MAX 64
#define TD_ERR_MSG_MAX  1024

struct td_err {
    int status;                 /* HTTP status code, 0 when no error was set */
    char type[TD_ERR_TYPE_MAX]; /* AWS error type */
    char message[TD_ERR_MSG_MAX];
};

/* Fill err (if not NULL) and return -EINVAL. */
int td_err_set(struct td_err *err, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The same with an explicit negative return code. */
int td_err_setc(struct td_err *err, int code, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

void td_err_clear(struct td_err *err);

/* Shorthands for the errors most handlers produce. */
#define td_err_invalid(err, ...)   td_err_set(err, 400, "InvalidParameterValueException", __VA_ARGS__)
#define td_err_not_found(err, ...) td_err_set(err, 404, "ResourceNotFoundException", __VA_ARGS__)
#define td_err_conflict(err, ...)  td_err_set(err, 409, "ResourceConflictException", __VA_ARGS__)
#define td_err_internal(err, ...)  td_err_set(err, 500, "ServiceException", __VA_ARGS__)

#endif
