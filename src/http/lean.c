/* Lean connections: HTTP/1.1 served on the daemon's loop without libmicrohttpd: an environment's
 * runtime on the AF_UNIX socket it inherits, and the clients of a lean listener (the public
 * API; accepted in server.c, idle ones swept). Per request this costs a read, llhttp's parse
 * and one sendmsg; there is no second epoll set, no per-request pool to clear, and nothing to
 * re-register while a request waits for its answer.
 *
 * llhttp runs strict (no lenient flags): it refuses what could be read two ways (Content-Length
 * with Transfer-Encoding, two Content-Lengths, bytes a header value may not hold, a folded
 * framing header); whitespace before a field's colon is refused here. A folded line of another
 * field continues its value, as RFC 9112 5.2 allows. Upgrade is not taken up. Requests are served
 * one at a time, in order: the handlers run from the parser's callbacks (on_headers once the head
 * is in, on_request once the body is), and parsing pauses until the request is answered, so a
 * pipelined request waits in the buffer or in the socket. An answer given later (td_http_reply on a
 * parked request) is written at once, in the caller's context; whatever follows it (the next
 * pipelined request, closing) runs from the server's own loop callbacks, never inside that caller.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <llhttp.h>

#include "http_internal.h"
#include "tenantd/log.h"
#include "tenantd/cleanup.h"
#include "tenantd/util.h"

/* Input is read into the server's scratch buffer and parsed from there; only what is left
 * unparsed (a request pipelined behind one waiting for its answer) moves to a buffer of the
 * connection's own, given back once parsed: a parked long poll holds none. */
#define LEAN_READ_CHUNK ((size_t)16 * 1024)
#define LEAN_HEAD_MAX   ((size_t)16 * 1024) /* request line, headers and trailers */
/* A request answered from on_headers keeps its connection when at most this much body is left
 * to read past; a longer (or chunked) one ends the connection after the answer. */
#define LEAN_DISCARD_MAX ((size_t)64 * 1024)
/* A lean listener's connection that ends after an answer is read (and discarded) for at most
 * this long before it is closed: see linger(). */
#define LEAN_LINGER_MS 5000
/* and for at most this much input: past the largest body any route takes (Invoke's 6 MB), so
 * that refusing at the head still means not reading much of what was refused */
#define LEAN_LINGER_BYTES ((uint64_t)8 * 1024 * 1024)
/* coalesce_pipelined holds answers up to this size (a runtime's 202); larger ones go at once. */
#define LEAN_HOLD_MAX ((size_t)4096)
/* What a declared body gets before any of it has arrived (it grows from there). */
#define LEAN_RESERVE_MAX ((uint64_t)1024 * 1024)
/* An answer's head, and its body when the caller keeps its own bytes. */
#define LEAN_OUT_COPY_MAX ((size_t)64 * 1024 * 1024)

struct field_span {
    size_t name_off, name_len, value_off, value_len;
};

struct td_lean_conn {
    struct td_http_server *server;
    uv_poll_t poll;
    int fd;
    int poll_events; /* what the poll watches now */
    uint64_t context;
    llhttp_t parser;
    struct td_list link;       /* server->lean_conns */
    struct td_list ready_link; /* server->lean_ready, when queued */
    struct td_http_request *req;
    /* input read but not yet parsed: in[in_off, in_len), in the server's scratch buffer while
     * on_poll runs (in_shared), otherwise the connection's own */
    char *in;
    size_t in_off, in_len;
    bool in_shared;
    bool eof;
    /* the request's head: method, target and fields, each NUL-terminated; the trailers go in
     * a buffer of their own so that nothing pointing into the head moves once it is in */
    struct td_buf head;
    struct td_buf trailers;
    size_t method_off, target_off;
    struct field_span spans[TD_LEAN_FIELDS_MAX]; /* offsets in head, then in trailers */
    size_t n_spans;
    bool name_open;   /* a field name is being received */
    bool in_trailers; /* fields after the body */
    bool head_failed; /* the head outgrew its limits */
    /* the answer being written: out_head then out_body, out_done bytes of both so far */
    struct td_buf out_head;
    const char *out_body;
    size_t out_body_len;
    size_t out_done;
    void (*out_free)(void *);
    void *out_free_arg;
    /* Complete 2xx answers held back because the client had already pipelined its next request
     * (opts.coalesce_pipelined): they go out in front of the next thing written. */
    struct td_buf held;
    size_t out_owed; /* bytes at the start of out_head that are held answers, not yet written */
    bool writing;
    bool interim;      /* what is being written is not the current request's answer: a 100 Continue,
                        * or answers that were held */
    bool close_after;  /* close once the answer is written */
    bool broken;       /* writing failed: close */
    int64_t active_ms; /* last read, write or end of a request (loop_ms) */
    bool lingering;    /* answered, written, shut down for writing; input is discarded */
    int64_t linger_since_ms;
    uint64_t lingered; /* bytes discarded */
    bool closing;
};

static void lean_process(struct td_lean_conn *c);
static void on_poll(uv_poll_t *h, int status, int events);
static void conn_close(struct td_lean_conn *c);

/* The loop's idea of now (uv_now, updated once per iteration), in ms: the idle and linger clocks
 * need no finer time, and reading it costs nothing per request. */
