#include "tenantd/daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "daemon_internal.h"
#include "keys.h"
#include "tenantd/api.h"
#include "tenantd/audit.h"
#include "tenantd/cleanup.h"
#include "tenantd/envapi.h"
#include "tenantd/iam.h"
#include "tenantd/tables.h"
#include "tenantd/awsquery.h"
#include "tenantd/log.h"
#include "tenantd/route.h"
#include "tenantd/sandbox.h"
#include "tenantd/seccomp.h"
#include "tenantd/sigv4.h"

void td_daemon_config_defaults(struct td_daemon_config *cfg, const char *exe_path)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
    cfg->listen_port = 8900;
    snprintf(cfg->state_dir, sizeof(cfg->state_dir), "./.tenantd");
    snprintf(cfg->region, sizeof(cfg->region), "us-east-1");
    snprintf(cfg->account_id, sizeof(cfg->account_id), "000000000000");
    cfg->max_envs = 64;
    cfg->idle_timeout_s = 300;
    cfg->init_timeout_s = 10;
    cfg->prewarm = 2;
    cfg->spin_us = 50;
    cfg->uid_base = 3000000;
    snprintf(cfg->node_bin, sizeof(cfg->node_bin), "/usr/bin/node");
    /* aws-lambda-ric is installed by npm next to the build: <repo>/node_modules. */
    char exe[PATH_MAX];
    if (exe_path && realpath(exe_path, exe)) {
        char candidate[PATH_MAX + 64];
        snprintf(candidate, sizeof(candidate), "%s/../node_modules", dirname(exe));
        char resolved[PATH_MAX];
        if (realpath(candidate, resolved))
            snprintf(cfg->node_modules_dir, sizeof(cfg->node_modules_dir), "%s", resolved);
    }
}

/* ---- the main listener ---- */

static void reply_route_error(struct td_http_request *req, enum td_route_id id)
{
    struct td_err err;
    if (id == TD_ROUTE_METHOD_NOT_ALLOWED)
        td_err_set(&err, 405, "MethodNotAllowedException", "Method %s is not allowed here",
                   td_http_method(req));
    else
        td_err_set(&err, 404, "UnknownOperationException", "Unknown operation %s %.200s",
                   td_http_method(req), td_http_path(req));
    td_http_reply_aws_error(req, &err, NULL);
}

static bool route_request(struct td_http_request *req, struct td_route_match *m)
{
    if (td_route_lambda(td_http_method(req), td_http_path(req), m) < 0) {
        struct td_err err;
        td_err_invalid(&err, "The function name in the request path is not valid");
        td_http_reply_aws_error(req, &err, NULL);
        return false;
    }
    if (m->id == TD_ROUTE_NOT_FOUND || m->id == TD_ROUTE_METHOD_NOT_ALLOWED) {
        reply_route_error(req, m->id);
        return false;
    }
    return true;
}

/* The node's own figures (environments, memory): for operators and the benchmark harness. */
static long rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static void reply_stats(struct td_daemon *d, struct td_http_request *req, const char *request_id)
{
    struct td_sched_stats st;
    td_sched_get_stats(d->svc.sched, &st);
    json_t *doc =
        json_pack("{s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I}", "environments", "total",
                  (json_int_t)st.envs, "idle", (json_int_t)st.idle, "busy", (json_int_t)st.busy,
                  "starting", (json_int_t)st.starting, "created", (json_int_t)st.created, "reaped",
                  (json_int_t)st.reaped, "queued", (json_int_t)st.queued, "rssKiB",
                  (json_int_t)rss_kb(), "accessDenied", (json_int_t)d->denied);
    struct td_http_out_header h[] = {{"x-amzn-RequestId", request_id}};
    td_http_reply_json(req, 200, h, 1, doc);
    json_decref(doc);
}

/* IAM and STS speak the query protocol: POST / with a form body, service in the scope. */
static bool is_query_request(struct td_http_request *req)
{
    return strcmp(td_http_method(req), "POST") == 0 && strcmp(td_http_path(req), "/") == 0;
}

static bool is_query_service(const char *service)
{
    return strcmp(service, "iam") == 0 || strcmp(service, "sts") == 0 ||
           strcmp(service, "dynamodb") == 0;
}

