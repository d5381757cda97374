/* tdrt: the C runtime client for the Lambda Runtime API 2018-06-01 (see tdrt.h).
 *
 * HTTP/1.1 over one blocking socket, kept alive for the life of the process: under tenantd the
 * environment starts with a connected one (TENANTD_RUNTIME_API_FD, an AF_UNIX socket that costs
 * both sides less per request than loopback TCP); otherwise, and should that one end, a TCP
 * connection to AWS_LAMBDA_RUNTIME_API. A request is
 * its head (built with snprintf) and body, sent with one sendmsg() when the socket buffer
 * takes it; the answer is parsed by llhttp (the parser of Node.js, compiled from Debian's
 * node-llhttp sources). Nothing is initialised before the first request, so a function
 * starts as fast as a plain C program. GET /next is a long poll and has no timeout; only
 * connecting has one.
 *
 * Any transport failure, malformed answer, non-200 answer to /next and any 5xx answer to a
 * POST means that the environment is going away: tdrt_run() then returns instead of retrying.
 * The one exception is a kept-alive connection that the server closed while it was idle: a
 * request on it that got no byte of answer (EOF or reset) is sent once more on a fresh
 * connection. A request whose answer had begun is never sent again.
 *
 * This file runs inside the function's sandbox as the function's own process: it must not
 * use the daemon's libraries (only header-only helpers from include/tenantd/).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* vasprintf */
#endif
#include "tdrt.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <llhttp.h>

#include "tenantd/cleanup.h"

#define TDRT_API_VERSION      "2018-06-01"
#define TDRT_USER_AGENT       "tdrt/0.2 (tenantd C runtime)"
#define TDRT_HOST_MAX         255
#define TDRT_DIAG_BODY_MAX    ((size_t)4096) /* how much of an unexpected answer is logged */
#define TDRT_DEFAULT_CTYPE    "application/json"
#define TDRT_HANDLER_ERROR    "HandlerError"
#define TDRT_INIT_ERROR       "Runtime.InitError"
#define TDRT_EVENT_TOO_LARGE  "Runtime.EventTooLarge"
#define TDRT_CONNECT_TIMEOUT  10000 /* ms; connecting only, never the long poll itself */
#define TDRT_RECV_BUFFER_SIZE ((size_t)64 * 1024)
#define TDRT_NEXT_ATTEMPTS    20 /* GET /next closed unanswered: about 1.5 s of asking again */
/* Status line and header fields of one answer (curl allows 300 KB in all). */
#define TDRT_HEADERS_MAX ((size_t)256 * 1024)
/* Longest header name worth comparing (longer ones are none of ours). */
#define TDRT_HEADER_NAME_MAX 64
/* The request head: the path holds the URL-encoded request id, which is at most a header. */
#define TDRT_HEAD_MAX (3 * TDRT_HEADERS_MAX + 1024)
/* Buffers reused from one invocation to the next are given back above this size, so that one
 * large event or header does not stay allocated for the life of the runtime. */
#define TDRT_KEEP_BYTES ((size_t)64 * 1024)

/* ---------------------------------------------------------------------------------------- */
/* small helpers */

static void tdrt_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tdrt_log(const char *fmt, ...)
{
    /* One write per line (stderr is unbuffered), so lines do not interleave. */
    char line[TDRT_DIAG_BODY_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) - 2 ? (size_t)n : sizeof(line) - 2;
    line[len++] = '\n';
    (void)fprintf(stderr, "tdrt: %.*s", (int)len, line);
    (void)fflush(stderr);
}

/* A capped, NUL-terminated byte buffer (the same invariants as struct td_buf). */
struct rbuf {
    char *data;
    size_t len;
    size_t cap; /* allocated bytes, including room for the NUL */
    size_t max; /* most content bytes allowed */
};

