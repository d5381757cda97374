/* One execution environment: its sandbox, its Runtime API state machine, its log, its end. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sched_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/log.h"

#define LOG_READ_CHUNK      65536
#define LOG_READS_PER_EVENT 4
#define INIT_ERROR_GRACE_MS 1000
/* A runtime needs one or two connections; more only costs the daemon descriptors. */
#define ENV_MAX_CONNECTIONS 16

/* ---- a NULL-terminated vector of owned strings ---- */

struct strv {
    char **v;
    size_t n;
    size_t cap;
    bool failed;
};

static void strv_add(struct strv *sv, char *s)
{
    if (!s || sv->failed) {
        sv->failed = true;
        free(s);
        return;
    }
    if (sv->n + 2 > sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 32;
        char **v = realloc(sv->v, cap * sizeof(*v));
        if (!v) {
            sv->failed = true;
            free(s);
            return;
        }
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
}

static void strv_addf(struct strv *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void strv_addf(struct strv *sv, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    strv_add(sv, s);
}

static void strv_release(struct strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    memset(sv, 0, sizeof(*sv));
}

/* ---- what the runtime is given ---- */

static void build_argv(const struct td_sched *s, const struct td_function *fn, struct strv *argv)
{
    if (fn->cfg.runtime == TD_RUNTIME_NODEJS20) {
        strv_addf(argv, "%s", s->cfg.node_bin);
        strv_addf(argv, "/var/runtime/node_modules/aws-lambda-ric/bin/index.mjs");
        strv_addf(argv, "%s", fn->cfg.handler);
    } else {
        strv_addf(argv, "/var/task/bootstrap");
    }
}

/* Whether the runtime gets a connected API socket besides AWS_LAMBDA_RUNTIME_API: tenantd's C
 * runtime client (custom runtimes) uses it; the Node runtime interface client could not. */
static bool inherits_api_socket(const struct td_function *fn)
{
    return fn->cfg.runtime != TD_RUNTIME_NODEJS20;
}

static void build_envp(const struct td_sched *s, const struct td_env *env, struct strv *envp)
{
    const struct td_function *fn = env->fn;
    const struct td_function_config *c = &fn->cfg;
    char day[16], stream_id[33];
    uint8_t rnd[16];
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(day, sizeof(day), "%Y/%m/%d", &tm);
    if (td_random(rnd, sizeof(rnd)) < 0)
        memset(rnd, 0, sizeof(rnd));
    td_hex(rnd, sizeof(rnd), stream_id);

    /* The function's own variables first; the platform's cannot be overridden (validated at
     * configuration time, and set last here anyway). */
    const char *key;
    json_t *value;
    json_object_foreach(c->env_vars, key, value)
        strv_addf(envp, "%s=%s", key, json_string_value(value));
    strv_addf(envp, "PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin");
    strv_addf(envp, "LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/"
                    "lib:/var/task:/var/task/lib:/opt/lib");
    strv_addf(envp, "LANG=en_US.UTF-8");
    strv_addf(envp, "TZ=:UTC");
    strv_addf(envp, "_HANDLER=%s", c->handler);
    strv_addf(envp, "LAMBDA_TASK_ROOT=/var/task");
    strv_addf(envp, "LAMBDA_RUNTIME_DIR=/var/runtime");
    strv_addf(envp, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%u", (unsigned)s->cfg.api_port);
    if (inherits_api_socket(fn))
        strv_addf(envp, "TENANTD_RUNTIME_API_FD=%d", TD_SANDBOX_RUNTIME_API_FD);
    strv_addf(envp, "AWS_LAMBDA_FUNCTION_NAME=%s", c->name);
    strv_addf(envp, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%d", c->memory_size);
    strv_addf(envp, "AWS_LAMBDA_FUNCTION_VERSION=$LATEST");
    strv_addf(envp, "AWS_LAMBDA_INITIALIZATION_TYPE=on-demand");
    if (c->log_group[0])
        strv_addf(envp, "AWS_LAMBDA_LOG_GROUP_NAME=%s", c->log_group);
    else
        strv_addf(envp, "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/%s", c->name);
    strv_addf(envp, "AWS_LAMBDA_LOG_STREAM_NAME=%s/[$LATEST]%s", day, stream_id);
    strv_addf(envp, "AWS_REGION=%s", s->cfg.region);
    strv_addf(envp, "AWS_DEFAULT_REGION=%s", s->cfg.region);
    /* Credentials of the function's role, scoped to the environment's tenant, from its own
     * listener; the AWS SDKs' default chain finds them there, and the platform's services
     * (STS, the table service) at the same address. */
    strv_addf(envp, "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:%u%s",
              (unsigned)s->cfg.api_port, TD_ENV_CREDENTIALS_PATH);
    strv_addf(envp, "AWS_CONTAINER_AUTHORIZATION_TOKEN=%s", env->api_token);
    strv_addf(envp, "AWS_ENDPOINT_URL=http://127.0.0.1:%u", (unsigned)s->cfg.api_port);
    strv_addf(envp, "AWS_ENDPOINT_URL_STS=http://127.0.0.1:%u", (unsigned)s->cfg.api_port);
    strv_addf(envp, "AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:%u", (unsigned)s->cfg.api_port);
    if (strcmp(c->log_format, "JSON") == 0) {
        strv_addf(envp, "AWS_LAMBDA_LOG_FORMAT=JSON");
        strv_addf(envp, "AWS_LAMBDA_LOG_LEVEL=%s", c->app_log_level);
    }
    if (c->runtime == TD_RUNTIME_NODEJS20) {
        strv_addf(envp, "AWS_EXECUTION_ENV=AWS_Lambda_nodejs20.x");
        strv_addf(envp, "NODE_PATH=/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/"
                        "runtime/node_modules:/var/runtime:/var/task");
    }
}

/* ---- the function log ---- */

/* A line put together without printf (START, END and REPORT go out with every invocation):
 * pieces are appended while they fit, the rest is cut. */
struct line {
    char text[2048];
    size_t len;
};

static void line_put(struct line *l, const char *s, size_t n)
{
    if (n > sizeof(l->text) - l->len)
        n = sizeof(l->text) - l->len;
    memcpy(l->text + l->len, s, n);
    l->len += n;
}

static void line_puts(struct line *l, const char *s)
{
    line_put(l, s, strlen(s));
}

static void line_u64(struct line *l, uint64_t v)
{
    char digits[TD_U64_DIGITS_MAX + 1];
    line_put(l, digits, td_format_u64(v, digits));
}

/* Microseconds as milliseconds with two decimals, rounded: 1234 -> "1.23". */
static void line_ms2(struct line *l, int64_t us)
{
    uint64_t hundredths = us > 0 ? ((uint64_t)us + 5) / 10 : 0;
    line_u64(l, hundredths / 100);
    char frac[3] = {'.', (char)('0' + hundredths / 10 % 10), (char)('0' + hundredths % 10)};
    line_put(l, frac, sizeof(frac));
}

static void log_sink_write(struct td_env *env, const char *data, size_t len)
{
    /* Each line of function output goes to the daemon's stderr, tagged with its origin; the
     * tag and the line stay together in the daemon's log buffer. */
    struct line prefix = {.len = 0};
    line_puts(&prefix, "[");
    line_puts(&prefix, env->fn->cfg.name);
    line_puts(&prefix, " ");
    line_puts(&prefix, env->tenant ? env->tenant : "-");
    line_puts(&prefix, " env=");
    line_u64(&prefix, env->id);
    line_puts(&prefix, "] ");
    size_t plen = prefix.len;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t chunk = nl ? (size_t)(nl - data) + 1 : len;
        struct iovec iov[2] = {{prefix.text, env->line_start ? plen : 0},
                               {(void *)(uintptr_t)data, chunk}};
        td_log_out(iov, 2);
        env->line_start = nl != NULL;
        data += chunk;
        len -= chunk;
    }
}

/* Keep the last TD_TAIL_LOG_MAX bytes of an invocation's log for X-Amz-Log-Result. */
static void tail_append(struct td_invocation *inv, const char *data, size_t len)
{
    if (!inv || !inv->tail)
        return;
    if (len >= TD_TAIL_LOG_MAX) {
        td_buf_reset(&inv->log);
        (void)td_buf_append(&inv->log, data + len - TD_TAIL_LOG_MAX, TD_TAIL_LOG_MAX);
        return;
    }
    if (inv->log.len + len > inv->log.max) {
        size_t keep = TD_TAIL_LOG_MAX - len;
        memmove(inv->log.data, inv->log.data + inv->log.len - keep, keep);
        inv->log.len = keep;
    }
    (void)td_buf_append(&inv->log, data, len);
}

/* A platform line in the function's log, on a line of its own. */
static void env_log_text(struct td_env *env, struct td_invocation *inv, struct line *l)
{
    if (l->len == sizeof(l->text))
        l->len--;
    l->text[l->len++] = '\n';
    if (!env->line_start) {
        log_sink_write(env, "\n", 1);
        tail_append(inv, "\n", 1);
    }
    log_sink_write(env, l->text, l->len);
    tail_append(inv, l->text, l->len);
}

static void env_log_line(struct td_env *env, struct td_invocation *inv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void env_log_line(struct td_env *env, struct td_invocation *inv, const char *fmt, ...)
{
    struct line l;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l.text, sizeof(l.text), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    l.len = (size_t)n < sizeof(l.text) ? (size_t)n : sizeof(l.text) - 1;
    env_log_text(env, inv, &l);
}

static bool json_logs(const struct td_env *env)
{
    return strcmp(env->fn->cfg.log_format, "JSON") == 0;
}

static void log_start(struct td_env *env, struct td_invocation *inv)
{
    if (!json_logs(env)) {
        struct line l = {.len = 0};
        line_puts(&l, "START RequestId: ");
        line_puts(&l, inv->request_id);
        line_puts(&l, " Version: $LATEST");
        env_log_text(env, inv, &l);
        return;
    }
    char ts[25];
    td_format_iso_ms(td_wall_ms(), ts);
    json_t *rec = json_pack("{s:s, s:s, s:s}", "requestId", inv->request_id, "functionArn",
                            env->fn->arn, "version", "$LATEST");
    if (rec && inv->tenant)
        json_object_set_new(rec, "tenantId", json_string(inv->tenant));
    json_t *ev = json_pack("{s:s, s:s, s:o}", "time", ts, "type", "platform.start", "record", rec);
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (text)
        env_log_line(env, inv, "%s", text);
    free(text);
    json_decref(ev);
}

/* The environment's peak memory: its cgroup's high-water mark, or without one the runtime's
 * VmHWM. Either only ever grows, so a reading is reused for a while instead of costing a system
 * call per invocation (a tenth of the daemon's system calls on the warm path): a REPORT line
 * gives the peak as it was at most 100 ms (1 s from /proc, whose status file is costly to
 * generate) before the invocation ended. */
static int max_memory_mb(struct td_env *env)
{
    char path[64], line[256];
    uint64_t peak;
    int64_t now = td_mono_ms();
    int64_t reuse_ms = env->cg && !env->peak_from_proc ? 100 : 1000;
    if (env->max_memory_read_ms && now - env->max_memory_read_ms < reuse_ms)
        return env->max_memory_mb;
    if (env->cg && !env->peak_from_proc) {
        if (td_cgroup_peak_memory(env->cg, &peak) == 0) {
            env->max_memory_read_ms = now;
            env->max_memory_mb = (int)((peak + 1048575) / 1048576);
            return env->max_memory_mb;
        }
        env->peak_from_proc = true;
    }
    if (env->runtime_pid <= 0)
        return 0;
    env->max_memory_read_ms = now;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)env->runtime_pid);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long kb;
        if (sscanf(line, "VmHWM: %lu kB", &kb) == 1) {
            env->max_memory_mb = (int)((kb + 1023) / 1024);
            break;
        }
    }
    return env->max_memory_mb;
}

/* How long an invocation has run since it was delivered. */
static int64_t run_us(const struct td_invocation *inv)
{
    int64_t us = inv->delivered_us ? td_mono_us() - inv->delivered_us : 0;
    return us < 0 ? 0 : us;
}

/* END and REPORT for the invocation request_id that ran `us`; inv (or NULL) collects them
 * for X-Amz-Log-Result. The tenant is the environment's (an invocation has one exactly when its
 * function is PER_TENANT, and then it is the environment's). */
static void log_end_of(struct td_env *env, struct td_invocation *inv, const char *request_id,
                       int64_t us, const char *status)
{
    double ms = (double)us / 1000.0;
    long long billed = (long long)((us + 999) / 1000);
    int mem = max_memory_mb(env);
    bool first = !env->init_reported && env->init_duration_us > 0;
    double init_ms = (double)env->init_duration_us / 1000.0;
    env->init_reported = env->init_reported || first;

    if (!json_logs(env)) {
        struct line l = {.len = 0};
        line_puts(&l, "END RequestId: ");
        line_puts(&l, request_id);
        env_log_text(env, inv, &l);
        l.len = 0;
        line_puts(&l, "REPORT RequestId: ");
        line_puts(&l, request_id);
        line_puts(&l, "\tDuration: ");
        line_ms2(&l, us);
        line_puts(&l, " ms\tBilled Duration: ");
        line_u64(&l, (uint64_t)billed);
        line_puts(&l, " ms\tMemory Size: ");
        line_u64(&l, (uint64_t)env->fn->cfg.memory_size);
        line_puts(&l, " MB\tMax Memory Used: ");
        line_u64(&l, (uint64_t)(mem > 0 ? mem : 0));
        line_puts(&l, " MB\t");
        if (first) {
            line_puts(&l, "Init Duration: ");
            line_ms2(&l, env->init_duration_us);
            line_puts(&l, " ms\t");
        }
        if (strcmp(status, "success") != 0) {
            line_puts(&l, "Status: ");
            line_puts(&l, status);
        }
        env_log_text(env, inv, &l);
        return;
    }
    char ts[25];
    td_format_iso_ms(td_wall_ms(), ts);
    json_t *metrics =
        json_pack("{s:f, s:I, s:i, s:i}", "durationMs", ms, "billedDurationMs", (json_int_t)billed,
                  "memorySizeMB", env->fn->cfg.memory_size, "maxMemoryUsedMB", mem);
    if (metrics && first)
        json_object_set_new(metrics, "initDurationMs", json_real(init_ms));
    json_t *rec =
        json_pack("{s:s, s:o, s:s}", "requestId", request_id, "metrics", metrics, "status", status);
    if (rec && env->tenant)
        json_object_set_new(rec, "tenantId", json_string(env->tenant));
    json_t *ev = json_pack("{s:s, s:s, s:o}", "time", ts, "type", "platform.report", "record", rec);
    char *text = ev ? json_dumps(ev, JSON_REAL_PRECISION(6) | JSON_COMPACT) : NULL;
    if (text)
        env_log_line(env, inv, "%s", text);
    free(text);
    json_decref(ev);
}

static void log_end(struct td_env *env, struct td_invocation *inv, const char *status)
{
    log_end_of(env, inv, inv->request_id, run_us(inv), status);
}

/* ---- reading the environment's output ---- */

static void drain_log(struct td_env *env)
{
    char buf[LOG_READ_CHUNK];
    for (int i = 0; i < LOG_READS_PER_EVENT; i++) {
        ssize_t n = read(env->log_fd, buf, sizeof(buf));
        if (n > 0) {
            log_sink_write(env, buf, (size_t)n);
            if (env->inv && env->inv->state == TD_INV_DELIVERED)
                tail_append(env->inv, buf, (size_t)n);
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            uv_poll_stop(&env->log_poll);
        return;
    }
}

static void on_log(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    drain_log(h->data);
}

/* ---- connections to the environment's own API socket ---- */

static void on_accept(uv_poll_t *h, int status, int events)
{
    struct td_env *env = h->data;
    (void)status;
    (void)events;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(env->sb.api_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        if (env->state == ENV_DEAD || env->connections >= ENV_MAX_CONNECTIONS) {
            close(fd);
            continue;
        }
        if (td_http_server_add_connection(env->sched->env_server, fd, env->id) == 0)
            env->connections++;
    }
}

/* The runtime's inherited connection, served from now on (the environment is registered). */
static void serve_runtime_conn(struct td_env *env)
{
    int fd = env->runtime_conn_fd;
    env->runtime_conn_fd = -1;
    if (fd >= 0 && td_http_server_add_lean_connection(env->sched->env_server, fd, env->id) == 0)
        env->connections++;
}

/* ---- ending ---- */

/* Removing a cgroup directory can take milliseconds (tens seen on cgroup v1, waiting for the
 * kernel), so it is done on libuv's thread pool, off the loop. The daemon may have threads:
 * it never clones (the launcher, started before any, does). */
struct cgroup_removal {
    uv_work_t work;
    struct td_cgroup *cg;
};

static void remove_cgroup(uv_work_t *w)
{
    struct cgroup_removal *r = w->data;
    /* Reads the cgroups' shared description (never written after start-up) and removes this
     * cgroup's directories. That description is freed by td_cgroups_close, after the loop has
     * run to its end, so after every removal queued here. */
    td_cgroup_destroy(r->cg);
}

static void cgroup_removed(uv_work_t *w, int status)
{
    (void)status;
    free(w->data);
}

static void destroy_cgroup_later(uv_loop_t *loop, struct td_cgroup *cg)
{
    if (!cg)
        return;
    struct cgroup_removal *r = malloc(sizeof(*r));
    if (r) {
        r->cg = cg;
        r->work.data = r;
        if (uv_queue_work(loop, &r->work, remove_cgroup, cgroup_removed) == 0)
            return;
        free(r);
    }
    td_cgroup_destroy(cg);
}

static void env_handle_closed(uv_handle_t *h)
{
    struct td_env *env = h->data;
    if (--env->open_handles > 0)
        return;
    struct td_sched *s = env->sched;
    td_sandbox_close(&env->sb);
    destroy_cgroup_later(s->loop, env->cg);
    if (env->log_fd >= 0)
        close(env->log_fd);
    if (env->slot < s->cfg.uid_count)
        s->slots[env->slot] = 0;
    td_function_unref(env->fn);
    free(env->tenant);
    free(env->init_error);
    free(env->credentials);
    free(env);
    s->reaped++;
    sched_env_freed(s);
}

static void close_setup_poll(struct td_env *env)
{
    if (!env->setup_poll_open)
        return;
    env->setup_poll_open = false;
    uv_poll_stop(&env->setup_poll);
    if (env->sb.sync_fd >= 0) {
        close(env->sb.sync_fd);
        env->sb.sync_fd = -1;
    }
    uv_close((uv_handle_t *)&env->setup_poll, env_handle_closed);
}

static void env_close(struct td_env *env)
{
    td_map_remove(env->sched->envs, &env->id, sizeof(env->id));
    td_list_remove(&env->all_link);
    close_setup_poll(env);
    if (env->pid_poll_open)
        uv_close((uv_handle_t *)&env->pid_poll, env_handle_closed);
    if (env->api_poll_open)
        uv_close((uv_handle_t *)&env->api_poll, env_handle_closed);
    uv_close((uv_handle_t *)&env->log_poll, env_handle_closed);
    uv_close((uv_handle_t *)&env->timer, env_handle_closed);
}

static void mark_dead(struct td_env *env)
{
    if (env->state == ENV_DEAD)
        return;
    env->state = ENV_DEAD;
    uv_timer_stop(&env->timer);
    if (env->api_poll_open)
        uv_poll_stop(&env->api_poll);
    if (env->next_req) {
        struct td_http_request *req = env->next_req;
        env->next_req = NULL;
        td_http_set_owner(req, NULL, NULL);
        td_http_drop(req);
    }
    if (env->post_req) { /* its handler finds the environment dead */
        td_http_set_owner(env->post_req, NULL, NULL);
        env->post_req = NULL;
    }
    sched_env_gone(env->sched, env);
}

void env_kill(struct td_env *env, enum env_kill_reason why)
{
    if (env->state == ENV_DEAD)
        return;
    env->kill_reason = why;
    (void)td_sandbox_kill(&env->sb);
    mark_dead(env);
}

void env_fail_invocation(struct td_env *env, const char *error_type, const char *fmt, ...)
{
    struct td_invocation *inv = env->inv;
    char message[1024];
    va_list ap;
    if (!inv)
        return;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (inv->state == TD_INV_DELIVERED)
        log_end(env, inv, strcmp(error_type, "Sandbox.Timedout") == 0 ? "timeout" : "error");
    invocation_fail(inv, error_type, message);
}

static void describe_exit(int status, char *out, size_t size)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) < 128) {
        snprintf(out, size, "exit status %d", WEXITSTATUS(status));
        return;
    }
    int sig = WIFEXITED(status) ? WEXITSTATUS(status) - 128 : WTERMSIG(status);
    switch (sig) {
    case SIGKILL:
        snprintf(out, size, "signal: killed");
        break;
    case SIGSEGV:
        snprintf(out, size, "signal: segmentation fault");
        break;
    case SIGABRT:
        snprintf(out, size, "signal: aborted");
        break;
    default:
        snprintf(out, size, "signal: %s", sigabbrev_np(sig) ? sigabbrev_np(sig) : "unknown");
        break;
    }
}

