/* The lean HTTP/1.1 server (src/http/lean.c): a connected AF_UNIX stream socket served on the
 * loop without libmicrohttpd, through the same handlers and request API as the libmicrohttpd
 * server. Each test makes a server on its own loop, hands it the server end of a socketpair and
 * plays the client on the other end: it writes request bytes, turns the loop (never waiting
 * unboundedly: a poll() with a short timeout between turns, and a deadline), and reads the
 * answers back. Every test frees the server and closes the loop, so that ASan/LSan see every
 * leak.
 *
 * check_that() marks the checks that once failed: each names what went wrong then. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "tenantd/buf.h"
#include "tenantd/http.h"

#define MAX_PEERS   16
#define MAX_SEEN    16
#define MAX_PARKED  4
#define MAX_NOTES   16
#define MAX_CLOSED  16
#define PEER_IN_MAX ((size_t)16 * 1024 * 1024)
/* How long the test waits for something that should happen at once: a safety net, not a
 * timing assertion. */
#define PUMP_DEADLINE_NS ((uint64_t)10 * 1000 * 1000 * 1000)
#define CONTEXT_BASE     1000u

struct peer {
    int fd; /* the client's end, -1 once the test closed it */
    uint64_t context;
    struct td_buf in; /* everything the server wrote */
    bool eof;         /* recv returned 0 */
    bool reset;       /* recv failed with ECONNRESET */
    bool no_read;     /* the client does not read (yet) */
};

/* What on_request saw of one request. */
struct seen {
    char method[16];
    char path[256];
    char body[256];
    size_t body_len;
    bool overflow;
    uint64_t body_total;
    uint64_t context;
};

struct fx {
    uv_loop_t loop;
    struct td_http_server *server;
    struct peer peers[MAX_PEERS];
    size_t n_peers;

    /* test-specific handler steps: true when the request was answered (or parked) there */
    bool (*request_hook)(struct fx *f, struct td_http_request *req);
    void (*headers_hook)(struct fx *f, struct td_http_request *req);
    bool own_parked; /* parked requests get this fixture as owner, with on_gone */

    unsigned headers_calls;
    unsigned request_calls;
    struct seen seen[MAX_SEEN];
    char notes[MAX_NOTES][160]; /* values a hook looked up, "<null>" for NULL */

    struct td_http_request *parked[MAX_PARKED];
    size_t n_parked;
    unsigned gone_calls;
    const struct td_http_request *gone_req;
    void *gone_owner;

    uint64_t closed[MAX_CLOSED]; /* contexts of on_connection_closed, in order */
    size_t n_closed;

    /* the test body is inside td_http_reply */
    bool in_test_reply;
    bool closed_inside_reply;
    bool request_inside_reply;

    unsigned frees; /* free functions of answer bodies called */

    /* on_headers saved these pointers into the request's head */
    const char *saved_value;
    const char *saved_method;
    const char *saved_path;
    char saved_copy[64];
};

/* ---- small helpers ---- */

static void note(struct fx *f, size_t i, const char *value)
{
    assert_true(i < MAX_NOTES);
    snprintf(f->notes[i], sizeof(f->notes[i]), "%s", value ? value : "<null>");
}

static void copy_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "<null>");
}

static void check_that(bool ok, const char *once_wrong)
{
    if (!ok)
        fail_msg("regression: %s", once_wrong);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- answer bodies with a free function ---- */

struct owned_body {
    struct fx *f;
    char *data;
};

static void free_owned(void *arg)
{
    struct owned_body *b = arg;
    b->f->frees++;
    free(b->data);
    free(b);
}

static struct owned_body *owned_body_new(struct fx *f, char fill, size_t len)
{
    struct owned_body *b = calloc(1, sizeof(*b));
    assert_non_null(b);
    b->f = f;
    b->data = malloc(len ? len : 1);
    assert_non_null(b->data);
    for (size_t i = 0; i < len; i++)
        b->data[i] = (char)(fill + (char)(i % 7));
    return b;
}

/* ---- the handlers ---- */

static void reply_text(struct td_http_request *req, unsigned status, const char *text)
{
    static const struct td_http_out_header h[] = {{"Content-Type", "text/plain"}};
    td_http_reply(req, status, h, 1, text, strlen(text), NULL, NULL);
}

static void on_gone(struct td_http_request *req, void *owner)
{
    struct fx *f = owner;
    f->gone_calls++;
    f->gone_req = req;
    f->gone_owner = owner;
    for (size_t i = 0; i < f->n_parked; i++)
        if (f->parked[i] == req) {
            memmove(&f->parked[i], &f->parked[i + 1], (f->n_parked - i - 1) * sizeof(req));
            f->n_parked--;
            break;
        }
}

static void h_on_headers(struct td_http_request *req, void *userdata)
{
    struct fx *f = userdata;
    f->headers_calls++;
    const char *path = td_http_path(req);
    if (strncmp(path, "/small", 6) == 0)
        td_http_set_body_max(req, 16);
    const char *saved = td_http_header(req, "X-Saved");
    if (saved) {
        f->saved_value = saved;
        f->saved_method = td_http_method(req);
        f->saved_path = path;
        copy_str(f->saved_copy, sizeof(f->saved_copy), saved);
    }
    if (f->headers_hook)
        f->headers_hook(f, req);
}

static void h_on_request(struct td_http_request *req, void *userdata)
{
    struct fx *f = userdata;
    if (f->in_test_reply)
        f->request_inside_reply = true;
    if (f->request_calls < MAX_SEEN) {
        struct seen *s = &f->seen[f->request_calls];
        copy_str(s->method, sizeof(s->method), td_http_method(req));
        copy_str(s->path, sizeof(s->path), td_http_path(req));
        size_t len;
        const char *body = td_http_body(req, &len);
        s->body_len = len;
        memcpy(s->body, body, len < sizeof(s->body) - 1 ? len : sizeof(s->body) - 1);
        s->overflow = td_http_body_overflowed(req, &s->body_total);
        s->context = td_http_conn_context(req);
    }
    f->request_calls++;
    if (f->request_hook && f->request_hook(f, req))
        return;
    const char *path = td_http_path(req);
    if (strncmp(path, "/park", 5) == 0) {
        assert_true(f->n_parked < MAX_PARKED);
        if (f->own_parked)
            td_http_set_owner(req, f, on_gone);
        td_http_suspend(req);
        f->parked[f->n_parked++] = req;
    } else if (strcmp(path, "/drop") == 0) {
        td_http_drop(req);
    } else if (strcmp(path, "/close") == 0) {
        static const struct td_http_out_header h[] = {{"Connection", "close"}};
        td_http_reply(req, 200, h, 1, "bye", 3, NULL, NULL);
    } else {
        reply_text(req, 200, path);
    }
}

static void h_on_closed(uint64_t context, void *userdata)
{
    struct fx *f = userdata;
    if (f->in_test_reply)
        f->closed_inside_reply = true;
    if (f->n_closed < MAX_CLOSED)
        f->closed[f->n_closed] = context;
    f->n_closed++;
}

static const struct td_http_handlers handlers = {
    .on_headers = h_on_headers,
    .on_request = h_on_request,
    .on_connection_closed = h_on_closed,
};

/* ---- the fixture ---- */

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* A new lean connection; returns the peer's index. */
static size_t fx_connect(struct fx *f)
{
    assert_true(f->n_peers < MAX_PEERS);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    set_nonblock(sv[0]);
    set_nonblock(sv[1]);
    size_t i = f->n_peers++;
    struct peer *p = &f->peers[i];
    p->fd = sv[1];
    p->context = CONTEXT_BASE + i;
    td_buf_init(&p->in, PEER_IN_MAX);
    assert_int_equal(td_http_server_add_lean_connection(f->server, sv[0], p->context), 0);
    return i;
}

static struct fx *fx_new_with(bool coalesce_pipelined)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    /* As the daemon makes its runtime API server (daemon.c, start_servers), with a 1 MiB body
     * limit. */
    struct td_http_server_options opts = {
        .name = "lean-test",
        .listen_fd = -1,
        .idle_timeout = 1000,
        .max_connections = 64,
        .default_body_max = 1024 * 1024,
        .connection_memory = 8 * 1024,
        .coalesce_pipelined = coalesce_pipelined,
        .handlers = &handlers,
        .userdata = f,
    };
    assert_int_equal(td_http_server_new(&f->loop, &opts, &f->server), 0);
    return f;
}

static struct fx *fx_new(void)
{
    return fx_new_with(false);
}

static void peer_drain(struct peer *p)
{
    if (p->fd < 0 || p->eof || p->reset || p->no_read)
        return;
    char buf[65536];
    for (;;) {
        ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            assert_int_equal(td_buf_append(&p->in, buf, (size_t)n), 0);
            continue;
        }
        if (n == 0)
            p->eof = true;
        else if (errno == ECONNRESET)
            p->reset = true;
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            fail_msg("recv: %s", strerror(errno));
        return;
    }
}

/* One turn of the loop, then whatever the server wrote is read. */
static void turn(struct fx *f)
{
    uv_run(&f->loop, UV_RUN_NOWAIT);
    for (size_t i = 0; i < f->n_peers; i++)
        peer_drain(&f->peers[i]);
}