/* An authentication failure of a POST /: in DynamoDB's shape when it looks like a DynamoDB
 * request, else in the query protocol's. */
static void reply_post_root_error(struct td_http_request *req, const char *service,
                                  const struct td_err *err, const char *request_id)
{
    if (strcmp(service, "dynamodb") == 0 || td_http_header(req, "X-Amz-Target"))
        daemon_tables_error(req, err, request_id);
    else
        daemon_query_error(req, is_query_service(service) ? service : "sts", err, request_id);
}

static void reply_wrong_service(struct td_http_request *req, const char *want,
                                const char *request_id)
{
    struct td_err err;
    td_err_set(&err, 403, "InvalidSignatureException",
               "Credential should be scoped to correct service: '%s'.", want);
    td_http_reply_aws_error(req, &err, request_id);
}

/* The IAM action and resource of a Lambda API request. */
static void lambda_action(struct td_daemon *d, struct td_http_request *req,
                          const struct td_route_match *m, char *action, size_t action_size,
                          char *resource, size_t resource_size)
{
    static const struct {
        enum td_route_id id;
        const char *action;
    } map[] = {
        {TD_ROUTE_LIST_FUNCTIONS, "lambda:ListFunctions"},
        {TD_ROUTE_CREATE_FUNCTION, "lambda:CreateFunction"},
        {TD_ROUTE_GET_FUNCTION, "lambda:GetFunction"},
        {TD_ROUTE_DELETE_FUNCTION, "lambda:DeleteFunction"},
        {TD_ROUTE_GET_FUNCTION_CONFIGURATION, "lambda:GetFunctionConfiguration"},
        {TD_ROUTE_UPDATE_FUNCTION_CONFIGURATION, "lambda:UpdateFunctionConfiguration"},
        {TD_ROUTE_UPDATE_FUNCTION_CODE, "lambda:UpdateFunctionCode"},
        {TD_ROUTE_INVOKE, "lambda:InvokeFunction"},
    };
    snprintf(action, action_size, "tenantd:%s", m->operation ? m->operation : "Unknown");
    for (size_t i = 0; i < TD_ARRAY_SIZE(map); i++)
        if (map[i].id == m->id)
            snprintf(action, action_size, "%s", map[i].action);
    const char *name = m->param;
    json_t *body = NULL;
    if (m->id == TD_ROUTE_CREATE_FUNCTION) { /* the name is in the body */
        size_t len = 0;
        const char *text = td_http_body(req, &len);
        body = text ? json_loadb(text, len, 0, NULL) : NULL;
        name = json_string_value(json_object_get(body, "FunctionName"));
    }
    if (m->id == TD_ROUTE_LIST_FUNCTIONS || !name || !*name)
        snprintf(resource, resource_size, "*");
    else if (strncmp(name, "arn:", 4) == 0)
        snprintf(resource, resource_size, "%s", name);
    else
        snprintf(resource, resource_size, "arn:aws:lambda:%s:%s:function:%s", d->cfg->region,
                 d->cfg->account_id, name);
    json_decref(body);
}