/* The runtime exited (or was killed) with an invocation in hand. */
static void fail_on_exit(struct td_env *env)
{
    struct td_invocation *inv = env->inv;
    char why[64];
    if (inv->state == TD_INV_ASSIGNED && env->init_error) {
        struct td_invoke_result res = {.function_error = true, .content_type = "application/json"};
        res.body = TAKE_PTR(env->init_error);
        res.len = env->init_error_len;
        invocation_finish(inv, &res);
        return;
    }
    if (env->setup_poll_open) {
        env_fail_invocation(env, "Sandbox.Failure",
                            "RequestId: %s Error: the execution environment could not be created",
                            inv->request_id);
        return;
    }
    if (env->sb.exec_errno) {
        env_fail_invocation(env, "Runtime.InvalidEntrypoint",
                            "RequestId: %s Error: fork/exec %s: %s", inv->request_id,
                            env->fn->cfg.runtime == TD_RUNTIME_NODEJS20 ? env->sched->cfg.node_bin
                                                                        : "/var/task/bootstrap",
                            strerror(env->sb.exec_errno));
        return;
    }
    describe_exit(env->exit_status, why, sizeof(why));
    /* The OOM killer sends SIGKILL to the runtime (init then exits 128 + 9) or to init itself
     * (when /tmp's pages fill the cgroup, no process owns them). A runtime that exits some
     * other way after an OOM kill of one of its children is not an OOM. */
    int st = env->exit_status;
    bool killed = (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
                  (WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGKILL);
    uint64_t oom = 0;
    if (killed && env->cg && td_cgroup_oom_kills(env->cg, &oom) == 0 && oom > 0) {
        env_fail_invocation(env, "Runtime.OutOfMemory",
                            "RequestId: %s Error: Runtime exited with error: %s", inv->request_id,
                            why);
        return;
    }
    env_fail_invocation(env, "Runtime.ExitError",
                        "RequestId: %s Error: Runtime exited with error: %s", inv->request_id, why);
}

static void on_setup(uv_poll_t *h, int status, int events);

static void on_exit_ready(uv_poll_t *h, int status, int events)
{
    struct td_env *env = h->data;
    (void)status;
    (void)events;
    if (td_sandbox_reap(&env->sb, &env->exit_status) == -EAGAIN)
        return;
    uv_poll_stop(&env->pid_poll);
    if (env->setup_poll_open) /* it died while being set up: what did it report? */
        on_setup(&env->setup_poll, 0, UV_READABLE);
    uv_poll_start(&env->log_poll, UV_READABLE, on_log); /* the last words, if any */
    drain_log(env);
    if (env->inv)
        fail_on_exit(env);
    mark_dead(env);
    env_close(env);
}

static void on_timer(uv_timer_t *t)
{
    struct td_env *env = t->data;
    struct td_invocation *inv = env->inv;
    if (env->kill_reason == KILL_INIT_ERROR || env->init_error) {
        env_kill(env, KILL_INIT_ERROR);
        return;
    }
    if (env->state == ENV_INIT) {
        if (inv)
            env_fail_invocation(env, "Sandbox.Timedout",
                                "RequestId: %s Error: Task timed out after %u.00 seconds",
                                inv->request_id, env->sched->cfg.init_timeout_s);
        env_kill(env, KILL_INIT_TIMEOUT);
        return;
    }
    if (inv && inv->state == TD_INV_DELIVERED) {
        char ts[25];
        td_format_iso_ms(td_wall_ms(), ts);
        env_log_line(env, inv, "%s %s Task timed out after %d.00 seconds", ts, inv->request_id,
                     env->fn->cfg.timeout);
        env_fail_invocation(env, "Sandbox.Timedout",
                            "RequestId: %s Error: Task timed out after %d.00 seconds",
                            inv->request_id, env->fn->cfg.timeout);
        env_kill(env, KILL_TIMEOUT);
    }
}

/* ---- starting ---- */

/* The launcher has cloned the init: watch for its end. One killed meanwhile (an init timeout,
 * shutdown) is killed now that it can be. */
static void watch_init(struct td_env *env)
{
    uv_poll_init(env->sched->loop, &env->pid_poll, env->sb.pidfd);
    env->pid_poll.data = env;
    env->pid_poll_open = true;
    env->open_handles++;
    uv_poll_start(&env->pid_poll, UV_READABLE, on_exit_ready);
    if (env->state == ENV_DEAD)
        (void)td_sandbox_kill(&env->sb);
}

/* The set-up failed (r < 0): the invocation waiting for the environment fails, the process (if
 * any) is killed and reaped by on_exit_ready; without one, nothing is left to wait for. */
static void setup_failed(struct td_env *env, int r)
{
    close_setup_poll(env);
    if (env->state != ENV_DEAD) /* else killed on purpose, and its set-up cut short */
        td_log_error("cannot create an environment for '%s': %s: %s", env->fn->cfg.name,
                     env->sb.step ? env->sb.step : "set-up", strerror(-r));
    if (env->inv)
        env_fail_invocation(env, "Sandbox.Failure",
                            "RequestId: %s Error: the execution environment could not be created",
                            env->inv->request_id);
    env_kill(env, KILL_SETUP);
    if (!env->pid_poll_open)
        env_close(env);
}

/* The sandbox reports its set-up: the init's pidfd, the API socket, then the runtime's exec. */
static void on_setup(uv_poll_t *h, int status, int events)
{
    struct td_env *env = h->data;
    (void)status;
    (void)events;
    int r = td_sandbox_progress(&env->sb);
    if (env->sb.pidfd >= 0 && !env->pid_poll_open)
        watch_init(env);
    if (env->sb.api_fd >= 0 && !env->api_poll_open) {
        uv_poll_init(env->sched->loop, &env->api_poll, env->sb.api_fd);
        env->api_poll.data = env;
        env->api_poll_open = true;
        env->open_handles++;
        if (env->state != ENV_DEAD)
            uv_poll_start(&env->api_poll, UV_READABLE, on_accept);
    }
    if (r == 0)
        return;
    if (r > 0) {
        close_setup_poll(env);
        env->spawn_us = td_mono_us() - env->created_us;
        return;
    }
    setup_failed(env, r);
}

void env_abandon_launch(struct td_env *env)
{
    if (!env->setup_poll_open || env->pid_poll_open)
        return;
    on_setup(&env->setup_poll, 0, UV_READABLE); /* what the launcher sent before it went */
    /* A child it cloned and did not report reads end of file on its sync socket when this
     * closes it, and exits; the daemon, stopping, leaves it to init. */
    if (env->setup_poll_open && !env->pid_poll_open)
        setup_failed(env, -EPIPE);
}

static int take_slot(struct td_sched *s, unsigned *ret)
{
    for (unsigned i = 0; i < s->cfg.uid_count; i++) {
        if (!s->slots[i]) {
            s->slots[i] = 1;
            *ret = i;
            return 0;
        }
    }
    return -EAGAIN;
}

/* The environment's credentials endpoint token, and the binding its credentials carry. */
static int make_identity(struct td_env *env)
{
    uint8_t rnd[24];
    char hex[2 * sizeof(rnd) + 1];
    int r = td_random(rnd, sizeof(rnd));
    if (r < 0)
        return r;
    td_hex(rnd, sizeof(rnd), hex);
    memcpy(env->api_token, hex, 32);
    env->api_token[32] = '\0';
    snprintf(env->binding, sizeof(env->binding), "e%" PRIu64 ".%.16s", env->id, hex + 32);
    return 0;
}

/* Memory limit = MemorySize (no swap), Lambda's 1024 processes, CPU weight by memory. */
static int make_cgroup(struct td_sched *s, struct td_env *env)
{
    if (!s->cfg.cgroups)
        return 0;
    char name[32];
    snprintf(name, sizeof(name), "env-%" PRIu64, env->id);
    struct td_cgroup_limits limits = {
        .memory_bytes = (uint64_t)env->fn->cfg.memory_size * 1024 * 1024,
        .pids_max = 1024,
        .memory_mb = (uint32_t)env->fn->cfg.memory_size,
    };
    int r = td_cgroup_create(s->cfg.cgroups, name, &limits, &env->cg);
    if (r < 0)
        td_log_error("cannot create the cgroup of an environment of '%s': %s", env->fn->cfg.name,
                     strerror(-r));
    return r;
}

/* The runtime's own connection to the Runtime API, made before the sandbox exists: an AF_UNIX
 * socket pair costs the daemon far less per request than loopback TCP, and needs no accept. The
 * environment is known from the connection, exactly as for connections to its listener. */
static int make_runtime_conn(struct td_env *env, int *ret_child_end)
{
    int sv[2];
    *ret_child_end = -1;
    if (!inherits_api_socket(env->fn) || !env->sched->env_server)
        return 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
        int r = -errno;
        close(sv[0]);
        close(sv[1]);
        return r;
    }
    env->runtime_conn_fd = sv[0];
    *ret_child_end = sv[1]; /* blocking: the runtime waits on it */
    return 0;
}