/* Wait (at most max_ms) for the loop or a client socket to have something. */
static void wait_io(struct fx *f, int max_ms)
{
    struct pollfd pfd[MAX_PEERS + 1];
    nfds_t n = 0;
    pfd[n++] = (struct pollfd){.fd = uv_backend_fd(&f->loop), .events = POLLIN};
    for (size_t i = 0; i < f->n_peers; i++)
        if (f->peers[i].fd >= 0 && !f->peers[i].eof && !f->peers[i].reset && !f->peers[i].no_read)
            pfd[n++] = (struct pollfd){.fd = f->peers[i].fd, .events = POLLIN};
    int timeout = uv_backend_timeout(&f->loop);
    if (timeout < 0 || timeout > max_ms)
        timeout = max_ms;
    (void)poll(pfd, n, timeout);
}

/* Turn the loop until cond holds; fail (never hang) after the deadline. */
#define PUMP_UNTIL(f, cond)                                                                        \
    do {                                                                                           \
        uint64_t deadline_ = uv_hrtime() + PUMP_DEADLINE_NS;                                       \
        for (;;) {                                                                                 \
            turn(f);                                                                               \
            if (cond)                                                                              \
                break;                                                                             \
            if (uv_hrtime() > deadline_)                                                           \
                fail_msg("timed out waiting for: %s", #cond);                                      \
            wait_io(f, 10);                                                                        \
        }                                                                                          \
    } while (0)

/* A few more turns, for whatever should not happen to have its chance to. */
static void settle(struct fx *f)
{
    for (int i = 0; i < 20; i++) {
        turn(f);
        wait_io(f, 1);
    }
}

static void peer_send(struct fx *f, size_t i, const void *data, size_t len)
{
    struct peer *p = &f->peers[i];
    const char *d = data;
    size_t sent = 0;
    uint64_t deadline = uv_hrtime() + PUMP_DEADLINE_NS;
    while (sent < len) {
        ssize_t w = send(p->fd, d + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            fail_msg("send: %s", strerror(errno));
        if (uv_hrtime() > deadline)
            fail_msg("timed out sending %zu bytes", len);
        turn(f);
        wait_io(f, 10);
    }
}

static void peer_send_str(struct fx *f, size_t i, const char *s)
{
    peer_send(f, i, s, strlen(s));
}

/* Send in pieces of `piece` bytes, with a loop turn after each: llhttp sees the request split
 * at every place. */
static void peer_send_pieces(struct fx *f, size_t i, const char *s, size_t piece)
{
    size_t len = strlen(s);
    for (size_t off = 0; off < len; off += piece) {
        peer_send(f, i, s + off, len - off < piece ? len - off : piece);
        turn(f);
    }
}

static void peer_close(struct fx *f, size_t i)
{
    struct peer *p = &f->peers[i];
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

static bool peer_closed(const struct fx *f, size_t i)
{
    return f->peers[i].eof || f->peers[i].reset;
}

static size_t times_closed(const struct fx *f, uint64_t context)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_closed && i < MAX_CLOSED; i++)
        if (f->closed[i] == context)
            n++;
    return n;
}

/* Free the server, run the loop until nothing is left, close it. */
static void fx_free(struct fx *f)
{
    if (f->server)
        td_http_server_free(f->server);
    f->server = NULL;
    int turns = 0;
    while (uv_run(&f->loop, UV_RUN_NOWAIT) != 0) {
        assert_true(++turns < 10000);
        wait_io(f, 1);
    }
    assert_int_equal(uv_loop_close(&f->loop), 0);
    for (size_t i = 0; i < f->n_peers; i++) {
        peer_close(f, i);
        td_buf_release(&f->peers[i].in);
    }
    free(f);
}

/* ---- the answers a peer received ---- */

struct resp {
    unsigned status;
    char status_line[128];
    char head[8192];  /* the header lines, each ending in CRLF, without the empty line */
    const char *body; /* in the peer's buffer */
    size_t body_len;
};

/* Split what the peer received into whole answers (this server always sends Content-Length).
 * Returns how many are whole; *rest is the number of bytes after them. Answers beyond max are
 * counted, not stored. */
static size_t parse_responses(const struct peer *p, struct resp *out, size_t max, size_t *rest)
{
    const char *d = p->in.data;
    size_t len = p->in.len, off = 0, n = 0;
    while (d && off < len) {
        const char *s = d + off;
        const char *end = memmem(s, len - off, "\r\n\r\n", 4);
        if (!end)
            break;
        size_t head_len = (size_t)(end - s) + 4;
        char *head = strndup(s, head_len);
        assert_non_null(head);
        const char *cl = strcasestr(head, "\r\nContent-Length:");
        char *cl_end = NULL;
        unsigned long long body_len = cl ? strtoull(cl + 17, &cl_end, 10) : 0;
        unsigned status = 0;
        bool ok = cl && cl_end && *cl_end == '\r' && sscanf(head, "HTTP/1.1 %3u ", &status) == 1;
        if (!ok || len - off - head_len < body_len) {
            free(head);
            break;
        }
        if (out && n < max) {
            struct resp *r = &out[n];
            memset(r, 0, sizeof(*r));
            r->status = status;
            size_t line = strcspn(head, "\r");
            snprintf(r->status_line, sizeof(r->status_line), "%.*s", (int)line, head);
            /* header lines: after the status line's CRLF, up to the empty line */
            size_t hl = head_len - line - 2 - 2;
            assert_true(hl < sizeof(r->head));
            memcpy(r->head, head + line + 2, hl);
            r->head[hl] = '\0';
            r->body = s + head_len;
            r->body_len = (size_t)body_len;
        }
        free(head);
        n++;
        off += head_len + (size_t)body_len;
    }
    if (rest)
        *rest = len - off;
    return n;
}

static size_t responses(const struct fx *f, size_t i)
{
    return parse_responses(&f->peers[i], NULL, 0, NULL);
}

/* How many times a header appears in an answer; its first value is copied to val. */
static size_t resp_header(const struct resp *r, const char *name, char *val, size_t size)
{
    size_t n = 0, name_len = strlen(name);
    if (val && size)
        val[0] = '\0';
    for (const char *line = r->head; *line;) {
        const char *eol = strstr(line, "\r\n");
        assert_non_null(eol);
        if ((size_t)(eol - line) > name_len && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            if (n == 0 && val) {
                const char *v = line + name_len + 1;
                while (*v == ' ')
                    v++;
                snprintf(val, size, "%.*s", (int)(eol - v), v);
            }
            n++;
        }
        line = eol + 2;
    }
    return n;
}

static void assert_body(const struct resp *r, const char *expected)
{
    assert_int_equal(r->body_len, strlen(expected));
    assert_memory_equal(r->body, expected, r->body_len);
}

/* The answer is exactly: status, the given body, a right Content-Length. */
static void assert_answer(const struct resp *r, unsigned status, const char *body)
{
    char v[64];
    assert_int_equal(r->status, status);
    assert_int_equal(resp_header(r, "Content-Length", v, sizeof(v)), 1);
    assert_int_equal(strtoul(v, NULL, 10), strlen(body));
    assert_body(r, body);
}

static bool says_close(const struct resp *r)
{
    char v[64];
    return resp_header(r, "Connection", v, sizeof(v)) == 1 && strcasecmp(v, "close") == 0;
}

/* ---- 1. a simple GET ---- */

static bool hook_query(struct fx *f, struct td_http_request *req)
{
    if (strcmp(td_http_path(req), "/path/x%20y") != 0)
        return false;
    /* Every value looked up lives as long as the request, as with libmicrohttpd. */
    const char *a = td_http_query_param(req, "a");
    const char *b = td_http_query_param(req, "b");
    note(f, 0, a);
    note(f, 1, b);
    note(f, 2, td_http_query_param(req, "c"));
    note(f, 3, td_http_query_param(req, "d"));
    note(f, 4, td_http_query_param(req, "zz"));
    note(f, 5, td_http_query_param(req, "ab"));
    note(f, 6, td_http_header(req, "x-mixed-case"));
    note(f, 7, td_http_header(req, "HOST"));
    note(f, 8, td_http_header(req, "X-Missing"));
    note(f, 9, td_http_header(req, "x-empty"));
    note(f, 10, td_http_query(req));
    note(f, 11, td_http_trailer(req, "Host"));
    struct td_http_header all[8];
    size_t n = td_http_headers(req, all, 8);
    char names[160] = "";
    for (size_t i = 0; i < n && i < 8; i++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof(names) - used, "%s%.*s=%.*s", i ? "," : "",
                 (int)all[i].name_len, all[i].name, (int)all[i].value_len, all[i].value);
    }
    note(f, 12, names);
    static const struct td_http_out_header h[] = {{"X-Reply", "yes"}};
    td_http_reply(req, 200, h, 1, "hello world", 11, NULL, NULL);
    return true;
}

