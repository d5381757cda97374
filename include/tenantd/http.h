/* HTTP/1.1 servers driven by the daemon's libuv loop: libmicrohttpd in external-epoll mode, or
 * the lean server (src/http/lean.c, llhttp on the loop) for a lean listener and for connected
 * sockets handed over with td_http_server_add_lean_connection.
 *
 * One loop thread owns every server. A handler sees a request twice: once its headers are in
 * (on_headers: refuse early, or set the body limit), and once the whole body has arrived
 * (on_request). A handler answers at once with td_http_reply(), or later: td_http_suspend()
 * parks the connection without a thread and a later td_http_reply() resumes it. Request bodies
 * are collected into capped buffers; response bodies are handed to the server without a copy.
 */
#ifndef TENANTD_HTTP_H
#define TENANTD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "tenantd/buf.h"
#include "tenantd/error.h"
#include "tenantd/http_header.h"

struct td_http_server;
struct td_http_request;

struct td_http_handlers {
    void (*on_headers)(struct td_http_request *req, void *userdata);
    void (*on_request)(struct td_http_request *req, void *userdata);
    /* Optional: a connection added with td_http_server_add_connection is closed. */
    void (*on_connection_closed)(uint64_t context, void *userdata);
};

struct td_http_server_options {
    const char *name;      /* for logs */
    int listen_fd;         /* a listening socket the server takes over, or -1 (add_connection) */
    unsigned idle_timeout; /* seconds a keep-alive connection may stay idle, 0 = forever */
    unsigned max_connections;
    size_t default_body_max;
    size_t connection_memory; /* per-connection buffer for headers and reading */
    /* Serve the listening socket's connections with the lean server (see lean.c: llhttp on the
     * loop, one epoll set, no re-registration while a request waits) instead of libmicrohttpd;
     * idle_timeout and max_connections hold the same. Refusals of unparsable requests then
     * carry the AWS rest-json error shape instead of the Runtime API's. */
    bool lean_listener;
    /* Lean connections: a 2xx answer (up to 4 KiB) to a request with another one already
     * pipelined behind it is held and written together with that request's answer (one write,
     * one wake-up of the peer). It waits as long as that request does: for a parked GET /next,
     * until the next event. Only for a peer that reads its answers in order and waits for the
     * last one anyway: a runtime, which sends GET /next with its /response. */
    bool coalesce_pipelined;
    const struct td_http_handlers *handlers;
    void *userdata;
};

int td_http_server_new(uv_loop_t *loop, const struct td_http_server_options *opts,
                       struct td_http_server **ret);
/* Stop accepting new connections (the listening socket is closed). */
void td_http_server_quiesce(struct td_http_server *s);
/* Close every connection and free the server. Suspended requests are resumed and dropped. */
void td_http_server_free(struct td_http_server *s);
/* Hand an accepted socket to the server; `context` is kept with the connection and returned
 * by td_http_conn_context() for each request on it. The socket is owned by the server after. */
int td_http_server_add_connection(struct td_http_server *s, int fd, uint64_t context);
/* Serve a connected stream socket (AF_UNIX) without libmicrohttpd, on the loop directly: for a
 * peer that is one latency-critical client sending requests one at a time (a runtime on its
 * API socket). Same handlers, same request API; see lean.c for what it accepts. The socket is
 * owned by the server after. */
int td_http_server_add_lean_connection(struct td_http_server *s, int fd, uint64_t context);
/* Connections served by the lean server. */
size_t td_http_server_lean_connections(const struct td_http_server *s);
/* Number of requests currently between on_headers and their end. */
size_t td_http_server_active(const struct td_http_server *s);

/* ---- the request ---- */
const char *td_http_method(const struct td_http_request *req);
/* Raw path, exactly as sent (percent-encoding preserved), without the query. */
const char *td_http_path(const struct td_http_request *req);
/* Raw query string (without '?'), rebuilt from the request; "" when none. */
const char *td_http_query(struct td_http_request *req);
/* Raw (not decoded) value of a query parameter, NULL when absent. */
const char *td_http_query_param(const struct td_http_request *req, const char *name);
/* A request header (case-insensitive), NULL when absent. */
const char *td_http_header(const struct td_http_request *req, const char *name);
/* A trailer of a chunked request body (case-insensitive), NULL when absent. */
const char *td_http_trailer(const struct td_http_request *req, const char *name);
/* Every header in order, with their lengths (for signature checks). Returns the count. */
size_t td_http_headers(const struct td_http_request *req, struct td_http_header *out, size_t max);
const char *td_http_body(const struct td_http_request *req, size_t *ret_len);
/* Take the body buffer out of the request (no copy). */
char *td_http_body_steal(struct td_http_request *req, size_t *ret_len);
/* True when the body was larger than the limit; its real size is returned. */
bool td_http_body_overflowed(const struct td_http_request *req, uint64_t *ret_size);
void td_http_set_body_max(struct td_http_request *req, size_t max);
uint64_t td_http_conn_context(const struct td_http_request *req);
/* Whether the request came on a lean connection (td_http_server_add_lean_connection, or a lean
 * listener's). */
bool td_http_on_lean(const struct td_http_request *req);
/* Whether a lean request's client has ended its side of the connection (EOF waiting to be read
 * behind everything it sent); false for other requests. */
bool td_http_peer_gone(const struct td_http_request *req);

/* A request may have an owner (an invocation waiting on it). The owner is told through
 * on_gone when the request ends before td_http_reply (connection lost, server stopping). */
void td_http_set_owner(struct td_http_request *req, void *owner,
                       void (*on_gone)(struct td_http_request *req, void *owner));

/* ---- answering ---- */
struct td_http_out_header {
    const char *name;
    const char *value;
};

/* Answer with body bytes. With free_fn the server owns body and calls free_fn(free_arg) when
 * done (no copy); without it the bytes are copied. */
void td_http_reply(struct td_http_request *req, unsigned status,
                   const struct td_http_out_header *headers, size_t n_headers, const void *body,
                   size_t len, void (*free_fn)(void *), void *free_arg);
void td_http_reply_json(struct td_http_request *req, unsigned status,
                        const struct td_http_out_header *headers, size_t n_headers,
                        const json_t *doc);
/* An AWS rest-json service error: x-amzn-ErrorType header and {"Type","message"} body. */
void td_http_reply_aws_error(struct td_http_request *req, const struct td_err *err,
                             const char *request_id);
/* Close the connection without an answer. */
void td_http_drop(struct td_http_request *req);
/* Park the request; it is answered later with td_http_reply. */
void td_http_suspend(struct td_http_request *req);
bool td_http_answered(const struct td_http_request *req);

/* Percent-decode a path segment or query value ("+" stays "+"). Refuses bad escapes and NUL. */
int td_http_percent_decode(const char *in, size_t len, char *out, size_t out_size);

#endif
