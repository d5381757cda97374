#include "tenantd/http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/list.h"
#include "tenantd/log.h"
#include "tenantd/util.h"

/* ---- request accessors ---- */

bool td_http_on_lean(const struct td_http_request *req)
{
    return req->lean != NULL;
}

const char *td_http_method(const struct td_http_request *req)
{
    return req->method;
}

const char *td_http_path(const struct td_http_request *req)
{
    return req->url;
}

struct query_builder {
    struct td_buf *buf;
};

static enum MHD_Result append_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    struct td_buf *b = cls;
    (void)kind;
    if (b->len > 0)
        (void)td_buf_puts(b, "&");
    (void)td_buf_puts(b, key);
    if (value) {
        (void)td_buf_puts(b, "=");
        (void)td_buf_puts(b, value);
    }
    return MHD_YES;
}

const char *td_http_query(struct td_http_request *req)
{
    if (req->lean)
        return req->raw_query ? req->raw_query : "";
    if (!req->query) {
        struct td_buf b = TD_BUF_INIT(64 * 1024);
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, append_query_arg, &b);
        req->query = b.data ? td_buf_steal(&b, NULL) : strdup("");
    }
    return req->query ? req->query : "";
}

const char *td_http_query_param(const struct td_http_request *req, const char *name)
{
    if (req->lean)
        return td_lean_query_param(req, name);
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *td_http_header(const struct td_http_request *req, const char *name)
{
    if (req->lean)
        return td_lean_field(req, name, false);
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *td_http_trailer(const struct td_http_request *req, const char *name)
{
    if (req->lean)
        return td_lean_field(req, name, true);
    return MHD_lookup_connection_value(req->conn, MHD_FOOTER_KIND, name);
}

struct header_collector {
    struct td_http_header *out;
    size_t max;
    size_t n;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
    struct header_collector *hc = cls;
    (void)kind;
    if (hc->n < hc->max)
        hc->out[hc->n] =
            (struct td_http_header){key, key_size, value ? value : "", value ? value_size : 0};
    hc->n++;
    return MHD_YES;
}

size_t td_http_headers(const struct td_http_request *req, struct td_http_header *out, size_t max)
{
    if (req->lean) {
        for (size_t i = 0; i < req->n_headers && i < max; i++)
            out[i] = req->fields[i];
        return req->n_headers;
    }
    struct header_collector hc = {out, max, 0};
    MHD_get_connection_values_n(req->conn, MHD_HEADER_KIND, collect_header, &hc);
    return hc.n;
}

const char *td_http_body(const struct td_http_request *req, size_t *ret_len)
{
    *ret_len = req->body.len;
    return req->body.data ? req->body.data : "";
}

char *td_http_body_steal(struct td_http_request *req, size_t *ret_len)
{
    return td_buf_steal(&req->body, ret_len);
}

bool td_http_body_overflowed(const struct td_http_request *req, uint64_t *ret_size)
{
    if (ret_size)
        *ret_size = req->body_total;
    return req->overflow;
}

void td_http_set_body_max(struct td_http_request *req, size_t max)
{
    req->body.max = max;
}

uint64_t td_http_conn_context(const struct td_http_request *req)
{
    return req->conn_context;
}

void td_http_set_owner(struct td_http_request *req, void *owner,
                       void (*on_gone)(struct td_http_request *req, void *owner))
{
    req->owner = owner;
    req->on_gone = on_gone;
}

bool td_http_answered(const struct td_http_request *req)
{
    return req->answered;
}

/* ---- answering ---- */

static void on_timer(uv_timer_t *h);
static void run_mhd(struct td_http_server *s);

/* MHD_run calls in progress, of any server: libmicrohttpd is not run from inside itself. */
static unsigned mhd_depth;

/* Run the server again soon: in external-epoll mode libmicrohttpd does not make its epoll fd
 * readable when a connection is resumed or added, so the loop must not go to sleep first. */
static void schedule_run(struct td_http_server *s)
{
    s->need_run = true;
    uv_timer_start(&s->timer, on_timer, 0, 0);
}

static void on_idle(uv_idle_t *h)
{
    struct td_http_server *s = h->data;
    td_lean_run_ready(s);
    if (td_list_empty(&s->lean_ready))
        uv_idle_stop(h);
}

void td_http_server_wake(struct td_http_server *s)
{
    if (!s->stopping)
        uv_idle_start(&s->idle, on_idle);
}

/* A resumed request is answered at once when no libmicrohttpd server is running (an answer
 * coming from a lean connection's handler: a runtime's response reaches its client before
 * anything else is done), and from the loop otherwise. */
static void resume(struct td_http_request *req)
{
    if (req->suspended) {
        req->suspended = false;
        MHD_resume_connection(req->conn);
        if (mhd_depth == 0 && !req->server->stopping)
            run_mhd(req->server);
        else
            schedule_run(req->server);
    }
}

void td_http_reply(struct td_http_request *req, unsigned status,
                   const struct td_http_out_header *headers, size_t n_headers, const void *body,
                   size_t len, void (*free_fn)(void *), void *free_arg)
{
    struct MHD_Response *resp;

    if (req->answered) {
        if (free_fn)
            free_fn(free_arg);
        return;
    }
    if (req->lean) {
        (void)td_lean_reply(req, status, headers, n_headers, body, len, free_fn, free_arg);
        return;
    }
    if (free_fn)
        resp = MHD_create_response_from_buffer_with_free_callback_cls(len, (void *)(uintptr_t)body,
                                                                      free_fn, free_arg);
    else
        resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    req->answered = true;
    if (!resp) {
        if (free_fn)
            free_fn(free_arg);
        req->drop = true;
        resume(req);
        return;
    }
    for (size_t i = 0; i < n_headers; i++)
        MHD_add_response_header(resp, headers[i].name, headers[i].value);
    req->response = resp;
    req->status = status;
    resume(req);
}

static void free_json_text(void *p)
{
    free(p);
}

void td_http_reply_json(struct td_http_request *req, unsigned status,
                        const struct td_http_out_header *headers, size_t n_headers,
                        const json_t *doc)
{
    struct td_http_out_header all[16];
    size_t n = 0;
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (!text) {
        td_http_drop(req);
        return;
    }
    all[n++] = (struct td_http_out_header){"Content-Type", "application/json"};
    for (size_t i = 0; i < n_headers && n < TD_ARRAY_SIZE(all); i++)
        all[n++] = headers[i];
    td_http_reply(req, status, all, n, text, strlen(text), free_json_text, text);
}

void td_http_reply_aws_error(struct td_http_request *req, const struct td_err *err,
                             const char *request_id)
{
    struct td_http_out_header h[3];
    size_t n = 0;
    unsigned status = err->status ? (unsigned)err->status : 500;
    const char *type = err->type[0] ? err->type : "ServiceException";
    h[n++] = (struct td_http_out_header){"x-amzn-ErrorType", type};
    if (request_id)
        h[n++] = (struct td_http_out_header){"x-amzn-RequestId", request_id};
    if (status == 429)
        h[n++] = (struct td_http_out_header){"Retry-After", "1"};
    json_t *doc = json_pack("{s:s, s:s}", "Type", status >= 500 ? "Service" : "User", "message",
                            err->message);
    td_http_reply_json(req, status, h, n, doc);
    json_decref(doc);
}

void td_http_drop(struct td_http_request *req)
{
    if (req->lean) {
        td_lean_drop(req);
        return;
    }
    req->answered = true;
    req->drop = true;
    resume(req);
}

void td_http_suspend(struct td_http_request *req)
{
    req->want_suspend = true;
}

/* ---- MHD callbacks ---- */

static void request_free(struct td_http_request *req)
{
    if (req->response)
        MHD_destroy_response(req->response);
    td_list_remove(&req->link);
    td_buf_release(&req->body);
    free(req->query);
    free(req);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct td_http_server *s = cls;
    struct td_http_request *req = *con_cls;
    (void)conn;
    (void)toe;
    if (!req)
        return;
    *con_cls = NULL;
    if (!req->answered && req->on_gone)
        req->on_gone(req, req->owner);
    s->active--;
    request_free(req);
}

static void connection_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct td_http_server *s = cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? ci->connect_fd : -1;
    if (fd < 0 || (size_t)fd >= s->ctx_cap)
        return;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = (void *)(uintptr_t)s->ctx_by_fd[fd];
        return;
    }
    uint64_t context = (uint64_t)(uintptr_t)*socket_context;
    s->ctx_by_fd[fd] = 0;
    if (context && s->opts.handlers->on_connection_closed)
        s->opts.handlers->on_connection_closed(context, s->opts.userdata);
}