/* GET /tenantd/audit?tenant=&principal=&action=&since=<Unix ms>&limit=: refused requests. */
static void reply_audit(struct td_daemon *d, struct td_http_request *req, const char *request_id)
{
    static const char *const names[] = {"tenant", "principal", "action", "since", "limit"};
    char values[5][512];
    for (size_t i = 0; i < TD_ARRAY_SIZE(names); i++) {
        const char *raw = td_http_query_param(req, names[i]);
        values[i][0] = '\0';
        if (raw && td_http_percent_decode(raw, strlen(raw), values[i], sizeof(values[i])) < 0) {
            struct td_err err;
            td_err_invalid(&err, "Invalid value for %s", names[i]);
            td_http_reply_aws_error(req, &err, request_id);
            return;
        }
    }
    int64_t since = 0, limit = 100;
    if ((values[3][0] && td_parse_int64(values[3], 0, INT64_MAX, &since) < 0) ||
        (values[4][0] && td_parse_int64(values[4], 1, TD_AUDIT_MAX_LIMIT, &limit) < 0)) {
        struct td_err err;
        td_err_invalid(&err, "since must be Unix milliseconds and limit 1-%d", TD_AUDIT_MAX_LIMIT);
        td_http_reply_aws_error(req, &err, request_id);
        return;
    }
    struct td_audit_filter f = {.tenant = values[0][0] ? values[0] : NULL,
                                .principal = values[1][0] ? values[1] : NULL,
                                .action = values[2][0] ? values[2] : NULL,
                                .since_ms = since,
                                .limit = (size_t)limit};
    json_t *events = NULL;
    struct td_err err;
    if (td_audit_query(d->state_dir, &f, &events) < 0) {
        td_err_internal(&err, "The audit log cannot be read");
        td_http_reply_aws_error(req, &err, request_id);
        return;
    }
    json_t *doc =
        json_pack("{s:o, s:I}", "Events", events, "AccessDeniedTotal", (json_int_t)d->denied);
    struct td_http_out_header h[] = {{"x-amzn-RequestId", request_id}};
    td_http_reply_json(req, 200, h, 1, doc);
    json_decref(doc);
}

/* Authentication needs the body's hash. Checking the signature's form, the clock and the key
 * as soon as the head is in keeps an unauthenticated client from making the daemon read a large
 * body; a short one (declared, and within the route's limit, so it cannot overflow) is simply
 * read first, and the request is authenticated once, with its body. */
#define AUTH_AFTER_BODY_MAX ((uint64_t)64 * 1024)

static bool authenticate_after_body(struct td_http_request *req, size_t body_max)
{
    const char *cl = td_http_header(req, "Content-Length");
    if (!cl || td_http_header(req, "Transfer-Encoding"))
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return *cl >= '0' && *cl <= '9' && !*end && errno == 0 && n <= AUTH_AFTER_BODY_MAX &&
           n <= body_max;
}

static void api_on_headers(struct td_http_request *req, void *userdata)
{
    struct td_daemon *d = userdata;
    struct td_route_match m;
    struct td_err err = {0};
    _cleanup_principal_ struct td_principal p = {0};
    char service[TD_SIGV4_MAX_SCOPE_PART + 1] = "";

    if (is_query_request(req)) {
        if (daemon_authenticate(d, req, false, NULL, &p, service, sizeof(service), &err) < 0) {
            reply_post_root_error(req, service, &err, NULL);
            return;
        }
        if (!is_query_service(service)) {
            reply_wrong_service(req, "lambda", NULL);
            return;
        }
        td_http_set_body_max(req, strcmp(service, "dynamodb") == 0 ? TD_TABLES_BODY_MAX
                                                                   : TD_QUERY_MAX_BODY);
        return;
    }
    if (!route_request(req, &m))
        return;
    if (m.id == TD_ROUTE_CODE_DOWNLOAD) {
        td_http_set_body_max(req, 0);
        return;
    }
    size_t body_max = m.id == TD_ROUTE_INVOKE ? td_invoke_body_max(req) : td_control_body_max(m.id);
    if (!authenticate_after_body(req, body_max)) {
        if (daemon_authenticate(d, req, false, NULL, &p, service, sizeof(service), &err) < 0) {
            td_http_reply_aws_error(req, &err, NULL);
            return;
        }
        if (strcmp(service, "lambda") != 0) {
            reply_wrong_service(req, "lambda", NULL);
            return;
        }
    }
    td_http_set_body_max(req, body_max);
}