static void rbuf_release(struct rbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Empty: no content, and an empty string to whoever reads it as one (a reused buffer still
 * holds what it held before). */
static void rbuf_clear(struct rbuf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Empty, for reuse; given back if it grew large. */
static void rbuf_trim(struct rbuf *b)
{
    if (b->cap > TDRT_KEEP_BYTES + 1)
        rbuf_release(b);
    rbuf_clear(b);
}

static int rbuf_reserve(struct rbuf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return -E2BIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    if (b->len == 0 && b->data) {
        /* A kept buffer too small for what comes next: what it holds is stale, so allocate
         * afresh (exactly what is asked) rather than have realloc copy it. */
        rbuf_release(b);
    }
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

static int rbuf_puts(struct rbuf *b, const char *s)
{
    return rbuf_append(b, s, strlen(s));
}

/* "name: value\r\n" */
static int rbuf_field(struct rbuf *b, const char *name, const char *value)
{
    int r = rbuf_puts(b, name);
    if (r >= 0)
        r = rbuf_append(b, ": ", 2);
    if (r >= 0)
        r = rbuf_puts(b, value);
    if (r >= 0)
        r = rbuf_append(b, "\r\n", 2);
    return r;
}

static int rbuf_printf(struct rbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rbuf_printf(struct rbuf *b, const char *fmt, ...)
{
    va_list ap;
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    va_start(ap, fmt);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n >= room) {
        int r = rbuf_reserve(b, (size_t)n);
        if (r < 0)
            return r;
        va_start(ap, fmt);
        (void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return 0;
}

/* Percent-encode everything but RFC 3986 unreserved characters (as curl_easy_escape). */
static int rbuf_append_escaped(struct rbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    if (n > (SIZE_MAX - 1) / 3)
        return -E2BIG;
    int r = rbuf_reserve(b, 3 * n);
    if (r < 0)
        return r;
    char *o = b->data + b->len;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    b->len = (size_t)(o - b->data);
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
/* what GET /next brings */

enum { H_REQUEST_ID, H_DEADLINE, H_ARN, H_TRACE, H_CLIENT_CONTEXT, H_COGNITO, H_TENANT, H_COUNT };

/* Rows of a fixed size, so a name is matched without measuring it: the field must be as long
 * as the row's text (a NUL right after it). A row holds any name a field can hold with room for
 * its NUL; a name too long for a field could never be matched anyway. */
static const char header_names[H_COUNT][TDRT_HEADER_NAME_MAX + 1] = {
    [H_REQUEST_ID] = "Lambda-Runtime-Aws-Request-Id",
    [H_DEADLINE] = "Lambda-Runtime-Deadline-Ms",
    [H_ARN] = "Lambda-Runtime-Invoked-Function-Arn",
    [H_TRACE] = "Lambda-Runtime-Trace-Id",
    [H_CLIENT_CONTEXT] = "Lambda-Runtime-Client-Context",
    [H_COGNITO] = "Lambda-Runtime-Cognito-Identity",
    [H_TENANT] = "Lambda-Runtime-Aws-Tenant-Id",
};

/* One invocation as GET /next brought it. Its buffers are kept from one invocation to the
 * next (invocation_reset), so that a steady stream of small events allocates nothing. */
struct invocation {
    char *h[H_COUNT];        /* a header's value (in hv[i]), or NULL when absent */
    struct rbuf hv[H_COUNT]; /* storage for h */
    struct rbuf event;
    bool overflow; /* the event was larger than TDRT_EVENT_MAX (and was dropped) */
};

static void invocation_init(struct invocation *inv)
{
    *inv = (struct invocation){.event = {.max = TDRT_EVENT_MAX}};
    for (size_t i = 0; i < H_COUNT; i++)
        inv->hv[i].max = TDRT_HEADERS_MAX;
}

static void invocation_clear_headers(struct invocation *inv)
{
    for (size_t i = 0; i < H_COUNT; i++)
        inv->h[i] = NULL;
}

/* Ready for the next invocation, keeping buffers of a reasonable size. */
static void invocation_reset(struct invocation *inv)
{
    invocation_clear_headers(inv);
    for (size_t i = 0; i < H_COUNT; i++)
        rbuf_trim(&inv->hv[i]);
    rbuf_trim(&inv->event);
    inv->overflow = false;
}

static void invocation_release(struct invocation *inv)
{
    for (size_t i = 0; i < H_COUNT; i++)
        rbuf_release(&inv->hv[i]);
    rbuf_release(&inv->event);
    invocation_reset(inv);
}

/* ---------------------------------------------------------------------------------------- */
/* one answer, as llhttp sees it */

static struct rbuf reply_value = {.max = TDRT_HEADERS_MAX};

struct reply {
    struct invocation *inv; /* GET /next: headers and a 200's body go here; NULL for POSTs */
    int status;
    int err;            /* a negative errno set by a callback that stopped the parser */
    const char *why;    /* and its explanation for the log */
    bool started;       /* a byte of the answer arrived: the request is never sent again */
    bool in_body;       /* header callbacks now are trailers: ignored */
    bool to_event;      /* the body goes to inv->event, else to diag */
    bool direct;        /* reads go straight into inv->event (known Content-Length) */
    bool done;          /* the answer is complete */
    bool keep_alive;    /* and the connection may carry the next request */
    uint64_t body_left; /* direct reads: body bytes still to come */
    size_t header_bytes;
    int cur; /* index in header_names of the header being read, or -1 */
    size_t field_len;
    bool field_long;
    char field[TDRT_HEADER_NAME_MAX];
    struct rbuf *value; /* the header value being read (reply_value, reused) */
    size_t diag_len;
    char diag[TDRT_DIAG_BODY_MAX + 1]; /* the start of any other body, for the log */
};

static void reply_init(struct reply *rp, struct invocation *inv)
{
    rp->inv = inv;
    rp->status = 0;
    rp->err = 0;
    rp->why = NULL;
    rp->started = rp->in_body = rp->to_event = rp->direct = rp->done = rp->keep_alive = false;
    rp->body_left = 0;
    rp->header_bytes = 0;
    rp->cur = -1;
    rp->field_len = 0;
    rp->field_long = false;
    rp->value = &reply_value;
    rp->value->len = 0;
    rp->diag_len = 0;
    rp->diag[0] = '\0';
}

static void reply_release(struct reply *rp)
{
    rbuf_trim(rp->value);
}

static int reply_fail(llhttp_t *p, int err, const char *why)
{
    struct reply *rp = p->data;
    rp->err = err;
    rp->why = why;
    return -1;
}

static int count_header_bytes(llhttp_t *p, size_t n)
{
    struct reply *rp = p->data;
    if (n > TDRT_HEADERS_MAX - rp->header_bytes)
        return reply_fail(p, -E2BIG, "response headers too large");
    rp->header_bytes += n;
    return 0;
}

/* A new answer (the first, or the final one after a 1xx): forget what came before. */
static int on_message_begin(llhttp_t *p)
{
    struct reply *rp = p->data;
    rp->in_body = rp->to_event = rp->direct = false;
    rp->cur = -1;
    rp->field_len = 0;
    rp->field_long = false;
    rp->value->len = 0;
    rp->diag_len = 0;
    rp->diag[0] = '\0';
    if (rp->inv) {
        invocation_clear_headers(rp->inv);
        rbuf_clear(&rp->inv->event);
        rp->inv->overflow = false;
    }
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t n)
{
    (void)at;
    return count_header_bytes(p, n);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct reply *rp = p->data;
    if (count_header_bytes(p, n) < 0)
        return -1;
    if (n > sizeof(rp->field) - rp->field_len) {
        rp->field_long = true;
        return 0;
    }
    memcpy(rp->field + rp->field_len, at, n);
    rp->field_len += n;
    return 0;
}

/* Names match case-insensitively. */
static int on_header_field_complete(llhttp_t *p)
{
    struct reply *rp = p->data;
    rp->cur = -1;
    if (rp->inv && !rp->in_body && !rp->field_long) {
        for (int i = 0; i < H_COUNT; i++) {
            if (rp->field_len < sizeof(header_names[i]) && header_names[i][rp->field_len] == '\0' &&
                strncasecmp(rp->field, header_names[i], rp->field_len) == 0) {
                rp->cur = i;
                break;
            }
        }
    }
    rp->field_len = 0;
    rp->field_long = false;
    rp->value->len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct reply *rp = p->data;
    if (count_header_bytes(p, n) < 0)
        return -1;
    if (rp->cur >= 0 && rbuf_append(rp->value, at, n) < 0)
        return reply_fail(p, -ENOMEM, "out of memory");
    return 0;
}

/* The last of duplicate headers wins; an empty value counts as absent. */
static int on_header_value_complete(llhttp_t *p)
{
    struct reply *rp = p->data;
    if (rp->cur < 0)
        return 0;
    struct invocation *inv = rp->inv;
    int i = rp->cur;
    rp->cur = -1;
    inv->h[i] = NULL;
    const char *v = rp->value->data, *end = v + rp->value->len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end == v)
        return 0;
    inv->hv[i].len = 0;
    if (rbuf_append(&inv->hv[i], v, (size_t)(end - v)) < 0)
        return reply_fail(p, -ENOMEM, "out of memory");
    inv->h[i] = inv->hv[i].data;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct reply *rp = p->data;
    rp->status = p->status_code;
    rp->in_body = true;
    if (!rp->inv || rp->status != 200)
        return 0;
    rp->to_event = true;
    struct invocation *inv = rp->inv;
    inv->event.max = TDRT_EVENT_MAX;
    if ((p->flags & F_CONTENT_LENGTH) && !(p->flags & F_CHUNKED) && p->content_length > 0) {
        if (p->content_length > TDRT_EVENT_MAX) {
            inv->overflow = true; /* read and dropped, then reported */
            return 0;
        }
        if (rbuf_reserve(&inv->event, (size_t)p->content_length) < 0)
            return reply_fail(p, -ENOMEM, "out of memory");
        rp->direct = true;
        rp->body_left = p->content_length;
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct reply *rp = p->data;
    if (!rp->to_event) {
        size_t room = TDRT_DIAG_BODY_MAX - rp->diag_len;
        size_t k = n < room ? n : room;
        memcpy(rp->diag + rp->diag_len, at, k);
        rp->diag_len += k;
        rp->diag[rp->diag_len] = '\0';
        return 0;
    }
    struct invocation *inv = rp->inv;
    if (rp->direct)
        rp->body_left -= n;
    if (inv->overflow)
        return 0;
    struct rbuf *b = &inv->event;
    if (b->data && at == b->data + b->len) {
        /* read straight into place (room was reserved from the Content-Length) */
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
    }
    int r = rbuf_append(b, at, n);
    if (r == -E2BIG) {
        inv->overflow = true;
        rbuf_release(b);
        return 0;
    }
    if (r < 0)
        return reply_fail(p, -ENOMEM, "out of memory");
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct reply *rp = p->data;
    int status = p->status_code;
    if (status >= 100 && status <= 199 && status != 101)
        return 0; /* an interim answer: the final one follows */
    rp->done = true;
    rp->keep_alive = status != 101 && llhttp_should_keep_alive(p) != 0;
    return HPE_PAUSED; /* stop right after this answer */
}

static const llhttp_settings_t reply_settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---------------------------------------------------------------------------------------- */
/* the connection to the Runtime API */

struct tdrt_state {
    int fd;      /* the kept-alive connection, or -1 */
    bool reused; /* it has carried a complete exchange (so the server may close it idle) */
    bool configured;
    bool running;
    char api[TDRT_HOST_MAX + 1]; /* host:port as given: the Host header */
    char host[TDRT_HOST_MAX + 1];
    char port[6];
    struct rbuf head;      /* the request head, reused */
    struct rbuf path;      /* the request path after /2018-06-01, reused */
    struct rbuf next_head; /* GET /next, sent right behind an invocation's response */
    bool next_sent;        /* a GET /next went out behind the last request, unanswered yet */
    size_t carry_off;      /* bytes of its answer that came with the one before: */
    size_t carry_len;      /* recv_buffer[carry_off, carry_off + carry_len) */
    bool quiet_abort;      /* request_next asks again: one log line, not one per attempt */
    llhttp_t parser;
};

static struct tdrt_state state = {.fd = -1};
static char recv_buffer[TDRT_RECV_BUFFER_SIZE];

static void conn_close(struct tdrt_state *s)
{
    /* shutdown() first: the server sees the end even if a process the function forked still
     * holds a copy of the descriptor (the inherited socket). */
    if (s->fd >= 0) {
        (void)shutdown(s->fd, SHUT_RDWR);
        (void)close(s->fd);
    }
    s->fd = -1;
    s->reused = false;
    s->next_sent = false;
    s->carry_len = 0;
}

static void state_close(struct tdrt_state *s)
{
    conn_close(s);
    rbuf_release(&s->head);
    rbuf_release(&s->path);
    rbuf_release(&s->next_head);
    rbuf_release(&reply_value);
    s->configured = false;
}

/* AWS_LAMBDA_RUNTIME_API: host:port, [v6]:port, or a host alone (port 80). */
static int parse_api(struct tdrt_state *s, const char *api)
{
    const char *host = api, *host_end, *port = NULL;
    if (*api == '[') {
        host = api + 1;
        host_end = strchr(host, ']');
        if (!host_end)
            return -EINVAL;
        if (host_end[1] == ':')
            port = host_end + 2;
        else if (host_end[1] != '\0')
            return -EINVAL;
    } else {
        const char *colon = strchr(api, ':');
        if (colon && strchr(colon + 1, ':'))
            return -EINVAL;
        host_end = colon ? colon : api + strlen(api);
        if (colon)
            port = colon + 1;
    }
    if (host_end == host)
        return -EINVAL;
    if (port) {
        size_t n = strlen(port);
        unsigned long v = 0;
        if (n == 0 || n >= sizeof(s->port) || strspn(port, "0123456789") != n)
            return -EINVAL;
        v = strtoul(port, NULL, 10);
        if (v == 0 || v > 65535)
            return -EINVAL;
        memcpy(s->port, port, n + 1);
    } else {
        memcpy(s->port, "80", 3);
    }
    memcpy(s->host, host, (size_t)(host_end - host));
    s->host[host_end - host] = '\0';
    (void)snprintf(s->api, sizeof(s->api), "%s", api);
    return 0;
}

/* The connected socket tenantd hands the runtime, if any. It is taken once: the variable is
 * removed and the descriptor closed on exec, so the function's own child processes see neither.
 * It counts as a kept-alive connection, so that one found closed is replaced by a fresh TCP
 * connection instead of failing the request. */
static void take_inherited_conn(struct tdrt_state *s)
{
    const char *text = getenv("TENANTD_RUNTIME_API_FD");
    if (!text)
        return;
    char *end;
    long fd = strtol(text, &end, 10);
    struct stat st;
    bool usable = *text && !*end && fd > STDERR_FILENO && fd < 1024 && fstat((int)fd, &st) == 0 &&
                  S_ISSOCK(st.st_mode) && fcntl((int)fd, F_SETFD, FD_CLOEXEC) == 0;
    (void)unsetenv("TENANTD_RUNTIME_API_FD");
    if (!usable)
        return;
    s->fd = (int)fd;
    s->reused = true;
}

/* Read the configuration. The connection is made by the first request, unless inherited. */
static int state_open(struct tdrt_state *s)
{
    if (s->configured)
        return 0;
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api || !*api) {
        tdrt_log("AWS_LAMBDA_RUNTIME_API is not set");
        return -EINVAL;
    }
    if (!valid_token(api, TDRT_HOST_MAX) || strchr(api, '/') || strchr(api, '?') ||
        strchr(api, '#') || strchr(api, '@') || parse_api(s, api) < 0) {
        tdrt_log("AWS_LAMBDA_RUNTIME_API is not a host:port");
        return -EINVAL;
    }
    s->head.max = TDRT_HEAD_MAX;
    s->path.max = TDRT_HEAD_MAX;
    s->next_head.max = TDRT_HEAD_MAX;
    s->next_head.len = 0;
    if (rbuf_printf(&s->next_head,
                    "GET /" TDRT_API_VERSION "/runtime/invocation/next HTTP/1.1\r\n"
                    "Host: %s\r\n"
                    "User-Agent: " TDRT_USER_AGENT "\r\n\r\n",
                    s->api) < 0)
        return -ENOMEM;
    s->configured = true;
    take_inherited_conn(s);
    return 0;
}

/* A blocking socket connected to ai, or a negative errno. */
static int connect_one(const struct addrinfo *ai)
{
    _cleanup_close_ int fd =
        socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS && errno != EINTR)
            return -errno;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int n;
        do
            n = poll(&pfd, 1, TDRT_CONNECT_TIMEOUT);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            return -errno;
        if (n == 0)
            return -ETIMEDOUT;
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            return -errno;
        if (err)
            return -err;
    }
    if (fcntl(fd, F_SETFL, 0) < 0) /* blocking from now on */
        return -errno;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return TAKE_FD(fd);
}

static int conn_open(struct tdrt_state *s, const char *method, const char *path)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICSERV,
    };
    struct addrinfo *res = NULL;
    int g = getaddrinfo(s->host, s->port, &hints, &res);
    if (g != 0) {
        tdrt_log("%s %s: cannot resolve %s: %s", method, path, s->host,
                 g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
        return -EHOSTUNREACH;
    }
    int fd = -ECONNREFUSED;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = connect_one(ai);
        if (fd >= 0)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        tdrt_log("%s %s: cannot connect to %s: %s", method, path, s->api, strerror(-fd));
        return fd;
    }
    s->fd = fd;
    s->reused = false;
    return 0;
}

/* Send iov whole. 0 when sent; 1 when the server answered (or closed) before it had it all,
 * so its answer should be read now; a negative errno otherwise. */
static int send_all(int fd, struct iovec *iov, size_t iovcnt)
{
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = iovcnt};
    while (m.msg_iovlen > 0) {
        ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -errno;
            /* The socket buffer is full (a big body): wait for room, or for an early answer
             * that would leave us writing to a server that no longer reads. */
            struct pollfd pfd = {.fd = fd, .events = POLLOUT | POLLIN};
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                return -errno;
            if (pfd.revents & (POLLIN | POLLERR | POLLHUP))
                return 1;
            continue;
        }
        size_t left = (size_t)n;
        while (m.msg_iovlen > 0 && left >= m.msg_iov->iov_len) {
            left -= m.msg_iov->iov_len;
            m.msg_iov++;
            m.msg_iovlen--;
        }
        if (m.msg_iovlen > 0) {
            m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + left;
            m.msg_iov->iov_len -= left;
        }
    }
    return 0;
}

