/* tdrt: the C runtime client for the Lambda Runtime API 2018-06-01 (see tdrt.h).
 *
 * One libcurl easy handle is kept for the life of the process, so every request reuses the
 * same keep-alive connection. GET /next is a long poll and has no timeout. Any transport
 * failure, any non-200 answer to /next and any 5xx answer to a POST means that the
 * environment is going away: tdrt_run() then returns instead of retrying.
 *
 * This file runs inside the function's sandbox as the function's own process: it must not
 * use the daemon's libraries (only header-only helpers from include/tenantd/).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, vasprintf */
#endif
#include "tdrt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "tenantd/cleanup.h"

#define TDRT_API_VERSION      "2018-06-01"
#define TDRT_USER_AGENT       "tdrt/0.1 (tenantd C runtime)"
#define TDRT_HOST_MAX         255
#define TDRT_DIAG_BODY_MAX    ((size_t)4096) /* how much of a POST's answer is kept for logs */
#define TDRT_DEFAULT_CTYPE    "application/json"
#define TDRT_HANDLER_ERROR    "HandlerError"
#define TDRT_INIT_ERROR       "Runtime.InitError"
#define TDRT_EVENT_TOO_LARGE  "Runtime.EventTooLarge"
#define TDRT_CONNECT_TIMEOUT  10L /* seconds; connecting only, never the long poll itself */
#define TDRT_RECV_BUFFER_SIZE (256L * 1024)

/* ---------------------------------------------------------------------------------------- */
/* small helpers */

static void tdrt_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tdrt_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tdrt: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
}

static void curl_slist_freep(struct curl_slist **l)
{
    curl_slist_free_all(*l);
}
#define _cleanup_slist_ _cleanup_(curl_slist_freep)

static void curl_freep(char **p)
{
    curl_free(*p);
}
#define _cleanup_curl_free_ _cleanup_(curl_freep)

/* A capped, NUL-terminated byte buffer (the same invariants as struct td_buf). */
struct rbuf {
    char *data;
    size_t len;
    size_t cap; /* allocated bytes, including room for the NUL */
    size_t max; /* most content bytes allowed */
    bool overflow;
};

static void rbuf_release(struct rbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->overflow = false;
}