static void api_on_request(struct td_http_request *req, void *userdata)
{
    struct td_daemon *d = userdata;
    struct td_route_match m;
    struct td_err err = {0};
    char request_id[TD_UUID_LEN + 1];
    _cleanup_principal_ struct td_principal p = {0};
    char service[TD_SIGV4_MAX_SCOPE_PART + 1] = "";

    if (td_uuid4(request_id) < 0) {
        td_http_drop(req);
        return;
    }
    if (is_query_request(req)) {
        if (daemon_authenticate(d, req, true, NULL, &p, service, sizeof(service), &err) < 0)
            reply_post_root_error(req, service, &err, request_id);
        else if (strcmp(service, "dynamodb") == 0)
            daemon_tables_api(d, req, &p, request_id);
        else
            daemon_query_api(d, req, &p, service, request_id);
        return;
    }
    if (!route_request(req, &m))
        return;
    if (m.id == TD_ROUTE_CODE_DOWNLOAD) {
        td_control_code_download(&d->svc, req, m.param, request_id);
        return;
    }
    /* An oversized body cannot be hashed, so such a request is never authenticated: it gets a
     * 413 and nothing else. Invoke and the control plane word theirs per operation, first
     * thing; the node's own routes answer here. */
    bool overflowed = td_http_body_overflowed(req, NULL);
    if (overflowed && (m.id == TD_ROUTE_STATS || m.id == TD_ROUTE_AUDIT)) {
        td_err_set(&err, 413, "RequestEntityTooLargeException",
                   "Request must be smaller than %zu bytes", td_control_body_max(m.id));
        td_http_reply_aws_error(req, &err, request_id);
        return;
    }
    if (!overflowed &&
        daemon_authenticate(d, req, true, NULL, &p, service, sizeof(service), &err) < 0) {
        td_http_reply_aws_error(req, &err, request_id);
        return;
    }
    if (!overflowed && strcmp(service, "lambda") != 0) {
        reply_wrong_service(req, "lambda", request_id);
        return;
    }
    if (!overflowed && !p.root) {
        char action[96], resource[512];
        lambda_action(d, req, &m, action, sizeof(action), resource, sizeof(resource));
        if (daemon_authorize(d, &p, action, resource, request_id, 403, "AccessDeniedException",
                             &err) < 0) {
            td_http_reply_aws_error(req, &err, request_id);
            return;
        }
    }
    if (m.id == TD_ROUTE_INVOKE)
        td_invoke_handle(&d->svc, req, m.param, request_id);
    else if (m.id == TD_ROUTE_STATS)
        reply_stats(d, req, request_id);
    else if (m.id == TD_ROUTE_AUDIT)
        reply_audit(d, req, request_id);
    else
        td_control_handle(&d->svc, req, &m, request_id);
}

static const struct td_http_handlers api_handlers = {
    .on_headers = api_on_headers,
    .on_request = api_on_request,
};

/* ---- start-up ---- */