enum { REPLY_OK = 0, REPLY_NONE = 1 };

/* recv() that sleeps in poll(POLLIN). A recv() blocked on an AF_UNIX socket sleeps on the wait
 * queue that also hears of write space, so it would be woken (for nothing) each time tenantd
 * reads what this side sent; poll() wakes only for what it asked. With waiting, it polls first:
 * an answer is rarely there the moment a request went out. */
static ssize_t recv_when_ready(int fd, void *dst, size_t room, bool may_wait)
{
    for (;;) {
        if (may_wait) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                return -1;
        }
        ssize_t n = recv(fd, dst, room, MSG_DONTWAIT);
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            return n;
        may_wait = true;
    }
}

/* Read and parse one answer. REPLY_OK with rp filled; REPLY_NONE when the connection ended
 * (EOF or reset) before any byte of it; a negative errno otherwise (logged). With keep_rest,
 * bytes after the answer are the start of the next one (a request went out behind this one):
 * they are kept for the next read_reply instead of making the connection suspect. */
static int read_reply(struct tdrt_state *s, struct reply *rp, const char *method, const char *path,
                      bool keep_rest)
{
    llhttp_t *p = &s->parser;
    llhttp_init(p, HTTP_RESPONSE, &reply_settings);
    p->data = rp;
    for (;;) {
        char *dst = recv_buffer;
        size_t room = sizeof(recv_buffer);
        if (rp->direct && rp->body_left > 0 && !rp->inv->overflow) {
            struct rbuf *ev = &rp->inv->event;
            dst = ev->data + ev->len;
            room = rp->body_left < SIZE_MAX ? (size_t)rp->body_left : SIZE_MAX;
        }
        ssize_t n;
        if (s->carry_len > 0) {
            dst = recv_buffer + s->carry_off;
            n = (ssize_t)s->carry_len;
            s->carry_len = 0;
        } else {
            n = recv_when_ready(s->fd, dst, room, !rp->started);
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || n == 0) {
            int err = n < 0 ? -errno : -ECONNRESET;
            if (!rp->started && (err == -ECONNRESET || err == -EPIPE))
                return REPLY_NONE;
            if (n == 0) {
                /* An answer without Content-Length ends with the connection. */
                (void)llhttp_finish(p);
                if (rp->done) {
                    rp->keep_alive = false;
                    return REPLY_OK;
                }
                if (rp->err) {
                    tdrt_log("%s %s: %s", method, path, rp->why);
                    return rp->err;
                }
                tdrt_log("%s %s: connection closed in the middle of the answer", method, path);
            } else {
                tdrt_log("%s %s: receiving the answer: %s", method, path, strerror(-err));
            }
            return err;
        }
        rp->started = true;
        llhttp_errno_t e = llhttp_execute(p, dst, (size_t)n);
        if (rp->done) {
            const char *end = llhttp_get_error_pos(p);
            if (end != dst + n) {
                if (keep_rest && dst >= recv_buffer && dst < recv_buffer + sizeof(recv_buffer)) {
                    s->carry_off = (size_t)(end - recv_buffer);
                    s->carry_len = (size_t)(dst + n - end);
                } else {
                    /* Bytes after the answer were never asked for: do not trust the
                     * connection. */
                    rp->keep_alive = false;
                }
            }
            return REPLY_OK;
        }
        if (e == HPE_OK)
            continue;
        if (rp->err) {
            tdrt_log("%s %s: %s", method, path, rp->why);
            return rp->err;
        }
        const char *reason = llhttp_get_error_reason(p);
        tdrt_log("%s %s: malformed answer: %s (%s)", method, path, llhttp_errno_name(e),
                 reason ? reason : "?");
        return -EPROTO;
    }
}