/* libmicrohttpd's own messages (a client that went away, a dropped request) are debug
 * information for the daemon, not errors of the service. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    const struct td_http_server *s = cls;
    char msg[512];
    if (td_log_max_level < TD_LOG_DEBUG)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    td_log_debug("%s: %s", s->opts.name, msg);
}

static size_t keep_raw(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

/* Refuse requests whose framing two parsers could read differently (request smuggling). */
struct framing {
    int content_length;
    int transfer_encoding;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    struct framing *f = cls;
    (void)kind;
    (void)key_size;
    (void)value;
    (void)value_size;
    if (strcasecmp(key, "Content-Length") == 0)
        f->content_length++;
    else if (strcasecmp(key, "Transfer-Encoding") == 0)
        f->transfer_encoding++;
    return MHD_YES;
}

/* A NUL byte inside a header value. libmicrohttpd (0.9.75) cuts the value at the NUL and
 * reports the shortened length, silently dropping the rest of the line, so its API alone cannot
 * tell. It parses the header block in place in its read buffer, replacing each line's CR and LF
 * with NULs: after a clean value come only those NULs, the same number after every line (two
 * for CRLF, one for bare LF), then the next header's name; after the last value, twice that
 * number up to the end of the block (the empty line). Any other byte, or another count, is
 * what a NUL hid. Folded (obs-fold) lines are moved by the library and fail the same test;
 * RFC 7230 lets a server refuse them. */