static int spawn_sandbox(struct td_sched *s, struct td_env *env, int log_write_fd)
{
    const struct td_function *fn = env->fn;
    struct strv argv = {0}, envp = {0};
    _cleanup_close_ int runtime_end = -1;
    build_argv(s, fn, &argv);
    build_envp(s, env, &envp);
    if (argv.failed || envp.failed) {
        strv_release(&argv);
        strv_release(&envp);
        return -ENOMEM;
    }
    int r = make_runtime_conn(env, &runtime_end);
    if (r < 0) {
        strv_release(&argv);
        strv_release(&envp);
        return r;
    }
    bool node = fn->cfg.runtime == TD_RUNTIME_NODEJS20;
    struct td_sandbox_spec spec = {
        .root_mountpoint = s->cfg.root_mountpoint,
        .code_dir = fn->code_dir,
        .runtime_dir = node ? s->cfg.node_runtime_dir : NULL,
        .runtime_target = "var/runtime/node_modules",
        .argv = argv.v,
        .envp = envp.v,
        .tmp_bytes = (uint64_t)fn->cfg.ephemeral_storage * 1024 * 1024,
        .uid = s->cfg.uid_base + env->slot,
        .gid = s->cfg.uid_base + env->slot,
        .log_fd = log_write_fd,
        .runtime_api_fd = runtime_end,
        .api_port = s->cfg.api_port,
        .hostname = "sandbox",
        .launcher = s->cfg.launcher,
        .seccomp = s->cfg.seccomp,
        .cgroup = env->cg,
        /* Consecutive environments start their pids 97 apart (97 is prime to the 30000-wide
         * range): no two of the last 30000 environments show the same runtime pid. */
        .first_pid = (pid_t)(1000 + (s->created * 97) % 30000),
    };
    r = td_sandbox_start(&spec, &env->sb);
    if (r < 0)
        td_log_error("cannot create an environment for '%s': %s: %s", fn->cfg.name, env->sb.step,
                     strerror(-r));
    strv_release(&argv);
    strv_release(&envp);
    return r;
}