/* One exchange on the kept-alive connection: method, s->path (relative to /2018-06-01), an
 * optional body with its content type and error type. 0 with the answer in rp (any status),
 * or a negative errno (logged) when there is no usable answer. */
static int request(struct tdrt_state *s, const char *method, const char *content_type,
                   const char *error_type, const void *body, size_t len, bool then_next,
                   struct reply *rp)
{
    const char *path = s->path.data;
    struct rbuf *h = &s->head;
    h->len = 0;
    /* Appended piece by piece: this runs for every invocation. */
    int r = rbuf_puts(h, method);
    if (r >= 0)
        r = rbuf_puts(h, " /" TDRT_API_VERSION);
    if (r >= 0)
        r = rbuf_puts(h, path);
    if (r >= 0)
        r = rbuf_puts(h, " HTTP/1.1\r\n");
    if (r >= 0)
        r = rbuf_field(h, "Host", s->api);
    if (r >= 0)
        r = rbuf_field(h, "User-Agent", TDRT_USER_AGENT);
    if (r >= 0 && content_type) {
        char digits[24];
        char *d = digits + sizeof(digits) - 1;
        size_t v = len;
        *d = '\0';
        do
            *--d = (char)('0' + v % 10);
        while ((v /= 10) > 0);
        r = rbuf_field(h, "Content-Type", content_type);
        if (r >= 0)
            r = rbuf_field(h, "Content-Length", d);
    }
    if (r >= 0 && error_type)
        r = rbuf_field(h, "Lambda-Runtime-Function-Error-Type", error_type);
    if (r >= 0)
        r = rbuf_append(h, "\r\n", 2);
    if (r < 0)
        return r;

