/* The scheduler: execution environments and the invocations they run.
 *
 * Environments are pooled by (function, version, generation, tenant). An environment of a
 * PER_TENANT function is bound to one tenant for its whole life and never serves another; a
 * plain function's environments are shared by its invocations, as in Lambda. An invocation
 * takes an idle environment of its pool, or starts a new one while the node is under its
 * environment limit (idle environments of other pools are evicted to make room), or is
 * throttled (synchronous) / queued (asynchronous).
 *
 * Lifecycle of an environment: STARTING (sandbox being built) -> INIT (runtime started, until
 * its first GET /next) -> IDLE (parked in /next) <-> BUSY (an invocation delivered) -> DEAD.
 */
#ifndef TENANTD_SCHED_H
#define TENANTD_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "tenantd/buf.h"
#include "tenantd/http.h"
#include "tenantd/list.h"
#include "tenantd/registry.h"
#include "tenantd/cgroup.h"
#include "tenantd/seccomp.h"

#define TD_INVOKE_SYNC_PAYLOAD_MAX  6291456 /* 6 MB, the Invoke API limit */
#define TD_INVOKE_EVENT_PAYLOAD_MAX 262144  /* 256 KB */
#define TD_RUNTIME_PAYLOAD_MAX      6291556 /* what the Runtime API accepts (6 MB + 100) */
#define TD_TAIL_LOG_MAX             4096

struct td_env;
struct td_sched;

/* What an invocation ended with. */
struct td_invoke_result {
    bool function_error;      /* X-Amz-Function-Error: Unhandled */
    const char *content_type; /* of body */
    char *body;               /* owned by the result; freed with free() */
    size_t len;
};

enum td_invocation_state {
    TD_INV_NEW,
    TD_INV_QUEUED,    /* waiting for capacity (asynchronous invocations only) */
    TD_INV_ASSIGNED,  /* given to an environment, not yet taken by its runtime */
    TD_INV_DELIVERED, /* the runtime has it */
    TD_INV_DONE,
};

struct td_invocation {
    char request_id[TD_UUID_LEN + 1];
    struct td_function *fn; /* reference held */
    char *tenant;           /* NULL for a plain function */
    char *payload;          /* owned until delivered to the runtime */
    size_t payload_len;
    char *client_context; /* decoded JSON, or NULL */
    char *trace_id;
    bool event;
    bool tail;
    enum td_invocation_state state;
    struct td_buf log; /* START .. REPORT lines, when tail is set */
    struct td_env *env;
    int64_t deadline_ms;   /* wall clock, set on delivery */
    char environment[128]; /* how it got its environment: "warm", "new; spawn_us=..; init_us=..",
                              "prewarmed; spawn_us=..; init_us=..; waited_us=.." */
    int64_t assigned_us;   /* monotonic: given to an environment */
    int64_t delivered_us;  /* monotonic: taken by the runtime */
    struct td_sched *in_flight_of; /* counted in its in_flight from delivery to the end */
    struct td_list link;           /* in the asynchronous queue */
    /* Called exactly once with the outcome; the callee frees the invocation with
     * td_invocation_free(). */
    void (*on_done)(struct td_invocation *inv, struct td_invoke_result *res);
    void *userdata;
};

struct td_sched_config {
    unsigned max_envs;            /* node-wide environment limit (concurrency) */
    unsigned idle_timeout_s;      /* idle environments are reaped after this */
    unsigned init_timeout_s;      /* runtime init limit (Lambda: 10 s) */
    const char *root_mountpoint;  /* empty directory for sandbox roots */
    const char *node_runtime_dir; /* directory holding node_modules/aws-lambda-ric */
    const char *node_bin;         /* node executable (host path, visible inside via /usr) */
    const char *region;
    const char *account_id;
    unsigned prewarm; /* tenant-neutral environments kept ready per PER_TENANT function */
    /* After an event is handed to a runtime, the loop polls without sleeping for up to this many
     * microseconds while an answer is awaited: a warm runtime answers in tens of microseconds,
     * and on a virtual machine a sleeping vCPU takes 50-80 us to wake (0 = always sleep). */
    unsigned spin_us;
    uid_t uid_base; /* environments run as uid_base + slot */
    unsigned uid_count;
    uint16_t api_port;
    const struct td_seccomp_filter *seccomp; /* the runtimes' filter (NULL: none) */
    struct td_cgroups *cgroups;              /* per-environment cgroups (NULL: none) */
    struct td_launcher *launcher;            /* clones the environments */
};