static int64_t loop_ms(const struct td_http_server *s)
{
    return (int64_t)uv_now(s->loop);
}

/* ---- the request's head ---- */

static int head_append(struct td_lean_conn *c, const char *at, size_t len)
{
    if (c->head_failed || c->head.len + c->trailers.len + len + 1 > LEAN_HEAD_MAX) {
        c->head_failed = true;
        return -1;
    }
    return td_buf_append(c->in_trailers ? &c->trailers : &c->head, at, len);
}

/* Where the next byte of the head (or of the trailers) goes. */
static size_t head_end(const struct td_lean_conn *c)
{
    return c->in_trailers ? c->trailers.len : c->head.len;
}

/* Each piece ends with a NUL, written once the piece is complete. */
static int head_end_piece(struct td_lean_conn *c)
{
    return head_append(c, "", 1);
}

static struct td_lean_conn *conn_of(llhttp_t *p)
{
    return p->data;
}

static int on_message_begin(llhttp_t *p)
{
    struct td_lean_conn *c = conn_of(p);
    td_buf_reset(&c->head);
    td_buf_reset(&c->trailers);
    c->n_spans = 0;
    c->name_open = false;
    c->in_trailers = false;
    c->head_failed = false;
    c->method_off = c->target_off = 0;
    return 0;
}

static int on_method(llhttp_t *p, const char *at, size_t len)
{
    return head_append(conn_of(p), at, len) < 0 ? HPE_USER : 0;
}

static int on_method_complete(llhttp_t *p)
{
    struct td_lean_conn *c = conn_of(p);
    if (head_end_piece(c) < 0)
        return HPE_USER;
    c->target_off = c->head.len;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    return head_append(conn_of(p), at, len) < 0 ? HPE_USER : 0;
}

static int on_url_complete(llhttp_t *p)
{
    return head_end_piece(conn_of(p)) < 0 ? HPE_USER : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct td_lean_conn *c = conn_of(p);
    if (!c->name_open) {
        if (c->n_spans == TD_LEAN_FIELDS_MAX) {
            c->head_failed = true;
            return HPE_USER;
        }
        c->spans[c->n_spans++] = (struct field_span){.name_off = head_end(c)};
        c->name_open = true;
    }
    c->spans[c->n_spans - 1].name_len += len;
    return head_append(c, at, len) < 0 ? HPE_USER : 0;
}

/* The buffer the current field's bytes are in. */
static char *field_base(struct td_lean_conn *c)
{
    return c->in_trailers ? c->trailers.data : c->head.data;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct td_lean_conn *c = conn_of(p);
    if (head_end_piece(c) < 0)
        return HPE_USER;
    /* RFC 9112 5.1: no whitespace between a field name and its colon. */
    const struct field_span *f = &c->spans[c->n_spans - 1];
    char last = f->name_len ? field_base(c)[f->name_off + f->name_len - 1] : ' ';
    if (last == ' ' || last == '\t')
        return HPE_USER;
    c->spans[c->n_spans - 1].value_off = head_end(c);
    c->name_open = false;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct td_lean_conn *c = conn_of(p);
    c->spans[c->n_spans - 1].value_len += len;
    return head_append(c, at, len) < 0 ? HPE_USER : 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct td_lean_conn *c = conn_of(p);
    /* An empty value gets no on_header_value: its offset is where its NUL goes. */
    if (head_end_piece(c) < 0)
        return HPE_USER;
    /* The value without its trailing whitespace (RFC 9110 5.5). */
    struct field_span *f = &c->spans[c->n_spans - 1];
    char *v = field_base(c) + f->value_off;
    while (f->value_len > 0 && (v[f->value_len - 1] == ' ' || v[f->value_len - 1] == '\t'))
        v[--f->value_len] = '\0';
    return 0;
}

/* Point the request's header fields into the head, or its trailer fields into the trailers;
 * neither buffer moves again for this request. */
static int publish_fields(struct td_lean_conn *c)
{
    struct td_http_request *req = c->req;
    struct td_http_header *f = req->fields;
    if (!f || c->n_spans > req->n_fields) { /* the head's fields, or trailers after them */
        f = realloc(req->fields, (c->n_spans ? c->n_spans : 1) * sizeof(*f));
        if (!f)
            return -ENOMEM;
        req->fields = f;
    }
    size_t from = c->in_trailers ? req->n_headers : 0;
    const char *base = c->in_trailers ? c->trailers.data : c->head.data;
    for (size_t i = from; i < c->n_spans; i++) {
        const struct field_span *s = &c->spans[i];
        f[i] = (struct td_http_header){base + s->name_off, s->name_len, base + s->value_off,
                                       s->value_len};
    }
    req->n_fields = c->n_spans;
    if (!c->in_trailers)
        req->n_headers = c->n_spans;
    return 0;
}

/* ---- requests ---- */

static struct td_http_request *request_new(struct td_lean_conn *c)
{
    struct td_http_request *req = calloc(1, sizeof(*req));
    if (!req)
        return NULL;
    req->server = c->server;
    req->lean = c;
    req->conn_context = c->context;
    td_buf_init(&req->body, c->server->opts.default_body_max);
    td_list_init(&req->link);
    td_list_push_back(&c->server->requests, &req->link);
    c->server->active++;
    return req;
}