    for (int attempt = 0;; attempt++) {
        if (s->fd < 0 && (r = conn_open(s, method, path)) < 0)
            return r;
        bool reused = s->reused;

        struct iovec iov[3] = {{.iov_base = h->data, .iov_len = h->len}};
        size_t iovcnt = 1;
        if (len > 0)
            iov[iovcnt++] = (struct iovec){.iov_base = (void *)body, .iov_len = len};
        /* GET /next rides along: the server reads it as soon as this request is answered. */
        if (then_next)
            iov[iovcnt++] =
                (struct iovec){.iov_base = s->next_head.data, .iov_len = s->next_head.len};
        int sent = send_all(s->fd, iov, iovcnt);
        if (sent < 0 && sent != -EPIPE && sent != -ECONNRESET) {
            tdrt_log("%s %s: sending: %s", method, path, strerror(-sent));
            conn_close(s);
            return sent;
        }
        /* Even when sending failed, the server may have answered (say, 413) before it
         * closed: read what it said. */
        r = read_reply(s, rp, method, path, then_next);
        if (r == REPLY_OK) {
            if (sent != 0 || !rp->keep_alive) {
                conn_close(s);
            } else {
                s->reused = true;
                s->next_sent = then_next;
            }
            return 0;
        }
        conn_close(s);
        if (r < 0)
            return r;
        /* REPLY_NONE: nothing came back. */
        if (reused && attempt == 0)
            continue; /* the server had closed the idle connection: once more, afresh */
        if (!s->quiet_abort)
            tdrt_log("%s %s: connection closed before any answer%s%s%s", method, path,
                     sent < 0 ? " (sending: " : "", sent < 0 ? strerror(-sent) : "",
                     sent < 0 ? ")" : "");
        return -ECONNABORTED; /* nothing of an answer: see request_next */
    }
}