struct td_sched_stats {
    unsigned envs;
    unsigned idle;
    unsigned busy;
    unsigned starting;
    uint64_t created;
    uint64_t reaped;
    size_t queued;
};

int td_sched_new(uv_loop_t *loop, const struct td_sched_config *cfg,
                 struct td_http_server *env_server, struct td_sched **ret);
void td_sched_set_env_server(struct td_sched *s, struct td_http_server *env_server);
/* Kill every environment, fail every invocation; done() runs once all are reaped. */
void td_sched_shutdown(struct td_sched *s, void (*done)(void *), void *arg);
/* The launcher has exited: environments it had not reported yet never will be; end them. */
void td_sched_launcher_gone(struct td_sched *s);
void td_sched_free(struct td_sched *s);
void td_sched_get_stats(const struct td_sched *s, struct td_sched_stats *out);

/* request_id: the id the invocation carries (the Invoke request's own), or NULL for a new one. */
struct td_invocation *td_invocation_new(struct td_function *fn, const char *request_id);
void td_invocation_free(struct td_invocation *inv);

/* Run an invocation. Synchronous ones that cannot get an environment fail at once with
 * -EAGAIN (TooManyRequests); asynchronous ones are queued. */
int td_sched_submit(struct td_sched *s, struct td_invocation *inv);
/* Keep cfg.prewarm tenant-neutral environments of a PER_TENANT function initialised and ready:
 * a tenant seen for the first time takes one (bound to it for good) instead of a cold start.
 * Their initialisation never sees any tenant's data. */
void td_sched_prewarm(struct td_sched *s, struct td_function *fn);
/* The caller of a synchronous invocation went away: drop it if not yet delivered. */
void td_sched_cancel(struct td_invocation *inv);
/* A function was updated or deleted: its idle environments go now, busy ones after their
 * invocation. */
void td_sched_retire(struct td_sched *s, const struct td_function *fn);

/* ---- the Runtime API side (each environment's own listener) ---- */

/* Where an environment fetches its credentials (GET, on its own listener). */
#define TD_ENV_CREDENTIALS_PATH "/2024-tenantd/credentials"

/* The environment behind a connection context, or NULL once it is gone. */
struct td_env *td_sched_env(struct td_sched *s, uint64_t env_id);
const char *td_env_tenant(const struct td_env *env);
/* The function an environment runs, and what its credentials are bound to: a string unique
 * to this environment (across daemon restarts too), carried by every token minted for it. */
const struct td_function *td_env_function(const struct td_env *env);
const char *td_env_binding(const struct td_env *env);
/* The token the environment's credentials endpoint expects in Authorization (it is in the
 * environment's AWS_CONTAINER_AUTHORIZATION_TOKEN). */
const char *td_env_api_token(const struct td_env *env);
/* The environment's last credentials document while more than min_left_s of it remain. */
const char *td_env_credentials(const struct td_env *env, int64_t now_s, int64_t min_left_s);
/* Keep a credentials document (taken over) that expires at expires_s. */
void td_env_set_credentials(struct td_env *env, char *doc, int64_t expires_s);
/* One of the environment's connections to its API socket closed. */
void td_env_connection_closed(struct td_env *env);
/* GET /runtime/invocation/next. Answers at once or parks the request. */
void td_env_next(struct td_env *env, struct td_http_request *req);
/* Outcomes of a POST on /response, /error or /init/error, for the handler's reply. */
enum td_env_post_result {
    TD_POST_ACCEPTED,
    TD_POST_UNKNOWN_ID,   /* 400 InvalidRequestID */
    TD_POST_ALREADY_DONE, /* 403 InvalidStateTransition */
    TD_POST_NOT_IN_INIT,  /* 403: /init/error after init */
    TD_POST_TOO_LARGE,    /* 413; the caller got Function.ResponseSizeTooLarge */
    TD_POST_BUSY,         /* 429: another body of this environment is being read */
};
/* Header stage of a POST on /response or /error (request_id set) or /init/error (NULL):
 * TD_POST_ACCEPTED when its body may be read. Any other outcome is answered before a byte of
 * the body is read, and an environment has one body in flight at a time, so a runtime cannot
 * make the daemon buffer bodies it will refuse. */
enum td_env_post_result td_env_post_begin(struct td_env *env, const char *request_id,
                                          struct td_http_request *req);
enum td_env_post_result td_env_response(struct td_env *env, const char *request_id,
                                        struct td_http_request *req, bool is_error);
enum td_env_post_result td_env_init_error(struct td_env *env, struct td_http_request *req);

#endif