static void test_simple_get(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->request_hook = hook_query;
    size_t c = fx_connect(f);
    peer_send_str(f, c,
                  "GET /path/x%20y?ab=9&a=1&b=&c&a=2&d=x%2By HTTP/1.1\r\n"
                  "Host: example\r\n"
                  "X-Mixed-Case: Value1\r\n"
                  "X-Empty:\r\n"
                  "\r\n");
    PUMP_UNTIL(f, responses(f, c) >= 1);

    assert_int_equal(f->headers_calls, 1);
    assert_int_equal(f->request_calls, 1);
    assert_string_equal(f->seen[0].method, "GET");
    assert_string_equal(f->seen[0].path, "/path/x%20y"); /* raw, without the query */
    assert_int_equal(f->seen[0].context, f->peers[c].context);
    assert_string_equal(f->notes[0], "1");     /* the first occurrence */
    assert_string_equal(f->notes[1], "");      /* b= */
    assert_string_equal(f->notes[2], "");      /* c, without '=' */
    assert_string_equal(f->notes[3], "x%2By"); /* raw, not decoded */
    assert_string_equal(f->notes[4], "<null>");
    assert_string_equal(f->notes[5], "9"); /* "a" did not match "ab", nor "ab" "a" */
    assert_string_equal(f->notes[6], "Value1");
    assert_string_equal(f->notes[7], "example");
    assert_string_equal(f->notes[8], "<null>");
    assert_string_equal(f->notes[9], "");
    assert_string_equal(f->notes[10], "ab=9&a=1&b=&c&a=2&d=x%2By");
    assert_string_equal(f->notes[11], "<null>"); /* a header is not a trailer */
    assert_string_equal(f->notes[12], "Host=example,X-Mixed-Case=Value1,X-Empty=");

    struct resp r[2];
    size_t rest;
    assert_int_equal(parse_responses(&f->peers[c], r, 2, &rest), 1);
    assert_int_equal(rest, 0);
    assert_string_equal(r[0].status_line, "HTTP/1.1 200 OK");
    assert_answer(&r[0], 200, "hello world");
    char v[64];
    assert_int_equal(resp_header(&r[0], "X-Reply", v, sizeof(v)), 1);
    assert_string_equal(v, "yes");
    assert_int_equal(resp_header(&r[0], "Connection", NULL, 0), 0);
    assert_false(peer_closed(f, c));

    /* The connection stays open: a second request on it. */
    peer_send_str(f, c, "GET /second HTTP/1.1\r\nHost: example\r\n\r\n");
    PUMP_UNTIL(f, responses(f, c) >= 2);
    settle(f);
    assert_int_equal(parse_responses(&f->peers[c], r, 2, &rest), 2);
    assert_int_equal(rest, 0);
    assert_answer(&r[1], 200, "/second");
    assert_int_equal(f->request_calls, 2);
    assert_false(peer_closed(f, c));
    assert_int_equal(f->n_closed, 0);
    assert_int_equal(td_http_server_active(f->server), 0);
    fx_free(f);
}

/* ---- 2. pipelining ---- */

static void test_pipelining(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    size_t c = fx_connect(f);
    peer_send_str(f, c,
                  "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
                  "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                  "GET /three HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, c) >= 3);
    settle(f);

    struct resp r[4];
    size_t rest;
    assert_int_equal(parse_responses(&f->peers[c], r, 4, &rest), 3);
    assert_int_equal(rest, 0); /* nothing else: each answer exactly once */
    assert_answer(&r[0], 200, "/one");
    assert_answer(&r[1], 200, "/two");
    assert_answer(&r[2], 200, "/three");
    assert_int_equal(f->request_calls, 3);
    assert_int_equal(f->headers_calls, 3);
    assert_string_equal(f->seen[0].path, "/one");
    assert_string_equal(f->seen[1].path, "/two");
    assert_string_equal(f->seen[1].method, "POST");
    assert_int_equal(f->seen[1].body_len, 3);
    assert_string_equal(f->seen[1].body, "abc");
    assert_string_equal(f->seen[2].path, "/three");
    assert_false(peer_closed(f, c));
    fx_free(f);
}

/* ---- 3. parking ---- */

static void test_parking(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    size_t c = fx_connect(f);
    peer_send_str(f, c,
                  "GET /park HTTP/1.1\r\nHost: h\r\n\r\n"
                  "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, f->request_calls >= 1);
    settle(f);
    /* The second request waits until the first is answered. */
    assert_int_equal(f->request_calls, 1);
    assert_int_equal(f->headers_calls, 1);
    assert_int_equal(f->n_parked, 1);
    assert_int_equal(responses(f, c), 0);
    assert_int_equal(f->peers[c].in.len, 0);

    /* Answered from outside any handler: written at once, the next request is not run inside
     * td_http_reply but from the loop. */
    struct td_http_request *req = f->parked[0];
    f->n_parked = 0;
    f->in_test_reply = true;
    reply_text(req, 200, "late");
    f->in_test_reply = false;
    assert_false(f->request_inside_reply);
    assert_int_equal(f->request_calls, 1);
    peer_drain(&f->peers[c]);
    assert_int_equal(responses(f, c), 1);

    PUMP_UNTIL(f, responses(f, c) >= 2);
    settle(f);
    struct resp r[3];
    size_t rest;
    assert_int_equal(parse_responses(&f->peers[c], r, 3, &rest), 2);
    assert_int_equal(rest, 0);
    assert_answer(&r[0], 200, "late");
    assert_answer(&r[1], 200, "/next");
    assert_int_equal(f->request_calls, 2);
    assert_false(peer_closed(f, c));
    fx_free(f);
}

/* ---- 4. request bodies, trailers, and the head staying put ---- */

static bool hook_bodies(struct fx *f, struct td_http_request *req)
{
    const char *path = td_http_path(req);
    if (strcmp(path, "/cl") != 0 && strcmp(path, "/chunked") != 0)
        return false;
    /* The pointers saved in on_headers still point at the same, unchanged bytes. */
    bool same = f->saved_value && f->saved_value == td_http_header(req, "X-Saved") &&
                strcmp(f->saved_value, f->saved_copy) == 0 &&
                f->saved_method == td_http_method(req) && strcmp(f->saved_method, "POST") == 0 &&
                f->saved_path == td_http_path(req) && strcmp(f->saved_path, path) == 0;
    note(f, 0, same ? "same" : "moved");
    note(f, 1, td_http_trailer(req, "x-trailer"));
    note(f, 2, td_http_trailer(req, "X-Other"));
    note(f, 3, td_http_header(req, "X-Trailer")); /* a trailer is not a header */
    note(f, 4, td_http_trailer(req, "X-Saved"));  /* nor a header a trailer */
    note(f, 5, td_http_trailer(req, "X-T29"));
    char n[32];
    snprintf(n, sizeof(n), "%zu", td_http_headers(req, NULL, 0));
    note(f, 6, n);
    reply_text(req, 200, path);
    return true;
}

static void test_post_bodies(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->request_hook = hook_bodies;
    size_t c = fx_connect(f);

    peer_send_str(f, c,
                  "POST /cl HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n"
                  "X-Saved: keep-me\r\n\r\nhello world");
    PUMP_UNTIL(f, responses(f, c) >= 1);
    assert_int_equal(f->request_calls, 1);
    assert_string_equal(f->seen[0].body, "hello world");
    assert_int_equal(f->seen[0].body_len, 11);
    assert_false(f->seen[0].overflow);
    assert_string_equal(f->notes[0], "same");
    assert_string_equal(f->notes[1], "<null>");
    assert_string_equal(f->notes[6], "3");

    /* Chunked, with many trailers (their buffer grows several times), sent a few bytes at a
     * time so that every field and value arrives in pieces. */
    struct td_buf req = TD_BUF_INIT(1 << 20);
    assert_int_equal(td_buf_puts(&req, "POST /chunked HTTP/1.1\r\nHost: h\r\n"
                                       "Transfer-Encoding: chunked\r\n"
                                       "X-Saved: keep-me-too\r\n\r\n"
                                       "5\r\nhello\r\n6\r\n world\r\n0\r\n"
                                       "X-Trailer: tvalue\r\nX-Other: 2\r\n"),
                     0);
    for (int i = 0; i < 30; i++)
        assert_int_equal(td_buf_printf(&req, "X-T%d: %0100d\r\n", i, i), 0);
    assert_int_equal(td_buf_puts(&req, "\r\n"), 0);
    peer_send_pieces(f, c, req.data, 3);
    td_buf_release(&req);
    PUMP_UNTIL(f, responses(f, c) >= 2);
    settle(f);

    assert_int_equal(f->request_calls, 2);
    assert_string_equal(f->seen[1].body, "hello world");
    assert_int_equal(f->seen[1].body_len, 11);
    assert_int_equal(f->seen[1].body_total, 11);
    assert_false(f->seen[1].overflow);
    assert_string_equal(f->notes[0], "same");
    assert_string_equal(f->notes[1], "tvalue");
    assert_string_equal(f->notes[2], "2");
    assert_string_equal(f->notes[3], "<null>");
    assert_string_equal(f->notes[4], "<null>");
    char t29[128];
    snprintf(t29, sizeof(t29), "%0100d", 29);
    assert_string_equal(f->notes[5], t29);
    assert_string_equal(f->notes[6], "3"); /* trailers are not among the headers */

    struct resp r[3];
    size_t rest;
    assert_int_equal(parse_responses(&f->peers[c], r, 3, &rest), 2);
    assert_int_equal(rest, 0);
    assert_answer(&r[0], 200, "/cl");
    assert_answer(&r[1], 200, "/chunked");
    assert_false(peer_closed(f, c));
    fx_free(f);
}

/* ---- large bodies: read straight into the body's buffer ---- */

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)('a' + (i * 7 + i / 251) % 26);
}

static char *pattern(size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)pattern_byte(i);
    s[n] = '\0';
    return s;
}

/* Notes "<length> intact" when the body is the pattern, NUL-terminated, or where it is not. */
static bool hook_pattern(struct fx *f, struct td_http_request *req)
{
    size_t len;
    const char *body = td_http_body(req, &len);
    size_t bad = len;
    for (size_t i = 0; i < len && bad == len; i++)
        if ((unsigned char)body[i] != pattern_byte(i))
            bad = i;
    char n[64];
    if (bad < len)
        snprintf(n, sizeof(n), "%zu differs at %zu", len, bad);
    else
        snprintf(n, sizeof(n), "%zu %s", len, body[len] == '\0' ? "intact" : "unterminated");
    if (f->request_calls <= MAX_NOTES)
        note(f, f->request_calls - 1, n);
    return false;
}