static bool header_hides_bytes(const struct td_http_header *h, size_t n, const char *block_end)
{
    size_t line_gap = 0;
    for (size_t i = 0; i < n; i++) {
        const char *end = h[i].value + h[i].value_len; /* the value's terminating NUL */
        const char *next = i + 1 < n ? h[i + 1].name : block_end;
        if (next <= end || next - end > 8)
            return true;
        for (const char *p = end; p < next; p++)
            if (*p != '\0')
                return true;
        size_t gap = (size_t)(next - end);
        if (i + 1 < n) {
            if (!line_gap)
                line_gap = gap;
            if (gap != line_gap || gap > 2)
                return true;
        } else if (line_gap ? gap != 2 * line_gap : gap != 2 && gap != 4) {
            return true;
        }
    }
    return false;
}

static const char *framing_problem(struct MHD_Connection *conn, const char *method)
{
    struct framing f = {0};
    struct td_http_header headers[256];
    struct header_collector hc = {headers, TD_ARRAY_SIZE(headers), 0};
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, collect_header, &hc);
    if (hc.n > TD_ARRAY_SIZE(headers))
        return "too many headers";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (!ci || header_hides_bytes(headers, hc.n, method + ci->header_size))
        return "NUL byte or folded line in a header";
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.content_length > 1)
        return "more than one Content-Length header";
    if (f.content_length && f.transfer_encoding)
        return "both Content-Length and Transfer-Encoding";
    if (f.transfer_encoding > 1)
        return "more than one Transfer-Encoding header";
    return NULL;
}

static enum MHD_Result queue_and_finish(struct td_http_request *req)
{
    if (req->drop || !req->response)
        return MHD_NO;
    enum MHD_Result r = MHD_queue_response(req->conn, req->status, req->response);
    MHD_destroy_response(req->response);
    req->response = NULL;
    return r;
}