static int rbuf_reserve(struct rbuf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return -E2BIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    /* Double (amortised appends), but never less than asked for: a reserve made from a
     * Content-Length allocates exactly that. */
    size_t ncap = b->cap <= SIZE_MAX / 2 ? b->cap * 2 : need;
    if (ncap < need)
        ncap = need;
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    char *p = realloc(b->data, ncap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = ncap;
    return 0;
}

static int rbuf_append(struct rbuf *b, const void *data, size_t n)
{
    int r = rbuf_reserve(b, n);
    if (r < 0)
        return r;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* Printable ASCII without spaces: safe as an HTTP header value and as a JSON string. */
static bool valid_token(const char *s, size_t max)
{
    size_t n = 0;
    if (!s || !*s)
        return false;
    for (; *s; s++, n++)
        if (n >= max || (unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* A header value: no control characters (so no CR/LF injection). */
static bool valid_header_value(const char *s, size_t max)
{
    size_t n = 0;
    for (; *s; s++, n++)
        if (n >= max || (unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return false;
    return true;
}

/* Cut a string to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t cut = max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

/* A JSON string from arbitrary bytes: invalid UTF-8 bytes become '?'. */
static json_t *json_bytes(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    if (j)
        return j;
    _cleanup_free_ char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < len; i++)
        copy[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
    copy[len] = '\0';
    return json_stringn(copy, len);
}

/* {"errorMessage":..,"errorType":..,"stackTrace":[]} */
static char *error_body(const char *type, const char *msg, size_t msg_len)
{
    json_auto_t *o = json_object();
    if (!o)
        return NULL;
    if (json_object_set_new(o, "errorMessage", json_bytes(msg, msg_len)) < 0 ||
        json_object_set_new(o, "errorType", json_string(type)) < 0 ||
        json_object_set_new(o, "stackTrace", json_array()) < 0)
        return NULL;
    return json_dumps(o, JSON_COMPACT);
}

/* ---------------------------------------------------------------------------------------- */
/* the connection to the Runtime API */

struct tdrt_state {
    CURL *curl;
    bool global_init;
    bool running;
    char base[sizeof("http://") + TDRT_HOST_MAX + sizeof("/" TDRT_API_VERSION)];
    char errbuf[CURL_ERROR_SIZE];
};

static struct tdrt_state state;

static void state_close(struct tdrt_state *s)
{
    if (s->curl)
        curl_easy_cleanup(s->curl);
    s->curl = NULL;
    if (s->global_init)
        curl_global_cleanup();
    s->global_init = false;
}

static int state_open(struct tdrt_state *s)
{
    if (s->curl)
        return 0;

    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api || !*api) {
        tdrt_log("AWS_LAMBDA_RUNTIME_API is not set");
        return -EINVAL;
    }
    if (!valid_token(api, TDRT_HOST_MAX) || strchr(api, '/') || strchr(api, '?') ||
        strchr(api, '#') || strchr(api, '@')) {
        tdrt_log("AWS_LAMBDA_RUNTIME_API is not a host:port");
        return -EINVAL;
    }
    (void)snprintf(s->base, sizeof(s->base), "http://%s/" TDRT_API_VERSION, api);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        tdrt_log("curl_global_init failed");
        return -ENOMEM;
    }
    s->global_init = true;
    s->curl = curl_easy_init();
    if (!s->curl) {
        state_close(s);
        return -ENOMEM;
    }
    return 0;
}

#define SETOPT(c, opt, val)                                                                        \
    do {                                                                                           \
        if (curl_easy_setopt((c), (opt), (val)) != CURLE_OK)                                       \
            return -EINVAL;                                                                        \
    } while (0)

/* Reset the handle (keeping its live connection) and set what every request shares. */
static int prepare(struct tdrt_state *s, const char *url, struct curl_slist *headers)
{
    CURL *c = s->curl;
    curl_easy_reset(c);
    s->errbuf[0] = '\0';
    SETOPT(c, CURLOPT_URL, url);
    SETOPT(c, CURLOPT_ERRORBUFFER, s->errbuf);
    SETOPT(c, CURLOPT_NOSIGNAL, 1L);
    SETOPT(c, CURLOPT_NOPROXY, "*"); /* never send the Runtime API through a proxy */
    SETOPT(c, CURLOPT_PROTOCOLS_STR, "http");
    SETOPT(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SETOPT(c, CURLOPT_USERAGENT, TDRT_USER_AGENT);
    SETOPT(c, CURLOPT_CONNECTTIMEOUT, TDRT_CONNECT_TIMEOUT);
    SETOPT(c, CURLOPT_HTTPHEADER, headers);
    return 0;
}

static int curl_failure(struct tdrt_state *s, const char *what, CURLcode rc)
{
    tdrt_log("%s: %s", what, s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return -ECONNRESET;
    default:
        return -EIO;
    }
}

/* Keep the first TDRT_DIAG_BODY_MAX bytes of an answer, drop the rest. */
static size_t diag_write_cb(char *ptr, size_t size, size_t n, void *userdata)
{
    struct rbuf *b = userdata;
    size_t len = size * n;
    size_t room = b->max - b->len;
    (void)rbuf_append(b, ptr, len < room ? len : room);
    return len;
}

/* POST body to base + path. Returns the HTTP status, or a negative errno when the request
 * could not be made (connection failure). */
static int post(struct tdrt_state *s, const char *path, const void *body, size_t len,
                const char *content_type, const char *error_type)
{
    _cleanup_free_ char *url = NULL;
    if (asprintf(&url, "%s%s", s->base, path) < 0)
        return -ENOMEM;

    _cleanup_free_ char *ct = NULL, *et = NULL;
    if (asprintf(&ct, "Content-Type: %s", content_type) < 0)
        return -ENOMEM;
    _cleanup_slist_ struct curl_slist *headers = NULL;
    struct curl_slist *l = curl_slist_append(NULL, ct);
    if (!l)
        return -ENOMEM;
    headers = l;
    /* No "Expect: 100-continue" round trip for large bodies. */
    if (!(l = curl_slist_append(headers, "Expect:")))
        return -ENOMEM;
    if (error_type) {
        if (asprintf(&et, "Lambda-Runtime-Function-Error-Type: %s", error_type) < 0)
            return -ENOMEM;
        if (!(l = curl_slist_append(headers, et)))
            return -ENOMEM;
    }

    int r = prepare(s, url, headers);
    if (r < 0)
        return r;
    struct rbuf answer = {.max = TDRT_DIAG_BODY_MAX};
    CURL *c = s->curl;
    SETOPT(c, CURLOPT_POST, 1L);
    SETOPT(c, CURLOPT_POSTFIELDS, len ? body : "");
    SETOPT(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    SETOPT(c, CURLOPT_WRITEFUNCTION, diag_write_cb);
    SETOPT(c, CURLOPT_WRITEDATA, &answer);

    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        rbuf_release(&answer);
        return curl_failure(s, path, rc);
    }
    long status = 0;
    (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
        tdrt_log("POST %s: HTTP %ld: %s", path, status, answer.data ? answer.data : "");
    rbuf_release(&answer);
    return (int)status;
}

/* What a POST's status means for the loop: 2xx fine, 4xx logged (by post) and ignored,
 * anything else fatal. */
static int post_verdict(int status)
{
    if (status < 0)
        return status;
    if (status >= 200 && status <= 499 && !(status >= 300 && status <= 399))
        return 0;
    return -EREMOTEIO;
}

/* ---------------------------------------------------------------------------------------- */
/* GET /runtime/invocation/next */

enum {
    H_REQUEST_ID,
    H_DEADLINE,
    H_ARN,
    H_TRACE,
    H_CLIENT_CONTEXT,
    H_COGNITO,
    H_TENANT,
    H_CONTENT_LENGTH,
    H_COUNT
};

static const char *const header_names[H_COUNT] = {
    [H_REQUEST_ID] = "Lambda-Runtime-Aws-Request-Id",
    [H_DEADLINE] = "Lambda-Runtime-Deadline-Ms",
    [H_ARN] = "Lambda-Runtime-Invoked-Function-Arn",
    [H_TRACE] = "Lambda-Runtime-Trace-Id",
    [H_CLIENT_CONTEXT] = "Lambda-Runtime-Client-Context",
    [H_COGNITO] = "Lambda-Runtime-Cognito-Identity",
    [H_TENANT] = "Lambda-Runtime-Aws-Tenant-Id",
    [H_CONTENT_LENGTH] = "Content-Length",
};

struct invocation {
    char *h[H_COUNT];
    struct rbuf event;
    bool oom;
};

static void invocation_clear_headers(struct invocation *inv)
{
    for (size_t i = 0; i < H_COUNT; i++) {
        free(inv->h[i]);
        inv->h[i] = NULL;
    }
}

static void invocation_release(struct invocation *inv)
{
    invocation_clear_headers(inv);
    rbuf_release(&inv->event);
}

/* Header lines arrive one at a time, with their CRLF. Names match case-insensitively. */
static size_t header_cb(char *buf, size_t size, size_t n, void *userdata)
{
    struct invocation *inv = userdata;
    size_t len = size * n;

    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue, say): forget what came before. */
        invocation_clear_headers(inv);
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon)
        return len;
    size_t name_len = (size_t)(colon - buf);
    const char *v = colon + 1, *end = buf + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;

    for (size_t i = 0; i < H_COUNT; i++) {
        if (strlen(header_names[i]) != name_len || strncasecmp(buf, header_names[i], name_len))
            continue;
        free(inv->h[i]);
        inv->h[i] = NULL;
        if (end == v) /* an empty value counts as absent */
            break;
        inv->h[i] = strndup(v, (size_t)(end - v));
        if (!inv->h[i]) {
            inv->oom = true;
            return 0; /* abort the transfer */
        }
        if (i == H_CONTENT_LENGTH) {
            char *e = NULL;
            errno = 0;
            unsigned long long cl = strtoull(inv->h[i], &e, 10);
            if (errno == 0 && e && *e == '\0' && cl > 0) {
                size_t want = cl < TDRT_EVENT_MAX ? (size_t)cl : TDRT_EVENT_MAX;
                if (rbuf_reserve(&inv->event, want) < 0) {
                    inv->oom = true;
                    return 0;
                }
            }
        }
        break;
    }
    return len;
}

static size_t event_write_cb(char *ptr, size_t size, size_t n, void *userdata)
{
    struct invocation *inv = userdata;
    size_t len = size * n;
    int r = rbuf_append(&inv->event, ptr, len);
    if (r == -E2BIG) {
        inv->event.overflow = true;
        return 0;
    }
    if (r < 0) {
        inv->oom = true;
        return 0;
    }
    return len;
}

/* Report an invocation the runtime could not even hand to the handler. */
static int post_invocation_error(struct tdrt_state *s, const char *request_id, const char *type,
                                 const char *msg)
{
    _cleanup_free_ char *body = error_body(type, msg, strlen(msg));
    if (!body)
        return -ENOMEM;
    _cleanup_curl_free_ char *id = curl_easy_escape(s->curl, request_id, 0);
    if (!id)
        return -ENOMEM;
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "/runtime/invocation/%s/error", id) < 0)
        return -ENOMEM;
    return post_verdict(post(s, path, body, strlen(body), "application/json", type));
}

/* Wait for the next invocation. 0 with inv filled, or a negative errno (fatal). */
static int next_invocation(struct tdrt_state *s, struct invocation *inv)
{
    for (;;) {
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s/runtime/invocation/next", s->base) < 0)
            return -ENOMEM;
        int r = prepare(s, url, NULL);
        if (r < 0)
            return r;
        CURL *c = s->curl;
        inv->event.max = TDRT_EVENT_MAX;
        SETOPT(c, CURLOPT_HTTPGET, 1L);
        SETOPT(c, CURLOPT_BUFFERSIZE, TDRT_RECV_BUFFER_SIZE);
        SETOPT(c, CURLOPT_HEADERFUNCTION, header_cb);
        SETOPT(c, CURLOPT_HEADERDATA, inv);
        SETOPT(c, CURLOPT_WRITEFUNCTION, event_write_cb);
        SETOPT(c, CURLOPT_WRITEDATA, inv);

        CURLcode rc = curl_easy_perform(c);
        if (inv->oom)
            return -ENOMEM;
        if (rc != CURLE_OK && inv->event.overflow && inv->h[H_REQUEST_ID]) {
            /* Too big to hold: fail this invocation and wait for the next one. */
            tdrt_log("invocation %s: event larger than %zu bytes", inv->h[H_REQUEST_ID],
                     TDRT_EVENT_MAX);
            r = post_invocation_error(s, inv->h[H_REQUEST_ID], TDRT_EVENT_TOO_LARGE,
                                      "event too large for the runtime");
            invocation_release(inv);
            if (r < 0)
                return r;
            continue;
        }
        if (rc != CURLE_OK)
            return curl_failure(s, "GET /runtime/invocation/next", rc);

        long status = 0;
        (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
            size_t shown =
                inv->event.len < TDRT_DIAG_BODY_MAX ? inv->event.len : TDRT_DIAG_BODY_MAX;
            tdrt_log("GET /runtime/invocation/next: HTTP %ld: %.*s", status, (int)shown,
                     inv->event.data ? inv->event.data : "");
            return status >= 500 ? -EREMOTEIO : -EPROTO;
        }
        if (!inv->h[H_REQUEST_ID]) {
            tdrt_log("GET /runtime/invocation/next: no Lambda-Runtime-Aws-Request-Id");
            return -EPROTO;
        }
        return 0;
    }
}

static int64_t parse_deadline(const char *s)
{
    if (!s || *s < '0' || *s > '9')
        return 0;
    char *e = NULL;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno || !e || *e || v < 0)
        return 0;
    return (int64_t)v;
}

/* ---------------------------------------------------------------------------------------- */
/* responses */

enum resp_kind { RESP_NONE, RESP_OK, RESP_ERROR };

struct tdrt_response {
    enum resp_kind kind;
    char *data; /* the body, or the error message */
    size_t len;
    char content_type[TDRT_CONTENT_TYPE_MAX + 1];
    char error_type[TDRT_ERROR_TYPE_MAX + 1];
};

static void response_release(struct tdrt_response *r)
{
    free(r->data);
    r->data = NULL;
    r->len = 0;
    r->kind = RESP_NONE;
}

int tdrt_response_set(struct tdrt_response *r, const void *data, size_t len,
                      const char *content_type)
{
    if (!r || (!data && len))
        return -EINVAL;
    if (!content_type)
        content_type = TDRT_DEFAULT_CTYPE;
    if (!*content_type || !valid_header_value(content_type, TDRT_CONTENT_TYPE_MAX))
        return -EINVAL;
    if (len == SIZE_MAX)
        return -ENOMEM;
    char *copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    response_release(r);
    r->kind = RESP_OK;
    r->data = copy;
    r->len = len;
    (void)snprintf(r->content_type, sizeof(r->content_type), "%s", content_type);
    return 0;
}

static int response_verror(struct tdrt_response *r, const char *error_type, const char *fmt,
                           va_list ap) __attribute__((format(printf, 3, 0)));
static int response_verror(struct tdrt_response *r, const char *error_type, const char *fmt,
                           va_list ap)
{
    if (!r || !fmt)
        return -EINVAL;
    if (!error_type)
        error_type = TDRT_HANDLER_ERROR;
    if (!valid_token(error_type, TDRT_ERROR_TYPE_MAX))
        return -EINVAL;
    char *msg = NULL;
    int n = vasprintf(&msg, fmt, ap);
    if (n < 0)
        return -ENOMEM;
    response_release(r);
    r->kind = RESP_ERROR;
    r->data = msg;
    r->len = utf8_cut(msg, (size_t)n, TDRT_ERROR_MESSAGE_MAX);
    msg[r->len] = '\0';
    (void)snprintf(r->error_type, sizeof(r->error_type), "%s", error_type);
    return 0;
}

int tdrt_response_error(struct tdrt_response *r, const char *error_type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ret = response_verror(r, error_type, fmt, ap);
    va_end(ap);
    return ret;
}

static int set_handler_failure(struct tdrt_response *r, int code)
{
    return tdrt_response_error(r, TDRT_HANDLER_ERROR, "handler failed: %s", strerror(-code));
}

/* Post the handler's answer for one invocation. 0, or a negative errno (fatal). */
static int post_response(struct tdrt_state *s, const char *request_id,
                         const struct tdrt_response *resp)
{
    _cleanup_curl_free_ char *id = curl_easy_escape(s->curl, request_id, 0);
    if (!id)
        return -ENOMEM;
    _cleanup_free_ char *path = NULL;
    if (resp->kind == RESP_ERROR) {
        _cleanup_free_ char *body = error_body(resp->error_type, resp->data, resp->len);
        if (!body)
            return -ENOMEM;
        if (asprintf(&path, "/runtime/invocation/%s/error", id) < 0)
            return -ENOMEM;
        return post_verdict(
            post(s, path, body, strlen(body), "application/json", resp->error_type));
    }
    if (asprintf(&path, "/runtime/invocation/%s/response", id) < 0)
        return -ENOMEM;
    const char *ct = resp->kind == RESP_OK ? resp->content_type : TDRT_DEFAULT_CTYPE;
    return post_verdict(post(s, path, resp->data, resp->len, ct, NULL));
}

/* ---------------------------------------------------------------------------------------- */
/* public entry points */

int64_t tdrt_remaining_ms(const struct tdrt_context *ctx)
{
    if (!ctx || ctx->deadline_ms <= 0)
        return INT64_MAX;
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        return INT64_MAX;
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return ctx->deadline_ms > now ? ctx->deadline_ms - now : 0;
}

int tdrt_run(tdrt_handler_fn handler, void *userdata)
{
    struct tdrt_state *s = &state;
    if (!handler)
        return -EINVAL;
    if (s->running)
        return -EBUSY;
    int r = state_open(s);
    if (r < 0)
        return r;
    s->running = true;

    for (;;) {
        struct invocation inv = {.event = {.max = TDRT_EVENT_MAX}};
        r = next_invocation(s, &inv);
        if (r < 0) {
            invocation_release(&inv);
            break;
        }

        struct tdrt_context ctx = {
            .request_id = inv.h[H_REQUEST_ID],
            .deadline_ms = parse_deadline(inv.h[H_DEADLINE]),
            .invoked_function_arn = inv.h[H_ARN] ? inv.h[H_ARN] : "",
            .tenant_id = inv.h[H_TENANT],
            .trace_id = inv.h[H_TRACE],
            .client_context = inv.h[H_CLIENT_CONTEXT],
            .cognito_identity = inv.h[H_COGNITO],
        };
        if (ctx.trace_id)
            (void)setenv("_X_AMZN_TRACE_ID", ctx.trace_id, 1);
        else
            (void)unsetenv("_X_AMZN_TRACE_ID");

        struct tdrt_response resp = {.kind = RESP_NONE};
        int hr =
            handler(&ctx, inv.event.data ? inv.event.data : "", inv.event.len, &resp, userdata);
        /* Whatever the handler printed belongs to this invocation's logs. */
        (void)fflush(stdout);
        (void)fflush(stderr);
        if (hr < 0 && resp.kind != RESP_ERROR && set_handler_failure(&resp, hr) < 0)
            response_release(&resp); /* out of memory: an empty answer is all we can send */

        r = post_response(s, ctx.request_id, &resp);
        response_release(&resp);
        invocation_release(&inv);
        if (r < 0)
            break;
    }

    s->running = false;
    state_close(s);
    return r;
}

int tdrt_init_error(const char *error_type, const char *message)
{
    struct tdrt_state *s = &state;
    if (!error_type)
        error_type = TDRT_INIT_ERROR;
    if (!message)
        message = "";
    if (!valid_token(error_type, TDRT_ERROR_TYPE_MAX))
        return -EINVAL;
    if (s->running)
        return -EBUSY;
    int r = state_open(s);
    if (r < 0)
        return r;

    size_t len = utf8_cut(message, strlen(message), TDRT_ERROR_MESSAGE_MAX);
    _cleanup_free_ char *body = error_body(error_type, message, len);
    if (!body) {
        state_close(s);
        return -ENOMEM;
    }
    int status = post(s, "/runtime/init/error", body, strlen(body), "application/json", error_type);
    state_close(s);
    if (status < 0)
        return status;
    return status >= 200 && status <= 299 ? 0 : -EREMOTEIO;
}
