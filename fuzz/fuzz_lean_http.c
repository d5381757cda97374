/* Fuzz the lean HTTP/1.1 server (src/http/lean.c): what a runtime may write on its inherited
 * API socket.
 *
 * Input: byte 0 picks the harness's behaviour (bit 0: the client hangs up its writing side
 * after the input; bits 1-3: the write size, 1 << (n + 2) bytes at a time, so llhttp sees the
 * input split at many different places; bit 4: answers to pipelined requests are coalesced, as on
 * the daemon's runtime sockets); the rest is written to the socket as the runtime
 * would. The handlers answer like the daemon's: a request whose path contains "park" is
 * parked and answered a loop turn later, "small" lowers the body limit to 16 bytes, "early"
 * answers from on_headers before the body, "drop" closes without an answer; anything else is
 * echoed back (with a free function for odd body lengths, copied otherwise). Checks:
 *   - what the server writes back parses (strict llhttp) as a sequence of whole responses,
 *     at most one per request the handlers saw plus one refusal;
 *   - every request is answered, dropped or reported gone exactly once; every body handed
 *     over with a free function is freed exactly once;
 *   - the server and the loop shut down cleanly (ASan/LSan finds what leaks).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <llhttp.h>

#include "tenantd/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (96 * 1024)
#define MAX_PARKED     8

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_lean_http: check failed at line %d: %s\n", __LINE__, #cond);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

struct harness {
    struct td_http_request *parked[MAX_PARKED];
    size_t n_parked;
    size_t requests; /* on_headers calls */
    size_t ended;    /* answered, dropped or gone */
    size_t bodies_given, bodies_freed;
    bool closed;
    bool saw_head; /* a HEAD answer has no body: the reply parser cannot follow */
};

static struct harness H;

static void on_gone(struct td_http_request *req, void *owner)
{
    (void)owner;
    for (size_t i = 0; i < H.n_parked; i++)
        if (H.parked[i] == req) {
            H.parked[i] = H.parked[--H.n_parked];
            H.ended++;
            return;
        }
    CHECK(false); /* on_gone for a request that was not parked */
}

static void free_body(void *p)
{
    H.bodies_freed++;
    free(p);
}

static void echo(struct td_http_request *req)
{
    size_t len;
    const char *body = td_http_body(req, &len);
    static const struct td_http_out_header h[] = {{"Content-Type", "application/octet-stream"},
                                                  {"X-Bad", "a\r\nInjected: yes"}};
    if (len % 2 == 1) {
        char *copy = malloc(len);
        CHECK(copy);
        memcpy(copy, body, len);
        H.bodies_given++;
        td_http_reply(req, 200, h, 2, copy, len, free_body, copy);
    } else {
        td_http_reply(req, 200, h, 2, body, len, NULL, NULL);
    }
    H.ended++;
}

static void on_headers(struct td_http_request *req, void *userdata)
{
    (void)userdata;
    H.requests++;
    const char *path = td_http_path(req);
    if (strcmp(td_http_method(req), "HEAD") == 0)
        H.saw_head = true;
    (void)td_http_header(req, "Content-Type");
    (void)td_http_query_param(req, "a");
    if (strstr(path, "small"))
        td_http_set_body_max(req, 16);
    if (strstr(path, "early")) {
        td_http_reply(req, 413, NULL, 0, "{}", 2, NULL, NULL);
        H.ended++;
    }
}

static void on_request(struct td_http_request *req, void *userdata)
{
    (void)userdata;
    const char *path = td_http_path(req);
    uint64_t real;
    (void)td_http_body_overflowed(req, &real);
    (void)td_http_trailer(req, "X-Trailer");
    struct td_http_header fields[8];
    (void)td_http_headers(req, fields, 8);
    if (strstr(path, "drop")) {
        td_http_drop(req);
        H.ended++;
    } else if (strstr(path, "park") && H.n_parked < MAX_PARKED) {
        td_http_set_owner(req, NULL, on_gone);
        td_http_suspend(req);
        H.parked[H.n_parked++] = req;
    } else {
        echo(req);
    }
}