/* Bodies larger than a read chunk arrive in pieces (the head alone, with part of the body, with
 * the next request behind the body's end), at the limit and over it, and a body cut short. */
static void test_large_bodies(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->request_hook = hook_pattern;
    size_t c = fx_connect(f);

    /* 300000 bytes: the head with 1000 of them, then 70000, then the rest with a pipelined
     * request behind it */
    const size_t big = 300000;
    char *body = pattern(big);
    char head[128];
    snprintf(head, sizeof(head), "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n",
             big);
    struct td_buf first = TD_BUF_INIT(1 << 20);
    assert_int_equal(td_buf_puts(&first, head), 0);
    assert_int_equal(td_buf_append(&first, body, 1000), 0);
    peer_send(f, c, first.data, first.len);
    turn(f);
    peer_send(f, c, body + 1000, 70000);
    turn(f);
    struct td_buf rest = TD_BUF_INIT(1 << 20);
    assert_int_equal(td_buf_append(&rest, body + 71000, big - 71000), 0);
    assert_int_equal(td_buf_puts(&rest, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    peer_send(f, c, rest.data, rest.len);
    PUMP_UNTIL(f, responses(f, c) >= 2);
    assert_string_equal(f->notes[0], "300000 intact");
    assert_int_equal(f->seen[0].body_total, big);
    assert_false(f->seen[0].overflow);
    assert_string_equal(f->seen[1].path, "/after");

    /* one byte more than a read chunk, its head sent alone; then exactly the default limit
     * (1 MiB) in 5000-byte pieces */
    const size_t sizes[] = {16 * 1024 + 1, 1024 * 1024};
    for (size_t k = 0; k < 2; k++) {
        char *b = pattern(sizes[k]);
        snprintf(head, sizeof(head),
                 "POST /p%zu HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n", k, sizes[k]);
        peer_send_str(f, c, head);
        turn(f);
        for (size_t off = 0; off < sizes[k]; off += 5000) {
            peer_send(f, c, b + off, sizes[k] - off < 5000 ? sizes[k] - off : 5000);
            turn(f);
        }
        PUMP_UNTIL(f, responses(f, c) >= 3 + k);
        char want[64];
        snprintf(want, sizeof(want), "%zu intact", sizes[k]);
        assert_string_equal(f->notes[2 + k], want);
        free(b);
    }

    /* over the limit: read past and marked overflowed; the connection goes on */
    const size_t over = 1024 * 1024 + 4096;
    char *b = pattern(over);
    snprintf(head, sizeof(head), "POST /over HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n",
             over);
    peer_send_str(f, c, head);
    peer_send(f, c, b, over);
    peer_send_str(f, c, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, c) >= 6);
    assert_true(f->seen[4].overflow);
    assert_int_equal(f->seen[4].body_total, over);
    assert_string_equal(f->seen[5].path, "/next");
    struct resp r[6];
    size_t left;
    assert_int_equal(parse_responses(&f->peers[c], r, 6, &left), 6);
    assert_answer(&r[0], 200, "/big");
    assert_answer(&r[1], 200, "/after");
    assert_answer(&r[5], 200, "/next");
    assert_false(peer_closed(f, c));

    /* cut short: half a body, then the client's end; nothing is dispatched */
    snprintf(head, sizeof(head), "POST /cut HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n",
             big);
    peer_send_str(f, c, head);
    peer_send(f, c, body, big / 2);
    assert_int_equal(shutdown(f->peers[c].fd, SHUT_WR), 0);
    PUMP_UNTIL(f, peer_closed(f, c));
    settle(f);
    assert_int_equal(f->request_calls, 6);

    free(b);
    free(body);
    td_buf_release(&first);
    td_buf_release(&rest);
    fx_free(f);
}

/* ---- 5. a body over the limit ---- */

static void test_body_overflow(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    size_t c = fx_connect(f);
    char *body17 = repeat('x', 17);
    char *body100 = repeat('y', 100);
    struct td_buf req = TD_BUF_INIT(1 << 20);
    assert_int_equal(
        td_buf_printf(&req,
                      "POST /small16 HTTP/1.1\r\nHost: h\r\nContent-Length: 16\r\n\r\n"
                      "0123456789abcdef"
                      "POST /small17 HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n%s"
                      "POST /small-chunked HTTP/1.1\r\nHost: h\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"
                      "a\r\n0123456789\r\n14\r\n0123456789abcdefghij\r\n"
                      "a\r\n0123456789\r\n0\r\n\r\n"
                      "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n%s",
                      body17, body100),
        0);
    peer_send(f, c, req.data, req.len);
    td_buf_release(&req);
    PUMP_UNTIL(f, responses(f, c) >= 4);
    settle(f);

    assert_int_equal(f->request_calls, 4);
    /* exactly at the limit */
    assert_false(f->seen[0].overflow);
    assert_int_equal(f->seen[0].body_total, 16);
    assert_string_equal(f->seen[0].body, "0123456789abcdef");
    /* one byte over */
    assert_true(f->seen[1].overflow);
    assert_int_equal(f->seen[1].body_total, 17);
    assert_int_equal(f->seen[1].body_len, 0);
    /* chunked: the real size of all the chunks */
    assert_true(f->seen[2].overflow);
    assert_int_equal(f->seen[2].body_total, 40);
    /* the default limit */
    assert_false(f->seen[3].overflow);
    assert_int_equal(f->seen[3].body_total, 100);
    assert_int_equal(f->seen[3].body_len, 100);
    assert_string_equal(f->seen[3].body, body100);
    free(body17);
    free(body100);

    /* The bodies were read to their end: the connection still serves. */
    assert_int_equal(responses(f, c), 4);
    assert_false(peer_closed(f, c));
    fx_free(f);
}

/* ---- 6. malformed requests ---- */

static void expect_refused(struct fx *f, size_t c, unsigned status, unsigned requests_before)
{
    PUMP_UNTIL(f, peer_closed(f, c) && times_closed(f, f->peers[c].context) >= 1);
    settle(f);
    struct resp r[2];
    size_t rest;
    assert_int_equal(parse_responses(&f->peers[c], r, 2, &rest), 1);
    assert_int_equal(rest, 0);
    assert_int_equal(r[0].status, status);
    assert_true(says_close(&r[0]));
    /* on_connection_closed, once, with the connection's context */
    assert_int_equal(times_closed(f, f->peers[c].context), 1);
    /* the handlers never saw a whole request */
    assert_int_equal(f->request_calls, requests_before);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        "this is not http\r\n\r\n",
        ("POST /te HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        "POST /cl2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    };
    struct fx *f = fx_new();
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        size_t c = fx_connect(f);
        peer_send_str(f, c, inputs[i]);
        expect_refused(f, c, 400, 0);
        assert_false(f->peers[c].reset); /* everything sent was read: a clean close */
    }
    assert_int_equal(f->n_closed, 3);
    assert_int_equal(td_http_server_active(f->server), 0);

    /* The loop and the server keep working: a fresh connection is served. */
    size_t c = fx_connect(f);
    peer_send_str(f, c, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, c) >= 1);
    struct resp r[1];
    assert_int_equal(parse_responses(&f->peers[c], r, 1, NULL), 1);
    assert_answer(&r[0], 200, "/ok");
    assert_false(peer_closed(f, c));
    fx_free(f);
}

/* ---- 7. heads too large ---- */

static void test_head_limits(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    struct td_buf req = TD_BUF_INIT(1 << 20);

    /* Under the limits: a 15000-byte value, 64 fields. */
    size_t ok = fx_connect(f);
    char *v = repeat('a', 15000);
    assert_int_equal(td_buf_printf(&req, "GET /big-ok HTTP/1.1\r\nHost: h\r\nX-Big: %s\r\n\r\n", v),
                     0);
    free(v);
    peer_send(f, ok, req.data, req.len);
    td_buf_reset(&req);
    assert_int_equal(td_buf_puts(&req, "GET /fields-ok HTTP/1.1\r\nHost: h\r\n"), 0);
    for (int i = 1; i < 64; i++)
        assert_int_equal(td_buf_printf(&req, "X-F%d: %d\r\n", i, i), 0);
    assert_int_equal(td_buf_puts(&req, "\r\n"), 0);
    peer_send(f, ok, req.data, req.len);
    PUMP_UNTIL(f, responses(f, ok) >= 2);
    struct resp r[2];
    assert_int_equal(parse_responses(&f->peers[ok], r, 2, NULL), 2);
    assert_answer(&r[0], 200, "/big-ok");
    assert_answer(&r[1], 200, "/fields-ok");
    assert_int_equal(f->request_calls, 2);

    /* A head over 16 KiB. */
    size_t big = fx_connect(f);
    v = repeat('b', 17000);
    td_buf_reset(&req);
    assert_int_equal(td_buf_printf(&req, "GET /big HTTP/1.1\r\nHost: h\r\nX-Big: %s\r\n\r\n", v),
                     0);
    free(v);
    peer_send(f, big, req.data, req.len);
    expect_refused(f, big, 431, 2);
    assert_int_equal(f->headers_calls, 2);

    /* 65 fields. */
    size_t many = fx_connect(f);
    td_buf_reset(&req);
    assert_int_equal(td_buf_puts(&req, "GET /fields HTTP/1.1\r\nHost: h\r\n"), 0);
    for (int i = 1; i < 65; i++)
        assert_int_equal(td_buf_printf(&req, "X-F%d: %d\r\n", i, i), 0);
    assert_int_equal(td_buf_puts(&req, "\r\n"), 0);
    peer_send(f, many, req.data, req.len);
    td_buf_release(&req);
    expect_refused(f, many, 431, 2);
    assert_int_equal(f->headers_calls, 2);

    assert_false(peer_closed(f, ok));
    fx_free(f);
}