static void reply_bad_request(struct td_http_request *req, const char *why)
{
    static const struct td_http_out_header close_hdr[] = {{"Connection", "close"}};
    json_t *doc = json_pack("{s:s, s:s}", "Type", "User", "message", why);
    td_http_reply_json(req, 400, close_hdr, 1, doc);
    json_decref(doc);
}

static enum MHD_Result after_handler(struct td_http_request *req)
{
    if (req->response || req->drop)
        return queue_and_finish(req);
    if (req->want_suspend && req->dispatched) {
        req->want_suspend = false;
        req->suspended = true;
        MHD_suspend_connection(req->conn);
        return MHD_YES;
    }
    return MHD_YES;
}

static struct td_http_request *request_new(struct td_http_server *s, struct MHD_Connection *conn,
                                           const char *url, const char *method)
{
    struct td_http_request *req = calloc(1, sizeof(*req));
    if (!req)
        return NULL;
    req->server = s;
    req->conn = conn;
    req->url = url;
    req->method = method;
    td_buf_init(&req->body, s->opts.default_body_max);
    td_list_init(&req->link);
    td_list_push_back(&s->requests, &req->link);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci)
        req->conn_context = (uint64_t)(uintptr_t)ci->socket_context;
    s->active++;
    return req;
}

static void take_body(struct td_http_request *req, const char *data, size_t size)
{
    req->body_total += size;
    if (req->overflow)
        return;
    if (td_buf_append(&req->body, data, size) < 0) {
        req->overflow = true;
        td_buf_release(&req->body);
    }
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    struct td_http_server *s = cls;
    struct td_http_request *req = *con_cls;
    (void)version;

    if (!req) {
        req = request_new(s, conn, url, method);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        const char *problem = framing_problem(conn, method);
        if (problem) {
            reply_bad_request(req, problem);
            return queue_and_finish(req);
        }
        if (s->stopping) {
            td_http_drop(req);
            return MHD_NO;
        }
        req->in_handler = true;
        s->opts.handlers->on_headers(req, s->opts.userdata);
        req->in_handler = false;
        return after_handler(req);
    }
    if (*upload_data_size) {
        if (!req->answered)
            take_body(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!req->dispatched && !req->answered) {
        req->dispatched = true;
        req->in_handler = true;
        s->opts.handlers->on_request(req, s->opts.userdata);
        req->in_handler = false;
        if (!req->answered && !req->want_suspend) {
            td_log_error("%s: handler neither answered nor suspended %s %s", s->opts.name, method,
                         url);
            td_http_drop(req);
        }
        return after_handler(req);
    }
    return after_handler(req);
}

/* ---- loop integration ---- */

static void run_mhd(struct td_http_server *s)
{
    MHD_UNSIGNED_LONG_LONG timeout;
    s->need_run = false;
    mhd_depth++;
    MHD_run(s->mhd);
    mhd_depth--;
    if (s->stopping)
        return;
    if (s->need_run) /* a handler resumed a connection of this server meanwhile */
        uv_timer_start(&s->timer, on_timer, 0, 0);
    else if (MHD_get_timeout(s->mhd, &timeout) == MHD_YES)
        uv_timer_start(&s->timer, on_timer, timeout, 0);
    else
        uv_timer_stop(&s->timer);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(h->data);
}

static void on_check(uv_check_t *h)
{
    struct td_http_server *s = h->data;
    td_lean_run_ready(s);
    if (s->need_run)
        run_mhd(s);
}

static void on_timer(uv_timer_t *h)
{
    run_mhd(h->data);
}

/* ---- the lean listener (opts.lean_listener) ---- */

static void on_accept(uv_poll_t *h, int status, int events);

static bool at_connection_limit(const struct td_http_server *s)
{
    return s->opts.max_connections && s->n_lean >= s->opts.max_connections;
}

/* Stop watching the listener: new clients wait in its backlog (a level-triggered poll would
 * otherwise spin on a socket it cannot accept from). */
static void pause_accepting(struct td_http_server *s)
{
    if (!s->accept_paused && s->listen_fd >= 0) {
        uv_poll_stop(&s->accept_poll);
        s->accept_paused = true;
    }
}

static void resume_accepting(struct td_http_server *s)
{
    /* (at the limit, a lingering connection can still give its place to a new client) */
    if (s->accept_paused && s->listen_fd >= 0 && !s->stopping &&
        (!at_connection_limit(s) || s->n_lingering > 0)) {
        s->accept_paused = false;
        uv_poll_start(&s->accept_poll, UV_READABLE, on_accept);
    }
}

static void on_accept_retry(uv_timer_t *t)
{
    resume_accepting(t->data);
}

void td_http_server_lean_gone(struct td_http_server *s)
{
    if (s->lean_handles && s->accept_paused && !uv_is_active((uv_handle_t *)&s->accept_retry))
        resume_accepting(s);
}

static void on_accept(uv_poll_t *h, int status, int events)
{
    struct td_http_server *s = h->data;
    (void)events;
    if (status < 0 || s->listen_fd < 0)
        return;
    /* A bounded batch per wake-up, so one burst of connections cannot starve the loop. */
    for (int i = 0; i < 64; i++) {
        /* At the limit, a new client takes the place of a connection that only lingers. */
        bool full = at_connection_limit(s);
        if (full && s->n_lingering == 0) {
            pause_accepting(s); /* until a connection ends */
            return;
        }
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                td_log_warn("%s: accept: %s: not accepting for 100 ms", s->opts.name,
                            strerror(errno));
                pause_accepting(s);
                uv_timer_start(&s->accept_retry, on_accept_retry, 100, 0);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                       errno != ECONNABORTED) {
                td_log_warn("%s: accept: %s", s->opts.name, strerror(errno));
            }
            return;
        }
        if (s->stopping) {
            close(fd);
            continue;
        }
        if (full)
            td_lean_close_lingering(s);
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        (void)td_http_server_add_lean_connection(s, fd, 0);
    }
}

