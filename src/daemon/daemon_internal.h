/* The daemon's parts, shared by its files (daemon.c: wiring and listeners; authz.c: who is
 * calling and what they may do; query_api.c: the IAM and STS endpoints). */
#ifndef TENANTD_DAEMON_INTERNAL_H
#define TENANTD_DAEMON_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "keys.h"
#include "tenantd/api.h"
#include "tenantd/daemon.h"
#include "tenantd/envapi.h"
#include "tenantd/http.h"
#include "tenantd/session.h"
#include "tenantd/sigv4.h"
#include "tenantd/seccomp.h"

struct td_iam;
struct td_cgroups;
struct td_tables;

#define SHUTDOWN_DRAIN_MS 3000
#define LAUNCHER_GRACE_MS 5000

struct td_daemon {
    const struct td_daemon_config *cfg;
    uv_loop_t loop;
    char state_dir[PATH_MAX];
    char sandbox_root[PATH_MAX + 16];
    char endpoint[300];
    struct td_keys keys;
    struct td_sigv4_key_cache key_cache;
    struct td_seccomp_filter seccomp;
    struct td_cgroups *cgroups;
    struct td_launcher *launcher; /* clones the environments (src/sandbox/launcher.c) */
    uv_poll_t launcher_poll;      /* its end */
    uv_timer_t launcher_grace;    /* when stopping: how long launches in progress may take */
    struct td_services svc;
    struct td_tables *tables; /* the table service */
    struct td_session_keys session_keys;
    struct td_session_cache *session_cache; /* tokens recently opened */
    /* the policy context's time keys, for the second ctx_time_s */
    int64_t ctx_time_s;
    char ctx_current_time[24];
    char ctx_epoch_time[24];
    int audit_fd;    /* <state>/audit.log, O_APPEND */
    uint64_t denied; /* requests refused by authorization */
    struct td_http_server *api;
    struct td_http_server *envs;
    struct td_envapi envapi; /* the environments' listeners' handlers and hooks */
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_timer_t drain;
    uv_prepare_t log_flush; /* writes the log buffer out before the loop waits */
    int64_t drain_deadline_ms;
    bool stopping;
    bool failed; /* stopping because something it cannot do without is gone: exit status 1 */
};

/* Who sent a request: the node's long-term key (the operator: everything is allowed) or a role
 * session (STS, or an environment's credentials). */
struct td_principal {
    bool root;
    struct td_session *session;
    char arn[400];
    char access_key_id[TD_SIGV4_MAX_ACCESS_KEY_ID + 1];
};

void daemon_principal_release(struct td_principal *p);
static inline void daemon_principal_releasep(struct td_principal *p)
{
    daemon_principal_release(p);
}
#define _cleanup_principal_ __attribute__((cleanup(daemon_principal_releasep)))

/* Check the request's signature (with_body false: only what the headers tell, so that an
 * unauthenticated client cannot make the daemon read a large body). env_binding is the
 * environment whose listener the request arrived on, NULL for the public listener: session
 * tokens bound to an environment are accepted only there, and only there. The scope's
 * service is copied to service. */
int daemon_authenticate(struct td_daemon *d, struct td_http_request *req, bool with_body,
                        const char *env_binding, struct td_principal *p, char *service,
                        size_t service_size, struct td_err *err);

/* May p perform action on resource? A refusal is audited and err set to deny_status and
 * deny_type with IAM's message. */
int daemon_authorize(struct td_daemon *d, const struct td_principal *p, const char *action,
                     const char *resource, const char *request_id, int deny_status,
                     const char *deny_type, struct td_err *err);

/* An error of the query protocol (XML) for service "iam" or "sts". */
void daemon_query_error(struct td_http_request *req, const char *service, const struct td_err *err,
                        const char *request_id);

/* The same with service-specific condition keys added to the request context by extend. */
struct td_policy_ctx;
typedef int (*daemon_ctx_extend_fn)(struct td_policy_ctx *ctx, const void *arg);
int daemon_authorize_ctx(struct td_daemon *d, const struct td_principal *p, const char *action,
                         const char *resource, daemon_ctx_extend_fn extend, const void *arg,
                         const char *request_id, int deny_status, const char *deny_type,
                         struct td_err *err);

/* The table service (DynamoDB JSON 1.0): POST / signed for "dynamodb". Errors of the
 * authentication stage in DynamoDB's shape. */
void daemon_tables_api(struct td_daemon *d, struct td_http_request *req,
                       const struct td_principal *p, const char *request_id);
void daemon_tables_error(struct td_http_request *req, const struct td_err *err,
                         const char *request_id);

/* POST / with a form body, for the iam and sts services. */
void daemon_query_api(struct td_daemon *d, struct td_http_request *req,
                      const struct td_principal *p, const char *service, const char *request_id);

/* Fill the environments' listener hooks (credentials, signed requests). */
void daemon_env_services(struct td_daemon *d, struct td_envapi *api);

#endif