/* POST body to s->path. Returns the HTTP status, or a negative errno when no answer came
 * (logged). Answers other than 2xx are logged. */
static int post(struct tdrt_state *s, const void *body, size_t len, const char *content_type,
                const char *error_type, bool then_next)
{
    struct reply rp;
    reply_init(&rp, NULL);
    int r = request(s, "POST", content_type, error_type, body, len, then_next, &rp);
    reply_release(&rp);
    if (r < 0)
        return r;
    if (rp.status < 200 || rp.status > 299)
        tdrt_log("POST %s: HTTP %d: %s", s->path.data, rp.status, rp.diag);
    return rp.status;
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

/* s->path = /runtime/invocation/<request id, URL-encoded>/<what> */
static int set_invocation_path(struct tdrt_state *s, const char *request_id, const char *what)
{
    s->path.len = 0;
    int r = rbuf_append(&s->path, "/runtime/invocation/", sizeof("/runtime/invocation/") - 1);
    if (r >= 0)
        r = rbuf_append_escaped(&s->path, request_id);
    if (r >= 0)
        r = rbuf_puts(&s->path, "/");
    if (r >= 0)
        r = rbuf_puts(&s->path, what);
    return r;
}

static int set_path(struct tdrt_state *s, const char *path)
{
    s->path.len = 0;
    return rbuf_append(&s->path, path, strlen(path));
}

/* ---------------------------------------------------------------------------------------- */
/* GET /runtime/invocation/next */

/* Report an invocation the runtime could not even hand to the handler. */
static int post_invocation_error(struct tdrt_state *s, const char *request_id, const char *type,
                                 const char *msg)
{
    _cleanup_free_ char *body = error_body(type, msg, strlen(msg));
    if (!body)
        return -ENOMEM;
    int r = set_invocation_path(s, request_id, "error");
    if (r < 0)
        return r;
    return post_verdict(post(s, body, strlen(body), "application/json", type, false));
}

/* GET /next on a fresh connection. The Runtime API gives an environment's next event to its
 * latest long poll and closes an earlier one unanswered (one the runtime gave up on); requests
 * that the function's own code sent to the API can be that latest poll. A poll closed before
 * any byte of its answer is therefore made again, a bounded number of times with a growing
 * pause; a refused connection or any other failure ends the loop as before. */
static int request_next(struct tdrt_state *s, struct reply *rp, struct invocation *inv)
{
    unsigned pause_ms = 1;
    for (int attempt = 1;; attempt++) {
        s->quiet_abort = attempt > 1; /* the first is logged, and giving up */
        int r = request(s, "GET", NULL, NULL, NULL, 0, false, rp);
        s->quiet_abort = false;
        if (r == -ECONNABORTED && attempt >= TDRT_NEXT_ATTEMPTS)
            tdrt_log("GET /runtime/invocation/next: closed unanswered %d times: giving up",
                     attempt);
        if (r != -ECONNABORTED || attempt >= TDRT_NEXT_ATTEMPTS)
            return r;
        reply_release(rp);
        reply_init(rp, inv);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)pause_ms * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        pause_ms = pause_ms < 64 ? pause_ms * 2 : 100;
    }
}