/* ---- 8. the peer hangs up while a request is parked ---- */

static void test_hangup_while_parked(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->own_parked = true;
    size_t c = fx_connect(f);
    peer_send_str(f, c, "GET /park HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, f->n_parked == 1);
    const struct td_http_request *parked = f->parked[0];
    assert_int_equal(td_http_server_active(f->server), 1);

    peer_close(f, c);
    PUMP_UNTIL(f, times_closed(f, f->peers[c].context) >= 1);
    settle(f);
    assert_int_equal(f->gone_calls, 1);
    assert_ptr_equal(f->gone_req, parked);
    assert_ptr_equal(f->gone_owner, f);
    /* The owner forgot the request: nothing is left to answer, nothing was answered. */
    assert_int_equal(f->n_parked, 0);
    assert_int_equal(td_http_server_active(f->server), 0);
    assert_int_equal(times_closed(f, f->peers[c].context), 1);
    assert_int_equal(f->request_calls, 1);
    fx_free(f);
}

/* ---- 9. answer headers and closing ---- */

static bool hook_injection(struct fx *f, struct td_http_request *req)
{
    (void)f;
    if (strcmp(td_http_path(req), "/inject") != 0)
        return false;
    static const struct td_http_out_header h[] = {
        {"X-Good", "1"},
        {"X-Evil", "a\r\nInjected: yes"},
        {"X-Evil-Lf", "a\nInjected-Lf: yes"},
        {"X-Evil-Name\r\nInjected-Name", "v"},
        {"Content-Length", "999"}, /* the server writes its own */
        {"X-Good2", "2"},
    };
    td_http_reply(req, 200, h, sizeof(h) / sizeof(h[0]), "body", 4, NULL, NULL);
    return true;
}

static void test_answer_headers_and_close(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->request_hook = hook_injection;

    /* A header value (or name) holding CR or LF is not written. */
    size_t c = fx_connect(f);
    peer_send_str(f, c, "GET /inject HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, c) >= 1);
    settle(f);
    struct resp r[2];
    size_t rest;
    assert_int_equal(parse_responses(&f->peers[c], r, 2, &rest), 1);
    assert_int_equal(rest, 0);
    assert_answer(&r[0], 200, "body");
    assert_int_equal(resp_header(&r[0], "X-Good", NULL, 0), 1);
    assert_int_equal(resp_header(&r[0], "X-Good2", NULL, 0), 1);
    assert_null(strstr(r[0].head, "Injected"));
    assert_null(strstr(r[0].head, "X-Evil"));
    assert_null(strstr(r[0].head, "999"));
    assert_false(says_close(&r[0]));
    assert_false(peer_closed(f, c));

    /* The handler's Connection: close is honoured (once), and the connection closes. */
    peer_send_str(f, c, "GET /close HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, peer_closed(f, c) && times_closed(f, f->peers[c].context) == 1);
    assert_int_equal(parse_responses(&f->peers[c], r, 2, &rest), 2);
    assert_int_equal(rest, 0);
    assert_answer(&r[1], 200, "bye");
    assert_int_equal(resp_header(&r[1], "Connection", NULL, 0), 1);
    assert_true(says_close(&r[1]));

    /* The client's Connection: close, and an HTTP/1.0 request without keep-alive. */
    static const char *const closing[] = {
        "GET /client-close HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET /http10 HTTP/1.0\r\nHost: h\r\n\r\n",
    };
    for (size_t i = 0; i < 2; i++) {
        size_t k = fx_connect(f);
        peer_send_str(f, k, closing[i]);
        PUMP_UNTIL(f, peer_closed(f, k) && times_closed(f, f->peers[k].context) == 1);
        assert_int_equal(parse_responses(&f->peers[k], r, 2, &rest), 1);
        assert_int_equal(rest, 0);
        assert_int_equal(r[0].status, 200);
        assert_true(says_close(&r[0]));
        assert_false(f->peers[k].reset);
    }
    fx_free(f);
}

/* ---- 10. answers with a free function ---- */

static bool hook_free_fn(struct fx *f, struct td_http_request *req)
{
    const char *path = td_http_path(req);
    if (strcmp(path, "/owned") == 0) {
        struct owned_body *b = owned_body_new(f, 'a', 26);
        td_http_reply(req, 200, NULL, 0, b->data, 26, free_owned, b);
        /* A second answer is not sent, and its body is freed at once. */
        struct owned_body *again = owned_body_new(f, 'z', 3);
        td_http_reply(req, 500, NULL, 0, again->data, 3, free_owned, again);
        return true;
    }
    if (strncmp(path, "/huge", 5) == 0) {
        size_t len = (size_t)4 * 1024 * 1024;
        struct owned_body *b = owned_body_new(f, 'A', len);
        td_http_reply(req, 200, NULL, 0, b->data, len, free_owned, b);
        return true;
    }
    return false;
}

static void test_free_fn(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->request_hook = hook_free_fn;
    f->own_parked = true;

    /* Answered from the handler: freed once, after the write. */
    size_t c = fx_connect(f);
    peer_send_str(f, c, "GET /owned HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, c) >= 1);
    settle(f);
    struct resp r[2];
    size_t rest;
    assert_int_equal(parse_responses(&f->peers[c], r, 2, &rest), 1);
    assert_int_equal(rest, 0);
    assert_int_equal(r[0].status, 200);
    assert_int_equal(r[0].body_len, 26);
    for (size_t i = 0; i < 26; i++)
        assert_int_equal(r[0].body[i], (char)('a' + (char)(i % 7)));
    assert_int_equal(f->frees, 2);

    /* A large answer the client reads slowly: not freed before it is all written. */
    size_t big = fx_connect(f);
    peer_send_str(f, big, "GET /huge HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, f->request_calls == 2 && f->peers[big].in.len > 0);
    assert_int_equal(f->frees, 2);
    PUMP_UNTIL(f, responses(f, big) >= 1);
    settle(f);
    assert_int_equal(f->frees, 3);
    assert_int_equal(parse_responses(&f->peers[big], r, 1, &rest), 1);
    assert_int_equal(r[0].body_len, (size_t)4 * 1024 * 1024);
    assert_int_equal(r[0].body[4 * 1024 * 1024 - 1],
                     (char)('A' + (char)((4 * 1024 * 1024 - 1) % 7)));

    /* A large answer whose client hangs up before it is written: freed once, at the close. */
    size_t gone = fx_connect(f);
    f->peers[gone].no_read = true;
    peer_send_str(f, gone, "GET /huge-gone HTTP/1.1\r\nHost: h\r\n\r\n");
    /* the client does not read: the socket fills and the server waits to write the rest */
    PUMP_UNTIL(f, f->request_calls == 3);
    settle(f);
    assert_int_equal(f->frees, 3);
    peer_close(f, gone);
    PUMP_UNTIL(f, times_closed(f, f->peers[gone].context) == 1);
    settle(f);
    assert_int_equal(f->frees, 4);

    /* A parked request answered after its client hung up, before the server noticed: the
     * write fails, the body is freed once, the owner is not told it is gone (it answered), and
     * the close comes from the loop, not from inside td_http_reply. */
    size_t late = fx_connect(f);
    peer_send_str(f, late, "GET /park HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, f->n_parked == 1);
    struct td_http_request *req = f->parked[0];
    f->n_parked = 0;
    peer_close(f, late);
    struct owned_body *b = owned_body_new(f, 'q', 10);
    f->in_test_reply = true;
    td_http_reply(req, 200, NULL, 0, b->data, 10, free_owned, b);
    f->in_test_reply = false;
    assert_int_equal(f->frees, 5);
    PUMP_UNTIL(f, times_closed(f, f->peers[late].context) == 1);
    settle(f);
    assert_int_equal(f->frees, 5);
    assert_int_equal(f->gone_calls, 0);
    assert_int_equal(times_closed(f, f->peers[late].context), 1);
    assert_int_equal(td_http_server_active(f->server), 0);
    check_that(!f->closed_inside_reply,
               "a td_http_reply (outside any handler) whose write fails closes the connection "
               "inside the caller: on_connection_closed runs within td_http_reply "
               "(flush_answer -> conn_close), although lean.c says closing runs from the "
               "server's own loop callbacks, never inside that caller");
    fx_free(f);
}

/* ---- 11. freeing the server with work in progress ---- */

static void test_server_free(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->own_parked = true;
    f->request_hook = hook_free_fn;

    size_t parked = fx_connect(f);
    peer_send_str(f, parked, "GET /park HTTP/1.1\r\nHost: h\r\n\r\n");
    size_t idle = fx_connect(f);
    peer_send_str(f, idle, "GET /served HTTP/1.1\r\nHost: h\r\n\r\n");
    size_t writing = fx_connect(f); /* a large answer half written */
    f->peers[writing].no_read = true;
    peer_send_str(f, writing, "GET /huge HTTP/1.1\r\nHost: h\r\n\r\n");
    size_t partial = fx_connect(f); /* half a request */
    peer_send_str(f, partial, "POST /partial HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
    PUMP_UNTIL(f, f->n_parked == 1 && responses(f, idle) == 1 && f->request_calls == 3 &&
                      f->headers_calls == 4);
    const struct td_http_request *req = f->parked[0];
    assert_int_equal(f->frees, 0);
    assert_int_equal(td_http_server_active(f->server), 3); /* parked, huge, partial */

    td_http_server_free(f->server);
    f->server = NULL;
    f->peers[writing].no_read = false;
    PUMP_UNTIL(f, peer_closed(f, parked) && peer_closed(f, idle) && peer_closed(f, writing) &&
                      peer_closed(f, partial));
    for (size_t i = 0; i < f->n_peers; i++)
        assert_int_equal(times_closed(f, f->peers[i].context), 1);
    assert_int_equal(f->frees, 1);
    assert_int_equal(responses(f, parked), 0);
    assert_int_equal(f->request_calls, 3);
    /* http.h: "The owner is told through on_gone when the request ends before td_http_reply
     * (connection lost, server stopping)". */
    check_that(f->gone_calls == 1 && f->gone_req == req,
               "td_http_server_free does not call on_gone for a parked lean request: it "
               "td_http_drop()s it first, which marks it answered, so request_end skips on_gone "
               "and the owner keeps a dangling request pointer");
    fx_free(f);
}

/* ---- 12. HEAD ---- */

static void test_head_request(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->request_hook = hook_free_fn;
    size_t c = fx_connect(f);
    peer_send_str(f, c,
                  "HEAD /head HTTP/1.1\r\nHost: h\r\n\r\n"
                  "HEAD /owned HTTP/1.1\r\nHost: h\r\n\r\n"
                  "GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, f->request_calls == 3 && responses(f, c) >= 1);
    settle(f);
    assert_int_equal(f->request_calls, 3);
    assert_string_equal(f->seen[0].method, "HEAD");
    /* The answer to HEAD is its head alone, with the Content-Length the body would have had
     * (RFC 9110 section 9.3.2, RFC 9112 section 6.3); a body given with a free function is
     * freed all the same (twice here: hook_free_fn answers /owned twice). */
    const char *in = f->peers[c].in.data;
    assert_non_null(in);
    const char *end = strstr(in, "\r\n\r\n");
    assert_non_null(end);
    char *head = strndup(in, (size_t)(end + 4 - in));
    assert_non_null(head);
    assert_true(strncmp(head, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(head, "\r\nContent-Length: 5\r\n"));
    free(head);
    const char *second = end + 4; /* right after the first head: no body */
    end = strstr(second, "\r\n\r\n");
    assert_non_null(end);
    head = strndup(second, (size_t)(end + 4 - second));
    assert_non_null(head);
    assert_true(strncmp(head, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(head, "\r\nContent-Length: 26\r\n"));
    free(head);
    assert_int_equal(f->frees, 2);
    /* and the GET after them is framed right */
    struct peer rest_peer = f->peers[c];
    rest_peer.in.data = (char *)(uintptr_t)(end + 4);
    rest_peer.in.len = f->peers[c].in.len - (size_t)(end + 4 - in);
    struct resp r[2];
    size_t rest;
    assert_int_equal(parse_responses(&rest_peer, r, 2, &rest), 1);
    assert_int_equal(rest, 0);
    assert_answer(&r[0], 200, "/after");
    assert_false(peer_closed(f, c));
    fx_free(f);
}

/* ---- 13. answers from on_headers, before the body ---- */

static void headers_answer_early(struct fx *f, struct td_http_request *req)
{
    (void)f;
    const char *path = td_http_path(req);
    if (strcmp(path, "/early") == 0)
        reply_text(req, 403, "early");
    else if (strcmp(path, "/early-drop") == 0)
        td_http_drop(req);
}

static void test_early_answer(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->headers_hook = headers_answer_early;

    /* A short body is read past: the connection goes on, the next request is served, and
     * on_request is not called for the request answered early. */
    size_t c = fx_connect(f);
    peer_send_str(f, c,
                  "POST /early HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789"
                  "GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, c) >= 2);
    /* the body may also come after the answer */
    peer_send_str(f, c, "POST /early HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n");
    PUMP_UNTIL(f, responses(f, c) >= 3);
    peer_send_str(f, c, "hel");
    settle(f);
    peer_send_str(f, c, "loGET /after2 HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, c) >= 4);
    settle(f);
    struct resp r[5];
    size_t rest;
    assert_int_equal(parse_responses(&f->peers[c], r, 5, &rest), 4);
    assert_int_equal(rest, 0);
    assert_answer(&r[0], 403, "early");
    assert_false(says_close(&r[0]));
    assert_answer(&r[1], 200, "/after");
    assert_answer(&r[2], 403, "early");
    assert_answer(&r[3], 200, "/after2");
    assert_int_equal(f->headers_calls, 4);
    assert_int_equal(f->request_calls, 2);
    assert_string_equal(f->seen[0].path, "/after");
    assert_string_equal(f->seen[1].path, "/after2");
    assert_false(peer_closed(f, c));

    /* A chunked body, or a long one, is not read: the answer says Connection: close and the
     * connection ends. A drop ends it without an answer. */
    static const char *const closing[] = {
        "POST /early HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /early HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n",
        "POST /early-drop HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    };
    for (size_t i = 0; i < 3; i++) {
        size_t k = fx_connect(f);
        peer_send_str(f, k, closing[i]);
        PUMP_UNTIL(f, peer_closed(f, k) && times_closed(f, f->peers[k].context) == 1);
        size_t n = parse_responses(&f->peers[k], r, 2, &rest);
        assert_int_equal(rest, 0);
        if (i < 2) {
            assert_int_equal(n, 1);
            assert_answer(&r[0], 403, "early");
            assert_true(says_close(&r[0]));
        } else {
            assert_int_equal(n, 0);
        }
    }
    assert_int_equal(f->request_calls, 2);
    assert_int_equal(td_http_server_active(f->server), 0);
    fx_free(f);
}

/* ---- 14. an Upgrade the server does not take ---- */

static void test_upgrade_ignored(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    size_t c = fx_connect(f);
    /* A server may ignore Upgrade and go on with HTTP/1.1 (RFC 9110 section 7.8); the handler
     * answers it like any request, so the connection is still an HTTP/1.1 one after it. */
    peer_send_str(f, c,
                  "GET /upgrade HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
                  "Upgrade: websocket\r\n\r\n");
    PUMP_UNTIL(f, responses(f, c) >= 1);
    settle(f);
    peer_send_str(f, c, "GET /later HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, c) >= 2 || peer_closed(f, c));
    settle(f);
    struct resp r[3];
    size_t rest;
    size_t n = parse_responses(&f->peers[c], r, 3, &rest);
    assert_int_equal(rest, 0);
    assert_true(n >= 1);
    assert_answer(&r[0], 200, "/upgrade");
    assert_int_equal(n, 2);
    check_that(r[1].status == 200 && !peer_closed(f, c) && f->request_calls == 2,
               "after a request with Connection: Upgrade / Upgrade: websocket (answered normally, "
               "not upgraded), the next request on the connection is refused 400 and the "
               "connection closed: llhttp returns HPE_PAUSED_UPGRADE, which parse_input takes "
               "for a malformed request");
    fx_free(f);
}

/* ---- 15. the syntax of header fields ---- */

static bool hook_note_pad(struct fx *f, struct td_http_request *req)
{
    note(f, 0, td_http_header(req, "X-Pad"));
    reply_text(req, 200, td_http_path(req));
    return true;
}

/* The answer to one request on a fresh connection: its status, 0 when none came. */
static unsigned answer_status(struct fx *f, const char *request, bool *closed)
{
    size_t c = fx_connect(f);
    peer_send_str(f, c, request);
    PUMP_UNTIL(f, responses(f, c) >= 1 || peer_closed(f, c));
    settle(f);
    struct resp r[1];
    size_t n = parse_responses(&f->peers[c], r, 1, NULL);
    *closed = peer_closed(f, c);
    return n ? r[0].status : 0;
}

static void test_field_syntax(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->request_hook = hook_note_pad;
    bool closed;

    /* Refused, as lean.c promises: bytes a value may not hold, framing headers read two ways. */
    static const char *const refused[] = {
        "GET /cr HTTP/1.1\r\nHost: h\r\nX-Pad: a\rb\r\n\r\n",
        "POST /cl-space HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\nhello",
        "POST /te-space HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        ("POST /te-fold HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n , chunked\r\n\r\n"
         "0\r\n\r\n"),
        "POST /cl-fold HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n 0\r\n\r\n0123456789",
        ("POST /te-twice HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        "POST /te-identity HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_int_equal(answer_status(f, refused[i], &closed), 400);
        assert_true(closed);
    }
    static const char nul[] = "GET /nul HTTP/1.1\r\nHost: h\r\nX-Pad: a\0b\r\n\r\n";
    size_t c = fx_connect(f);
    peer_send(f, c, nul, sizeof(nul) - 1);
    PUMP_UNTIL(f, peer_closed(f, c));
    struct resp r[1];
    assert_int_equal(parse_responses(&f->peers[c], r, 1, NULL), 1);
    assert_int_equal(r[0].status, 400);
    assert_int_equal(f->request_calls, 0);

    /* Whitespace between a field name and its colon (RFC 9112 section 5.1). */
    assert_int_equal(answer_status(f, "GET /ws HTTP/1.1\r\nHost: h\r\nX-Pad : v\r\n\r\n", &closed),
                     400);
    assert_true(closed);
    assert_int_equal(f->request_calls, 0);

    /* A value's trailing whitespace is not part of it (RFC 9110 section 5.5). */
    assert_int_equal(
        answer_status(f, "GET /trail HTTP/1.1\r\nHost: h\r\nX-Pad:  v w \t \r\n\r\n", &closed),
        200);
    assert_false(closed);
    assert_string_equal(f->notes[0], "v w");

    /* A folded line of a field that does not frame the message continues its value, as RFC
     * 9112 section 5.2 allows (lean.c's header comment). */
    assert_int_equal(
        answer_status(f, "GET /fold HTTP/1.1\r\nHost: h\r\nX-Pad: a\r\n b\r\n\r\n", &closed), 200);
    assert_false(closed);
    fx_free(f);
}

/* ---- 16. Expect: 100-continue ---- */

/* The answers after an optional "100 Continue" head. */
static size_t final_answers(const struct peer *p, struct resp *out, size_t max)
{
    struct peer view = *p;
    if (view.in.data && view.in.len >= 13 && memcmp(view.in.data, "HTTP/1.1 100 ", 13) == 0) {
        const char *end = memmem(view.in.data, view.in.len, "\r\n\r\n", 4);
        if (!end)
            return 0;
        view.in.len -= (size_t)(end + 4 - view.in.data);
        view.in.data = (char *)(uintptr_t)(end + 4);
    }
    return parse_responses(&view, out, max, NULL);
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    size_t c = fx_connect(f);
    peer_send_str(f, c,
                  "POST /expect HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                  "Content-Length: 5\r\n\r\n");
    PUMP_UNTIL(f, f->headers_calls == 1);
    settle(f);
    /* RFC 9110 section 10.1.1: the server MUST send 100 (Continue) or a final answer at once,
     * before the client sends the content. */
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct peer *p = &f->peers[c];
    bool continued = p->in.len >= sizeof(cont) - 1 && memcmp(p->in.data, cont, 13) == 0;
    check_that(continued,
               "Expect: 100-continue is never answered with 100 (Continue): a client that waits "
               "for it (curl does, for large bodies) sends its body only after its own timeout");
    /* The body, sent anyway, is read and answered. */
    peer_send_str(f, c, "hello");
    PUMP_UNTIL(f, f->request_calls == 1 && final_answers(p, NULL, 0) >= 1);
    settle(f);
    struct resp r[2];
    assert_int_equal(final_answers(p, r, 2), 1);
    assert_answer(&r[0], 200, "/expect");
    assert_string_equal(f->seen[0].body, "hello");
    fx_free(f);
}

/* ---- 16b. Expect: 100-continue answered early ---- */

static void hook_refuse_at_head(struct fx *f, struct td_http_request *req)
{
    (void)f;
    if (strcmp(td_http_path(req), "/refused") == 0)
        reply_text(req, 403, "no");
}

/* A client that waits for 100 (Continue) may not send its body after a final answer: the
 * connection ends with the answer, so that its next request is never read as that body. */
static void test_expect_answered_early(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->headers_hook = hook_refuse_at_head;
    size_t c = fx_connect(f);
    peer_send_str(f, c,
                  "POST /refused HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                  "Content-Length: 30\r\n\r\n");
    PUMP_UNTIL(f, peer_closed(f, c));
    struct resp r[2];
    assert_int_equal(parse_responses(&f->peers[c], r, 2, NULL), 1);
    assert_int_equal(r[0].status, 403);
    assert_non_null(strstr(r[0].head, "Connection: close"));
    assert_int_equal(f->request_calls, 0);
    fx_free(f);
}

/* ---- 17. the lean listener (the daemon's API port) ---- */

/* A fixture whose server accepts TCP connections itself: 127.0.0.1, a port picked by the
 * kernel, at most two connections, idle for a second at most. */
static struct fx *fx_new_listener(struct sockaddr_in *addr)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(*addr);
    assert_int_equal(bind(lfd, (struct sockaddr *)addr, sizeof(*addr)), 0);
    assert_int_equal(listen(lfd, 16), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)addr, &len), 0);
    struct td_http_server_options opts = {
        .name = "lean-listener-test",
        .listen_fd = lfd,
        .idle_timeout = 1,
        .max_connections = 2,
        .default_body_max = 1024 * 1024,
        .connection_memory = 8 * 1024,
        .handlers = &handlers,
        .userdata = f,
        .lean_listener = true,
    };
    assert_int_equal(td_http_server_new(&f->loop, &opts, &f->server), 0);
    return f;
}

static size_t fx_tcp_connect(struct fx *f, const struct sockaddr_in *addr)
{
    assert_true(f->n_peers < MAX_PEERS);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (const struct sockaddr *)addr, sizeof(*addr)), 0);
    set_nonblock(fd);
    size_t i = f->n_peers++;
    f->peers[i].fd = fd;
    td_buf_init(&f->peers[i].in, PEER_IN_MAX);
    return i;
}

/* ---- coalesce_pipelined: a runtime's /response answer rides with its /next answer ---- */

static bool hook_not_found(struct fx *f, struct td_http_request *req)
{
    (void)f;
    if (strcmp(td_http_path(req), "/missing") != 0)
        return false;
    reply_text(req, 404, "missing");
    return true;
}

/* POST /resp with a body of body_len bytes and GET /park behind it, in one write, on a new
 * connection: nothing is written until the parked request is answered, then both answers, in
 * order. */
static void expect_resp_held_behind_park(struct fx *f, const char *body, size_t body_len)
{
    struct td_buf two = TD_BUF_INIT(8 << 20);
    assert_int_equal(td_buf_printf(&two,
                                   "POST /resp HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n",
                                   body_len),
                     0);
    assert_int_equal(td_buf_append(&two, body, body_len), 0);
    assert_int_equal(td_buf_puts(&two, "GET /park HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    unsigned calls = f->request_calls;
    size_t c = fx_connect(f);
    peer_send(f, c, two.data, two.len);
    td_buf_release(&two);
    PUMP_UNTIL(f, f->n_parked == 1);
    settle(f);
    assert_int_equal(f->request_calls, calls + 2);
    assert_int_equal(f->peers[c].in.len, 0);
    struct td_http_request *parked = f->parked[0];
    f->n_parked = 0;
    reply_text(parked, 200, "event");
    peer_drain(&f->peers[c]);
    struct resp r[4];
    size_t rest;
    assert_int_equal(parse_responses(&f->peers[c], r, 4, &rest), 2);
    assert_int_equal(rest, 0);
    assert_answer(&r[0], 200, "/resp");
    assert_answer(&r[1], 200, "event");
}

static void test_coalesce_pipelined(void **state)
{
    (void)state;
    struct fx *f = fx_new_with(true);
    f->request_hook = hook_not_found;
    struct resp r[4];
    size_t rest;

    /* /response with GET /next behind it: held until /next is answered, then one write. */
    expect_resp_held_behind_park(f, "ok", 2);
    /* The same with a large body (read straight into its buffer): still held. */
    char *body = pattern(100 * 1000);
    expect_resp_held_behind_park(f, body, 100 * 1000);
    free(body);

    /* Nothing behind it: answered at once. */
    size_t b = fx_connect(f);
    peer_send_str(f, b, "POST /resp HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok");
    PUMP_UNTIL(f, responses(f, b) >= 1);

    /* Only part of the next request: the answer goes out now, not when the rest comes. */
    size_t c = fx_connect(f);
    peer_send_str(f, c, "GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two HTT");
    PUMP_UNTIL(f, responses(f, c) >= 1);
    peer_send_str(f, c, "P/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, c) >= 2);
    assert_int_equal(parse_responses(&f->peers[c], r, 4, &rest), 2);
    assert_answer(&r[0], 200, "/one");
    assert_answer(&r[1], 200, "/two");

    /* An error is never held: the client hears of it before its next request is served. */
    size_t d = fx_connect(f);
    peer_send_str(f, d,
                  "GET /missing HTTP/1.1\r\nHost: h\r\n\r\n"
                  "GET /park HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, d) >= 1 && f->n_parked == 1);
    assert_int_equal(parse_responses(&f->peers[d], r, 4, &rest), 1);
    assert_answer(&r[0], 404, "missing");

    /* The client stops sending while its pipelined request is parked: the connection closes,
     * and the held answer is still written for it to read. */
    size_t e = fx_connect(f);
    peer_send_str(f, e,
                  "GET /held HTTP/1.1\r\nHost: h\r\n\r\n"
                  "GET /park HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, f->n_parked == 2);
    settle(f);
    assert_int_equal(f->peers[e].in.len, 0);
    assert_int_equal(shutdown(f->peers[e].fd, SHUT_WR), 0);
    PUMP_UNTIL(f, peer_closed(f, e));
    assert_int_equal(parse_responses(&f->peers[e], r, 4, &rest), 1);
    assert_answer(&r[0], 200, "/held");
    fx_free(f);
}

/* Held answers: a body with a free function is copied (and freed at once), a large answer is not
 * held, a 100 Continue goes after the answers held before it, and a request left unparsed in
 * one connection survives another connection's read (the server reads into one scratch
 * buffer). */
static void test_coalesce_ordering(void **state)
{
    (void)state;
    struct fx *f = fx_new_with(true);
    f->request_hook = hook_free_fn;
    struct resp r[4];
    size_t rest;

    size_t a = fx_connect(f);
    peer_send_str(f, a,
                  "GET /owned HTTP/1.1\r\nHost: h\r\n\r\n"
                  "GET /park HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, f->n_parked == 1);
    settle(f);
    assert_int_equal(f->peers[a].in.len, 0);
    assert_int_equal(f->frees, 2); /* the held body, and the second answer's */
    reply_text(f->parked[0], 200, "event");
    f->n_parked = 0;
    peer_drain(&f->peers[a]);
    assert_int_equal(parse_responses(&f->peers[a], r, 4, &rest), 2);
    char owned[27];
    for (size_t i = 0; i < 26; i++)
        owned[i] = (char)('a' + (char)(i % 7));
    owned[26] = '\0';
    assert_answer(&r[0], 200, owned);
    assert_answer(&r[1], 200, "event");

    size_t b = fx_connect(f);
    peer_send_str(f, b,
                  "GET /huge HTTP/1.1\r\nHost: h\r\n\r\n"
                  "GET /park HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, b) == 1 && f->n_parked == 1);
    reply_text(f->parked[0], 200, "after-huge");
    f->n_parked = 0;
    PUMP_UNTIL(f, responses(f, b) == 2);
    assert_int_equal(parse_responses(&f->peers[b], r, 4, &rest), 2);
    assert_int_equal(r[0].body_len, (size_t)4 * 1024 * 1024);
    assert_answer(&r[1], 200, "after-huge");

    size_t c = fx_connect(f);
    peer_send_str(f, c,
                  "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
                  "POST /cont HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                  "Content-Length: 3\r\n\r\n");
    struct peer *pc = &f->peers[c];
    PUMP_UNTIL(f, pc->in.len > 0 && memmem(pc->in.data, pc->in.len, "100 Continue", 12));
    const char *cont = memmem(pc->in.data, pc->in.len, "HTTP/1.1 100 Continue", 21);
    const char *first = memmem(pc->in.data, pc->in.len, "/one", 4);
    assert_non_null(cont);
    assert_non_null(first);
    assert_true(first < cont);
    peer_send_str(f, c, "abc");
    /* The stream without the 100 Continue: the two final answers. */
    size_t cont_off = (size_t)(cont - pc->in.data),
           cont_len = strlen("HTTP/1.1 100 Continue\r\n\r\n");
    struct peer finals = {.fd = -1};
    td_buf_init(&finals.in, PEER_IN_MAX);
    for (int tries = 0; parse_responses(&finals, NULL, 0, NULL) < 2; tries++) {
        assert_true(tries < 1000);
        turn(f);
        wait_io(f, 10);
        td_buf_reset(&finals.in);
        assert_int_equal(td_buf_append(&finals.in, pc->in.data, cont_off), 0);
        assert_int_equal(td_buf_append(&finals.in, pc->in.data + cont_off + cont_len,
                                       pc->in.len - cont_off - cont_len),
                         0);
    }
    assert_int_equal(parse_responses(&finals, r, 4, &rest), 2);
    assert_int_equal(rest, 0);
    assert_answer(&r[0], 200, "/one");
    assert_answer(&r[1], 200, "/cont");
    td_buf_release(&finals.in);

    size_t d = fx_connect(f);
    peer_send_str(f, d,
                  "GET /park HTTP/1.1\r\nHost: h\r\n\r\n"
                  "GET /kept-aside HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, f->n_parked == 1);
    size_t e = fx_connect(f);
    char *path = repeat('x', 2000);
    char *req = NULL;
    assert_true(asprintf(&req, "GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", path) > 0);
    peer_send_str(f, e, req);
    PUMP_UNTIL(f, responses(f, e) == 1);
    free(req);
    free(path);
    reply_text(f->parked[0], 200, "late");
    f->n_parked = 0;
    PUMP_UNTIL(f, responses(f, d) == 2);
    assert_int_equal(parse_responses(&f->peers[d], r, 4, &rest), 2);
    assert_answer(&r[0], 200, "late");
    assert_answer(&r[1], 200, "/kept-aside");
    fx_free(f);
}

static void test_lean_listener(void **state)
{
    (void)state;
    struct sockaddr_in addr;
    struct fx *f = fx_new_listener(&addr);
    struct resp r[2];

    /* Accepted and served like any lean connection (context 0). */
    size_t a = fx_tcp_connect(f, &addr);
    peer_send_str(f, a, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, a) >= 1);
    assert_int_equal(parse_responses(&f->peers[a], r, 2, NULL), 1);
    assert_answer(&r[0], 200, "/a");
    assert_int_equal(f->seen[0].context, 0);
    assert_int_equal(td_http_server_lean_connections(f->server), 1);

    /* At most two connections: a third waits in the listener's backlog, not accepted. */
    size_t b = fx_tcp_connect(f, &addr);
    PUMP_UNTIL(f, td_http_server_lean_connections(f->server) == 2);
    size_t c = fx_tcp_connect(f, &addr);
    peer_send_str(f, c, "GET /c HTTP/1.1\r\nHost: h\r\n\r\n");
    settle(f);
    assert_false(peer_closed(f, c));
    assert_int_equal(responses(f, c), 0);
    assert_int_equal(td_http_server_lean_connections(f->server), 2);

    /* A request being served is not idle; a silent connection is, and one that stopped in the
     * middle of a head too. */
    peer_send_str(f, a, "GET /park HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, f->n_parked == 1);
    peer_send_str(f, b, "GET /half HTTP/1.1\r\nHo");
    PUMP_UNTIL(f, peer_closed(f, b));
    assert_false(peer_closed(f, a));
    /* A place is free: the waiting client is accepted and served. */
    PUMP_UNTIL(f, responses(f, c) >= 1);
    assert_int_equal(parse_responses(&f->peers[c], r, 2, NULL), 1);
    assert_answer(&r[0], 200, "/c");
    td_http_reply(f->parked[0], 200, NULL, 0, "done", 4, NULL, NULL);
    f->n_parked = 0;
    PUMP_UNTIL(f, responses(f, a) >= 2);
    /* Then idle: closed in their turn. */
    PUMP_UNTIL(f, peer_closed(f, a) && peer_closed(f, c));
    assert_int_equal(td_http_server_lean_connections(f->server), 0);
    assert_int_equal(f->request_calls, 3); /* /half never reached on_request */
    fx_free(f);
}

/* A lean listener's connection that ends after its answer lingers: the client gets the answer
 * and EOF, whatever it still sends is discarded (never served), and the connection closes when
 * the client does, or on its own after a while; at max_connections, a new client takes the
 * place of the connection lingering longest. */
static void test_linger(void **state)
{
    (void)state;
    struct sockaddr_in addr;
    struct fx *f = fx_new_listener(&addr);
    f->headers_hook = headers_answer_early;
    struct resp r[3];
    size_t rest;

    size_t a = fx_tcp_connect(f, &addr);
    peer_send_str(f, a, "POST /early HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000\r\n\r\n");
    PUMP_UNTIL(f, peer_closed(f, a));
    assert_true(f->peers[a].eof);
    assert_int_equal(parse_responses(&f->peers[a], r, 3, &rest), 1);
    assert_answer(&r[0], 403, "early");
    assert_int_equal(td_http_server_lean_connections(f->server), 1);
    static char junk[4 * 1024 * 1024];
    memset(junk, 'x', sizeof(junk));
    peer_send(f, a, junk, sizeof(junk));
    peer_send_str(f, a, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
    settle(f);
    assert_int_equal(f->headers_calls, 1);
    assert_int_equal(f->request_calls, 0);
    assert_int_equal(td_http_server_lean_connections(f->server), 1);
    peer_close(f, a);
    PUMP_UNTIL(f, td_http_server_lean_connections(f->server) == 0);

    /* A client that stays silent: closed by the server in the end (PUMP_UNTIL's deadline is
     * the only clock here). */
    size_t b = fx_tcp_connect(f, &addr);
    peer_send_str(f, b, "GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    PUMP_UNTIL(f, peer_closed(f, b));
    PUMP_UNTIL(f, td_http_server_lean_connections(f->server) == 0);

    /* max_connections (2) with two lingering: a third is served at once, in the place of one
     * of them, and a fourth (two live connections) waits. */
    size_t c = fx_tcp_connect(f, &addr), d = fx_tcp_connect(f, &addr);
    peer_send_str(f, c, "GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    PUMP_UNTIL(f, peer_closed(f, c));
    peer_send_str(f, d, "GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    PUMP_UNTIL(f, peer_closed(f, d));
    assert_int_equal(td_http_server_lean_connections(f->server), 2);
    size_t e = fx_tcp_connect(f, &addr);
    peer_send_str(f, e, "GET /e HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, e) >= 1);
    assert_int_equal(td_http_server_lean_connections(f->server), 2);
    size_t g = fx_tcp_connect(f, &addr);
    peer_send_str(f, g, "GET /g HTTP/1.1\r\nHost: h\r\n\r\n");
    PUMP_UNTIL(f, responses(f, g) >= 1); /* d's place, the other lingering one */
    size_t k = fx_tcp_connect(f, &addr);
    peer_send_str(f, k, "GET /k HTTP/1.1\r\nHost: h\r\n\r\n");
    settle(f);
    assert_int_equal(responses(f, k), 0);
    peer_close(f, e);
    PUMP_UNTIL(f, responses(f, k) >= 1);
    peer_close(f, c);
    peer_close(f, d);
    peer_close(f, g);
    peer_close(f, k);
    peer_close(f, e);
    PUMP_UNTIL(f, td_http_server_lean_connections(f->server) == 0);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_parking),
        cmocka_unit_test(test_post_bodies),
        cmocka_unit_test(test_body_overflow),
        cmocka_unit_test(test_large_bodies),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_head_limits),
        cmocka_unit_test(test_hangup_while_parked),
        cmocka_unit_test(test_answer_headers_and_close),
        cmocka_unit_test(test_free_fn),
        cmocka_unit_test(test_server_free),
        cmocka_unit_test(test_head_request),
        cmocka_unit_test(test_early_answer),
        cmocka_unit_test(test_upgrade_ignored),
        cmocka_unit_test(test_field_syntax),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_expect_answered_early),
        cmocka_unit_test(test_coalesce_pipelined),
        cmocka_unit_test(test_coalesce_ordering),
        cmocka_unit_test(test_lean_listener),
        cmocka_unit_test(test_linger),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
