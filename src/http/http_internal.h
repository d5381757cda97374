/* Shared between the libmicrohttpd server (server.c) and its lean connections (lean.c). */
#ifndef TENANTD_HTTP_INTERNAL_H
#define TENANTD_HTTP_INTERNAL_H

#include <microhttpd.h>

#include "tenantd/http.h"
#include "tenantd/list.h"

struct td_lean_conn;

struct td_http_server {
    uv_loop_t *loop;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer;
    uv_check_t check;
    uv_idle_t idle; /* runs while lean connections have work waiting (lean_ready) */
    struct td_http_server_options opts;
    bool need_run;
    bool stopping;
    size_t active;
    struct td_list requests; /* every live request, for shutdown */
    uint64_t *ctx_by_fd;     /* connection contexts of added sockets, indexed by fd */
    size_t ctx_cap;
    int handles_open;
    struct td_list lean_conns; /* every lean connection */
    struct td_list lean_ready; /* lean connections with work to resume outside any callback */
    size_t n_lean;             /* connections in lean_conns */
    size_t n_lingering;        /* of which lingering after their last answer */
    /* opts.lean_listener: the listening socket, accepted from here; idle connections swept */
    int listen_fd;
    uv_poll_t accept_poll;
    uv_timer_t sweep;
    uv_timer_t accept_retry; /* accepting again after running out of descriptors */
    bool lean_handles;       /* accept_poll, sweep and accept_retry are open */
    bool accept_paused;      /* not accepting: at max_connections, or out of descriptors */
    /* Lean connections read into this one buffer; a connection keeps (copies) only bytes it
     * could not parse yet, so a request costs no buffer of its own. */
    char *lean_scratch;
};

/* At most this many header and trailer fields in a request on a lean connection. */
#define TD_LEAN_FIELDS_MAX 64

struct td_http_request {
    struct td_http_server *server;
    struct MHD_Connection *conn; /* a libmicrohttpd request, or NULL */
    struct td_lean_conn *lean;   /* a lean connection's request, or NULL */
    const char *method;
    const char *url;
    char *query;
    struct td_buf body;
    uint64_t body_total;
    bool overflow;
    bool dispatched;
    bool in_handler;
    bool want_suspend;
    bool suspended;
    bool answered;
    bool drop;
    struct MHD_Response *response;
    unsigned status;
    void *owner;
    void (*on_gone)(struct td_http_request *req, void *owner);
    struct td_list link;
    uint64_t conn_context;
    /* lean requests: header fields, then trailer fields, pointing into the request's head */
    struct td_http_header *fields;
    size_t n_headers;
    size_t n_fields;
    const char *raw_query; /* after '?' in the lean request's target, or "" */
    char **param_values;   /* the query parameters looked up (lean requests), kept till the end */
    size_t n_param_values;
};

/* lean.c */
int td_lean_reply(struct td_http_request *req, unsigned status,
                  const struct td_http_out_header *headers, size_t n_headers, const void *body,
                  size_t len, void (*free_fn)(void *), void *free_arg);
void td_lean_drop(struct td_http_request *req);
void td_lean_run_ready(struct td_http_server *s);
void td_lean_close_all(struct td_http_server *s);
/* Close lean connections silent since before_ms (the loop's time, uv_now) that are not waiting on
 * the server, and those lingering for too long. */
void td_lean_close_idle(struct td_http_server *s, int64_t before_ms);
/* Close the connection lingering longest, if any (a new client needs its place). */
void td_lean_close_lingering(struct td_http_server *s);
const char *td_lean_field(const struct td_http_request *req, const char *name, bool trailer);
const char *td_lean_query_param(const struct td_http_request *req, const char *name);

/* server.c: a lean connection ended, or began to linger (a paused listener may accept again). */
void td_http_server_lean_gone(struct td_http_server *s);
/* server.c: have td_lean_run_ready called before the loop next waits. */
void td_http_server_wake(struct td_http_server *s);

#endif