/* Wait for the next invocation. 0 with inv filled, or a negative errno (fatal). */
static int next_invocation(struct tdrt_state *s, struct invocation *inv)
{
    for (;;) {
        int r = set_path(s, "/runtime/invocation/next");
        if (r < 0)
            return r;
        inv->event.max = TDRT_EVENT_MAX;
        struct reply rp;
        reply_init(&rp, inv);
        r = REPLY_NONE;
        if (s->next_sent && s->fd >= 0) {
            /* Sent behind the last response: only its answer is to be read. */
            s->next_sent = false;
            r = read_reply(s, &rp, "GET", s->path.data, false);
            if (r == REPLY_OK && rp.keep_alive)
                s->reused = true;
            else
                conn_close(s);
            if (r == REPLY_NONE) { /* the connection ended first: ask again, afresh */
                reply_release(&rp);
                reply_init(&rp, inv);
            }
        }
        if (r == REPLY_NONE)
            r = request_next(s, &rp, inv);
        reply_release(&rp);
        if (r < 0)
            return r;

        if (rp.status != 200) {
            tdrt_log("GET /runtime/invocation/next: HTTP %d: %s", rp.status, rp.diag);
            return rp.status >= 500 ? -EREMOTEIO : -EPROTO;
        }
        if (!inv->h[H_REQUEST_ID]) {
            tdrt_log("GET /runtime/invocation/next: no Lambda-Runtime-Aws-Request-Id");
            return -EPROTO;
        }
        if (inv->overflow) {
            /* Too big to hold: fail this invocation and wait for the next one. */
            tdrt_log("invocation %s: event larger than %zu bytes", inv->h[H_REQUEST_ID],
                     TDRT_EVENT_MAX);
            r = post_invocation_error(s, inv->h[H_REQUEST_ID], TDRT_EVENT_TOO_LARGE,
                                      "event too large for the runtime");
            invocation_reset(inv);
            if (r < 0)
                return r;
            continue;
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
    size_t ct_len = strlen(content_type); /* at most TDRT_CONTENT_TYPE_MAX: just checked */
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
    memcpy(r->content_type, content_type, ct_len + 1);
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
    if (resp->kind == RESP_ERROR) {
        _cleanup_free_ char *body = error_body(resp->error_type, resp->data, resp->len);
        if (!body)
            return -ENOMEM;
        int r = set_invocation_path(s, request_id, "error");
        if (r < 0)
            return r;
        return post_verdict(
            post(s, body, strlen(body), "application/json", resp->error_type, true));
    }
    int r = set_invocation_path(s, request_id, "response");
    if (r < 0)
        return r;
    const char *ct = resp->kind == RESP_OK ? resp->content_type : TDRT_DEFAULT_CTYPE;
    return post_verdict(post(s, resp->data, resp->len, ct, NULL, true));
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

#define TRACE_VAR "_X_AMZN_TRACE_ID"

/* _X_AMZN_TRACE_ID holds the invocation's trace header. setenv() would keep a copy of every value
 * it was ever given (glibc cannot tell whether anyone still points at an old one): a leak of one
 * trace id per invocation. Two buffers of ours take turns in the environment instead (putenv), so
 * a value the handler read with getenv() stays as it was during its invocation and the next one;
 * a buffer is never freed (one that grows is left behind: a bounded leak, ids only double), so
 * such a pointer never dangles. */
static void set_trace_env(const char *trace_id)
{
    static char *entry[2];
    static size_t cap[2];
    static unsigned turn;
    if (!trace_id) {
        if (getenv(TRACE_VAR))
            (void)unsetenv(TRACE_VAR);
        return;
    }
    unsigned i = turn;
    turn ^= 1;
    size_t need = sizeof(TRACE_VAR) + strlen(trace_id) + 1;
    if (need > cap[i]) {
        size_t ncap = cap[i] ? cap[i] : 256;
        while (ncap < need)
            ncap *= 2;
        char *fresh = malloc(ncap);
        if (!fresh) {
            (void)unsetenv(TRACE_VAR); /* never the previous invocation's id */
            return;
        }
        memcpy(fresh, TRACE_VAR "=", sizeof(TRACE_VAR));
        entry[i] = fresh;
        cap[i] = ncap;
    }
    memcpy(entry[i] + sizeof(TRACE_VAR), trace_id, need - sizeof(TRACE_VAR));
    if (putenv(entry[i]) != 0)
        (void)unsetenv(TRACE_VAR);
}

/* fflush(f) when something is buffered: most invocations print nothing. Under the stream's
 * lock, as fflush itself would be: a handler's own threads may be printing. */
static void flush_pending(FILE *f)
{
    flockfile(f);
    if (__fpending(f) > 0)
        (void)fflush_unlocked(f);
    funlockfile(f);
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

    struct invocation inv;
    invocation_init(&inv);
    for (;;) {
        r = next_invocation(s, &inv);
        if (r < 0)
            break;

        struct tdrt_context ctx = {
            .request_id = inv.h[H_REQUEST_ID],
            .deadline_ms = parse_deadline(inv.h[H_DEADLINE]),
            .invoked_function_arn = inv.h[H_ARN] ? inv.h[H_ARN] : "",
            .tenant_id = inv.h[H_TENANT],
            .trace_id = inv.h[H_TRACE],
            .client_context = inv.h[H_CLIENT_CONTEXT],
            .cognito_identity = inv.h[H_COGNITO],
        };
        set_trace_env(ctx.trace_id);

        struct tdrt_response resp = {.kind = RESP_NONE};
        int hr =
            handler(&ctx, inv.event.data ? inv.event.data : "", inv.event.len, &resp, userdata);
        /* Whatever the handler printed belongs to this invocation's logs. */
        flush_pending(stdout);
        flush_pending(stderr);
        if (hr < 0 && resp.kind != RESP_ERROR && set_handler_failure(&resp, hr) < 0)
            response_release(&resp); /* out of memory: an empty answer is all we can send */

        r = post_response(s, ctx.request_id, &resp);
        response_release(&resp);
        invocation_reset(&inv);
        if (r < 0)
            break;
    }
    invocation_release(&inv);

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
    if (!body || set_path(s, "/runtime/init/error") < 0) {
        state_close(s);
        return -ENOMEM;
    }
    int status = post(s, body, strlen(body), "application/json", error_type, false);
    state_close(s);
    if (status < 0)
        return status;
    return status >= 200 && status <= 299 ? 0 : -EREMOTEIO;
}