int env_start(struct td_sched *s, struct td_pool *pool, struct td_function *fn, const char *tenant,
              struct td_env **ret)
{
    int fds[2];
    struct td_env *env = calloc(1, sizeof(*env));
    if (!env)
        return -ENOMEM;
    env->sched = s;
    env->fn = fn;
    env->log_fd = -1;
    env->runtime_conn_fd = -1;
    env->sb.pidfd = env->sb.api_fd = env->sb.sync_fd = -1;
    env->line_start = true;
    env->tenant = tenant ? strdup(tenant) : NULL;
    int r = (tenant && !env->tenant) ? -ENOMEM : take_slot(s, &env->slot);
    if (r < 0) {
        free(env->tenant);
        free(env);
        return r;
    }
    if (pipe2(fds, O_CLOEXEC) < 0) {
        r = -errno;
    } else {
        env->log_fd = fds[0];
        (void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
        env->created_us = td_mono_us();
        env->id = s->next_env_id++;
        r = make_identity(env);
        if (r == 0)
            r = make_cgroup(s, env);
        if (r == 0)
            r = spawn_sandbox(s, env, fds[1]);
        close(fds[1]);
    }
    if (r < 0) {
        if (env->log_fd >= 0)
            close(env->log_fd);
        if (env->runtime_conn_fd >= 0)
            close(env->runtime_conn_fd);
        td_cgroup_destroy(env->cg);
        s->slots[env->slot] = 0;
        free(env->tenant);
        free(env);
        return r;
    }
    td_function_ref(fn);
    env->pool = pool;
    env->state = ENV_INIT;
    env->last_used_ms = td_mono_ms();
    td_list_init(&env->pool_link);
    td_list_push_back(&s->all, &env->all_link);
    (void)td_map_put(s->envs, &env->id, sizeof(env->id), env, NULL);
    pool->count++;
    s->live++;
    s->created++;

    uv_poll_init(s->loop, &env->setup_poll, env->sb.sync_fd);
    uv_poll_init(s->loop, &env->log_poll, env->log_fd);
    uv_timer_init(s->loop, &env->timer);
    env->setup_poll.data = env->api_poll.data = env;
    env->log_poll.data = env->timer.data = env;
    env->open_handles = 3; /* and pid_poll, once the init exists (watch_init) */
    env->setup_poll_open = true;
    uv_poll_start(&env->setup_poll, UV_READABLE, on_setup);
    uv_poll_start(&env->log_poll, UV_READABLE, on_log);
    uv_timer_start(&env->timer, on_timer, (uint64_t)s->cfg.init_timeout_s * 1000, 0);
    serve_runtime_conn(env);
    *ret = env;
    return 0;
}

/* ---- the Runtime API state machine ---- */

static void deliver(struct td_env *env)
{
    struct td_invocation *inv = env->inv;
    struct td_http_request *req = env->next_req;
    struct td_http_out_header h[8];
    size_t n = 0;
    char deadline[24];

    env->next_req = NULL;
    td_http_set_owner(req, NULL, NULL);
    inv->state = TD_INV_DELIVERED;
    env->state = ENV_BUSY;
    inv->delivered_us = td_mono_us();
    sched_count_delivered(env->sched, inv);
    inv->deadline_ms = td_wall_ms() + (int64_t)env->fn->cfg.timeout * 1000;
    td_format_u64(inv->deadline_ms > 0 ? (uint64_t)inv->deadline_ms : 0, deadline);
    h[n++] = (struct td_http_out_header){"Lambda-Runtime-Aws-Request-Id", inv->request_id};
    h[n++] = (struct td_http_out_header){"Lambda-Runtime-Deadline-Ms", deadline};
    h[n++] = (struct td_http_out_header){"Lambda-Runtime-Invoked-Function-Arn", env->fn->arn};
    if (inv->trace_id)
        h[n++] = (struct td_http_out_header){"Lambda-Runtime-Trace-Id", inv->trace_id};
    if (inv->client_context)
        h[n++] = (struct td_http_out_header){"Lambda-Runtime-Client-Context", inv->client_context};
    if (inv->tenant)
        h[n++] = (struct td_http_out_header){"Lambda-Runtime-Aws-Tenant-Id", inv->tenant};
    h[n++] = (struct td_http_out_header){"Content-Type", "application/json"};
    if (env->served++ > 0)
        memcpy(inv->environment, "warm", sizeof("warm"));
    else if (env->prewarmed) /* initialised before its tenant was known */
        snprintf(inv->environment, sizeof(inv->environment),
                 "prewarmed; spawn_us=%lld; init_us=%lld; waited_us=%lld", (long long)env->spawn_us,
                 (long long)(env->init_duration_us - env->spawn_us),
                 (long long)(inv->delivered_us - inv->assigned_us));
    else
        snprintf(inv->environment, sizeof(inv->environment), "new; spawn_us=%lld; init_us=%lld",
                 (long long)env->spawn_us, (long long)(env->init_duration_us - env->spawn_us));
    log_start(env, inv);
    char *payload = TAKE_PTR(inv->payload);
    if (payload)
        td_http_reply(req, 200, h, n, payload, inv->payload_len, free, payload);
    else
        td_http_reply(req, 200, h, n, "", 0, NULL, NULL);
    uv_timer_start(&env->timer, on_timer, (uint64_t)env->fn->cfg.timeout * 1000, 0);
}

void env_assign(struct td_env *env, struct td_invocation *inv)
{
    td_list_remove(&env->pool_link);
    env->inv = inv;
    inv->env = env;
    inv->state = TD_INV_ASSIGNED;
    inv->assigned_us = td_mono_us();
    if (env->state == ENV_IDLE)
        env->state = ENV_BUSY;
    if (env->next_req)
        deliver(env);
}

const char *td_env_tenant(const struct td_env *env)
{
    return env->tenant;
}

const struct td_function *td_env_function(const struct td_env *env)
{
    return env->fn;
}

const char *td_env_binding(const struct td_env *env)
{
    return env->binding;
}

const char *td_env_api_token(const struct td_env *env)
{
    return env->api_token;
}

const char *td_env_credentials(const struct td_env *env, int64_t now_s, int64_t min_left_s)
{
    return env->credentials && env->credentials_expire_s - now_s > min_left_s ? env->credentials
                                                                              : NULL;
}

void td_env_set_credentials(struct td_env *env, char *doc, int64_t expires_s)
{
    free(env->credentials);
    env->credentials = doc;
    env->credentials_expire_s = expires_s;
}

void td_env_connection_closed(struct td_env *env)
{
    if (env->connections > 0)
        env->connections--;
}

static void next_gone(struct td_http_request *req, void *owner)
{
    struct td_env *env = owner;
    if (env->next_req == req)
        env->next_req = NULL;
}

static void find_runtime_pid(struct td_env *env)
{
    char path[96];
    if (env->sb.pid <= 0)
        return;
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)env->sb.pid, (int)env->sb.pid);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    int pid;
    if (f && fscanf(f, "%d", &pid) == 1)
        env->runtime_pid = pid;
}

