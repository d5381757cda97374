/* tdrt: the C runtime client library for `provided.al2023` / `provided.al2` functions.
 *
 * It speaks the Lambda Runtime API 2018-06-01 at http://$AWS_LAMBDA_RUNTIME_API/2018-06-01,
 * so a function built with it runs on tenantd and on AWS Lambda alike. It is independent of
 * the tenantd daemon: it needs only jansson (and llhttp, compiled into the library).
 *
 *   static int handler(const struct tdrt_context *ctx, const char *event, size_t event_len,
 *                      struct tdrt_response *resp, void *userdata)
 *   {
 *       return tdrt_response_set(resp, event, event_len, "application/json");
 *   }
 *
 *   int main(void)
 *   {
 *       return tdrt_run(handler, NULL) < 0 ? 1 : 0;
 *   }
 *
 * Errors follow the project convention: an int >= 0 is success, a negative errno a failure.
 * The library is single-threaded: call it from one thread only.
 */
#ifndef TDRT_H
#define TDRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest event body tdrt accepts from GET /next (a synchronous invoke is at most 6 MB). */
#define TDRT_EVENT_MAX ((size_t)32 * 1024 * 1024)
/* Error messages longer than this are cut (at a UTF-8 character boundary). */
#define TDRT_ERROR_MESSAGE_MAX ((size_t)64 * 1024)
/* Longest error type and content type accepted. */
#define TDRT_ERROR_TYPE_MAX   128
#define TDRT_CONTENT_TYPE_MAX 255

/* What the Runtime API said about the current invocation. Valid only during the handler
 * call. request_id and invoked_function_arn are never NULL (the ARN is "" if the server sent
 * none); the other strings are NULL when the server did not send the header (or sent it
 * empty). client_context and cognito_identity are the raw JSON texts. */
struct tdrt_context {
    const char *request_id;
    int64_t deadline_ms; /* Unix epoch in milliseconds; 0 when unknown */
    const char *invoked_function_arn;
    const char *tenant_id; /* NULL when the invocation has no tenant */
    const char *trace_id;  /* also exported as _X_AMZN_TRACE_ID (unset when NULL) */
    const char *client_context;
    const char *cognito_identity;
};

/* The handler's answer, owned by the library; the handler fills it. */
struct tdrt_response;

/* Answer with a copy of `len` bytes of `data` (any bytes). content_type NULL means
 * "application/json". -EINVAL for a content type with control characters or longer than
 * TDRT_CONTENT_TYPE_MAX, -ENOMEM. Replaces any earlier answer. */
int tdrt_response_set(struct tdrt_response *r, const void *data, size_t len,
                      const char *content_type);

/* Answer with a function error: POST .../error with errorType `error_type` (NULL means
 * "HandlerError") and a printf-formatted errorMessage. The type must be printable ASCII
 * without spaces, at most TDRT_ERROR_TYPE_MAX bytes (else -EINVAL). Replaces any earlier
 * answer. */
int tdrt_response_error(struct tdrt_response *r, const char *error_type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The handler. Return >= 0 to post what it put in `resp` (an empty application/json body
 * when it set nothing), or a negative errno to post an error: the one set with
 * tdrt_response_error(), or errorType "HandlerError" with strerror's text. `event` is the raw
 * payload (any bytes), followed by a NUL that is not counted in event_len; it and `ctx` are
 * valid only during the call. */
typedef int (*tdrt_handler_fn)(const struct tdrt_context *ctx, const char *event, size_t event_len,
                               struct tdrt_response *resp, void *userdata);

/* Serve invocations until the Runtime API goes away: a connection failure, any non-200
 * answer to GET /next, or a 5xx answer to a POST. Then it returns a negative errno (it never
 * returns success). A 4xx answer to a POST (for example 413 for a response over the payload
 * limit) is reported on stderr and the loop goes on. */
int tdrt_run(tdrt_handler_fn handler, void *userdata);

/* Report a failed initialisation: POST /runtime/init/error. Call it before tdrt_run() and
 * then exit non-zero. error_type NULL means "Runtime.InitError". Returns 0 when the server
 * accepted it (202), a negative errno otherwise. */
int tdrt_init_error(const char *error_type, const char *message);

/* Milliseconds left before the invocation's deadline (never negative; INT64_MAX when the
 * deadline is unknown). */
int64_t tdrt_remaining_ms(const struct tdrt_context *ctx);

#ifdef __cplusplus
}
#endif

#endif