static void request_free(struct td_http_request *req)
{
    if (!req)
        return;
    td_list_remove(&req->link);
    td_buf_release(&req->body);
    free(req->query);
    for (size_t i = 0; i < req->n_param_values; i++)
        free(req->param_values[i]);
    free(req->param_values);
    free(req->fields);
    req->server->active--;
    free(req);
}

/* The request ends: its owner hears of it if it was never answered. */
static void request_end(struct td_lean_conn *c)
{
    struct td_http_request *req = c->req;
    if (!req)
        return;
    c->req = NULL;
    if (!req->answered && req->on_gone)
        req->on_gone(req, req->owner);
    request_free(req);
}

static void release_input(struct td_lean_conn *c)
{
    if (!c->in_shared)
        free(c->in);
    c->in = NULL;
    c->in_shared = false;
    c->in_off = c->in_len = 0;
}

/* Before any other connection reads into the scratch buffer: what this one has not parsed yet
 * moves to a buffer of its own. */
static void keep_input(struct td_lean_conn *c)
{
    if (!c->in_shared)
        return;
    size_t left = c->in_len - c->in_off;
    char *own = left > 0 && !c->closing ? malloc(LEAN_READ_CHUNK) : NULL;
    if (own)
        memcpy(own, c->in + c->in_off, left);
    bool lost = left > 0 && !c->closing && !own;
    release_input(c);
    if (own) {
        c->in = own;
        c->in_len = left;
    }
    if (lost)
        conn_close(c); /* out of memory: the request cannot be kept */
}

/* ---- writing ---- */

static const char *reason_phrase(unsigned status)
{
    switch (status) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

/* A header this server writes must not be able to end the head early. */
static bool header_text_ok(const char *s)
{
    return s && s[strcspn(s, "\r\n")] == '\0';
}

static void out_release(struct td_lean_conn *c)
{
    if (c->out_free)
        c->out_free(c->out_free_arg);
    c->out_free = NULL;
    c->out_free_arg = NULL;
    c->out_body = NULL;
    c->out_body_len = 0;
    c->out_done = 0;
    td_buf_reset(&c->out_head);
    c->out_owed = 0;
    c->writing = false;
    c->interim = false;
}

static void set_poll(struct td_lean_conn *c, int events)
{
    if (c->closing || events == c->poll_events)
        return;
    c->poll_events = events;
    uv_poll_start(&c->poll, events, on_poll);
}

/* 1 when the whole answer is out, 0 when the socket is full, negative on error. */
static int write_some(struct td_lean_conn *c)
{
    while (c->writing) {
        size_t head_len = c->out_head.len;
        struct iovec iov[2];
        int n = 0;
        if (c->out_done < head_len)
            iov[n++] = (struct iovec){c->out_head.data + c->out_done, head_len - c->out_done};
        size_t body_done = c->out_done > head_len ? c->out_done - head_len : 0;
        if (body_done < c->out_body_len)
            iov[n++] = (struct iovec){(char *)(uintptr_t)c->out_body + body_done,
                                      c->out_body_len - body_done};
        if (n == 0) {
            out_release(c);
            return 1;
        }
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -errno;
        }
        c->out_done += (size_t)w;
        c->out_owed -= (size_t)w < c->out_owed ? (size_t)w : c->out_owed;
        c->active_ms = loop_ms(c->server);
    }
    return 1;
}

static void queue_ready(struct td_lean_conn *c)
{
    if (td_list_empty(&c->ready_link))
        td_list_push_back(&c->server->lean_ready, &c->ready_link);
    td_http_server_wake(c->server);
}

static void update_poll(struct td_lean_conn *c);

/* held and out_head trade buffers (allocations included): no copy either way. */
static void swap_held(struct td_lean_conn *c)
{
    struct td_buf t = c->out_head;
    c->out_head = c->held;
    c->held = t;
}

/* The held answers become the start of what is written next (out_head is empty). */
static void take_held(struct td_lean_conn *c)
{
    if (c->held.len == 0)
        return;
    swap_held(c);
    c->out_owed = c->out_head.len;
}

/* A runtime sends GET /next in the same write as its /response: answering the /response at once
 * would wake it only to read a 202, and wake it again for the next event. With
 * opts.coalesce_pipelined, a complete 2xx answer to a request that already has another one
 * behind it in the buffer is held and goes out in front of that request's answer (in one
 * sendmsg). Answers stay in order; a client that pipelined reads them in order anyway. */
static bool hold_answer(struct td_lean_conn *c)
{
    struct td_http_request *req = c->req;
    if (!c->server->opts.coalesce_pipelined || !c->writing || c->interim || c->out_done > 0 ||
        c->out_head.len + c->out_body_len > LEAN_HOLD_MAX || c->close_after || !req->dispatched ||
        req->status < 200 || req->status > 299 || c->in_off >= c->in_len ||
        c->held.len > 0 /* taken by every answer: never here */)
        return false;
    if (c->out_body_len > 0 && td_buf_append(&c->out_head, c->out_body, c->out_body_len) < 0)
        return false; /* written now instead */
    swap_held(c);     /* held was empty */
    out_release(c);
    return true;
}