static void reply_state_error(struct td_http_request *req, const char *from, const char *to)
{
    char msg[256];
    snprintf(msg, sizeof(msg),
             "State transition from %s to %s failed for runtime. Error: State transition is not "
             "allowed",
             from, to);
    json_t *doc =
        json_pack("{s:s, s:s}", "errorMessage", msg, "errorType", "InvalidStateTransition");
    td_http_reply_json(req, 403, NULL, 0, doc);
    json_decref(doc);
}

void td_env_next(struct td_env *env, struct td_http_request *req)
{
    if (env->state == ENV_DEAD) {
        td_http_drop(req);
        return;
    }
    if (env->inv && env->inv->state == TD_INV_DELIVERED) {
        reply_state_error(req, "InvocationResponse", "Ready");
        return;
    }
    if (env->next_req && td_http_on_lean(env->next_req) && !td_http_on_lean(req) &&
        !td_http_peer_gone(env->next_req)) {
        /* The runtime waits on its own socket. A poll from another connection, say the
         * function's own code, neither takes the next event nor cuts the runtime off. tdrt turns
         * to TCP only once it has shut that socket down, which the check above sees even before
         * the loop has read the end. */
        reply_state_error(req, "Ready", "Ready");
        return;
    }
    if (env->next_req) {
        /* A new long poll replaces one the runtime gave up on. */
        struct td_http_request *old = env->next_req;
        env->next_req = NULL;
        td_http_set_owner(old, NULL, NULL);
        td_http_drop(old);
    }
    if (env->state == ENV_INIT) {
        if (env->init_error) {
            reply_state_error(req, "InitError", "Ready");
            return;
        }
        env->init_duration_us = td_mono_us() - env->created_us;
        env->init_done = true;
        sched_init_done(env->fn);
        uv_timer_stop(&env->timer);
        find_runtime_pid(env);
        env->state = env->inv ? ENV_BUSY : ENV_IDLE;
    }
    env->next_req = req;
    td_http_set_owner(req, env, next_gone);
    td_http_suspend(req);
    if (env->inv)
        deliver(env);
    else
        sched_env_available(env->sched, env);
}