/* Keep-alive connections idle longer than idle_timeout end, as with libmicrohttpd; connections
 * lingering after their last answer end after a few seconds (lean.c, linger). */
static void on_sweep(uv_timer_t *t)
{
    struct td_http_server *s = t->data;
    td_lean_close_idle(s, (int64_t)uv_now(s->loop) - (int64_t)s->opts.idle_timeout * 1000);
}

static int start_lean_listener(struct td_http_server *s)
{
    int fl = fcntl(s->opts.listen_fd, F_GETFL);
    if (fl < 0 || fcntl(s->opts.listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    int r = uv_poll_init(s->loop, &s->accept_poll, s->opts.listen_fd);
    if (r < 0)
        return r;
    s->listen_fd = s->opts.listen_fd;
    uv_timer_init(s->loop, &s->sweep);
    uv_timer_init(s->loop, &s->accept_retry);
    s->accept_poll.data = s->sweep.data = s->accept_retry.data = s;
    s->handles_open += 3;
    s->lean_handles = true;
    uv_poll_start(&s->accept_poll, UV_READABLE, on_accept);
    if (s->opts.idle_timeout) {
        uint64_t every = s->opts.idle_timeout * 1000ULL / 4;
        every = every < 250 ? 250 : every > 1000 ? 1000 : every;
        uv_timer_start(&s->sweep, on_sweep, every, every);
        uv_unref((uv_handle_t *)&s->sweep);
    }
    return 0;
}

int td_http_server_new(uv_loop_t *loop, const struct td_http_server_options *opts,
                       struct td_http_server **ret)
{
    struct td_http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->loop = loop;
    s->opts = *opts;
    td_list_init(&s->requests);
    td_list_init(&s->lean_conns);
    td_list_init(&s->lean_ready);
    s->listen_fd = -1;
    /* With a lean listener, libmicrohttpd keeps only td_http_server_add_connection. */
    int mhd_listen_fd = opts->lean_listener ? -1 : opts->listen_fd;

    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (mhd_listen_fd < 0)
        flags |= MHD_USE_NO_LISTEN_SOCKET;
    struct MHD_OptionItem options[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed, s},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)connection_notify, s},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)keep_raw, NULL},
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, s},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)opts->idle_timeout, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)opts->max_connections, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)opts->connection_memory, NULL},
        {MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL},
        {mhd_listen_fd >= 0 ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_END, (intptr_t)mhd_listen_fd,
         NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, s, MHD_OPTION_ARRAY, options,
                              MHD_OPTION_END);
    if (!s->mhd) {
        free(s);
        return -EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    uv_poll_init(loop, &s->poll, info->epoll_fd);
    uv_timer_init(loop, &s->timer);
    uv_check_init(loop, &s->check);
    uv_idle_init(loop, &s->idle);
    s->poll.data = s->timer.data = s->check.data = s->idle.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    uv_check_start(&s->check, on_check);
    s->handles_open = 4;
    s->need_run = true;
    if (opts->lean_listener && opts->listen_fd >= 0) {
        int r = start_lean_listener(s);
        if (r < 0) {
            td_http_server_free(s);
            return r;
        }
    }
    *ret = s;
    return 0;
}