static int make_state_dir(struct td_daemon *d)
{
    if (mkdir(d->cfg->state_dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    if (!realpath(d->cfg->state_dir, d->state_dir))
        return -errno;
    char run[PATH_MAX + 16];
    snprintf(run, sizeof(run), "%s/run", d->state_dir);
    if (mkdir(run, 0700) < 0 && errno != EEXIST)
        return -errno;
    snprintf(run, sizeof(run), "%s/run/root", d->state_dir);
    if (mkdir(run, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

struct load_ctx {
    struct td_daemon *d;
    int loaded;
    int failed;
};

static int load_function(const char *name, const char *config_json, const char *sha, void *ud)
{
    struct load_ctx *lc = ud;
    struct td_daemon *d = lc->d;
    struct td_function_config cfg;
    struct td_err err = {0};
    struct td_buf zip = TD_BUF_INIT(64 * 1024 * 1024);
    struct td_function *fn = NULL;

    int r = td_function_from_storage(config_json, &cfg);
    if (r == 0 && strcmp(cfg.code_sha256_hex, sha) != 0)
        r = -EINVAL;
    if (r == 0)
        r = td_store_code_get(d->svc.store, sha, &zip);
    if (r == 0)
        r = td_registry_make(d->svc.registry, &cfg, zip.data, zip.len, &fn, &err);
    if (r == 0)
        r = td_registry_put(d->svc.registry, fn);
    td_buf_release(&zip);
    td_function_config_release(&cfg);
    if (r < 0) {
        td_log_error("cannot load function '%s': %s %s", name, strerror(-r), err.message);
        lc->failed++;
        return 0;
    }
    lc->loaded++;
    return 0;
}

static int open_listener(const struct td_daemon_config *cfg, char *endpoint, size_t size)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)cfg->listen_port);
    if (getaddrinfo(cfg->listen_host, port, &hints, &ai) != 0 || !ai)
        return -EINVAL;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    int r = fd < 0 ? -errno : 0;
    if (r == 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        r = -errno;
    if (r == 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        r = -errno;
    if (r == 0 && listen(fd, 1024) < 0)
        r = -errno;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (r == 0 && getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        r = -errno;
    freeaddrinfo(ai);
    if (r < 0) {
        if (fd >= 0)
            close(fd);
        return r;
    }
    char host[INET6_ADDRSTRLEN];
    uint16_t actual;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        actual = ntohs(s6->sin6_port);
        snprintf(endpoint, size, "http://[%s]:%u", host, (unsigned)actual);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        actual = ntohs(s4->sin_port);
        snprintf(endpoint, size, "http://%s:%u", host, (unsigned)actual);
    }
    return fd;
}

static int start_servers(struct td_daemon *d, int listen_fd)
{
    struct td_http_server_options api = {
        .name = "api",
        .listen_fd = listen_fd,
        .idle_timeout = 120,
        .max_connections = 4096,
        .default_body_max = 1024 * 1024,
        /* libmicrohttpd zeroes a connection's whole pool after every request: keep it small. */
        .connection_memory = 8 * 1024,
        .handlers = &api_handlers,
        .userdata = d,
        .lean_listener = true,
    };
    int r = td_http_server_new(&d->loop, &api, &d->api);
    if (r < 0)
        return r;
    daemon_env_services(d, &d->envapi);
    struct td_http_server_options envs = {
        .name = "runtime-api",
        .listen_fd = -1,
        /* Parked long polls never time out; a connection that sat between /next and its
         * /response for as long as the longest invocation (900 s) must not either. Anything
         * idle longer is a runtime holding connections for nothing. */
        .idle_timeout = 1000,
        .max_connections = 65536,
        .default_body_max = TD_RUNTIME_PAYLOAD_MAX,
        .connection_memory = 8 * 1024, /* held by every idle environment's long poll */
        .coalesce_pipelined = true,
        .handlers = td_envapi_handlers(),
        .userdata = &d->envapi,
    };
    return td_http_server_new(&d->loop, &envs, &d->envs);
}

static int start_sched(struct td_daemon *d)
{
    snprintf(d->sandbox_root, sizeof(d->sandbox_root), "%s/run/root", d->state_dir);
    struct td_sched_config sc = {
        .max_envs = d->cfg->max_envs,
        .idle_timeout_s = d->cfg->idle_timeout_s,
        .init_timeout_s = d->cfg->init_timeout_s,
        .prewarm = d->cfg->prewarm,
        .spin_us = d->cfg->spin_us,
        .root_mountpoint = d->sandbox_root,
        .node_runtime_dir = d->cfg->node_modules_dir[0] ? d->cfg->node_modules_dir : NULL,
        .node_bin = d->cfg->node_bin,
        .region = d->cfg->region,
        .account_id = d->cfg->account_id,
        .uid_base = d->cfg->uid_base,
        .uid_count = 65536,
        .api_port = 9001,
        .seccomp = &d->seccomp,
        .cgroups = d->cgroups,
        .launcher = d->launcher,
    };
    return td_sched_new(&d->loop, &sc, NULL, &d->svc.sched);
}

/* ---- shutdown ---- */

static void finish_stop(struct td_daemon *d)
{
    uv_timer_stop(&d->drain);
    td_http_server_free(d->api);
    td_http_server_free(d->envs);
    d->api = d->envs = NULL;
    uv_close((uv_handle_t *)&d->drain, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    td_sched_free(d->svc.sched);
    d->svc.sched = NULL;
    uv_close((uv_handle_t *)&d->launcher_poll, NULL);
    uv_close((uv_handle_t *)&d->launcher_grace, NULL);
}

/* Give the answers to in-flight requests a moment to reach their clients. */
static void on_drain(uv_timer_t *t)
{
    struct td_daemon *d = t->data;
    if (td_http_server_active(d->api) == 0 || td_mono_ms() >= d->drain_deadline_ms)
        finish_stop(d);
}

static void on_envs_stopped(void *arg)
{
    struct td_daemon *d = arg;
    uv_timer_stop(&d->launcher_grace);
    d->drain_deadline_ms = td_mono_ms() + SHUTDOWN_DRAIN_MS;
    uv_timer_start(&d->drain, on_drain, 0, 20);
}

/* Stopping waits for the environments being launched; a launcher that does not report them
 * (stopped, stuck in the kernel) is ended, and they are given up (on_launcher_exit). */
static void on_launcher_grace(uv_timer_t *t)
{
    struct td_daemon *d = t->data;
    td_log_warn("the environment launcher has not reported every environment after %d ms of "
                "stopping: ending it",
                LAUNCHER_GRACE_MS);
    (void)td_launcher_kill(d->launcher);
}

static void stop(struct td_daemon *d)
{
    d->stopping = true;
    uv_timer_start(&d->launcher_grace, on_launcher_grace, LAUNCHER_GRACE_MS, 0);
    td_http_server_quiesce(d->api);
    td_sched_shutdown(d->svc.sched, on_envs_stopped, d);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct td_daemon *d = h->data;
    if (d->stopping)
        return;
    td_log_info("received %s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    stop(d);
}

/* The launcher never exits while the daemon runs. Without it no environment can be created,
 * which would go unnoticed while the warm ones keep answering: stop, so that whatever
 * supervises the daemon starts it again. */
static void on_launcher_exit(uv_poll_t *h, int status, int events)
{
    struct td_daemon *d = h->data;
    (void)status;
    (void)events;
    uv_poll_stop(h);
    if (!d->stopping) {
        td_log_error("the environment launcher exited: no environment can be created; stopping");
        d->failed = true;
        stop(d);
    }
    uv_timer_stop(&d->launcher_grace);    /* (started by stop) no launcher left to end */
    td_sched_launcher_gone(d->svc.sched); /* after stop: nothing queued tries to start one */
}

/* Fill the tenant-neutral pools of the functions loaded at start. */
static void prewarm_all(struct td_daemon *d)
{
    char **names = NULL;
    size_t n = 0;
    if (td_registry_names(d->svc.registry, &names, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        struct td_function *fn = td_registry_get(d->svc.registry, names[i]);
        if (fn)
            td_sched_prewarm(d->svc.sched, fn);
        free(names[i]);
    }
    free(names);
}

static int announce(struct td_daemon *d)
{
    char path[PATH_MAX + 16];
    char line[400];
    snprintf(path, sizeof(path), "%s/endpoint", d->state_dir);
    snprintf(line, sizeof(line), "%s\n", d->endpoint);
    int r = td_write_file_atomic(path, line, strlen(line), 0644);
    if (r < 0)
        return r;
    printf("tenantd listening on %s\n", d->endpoint);
    fflush(stdout);
    return 0;
}

/* Roles (store, then the roles file), the session keys, the audit log. */
static int start_iam(struct td_daemon *d)
{
    struct td_iam_options opts = {.account = d->cfg->account_id,
                                  .strict_tenancy = d->cfg->strict_tenancy};
    int r = td_session_keys_load(d->state_dir, &d->session_keys);
    if (r < 0) {
        td_log_error("cannot set up the session key (%s/session.key): %s", d->state_dir,
                     strerror(-r));
        return r;
    }
    if ((r = td_session_cache_new(&d->session_cache)) < 0)
        return r;
    if ((r = td_iam_new(d->svc.store, &opts, &d->svc.iam)) < 0) {
        td_log_error("cannot load the roles: %s", strerror(-r));
        return r;
    }
    if (d->cfg->roles_file[0]) {
        struct td_err err = {0};
        if ((r = td_iam_apply_roles_file(d->svc.iam, d->cfg->roles_file, &err)) < 0) {
            td_log_error("roles file: %s", err.status ? err.message : strerror(-r));
            return r;
        }
        td_log_info("roles file %s applied", d->cfg->roles_file);
    }
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/tables.db", d->state_dir);
    struct td_table_store *store = NULL;
    struct td_tables_options topts = {.region = d->cfg->region, .account = d->cfg->account_id};
    if ((r = td_table_store_sqlite_open(path, &store)) < 0 ||
        (r = td_tables_new(store, &topts, &d->tables)) < 0) {
        if (store)
            store->ops->close(store);
        td_log_error("cannot open the table service's store %s: %s", path, strerror(-r));
        return r;
    }
    snprintf(path, sizeof(path), "%s/audit.log", d->state_dir);
    d->audit_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (d->audit_fd < 0) {
        td_log_error("cannot open %s: %s", path, strerror(errno));
        return -errno;
    }
    return 0;
}

static int open_cgroups(struct td_daemon *d)
{
    int r = td_cgroups_open(&d->cgroups);
    if (r == 0) {
        td_log_info("environments get cgroup %s limits", td_cgroups_version(d->cgroups));
        return 0;
    }
    /* Without cgroups one tenant's environment could exhaust the host's memory or pids for
     * every other tenant: only an explicit opt-out runs that way. */
    if (!d->cfg->allow_no_cgroups) {
        td_log_error("no usable cgroup controllers (%s): environments would run without memory, "
                     "pids and CPU limits; give the daemon a delegated cgroup "
                     "(docs/security.md), or start it with --allow-no-cgroups",
                     strerror(-r));
        return r;
    }
    td_log_warn("no usable cgroup controllers (%s): environments run without memory, pids and "
                "CPU limits (--allow-no-cgroups)",
                strerror(-r));
    return 0;
}

/* Every environment is a copy of the launcher: it is started before the daemon opens its
 * database or loads a key, and after the daemon has moved to its own cgroup (the launcher
 * shares it; the daemon must be alone there to move). */
static int start_launcher(struct td_daemon *d)
{
    int r = td_launcher_start(&d->launcher);
    if (r < 0)
        td_log_error("cannot start the environment launcher: %s", strerror(-r));
    return r;
}

static void watch_launcher(struct td_daemon *d)
{
    uv_timer_init(&d->loop, &d->launcher_grace);
    d->launcher_grace.data = d;
    uv_poll_init(&d->loop, &d->launcher_poll, td_launcher_pidfd(d->launcher));
    d->launcher_poll.data = d;
    uv_poll_start(&d->launcher_poll, UV_READABLE, on_launcher_exit);
    uv_unref((uv_handle_t *)&d->launcher_poll); /* it never keeps the loop alive */
}

/* What comes before the event loop exists: the launcher must be cloned from a process with no
 * thread at all, and some libuv versions start a kernel thread in uv_loop_init (an io_uring
 * poller, 1.45-1.48). */
static int daemon_prepare(struct td_daemon *d)
{
    int r = make_state_dir(d);
    if (r < 0) {
        td_log_error("cannot use the state directory '%s': %s", d->cfg->state_dir, strerror(-r));
        return r;
    }
    if ((r = open_cgroups(d)) < 0)
        return r;
    return start_launcher(d);
}

static int daemon_start(struct td_daemon *d)
{
    char db[PATH_MAX + 16];
    int r;
    snprintf(db, sizeof(db), "%s/tenantd.db", d->state_dir);
    if ((r = td_store_open(db, &d->svc.store)) < 0) {
        td_log_error("cannot open '%s': %s", db, strerror(-r));
        return r;
    }
    if ((r = td_keys_init(&d->keys, d->svc.store, d->state_dir, d->cfg->account_id)) < 0) {
        td_log_error("cannot set up access keys: %s", strerror(-r));
        return r;
    }
    td_sigv4_key_cache_init(&d->key_cache);
    if ((r = start_iam(d)) < 0)
        return r;
    if ((r = td_seccomp_build(&d->seccomp)) < 0) {
        td_log_error("cannot compile the environments' seccomp filter: %s", strerror(-r));
        return r;
    }
    d->svc.id.region = d->cfg->region;
    d->svc.id.account_id = d->cfg->account_id;
    if ((r = td_random(d->svc.code_url_key, sizeof(d->svc.code_url_key))) < 0)
        return r;
    if ((r = td_registry_new(d->state_dir, &d->svc.id, &d->svc.registry)) < 0)
        return r;
    struct load_ctx lc = {.d = d};
    if ((r = td_store_functions_load(d->svc.store, load_function, &lc)) < 0)
        return r;
    td_registry_gc_code(d->svc.registry);
    if (lc.loaded || lc.failed)
        td_log_info("loaded %d function(s), %d failed", lc.loaded, lc.failed);
    if (!d->cfg->node_modules_dir[0])
        td_log_warn("aws-lambda-ric not found: nodejs20.x functions cannot start (see "
                    "--node-modules)");

    int fd = open_listener(d->cfg, d->endpoint, sizeof(d->endpoint));
    if (fd < 0) {
        td_log_error("cannot listen on %s:%u: %s", d->cfg->listen_host,
                     (unsigned)d->cfg->listen_port, strerror(-fd));
        return fd;
    }
    d->svc.endpoint = d->endpoint;
    if ((r = start_sched(d)) < 0 || (r = start_servers(d, fd)) < 0)
        return r;
    td_sched_set_env_server(d->svc.sched, d->envs);
    prewarm_all(d);
    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sigint);
    uv_timer_init(&d->loop, &d->drain);
    d->sigterm.data = d->sigint.data = d->drain.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    watch_launcher(d);
    if ((r = announce(d)) < 0)
        td_log_error("cannot write '%s/endpoint': %s", d->state_dir, strerror(-r));
    return r;
}

/* Every environment holds a few descriptors (pidfd, API socket, log pipe, connections):
 * use all the descriptors the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void on_log_flush(uv_prepare_t *h)
{
    (void)h;
    td_log_flush();
}

int td_daemon_run(const struct td_daemon_config *cfg)
{
    struct td_daemon *d = calloc(1, sizeof(*d));
    if (!d)
        return 1;
    d->cfg = cfg;
    d->audit_fd = -1;
    td_log_max_level = cfg->debug ? TD_LOG_DEBUG : TD_LOG_INFO;
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    int r = daemon_prepare(d);
    if (r < 0) {
        td_launcher_stop(d->launcher);
        td_cgroups_close(d->cgroups);
        free(d);
        td_log_flush();
        return 1;
    }
    uv_loop_init(&d->loop);
    uv_prepare_init(&d->loop, &d->log_flush);
    uv_prepare_start(&d->log_flush, on_log_flush);
    uv_unref((uv_handle_t *)&d->log_flush); /* it never keeps the loop alive */
    r = daemon_start(d);
    if (r == 0)
        uv_run(&d->loop, UV_RUN_DEFAULT);
    else if (d->svc.sched || d->api) {
        /* Partially started: close what exists and let the loop settle. */
        if (d->api)
            td_http_server_free(d->api);
        if (d->envs)
            td_http_server_free(d->envs);
        td_sched_free(d->svc.sched);
        d->api = d->envs = NULL;
        d->svc.sched = NULL;
        if (d->sigterm.data) { /* set up already */
            uv_close((uv_handle_t *)&d->sigterm, NULL);
            uv_close((uv_handle_t *)&d->sigint, NULL);
            uv_close((uv_handle_t *)&d->drain, NULL);
        }
        if (d->launcher_poll.data) { /* watched already */
            uv_close((uv_handle_t *)&d->launcher_poll, NULL);
            uv_close((uv_handle_t *)&d->launcher_grace, NULL);
        }
        uv_run(&d->loop, UV_RUN_NOWAIT);
    }
    uv_run(&d->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&d->log_flush, NULL);
    uv_run(&d->loop, UV_RUN_NOWAIT);
    td_log_flush();
    (void)uv_loop_close(&d->loop);
    td_registry_free(d->svc.registry);
    td_iam_free(d->svc.iam);
    td_session_cache_free(d->session_cache);
    td_tables_free(d->tables);
    if (d->audit_fd >= 0)
        close(d->audit_fd);
    td_store_close(d->svc.store);
    td_keys_release(&d->keys);
    td_seccomp_release(&d->seccomp);
    td_launcher_stop(d->launcher); /* after the environments: they may be launching */
    td_cgroups_close(d->cgroups);
    bool failed = d->failed;
    free(d);
    if (r == 0)
        td_log_info("stopped");
    return r == 0 && !failed ? 0 : 1;
}