static void post_gone(struct td_http_request *req, void *owner)
{
    struct td_env *env = owner;
    if (env->post_req == req)
        env->post_req = NULL;
}

static void post_end(struct td_env *env, struct td_http_request *req)
{
    if (env->post_req == req) {
        env->post_req = NULL;
        td_http_set_owner(req, NULL, NULL);
    }
}

static enum td_env_post_result post_allowed(const struct td_env *env, const char *request_id)
{
    if (!request_id)
        return env->state == ENV_INIT && !env->init_error ? TD_POST_ACCEPTED : TD_POST_NOT_IN_INIT;
    const struct td_invocation *inv = env->inv;
    if (inv && inv->state == TD_INV_DELIVERED && strcmp(inv->request_id, request_id) == 0)
        return TD_POST_ACCEPTED;
    return strcmp(env->last_done_id, request_id) == 0 ? TD_POST_ALREADY_DONE : TD_POST_UNKNOWN_ID;
}

enum td_env_post_result td_env_post_begin(struct td_env *env, const char *request_id,
                                          struct td_http_request *req)
{
    enum td_env_post_result r = post_allowed(env, request_id);
    if (r != TD_POST_ACCEPTED)
        return r;
    if (env->post_req)
        return TD_POST_BUSY;
    env->post_req = req;
    td_http_set_owner(req, env, post_gone);
    return TD_POST_ACCEPTED;
}