static void on_closed(uint64_t context, void *userdata)
{
    (void)userdata;
    CHECK(context == 42);
    CHECK(!H.closed);
    H.closed = true;
}

static const struct td_http_handlers handlers = {on_headers, on_request, on_closed};

/* ---- what comes back ---- */

struct replies {
    size_t complete;
};

static int on_reply_complete(llhttp_t *p)
{
    if (llhttp_get_status_code(p) != 100) /* an interim 100 Continue is not an answer */
        ((struct replies *)p->data)->complete++;
    return 0;
}

static void answer_parked(void)
{
    while (H.n_parked > 0) {
        struct td_http_request *req = H.parked[--H.n_parked];
        td_http_set_owner(req, NULL, NULL);
        echo(req);
    }
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    memset(&H, 0, sizeof(H));
    bool hang_up = data[0] & 1;
    size_t chunk = (size_t)1 << (((data[0] >> 1) & 7) + 2);
    bool coalesce = data[0] & 16;
    data++;
    size--;

    uv_loop_t loop;
    CHECK(uv_loop_init(&loop) == 0);
    struct td_http_server_options opts = {
        .name = "fuzz",
        .listen_fd = -1,
        .max_connections = 4,
        .default_body_max = 64 * 1024,
        .connection_memory = 8 * 1024,
        .coalesce_pipelined = coalesce,
        .handlers = &handlers,
    };
    struct td_http_server *s = NULL;
    CHECK(td_http_server_new(&loop, &opts, &s) == 0);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    set_nonblock(sv[0]);
    set_nonblock(sv[1]);
    CHECK(td_http_server_add_lean_connection(s, sv[0], 42) == 0);

    llhttp_settings_t settings;
    llhttp_settings_init(&settings);
    settings.on_message_complete = on_reply_complete;
    struct replies replies = {0};
    llhttp_t parser;
    llhttp_init(&parser, HTTP_RESPONSE, &settings);
    parser.data = &replies;
    bool reply_error = false, peer_eof = false;

    size_t sent = 0;
    for (int turn = 0; turn < 100000 && !(H.closed && peer_eof); turn++) {
        if (sent < size) {
            size_t n = size - sent < chunk ? size - sent : chunk;
            ssize_t w = send(sv[1], data + sent, n, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN)
                sent = size; /* the server closed: nothing more to say */
        } else if (hang_up) {
            shutdown(sv[1], SHUT_WR);
            hang_up = false;
        }
        char buf[16384];
        ssize_t r;
        while ((r = recv(sv[1], buf, sizeof(buf), 0)) > 0)
            if (!reply_error && llhttp_execute(&parser, buf, (size_t)r) != HPE_OK)
                reply_error = true;
        if (r == 0)
            peer_eof = true;
        bool idle = uv_run(&loop, UV_RUN_NOWAIT) == 0;
        if (turn % 3 == 2)
            answer_parked();
        /* Nothing left to send, nothing parked, nothing moving: done. */
        if (sent == size && !hang_up && H.n_parked == 0 && turn > 64 && (idle || r < 0)) {
            struct pollfd p = {sv[1], POLLIN, 0};
            if (poll(&p, 1, 0) == 0 && (turn > 256 || H.closed))
                break;
        }
    }
    CHECK(!reply_error || H.saw_head);
    /* One answer per request seen, and one refusal of what could not be parsed. */
    CHECK(replies.complete <= H.requests + 1);

    td_http_server_free(s);
    while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {
    }
    CHECK(uv_loop_close(&loop) == 0);
    close(sv[1]);
    CHECK(H.ended <= H.requests); /* no request ends twice */
    CHECK(H.n_parked == 0);       /* td_http_server_free reported each parked request gone */
    CHECK(H.bodies_freed == H.bodies_given);
    return 0;
}