/* Write what can be written now; the rest (and what comes after) from the loop. */
static void flush_answer(struct td_lean_conn *c, bool in_callback)
{
    int r = write_some(c);
    if (r == 0) {
        update_poll(c);
        return;
    }
    if (r < 0) {
        /* The peer is gone. The connection closes from lean_process: never inside a handler,
         * the parser, or the caller of td_http_reply. */
        out_release(c);
        c->broken = true;
    }
    if (!in_callback)
        queue_ready(c);
}

/* An answer that could not be put together: nothing of it (nor of a 100 Continue before it)
 * goes out, only the answers held for earlier requests, and the connection closes. */
static void abandon_answer(struct td_lean_conn *c)
{
    size_t owed = c->out_owed;
    c->out_head.len = owed;
    if (c->out_head.data)
        c->out_head.data[owed] = '\0';
    c->out_done = 0;
    c->writing = owed > 0;
    c->interim = owed > 0;
    c->req->drop = true;
    c->close_after = true;
    queue_ready(c);
}

/* Whether the body of a request answered from on_headers can be read past. */
static bool body_discardable(const struct td_lean_conn *c)
{
    if (!c->req || !c->req->method || (c->parser.flags & F_CHUNKED))
        return false; /* answered before its head was parsed, or a body of unknown length */
    if (!(c->parser.flags & F_CONTENT_LENGTH))
        return true;
    return c->parser.content_length <= LEAN_DISCARD_MAX;
}