enum td_env_post_result td_env_response(struct td_env *env, const char *request_id,
                                        struct td_http_request *req, bool is_error)
{
    post_end(env, req);
    struct td_invocation *inv = env->inv;
    if (!inv || inv->state != TD_INV_DELIVERED || strcmp(inv->request_id, request_id) != 0)
        return strcmp(env->last_done_id, request_id) == 0 ? TD_POST_ALREADY_DONE
                                                          : TD_POST_UNKNOWN_ID;
    uv_timer_stop(&env->timer);
    td_strlcpy(env->last_done_id, request_id, sizeof(env->last_done_id));

    /* What the function printed is read before its END line (and into a log tail); without a
     * tail, after the caller has its answer. */
    uint64_t size = 0;
    enum td_env_post_result outcome = TD_POST_ACCEPTED;
    struct td_invoke_result res = {.function_error = is_error};
    if (td_http_body_overflowed(req, &size)) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "Response payload size (%" PRIu64 " bytes) exceeded maximum allowed payload "
                 "size (%d bytes).",
                 size, TD_RUNTIME_PAYLOAD_MAX);
        drain_log(env);
        log_end(env, inv, "error");
        invocation_fail(inv, "Function.ResponseSizeTooLarge", msg);
        outcome = TD_POST_TOO_LARGE;
    } else {
        const char *ct = td_http_header(req, "Content-Type");
        res.body = td_http_body_steal(req, &res.len);
        res.content_type = ct && !is_error ? ct : "application/json";
        if (is_error && res.len == 0) {
            const char *type = td_http_header(req, "Lambda-Runtime-Function-Error-Type");
            json_t *doc = json_pack("{s:s, s:s}", "errorType", type ? type : "Runtime.Unknown",
                                    "errorMessage", "");
            free(res.body);
            res.body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
            res.len = res.body ? strlen(res.body) : 0;
            json_decref(doc);
        }
        const char *status = is_error ? "error" : "success";
        if (inv->tail) {
            drain_log(env);
            log_end(env, inv, status); /* END and REPORT are part of the answer's log tail */
            invocation_finish(inv, &res);
        } else {
            /* The caller's answer first, the log lines after: they are not part of it. */
            int64_t us = run_us(inv);
            env->inv = NULL;
            invocation_finish(inv, &res);
            drain_log(env);
            log_end_of(env, NULL, env->last_done_id, us, status);
        }
    }
    env->inv = NULL;
    sched_env_available(env->sched, env);
    return outcome;
}

enum td_env_post_result td_env_init_error(struct td_env *env, struct td_http_request *req)
{
    post_end(env, req);
    if (env->state != ENV_INIT || env->init_error)
        return TD_POST_NOT_IN_INIT;
    env->init_error = td_http_body_steal(req, &env->init_error_len);
    if (!env->init_error || env->init_error_len == 0) {
        const char *type = td_http_header(req, "Lambda-Runtime-Function-Error-Type");
        json_t *doc = json_pack("{s:s, s:s}", "errorType", type ? type : "Runtime.Unknown",
                                "errorMessage", "");
        free(env->init_error);
        env->init_error = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        env->init_error_len = env->init_error ? strlen(env->init_error) : 0;
        json_decref(doc);
    }
    const char *type = td_http_header(req, "Lambda-Runtime-Function-Error-Type");
    env_log_line(env, env->inv,
                 "INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError Type: %s",
                 (double)(td_mono_us() - env->created_us) / 1000.0,
                 type ? type : "Runtime.Unknown");
    /* The runtime is expected to exit now; it gets a moment to do so. */
    uv_timer_start(&env->timer, on_timer, INIT_ERROR_GRACE_MS, 0);
    return TD_POST_ACCEPTED;
}