int td_http_server_add_connection(struct td_http_server *s, int fd, uint64_t context)
{
    if ((size_t)fd >= s->ctx_cap) {
        size_t cap = s->ctx_cap ? s->ctx_cap : 256;
        while (cap <= (size_t)fd)
            cap *= 2;
        uint64_t *p = realloc(s->ctx_by_fd, cap * sizeof(*p));
        if (!p) {
            close(fd);
            return -ENOMEM;
        }
        memset(p + s->ctx_cap, 0, (cap - s->ctx_cap) * sizeof(*p));
        s->ctx_by_fd = p;
        s->ctx_cap = cap;
    }
    s->ctx_by_fd[fd] = context;
    struct sockaddr_storage addr;
    socklen_t addrlen = sizeof(addr);
    if (getpeername(fd, (struct sockaddr *)&addr, &addrlen) < 0) {
        s->ctx_by_fd[fd] = 0;
        close(fd);
        return -errno;
    }
    if (MHD_add_connection(s->mhd, fd, (struct sockaddr *)&addr, addrlen) != MHD_YES) {
        s->ctx_by_fd[fd] = 0;
        return -errno ?: -EIO;
    }
    schedule_run(s);
    return 0;
}

size_t td_http_server_active(const struct td_http_server *s)
{
    return s->active;
}

static void stop_lean_listener(struct td_http_server *s)
{
    if (s->listen_fd < 0)
        return;
    uv_poll_stop(&s->accept_poll);
    close(s->listen_fd);
    s->listen_fd = -1;
}

void td_http_server_quiesce(struct td_http_server *s)
{
    stop_lean_listener(s);
    MHD_socket fd = MHD_quiesce_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct td_http_server *s = h->data;
    if (--s->handles_open == 0) {
        free(s->ctx_by_fd);
        free(s->lean_scratch);
        free(s);
    }
}

void td_http_server_free(struct td_http_server *s)
{
    if (!s)
        return;
    s->stopping = true;
    struct td_list *pos, *tmp;
    td_list_foreach_safe(pos, tmp, &s->requests)
    {
        struct td_http_request *req = td_container_of(pos, struct td_http_request, link);
        if (!req->suspended)
            continue;
        /* Its owner hears that it ends unanswered (dropping marks it answered). */
        void (*gone)(struct td_http_request *, void *) = req->answered ? NULL : req->on_gone;
        req->on_gone = NULL;
        if (gone)
            gone(req, req->owner);
        td_http_drop(req);
    }
    td_lean_close_all(s);
    MHD_run(s->mhd);
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->check, on_handle_closed);
    uv_close((uv_handle_t *)&s->idle, on_handle_closed);
    stop_lean_listener(s);
    if (s->lean_handles) {
        uv_close((uv_handle_t *)&s->accept_poll, on_handle_closed);
        uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
        uv_close((uv_handle_t *)&s->accept_retry, on_handle_closed);
    }
}