int td_lean_reply(struct td_http_request *req, unsigned status,
                  const struct td_http_out_header *headers, size_t n_headers, const void *body,
                  size_t len, void (*free_fn)(void *), void *free_arg)
{
    struct td_lean_conn *c = req->lean;
    if (!c || c->req != req || (c->writing && !c->interim) || c->closing) {
        if (free_fn)
            free_fn(free_arg);
        return -EPIPE;
    }
    req->answered = true;
    req->status = status;
    c->active_ms = loop_ms(c->server);
    /* An answer before the body was read: the body is read past when it is short, otherwise
     * the connection ends after the answer. A client that asked to be told before sending its
     * body (Expect) may not send it after a final answer: reading past would take its next
     * request for the body. */
    if (!req->dispatched && (!body_discardable(c) || td_lean_field(req, "Expect", false)))
        c->close_after = true;
    if (c->parser.flags & F_CONNECTION_CLOSE)
        c->close_after = true;
    struct td_buf *h = &c->out_head;
    if (c->interim) {
        /* A 100 Continue not fully written yet: the answer goes after what is left of it. */
        size_t left = h->len - c->out_done;
        memmove(h->data, h->data + c->out_done, left);
        h->len = left;
        c->out_done = 0;
        c->interim = false;
    } else {
        td_buf_reset(h);
        take_held(c);
    }
    /* Built with appends: this head goes out with every answer. */
    int r = td_buf_puts(h, "HTTP/1.1 ");
    if (r >= 0)
        r = td_buf_append_u64(h, status % 1000);
    if (r >= 0)
        r = td_buf_puts(h, " ");
    if (r >= 0)
        r = td_buf_puts(h, reason_phrase(status));
    for (size_t i = 0; r >= 0 && i < n_headers; i++) {
        if (!header_text_ok(headers[i].name) || !header_text_ok(headers[i].value) ||
            strcasecmp(headers[i].name, "Content-Length") == 0 ||
            strcasecmp(headers[i].name, "Connection") == 0) {
            if (headers[i].value && strcasecmp(headers[i].name, "Connection") == 0 &&
                strcasecmp(headers[i].value, "close") == 0)
                c->close_after = true;
            continue;
        }
        r = td_buf_puts(h, "\r\n");
        if (r >= 0)
            r = td_buf_puts(h, headers[i].name);
        if (r >= 0)
            r = td_buf_puts(h, ": ");
        if (r >= 0)
            r = td_buf_puts(h, headers[i].value);
    }
    if (r >= 0)
        r = td_buf_puts(h, "\r\nContent-Length: ");
    if (r >= 0)
        r = td_buf_append_u64(h, len);
    if (r >= 0)
        r = td_buf_puts(h, c->close_after ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
    if (r < 0) {
        if (free_fn)
            free_fn(free_arg);
        abandon_answer(c);
        return r;
    }
    if (req->method && strcmp(req->method, "HEAD") == 0) {
        /* The head says how long the body would be; the body is not sent. */
        if (free_fn)
            free_fn(free_arg);
        free_fn = NULL;
        free_arg = NULL;
        body = NULL;
        len = 0;
    }
    if (!free_fn && len > 0) {
        /* The caller keeps its bytes: copy them after the head. */
        if (td_buf_append(h, body, len) < 0) {
            abandon_answer(c);
            return -ENOMEM;
        }
        body = NULL;
        len = 0;
    }
    c->out_body = body;
    c->out_body_len = len;
    c->out_free = free_fn;
    c->out_free_arg = free_arg;
    c->out_done = 0;
    c->writing = true;
    /* Answered from on_request: parse_input writes it once the parser has paused, when it knows
     * whether the client already sent its next request (coalesce_pipelined). */
    if (!(c->server->opts.coalesce_pipelined && req->in_handler && req->dispatched))
        flush_answer(c, req->in_handler);
    return 0;
}

void td_lean_drop(struct td_http_request *req)
{
    struct td_lean_conn *c = req->lean;
    req->answered = true;
    req->drop = true;
    if (c && c->req == req) {
        c->close_after = true;
        if (!req->in_handler)
            queue_ready(c);
    }
}

/* ---- reading ---- */

/* RFC 9110 10.1.1: a client that sent Expect: 100-continue waits for a 100 (or the answer)
 * before its body. */
static void send_continue(struct td_lean_conn *c)
{
    bool has_body = (c->parser.flags & F_CHUNKED) || c->parser.content_length > 0;
    if (!has_body || c->writing || llhttp_get_http_minor(&c->parser) < 1)
        return; /* the usual case, without looking through the fields */
    const char *expect = td_lean_field(c->req, "Expect", false);
    if (!expect || strcasecmp(expect, "100-continue") != 0)
        return;
    take_held(c);
    if (td_buf_puts(&c->out_head, "HTTP/1.1 100 Continue\r\n\r\n") < 0 && c->out_head.len == 0)
        return; /* the client sends its body after its own timeout */
    c->out_done = 0;
    c->writing = true;
    c->interim = true;
    flush_answer(c, true);
}

static int on_headers_complete(llhttp_t *p)
{
    struct td_lean_conn *c = conn_of(p);
    struct td_http_server *s = c->server;
    struct td_http_request *req = c->req;
    req->method = c->head.data + c->method_off;
    req->url = c->head.data + c->target_off;
    char *q = strchr(c->head.data + c->target_off, '?');
    if (q)
        *q++ = '\0';
    req->raw_query = q ? q : "";
    if (publish_fields(c) < 0)
        return HPE_USER;
    c->in_trailers = true;
    c->name_open = false;
    if (s->stopping) {
        td_lean_drop(req);
        return HPE_PAUSED;
    }
    req->in_handler = true;
    s->opts.handlers->on_headers(req, s->opts.userdata);
    req->in_handler = false;
    if (!req->answered) {
        /* A declared body within the limit gets its buffer at once: no regrowth (and copy)
         * while a large one arrives. */
        if ((c->parser.flags & F_CONTENT_LENGTH) && c->parser.content_length > 0 &&
            c->parser.content_length <= req->body.max)
            (void)td_buf_reserve(&req->body, (size_t)(c->parser.content_length < LEAN_RESERVE_MAX
                                                          ? c->parser.content_length
                                                          : LEAN_RESERVE_MAX));
        send_continue(c);
    }
    /* Answered already: the body is read past (on_body, on_message_complete), or the connection
     * ends once the answer is out. */
    return req->answered && c->close_after ? HPE_PAUSED : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct td_http_request *req = conn_of(p)->req;
    req->body_total += len;
    if (req->answered)
        return 0;
    if (!req->overflow && req->body.data && at == req->body.data + req->body.len) {
        /* read straight into the body's buffer (read_body_direct): already in place */
        req->body.len += len;
        req->body.data[req->body.len] = '\0';
        return 0;
    }
    if (!req->overflow && td_buf_append(&req->body, at, len) < 0) {
        req->overflow = true;
        td_buf_release(&req->body);
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct td_lean_conn *c = conn_of(p);
    struct td_http_server *s = c->server;
    struct td_http_request *req = c->req;
    if (publish_fields(c) < 0) /* the trailers */
        return HPE_USER;
    if (!llhttp_should_keep_alive(p))
        c->close_after = true;
    req->dispatched = true;
    if (req->answered)
        return HPE_PAUSED; /* from on_headers; its body was read past */
    req->in_handler = true;
    s->opts.handlers->on_request(req, s->opts.userdata);
    req->in_handler = false;
    if (!req->answered && !req->want_suspend) {
        td_log_error("%s: handler neither answered nor suspended %s %s", s->opts.name, req->method,
                     req->url);
        td_lean_drop(req);
    }
    if (req->want_suspend && !req->answered) {
        req->want_suspend = false;
        req->suspended = true;
    }
    return HPE_PAUSED;
}

static const llhttp_settings_t request_settings = {
    .on_message_begin = on_message_begin,
    .on_method = on_method,
    .on_method_complete = on_method_complete,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* A request that cannot be parsed is answered 400 (431 for an oversized head) and ends the
 * connection. The body has the AWS rest-json error shape on a lean listener (the public API),
 * the Runtime API's (ErrorResponse) on a runtime's socket. */
static void refuse(struct td_lean_conn *c, unsigned status, const char *type, const char *why)
{
    char body[256];
    bool aws = c->server->opts.lean_listener;
    int n = aws ? snprintf(body, sizeof(body), "{\"Type\":\"User\",\"message\":\"%s\"}", why)
                : snprintf(body, sizeof(body), "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}",
                           why, type);
    const struct td_http_out_header h[] = {
        {"Content-Type", "application/json"}, {"Connection", "close"}, {"x-amzn-ErrorType", type}};
    if (!c->req && !(c->req = request_new(c))) {
        conn_close(c);
        return;
    }
    c->close_after = true;
    if (c->req->answered) {
        flush_answer(c, true);
        return;
    }
    c->req->in_handler = true; /* written below, from here */
    (void)td_lean_reply(c->req, status, h, aws ? 3 : 2, body, (size_t)n, NULL, NULL);
    c->req->in_handler = false;
}

/* Once the parser paused at the end of a request (its input accounted for): an answer the
 * handler gave goes out, or is held behind the next request (coalesce_pipelined). */
static void answer_after_pause(struct td_lean_conn *c)
{
    if (c->req && c->req->answered && !hold_answer(c))
        flush_answer(c, true);
}

/* Parse len bytes at start. 0 when all were taken; 1 when the parser paused at the end of a
 * request, after *parsed bytes (the caller accounts for them, then calls answer_after_pause);
 * -1 when they were refused (answered, and the connection ends) or the connection is closing. */
static int parse_span(struct td_lean_conn *c, const char *start, size_t len, size_t *parsed)
{
    *parsed = 0;
    llhttp_errno_t e = llhttp_execute(&c->parser, start, len);
    if (e == HPE_OK) {
        *parsed = len;
        return 0;
    }
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
        *parsed = (size_t)(llhttp_get_error_pos(&c->parser) - start);
        /* An Upgrade (or CONNECT) is not taken up (RFC 9110 7.8): HTTP/1.1 goes on. */
        if (e == HPE_PAUSED_UPGRADE)
            llhttp_resume_after_upgrade(&c->parser);
        else
            llhttp_resume(&c->parser);
        return 1;
    }
    if (c->head_failed) {
        refuse(c, 431, "RequestHeaderFieldsTooLarge", "Request header fields too large");
    } else {
        const char *reason = llhttp_get_error_reason(&c->parser);
        td_log_debug("%s: malformed request: %s (%s)", c->server->opts.name, llhttp_errno_name(e),
                     reason ? reason : "?");
        refuse(c, 400, "InvalidRequest", "Malformed HTTP/1.1 request");
    }
    return -1;
}

/* Parse what is buffered. false when the connection is closing. */
static bool parse_input(struct td_lean_conn *c)
{
    if (!c->req && c->in_off < c->in_len && !(c->req = request_new(c))) {
        conn_close(c);
        return false;
    }
    size_t parsed;
    int r = parse_span(c, c->in + c->in_off, c->in_len - c->in_off, &parsed);
    if (r >= 0) {
        c->in_off += parsed;
        if (c->in_off == c->in_len)
            release_input(c);
    }
    if (r == 1)
        answer_after_pause(c);
    return !c->closing;
}

/* How much of the current request's declared body is still to come, when it can be read
 * straight into the body's buffer: past the headers, with nothing unparsed in front of it,
 * taken by the handler, within its limit, and more than a read chunk. 0 otherwise. */
static size_t direct_body_left(const struct td_lean_conn *c)
{
    const struct td_http_request *req = c->req;
    if (!req || !c->in_trailers || req->answered || req->dispatched || req->overflow ||
        c->in_off < c->in_len || c->eof)
        return 0;
    if (!(c->parser.flags & F_CONTENT_LENGTH) || (c->parser.flags & F_CHUNKED))
        return 0;
    uint64_t left = c->parser.content_length; /* llhttp counts it down as the body comes */
    if (left <= LEAN_READ_CHUNK || req->body.len > req->body.max ||
        left > req->body.max - req->body.len)
        return 0;
    return (size_t)left;
}

/* Read a large body where it ends up, instead of through the scratch buffer and a copy: fewer
 * reads (a 6 MB body came in 384 of 16 KiB) and no copy. The buffer doubles as the body
 * arrives (within the body's limit). All but the body's last byte: that one, and whatever the
 * client pipelined behind it, are read the usual way, so that the request completes there (the
 * handler may take the body's buffer while llhttp still parses, and an answer is held behind a
 * pipelined request only if that request is already read: coalesce_pipelined). false when the
 * buffer cannot grow (the usual way then finds out and marks the body overflowed). */
static bool read_body_direct(struct td_lean_conn *c, size_t left)
{
    left--; /* the last byte: see above */
    struct td_buf *b = &c->req->body;
    if (b->cap <= b->len + 1) {
        size_t grow = b->len > LEAN_READ_CHUNK ? b->len : LEAN_READ_CHUNK;
        if (td_buf_reserve(b, grow < left ? grow : left) < 0)
            return false;
    }
    size_t room = b->cap - b->len - 1;
    ssize_t n;
    do
        n = recv(c->fd, b->data + b->len, room < left ? room : left, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        c->eof = true;
    if (n <= 0)
        return true;
    size_t parsed;
    if (parse_span(c, b->data + b->len, (size_t)n, &parsed) != 0 || parsed != (size_t)n)
        conn_close(c); /* cannot happen: body bytes short of its end, which the parser takes */
    return true;
}

static void read_input(struct td_lean_conn *c)
{
    if (c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
    if (c->in_len == LEAN_READ_CHUNK)
        return; /* full: parse first */
    if (!c->in) {
        struct td_http_server *s = c->server;
        if (!s->lean_scratch && !(s->lean_scratch = malloc(LEAN_READ_CHUNK))) {
            c->eof = true;
            return;
        }
        c->in = s->lean_scratch;
        c->in_shared = true;
    }
    ssize_t n;
    do
        n = recv(c->fd, c->in + c->in_len, LEAN_READ_CHUNK - c->in_len, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        c->in_len += (size_t)n;
    else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        c->eof = true;
    if (c->in_len == 0)
        release_input(c);
}

/* A connection that ends after its answer while the client may still be sending (say a body
 * refused at its head) is not closed at once: closing with unread input resets it, and a client
 * that reads only once it has sent everything would never see the answer. The server shuts its
 * writing side down (the client reads the answer, then EOF) and reads and discards whatever
 * still comes, until the client closes or for LEAN_LINGER_MS (td_lean_close_idle). */
static void linger(struct td_lean_conn *c)
{
    if (shutdown(c->fd, SHUT_WR) < 0) {
        conn_close(c);
        return;
    }
    c->lingering = true;
    c->server->n_lingering++;
    c->linger_since_ms = loop_ms(c->server);
    td_http_server_lean_gone(c->server); /* its place can go to a client waiting for one */
    release_input(c);
    td_buf_release(&c->head);
    td_buf_release(&c->trailers);
    td_buf_release(&c->out_head);
    td_buf_release(&c->held);
}

static void linger_read(struct td_lean_conn *c)
{
    for (int i = 0; i < 16; i++) {
        /* TCP drops what MSG_TRUNC asks for without copying it anywhere. */
        ssize_t n = recv(c->fd, NULL, 1024 * 1024, MSG_DONTWAIT | MSG_TRUNC);
        if (n > 0 && (c->lingered += (uint64_t)n) <= LEAN_LINGER_BYTES)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        conn_close(c); /* the client closed, the connection failed, or it sent too much */
        return;
    }
}

/* The answer of the current request is out: on to the next one. */
static void finish_request(struct td_lean_conn *c)
{
    bool drop = c->req && c->req->drop;
    request_end(c);
    c->active_ms = loop_ms(c->server);
    /* (lingering ends in the listener's sweep, which runs when there is an idle timeout) */
    if (!drop && c->close_after && c->server->lean_handles && c->server->opts.idle_timeout &&
        !c->eof)
        linger(c);
    else if (drop || c->close_after)
        conn_close(c);
}

/* What the poll watches: input while there is room for it (a parked request's connection
 * included, so that reading nothing new costs no epoll_ctl), output while an answer waits. */
static void update_poll(struct td_lean_conn *c)
{
    int events = UV_DISCONNECT;
    if (c->in_len < LEAN_READ_CHUNK && !c->eof)
        events |= UV_READABLE;
    if (c->writing)
        events |= UV_WRITABLE;
    set_poll(c, events);
}

static void lean_process(struct td_lean_conn *c)
{
    while (!c->closing && !c->lingering) {
        if (c->broken) {
            conn_close(c);
            return;
        }
        if (c->writing) {
            flush_answer(c, true);
            if (c->broken)
                continue;
            if (c->writing)
                break;
        }
        struct td_http_request *req = c->req;
        /* An answered request ends once its body is parsed, or at once when the connection
         * ends with it. */
        if (req && req->answered && (req->dispatched || c->close_after)) {
            finish_request(c);
            continue;
        }
        if (req && req->dispatched) {
            /* Parked until answered; a peer that hung up would never read the answer. */
            if (c->eof) {
                conn_close(c);
                return;
            }
            break;
        }
        if (c->in_off < c->in_len) {
            if (!parse_input(c))
                return;
            continue;
        }
        if (c->eof) {
            conn_close(c);
            return;
        }
        break;
    }
    /* Answers are held only behind a request the server is serving; one still arriving (or a
     * client that sent nothing more) gets them now. */
    if (!c->closing && !c->lingering && c->held.len > 0 && !c->writing &&
        !(c->req && c->req->dispatched)) {
        take_held(c);
        c->writing = true;
        c->interim = true;
        flush_answer(c, true);
        if (c->broken) {
            conn_close(c);
            return;
        }
    }
    if (!c->closing)
        update_poll(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct td_lean_conn *c = h->data;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->lingering) {
        linger_read(c);
        return;
    }
    if (events & (UV_READABLE | UV_DISCONNECT)) {
        c->active_ms = loop_ms(c->server);
        size_t left = direct_body_left(c);
        if (left == 0 || !read_body_direct(c, left))
            read_input(c);
        /* A hang-up seen with a full buffer: nothing more will be read anyway. */
        if ((events & UV_DISCONNECT) && c->in_len == LEAN_READ_CHUNK)
            c->eof = true;
    }
    lean_process(c);
    keep_input(c);
}

void td_lean_run_ready(struct td_http_server *s)
{
    while (!td_list_empty(&s->lean_ready)) {
        struct td_lean_conn *c =
            td_container_of(s->lean_ready.next, struct td_lean_conn, ready_link);
        td_list_remove(&c->ready_link);
        td_list_init(&c->ready_link);
        lean_process(c);
    }
}

/* ---- the connection ---- */

static void on_conn_closed(uv_handle_t *h)
{
    struct td_lean_conn *c = h->data;
    close(c->fd);
    td_buf_release(&c->head);
    td_buf_release(&c->trailers);
    td_buf_release(&c->out_head);
    td_buf_release(&c->held);
    release_input(c);
    free(c);
}

static void conn_close(struct td_lean_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct td_http_server *s = c->server;
    if (c->lingering)
        s->n_lingering--;
    if (c->held.len > 0 && !c->writing) {
        /* Best effort, as an answer being written is: the peer may still read them. */
        (void)send(c->fd, c->held.data, c->held.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    out_release(c);
    request_end(c);
    td_list_remove(&c->link);
    s->n_lean--;
    td_http_server_lean_gone(s);
    td_list_remove(&c->ready_link);
    td_list_init(&c->ready_link);
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, on_conn_closed);
    if (s->opts.handlers->on_connection_closed)
        s->opts.handlers->on_connection_closed(c->context, s->opts.userdata);
}

void td_lean_close_all(struct td_http_server *s)
{
    while (!td_list_empty(&s->lean_conns))
        conn_close(td_container_of(s->lean_conns.next, struct td_lean_conn, link));
}

void td_lean_close_idle(struct td_http_server *s, int64_t before_ms)
{
    struct td_list *pos, *tmp;
    int64_t linger_cutoff = loop_ms(s) - LEAN_LINGER_MS;
    td_list_foreach_safe(pos, tmp, &s->lean_conns)
    {
        struct td_lean_conn *c = td_container_of(pos, struct td_lean_conn, link);
        if (c->lingering) {
            if (c->linger_since_ms < linger_cutoff)
                conn_close(c);
            continue;
        }
        /* Silent since before_ms, and not waiting on this server: between requests, in the
         * middle of one (a client that stopped sending), or with an answer the client does not
         * read. A request being served (an invocation running) is not idle. */
        bool served = c->req && c->req->dispatched && !c->req->answered;
        if (!served && c->active_ms < before_ms)
            conn_close(c);
    }
}

void td_lean_close_lingering(struct td_http_server *s)
{
    struct td_lean_conn *oldest = NULL;
    struct td_list *pos, *tmp;
    td_list_foreach_safe(pos, tmp, &s->lean_conns)
    {
        struct td_lean_conn *c = td_container_of(pos, struct td_lean_conn, link);
        if (c->lingering && (!oldest || c->linger_since_ms < oldest->linger_since_ms))
            oldest = c;
    }
    if (oldest)
        conn_close(oldest);
}

size_t td_http_server_lean_connections(const struct td_http_server *s)
{
    return s->n_lean;
}

int td_http_server_add_lean_connection(struct td_http_server *s, int fd, uint64_t context)
{
    struct td_lean_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    c->server = s;
    c->fd = fd;
    c->context = context;
    td_buf_init(&c->head, LEAN_HEAD_MAX);
    td_buf_init(&c->trailers, LEAN_HEAD_MAX);
    td_buf_init(&c->out_head, LEAN_OUT_COPY_MAX);
    td_buf_init(&c->held, LEAN_OUT_COPY_MAX);
    llhttp_init(&c->parser, HTTP_REQUEST, &request_settings);
    c->parser.data = c;
    td_list_init(&c->ready_link);
    int r = uv_poll_init(s->loop, &c->poll, fd);
    if (r < 0) {
        free(c);
        close(fd);
        return r;
    }
    c->poll.data = c;
    c->active_ms = loop_ms(c->server);
    td_list_push_back(&s->lean_conns, &c->link);
    s->n_lean++;
    update_poll(c);
    return 0;
}

/* ---- request accessors ---- */

bool td_http_peer_gone(const struct td_http_request *req)
{
    const struct td_lean_conn *c = req->lean;
    if (!c || c->closing || c->eof)
        return c != NULL;
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

const char *td_lean_field(const struct td_http_request *req, const char *name, bool trailer)
{
    size_t from = trailer ? req->n_headers : 0, to = trailer ? req->n_fields : req->n_headers;
    size_t len = strlen(name);
    for (size_t i = from; i < to; i++)
        if (req->fields[i].name_len == len && strncasecmp(req->fields[i].name, name, len) == 0)
            return req->fields[i].value;
    return NULL;
}

const char *td_lean_query_param(const struct td_http_request *req, const char *name)
{
    /* Raw values, like the libmicrohttpd requests (which keep escapes as sent). Only the first
     * occurrence counts. The value is a NUL-terminated copy that lives as long as the request
     * (the target's bytes cannot be cut in place: a value may be looked up by a longer name). */
    size_t len = strlen(name);
    const char *q = req->raw_query;
    while (q && *q) {
        const char *end = q + strcspn(q, "&");
        if ((size_t)(end - q) >= len && strncmp(q, name, len) == 0 &&
            (q[len] == '=' || q + len == end)) {
            struct td_http_request *mut = (struct td_http_request *)(uintptr_t)req;
            const char *v = q[len] == '=' ? q + len + 1 : end;
            char *copy = strndup(v, (size_t)(end - v));
            char **kept =
                copy ? realloc(mut->param_values, (mut->n_param_values + 1) * sizeof(*kept)) : NULL;
            if (!kept) {
                free(copy);
                return NULL;
            }
            kept[mut->n_param_values++] = copy;
            mut->param_values = kept;
            return copy;
        }
        q = *end ? end + 1 : NULL;
    }
    return NULL;
}
