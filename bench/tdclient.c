/* tdclient: the benchmark harness's own load client for what wrk cannot do: every request
 * signed anew (SigV4, by libcurl) for tenants never seen before, and timing of process
 * start-up. It prints one line per measured event; bench/run.mjs does the statistics.
 *
 *   tdclient first  ENDPOINT KEY:SECRET FUNCTION PREFIX COUNT
 *       COUNT invocations one after another, each for a new tenant PREFIX-<i>; per line:
 *       "<latency_us> <http_status> <function_error 0|1> <X-Tenantd-Environment value>"
 *   tdclient churn  ENDPOINT KEY:SECRET FUNCTION PREFIX THREADS SECONDS
 *       THREADS loops invoking new tenants back to back for SECONDS; prints
 *       "<completed> <failed> <elapsed_us>"
 *   tdclient fill   ENDPOINT KEY:SECRET FUNCTION PREFIX COUNT THREADS
 *       COUNT new tenants, THREADS at a time; prints "<completed> <failed> <elapsed_us>"
 *   tdclient spawn  COUNT PROGRAM [ARGS...]
 *       runs PROGRAM COUNT times (posix_spawn + wait); per line: "<elapsed_us> <status>"
 */
#include <curl/curl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct target {
    const char *endpoint;
    const char *userpwd;
    const char *function;
    const char *prefix;
};

struct reply {
    long status;
    bool function_error;
    char environment[160];
};

static size_t on_header(char *line, size_t size, size_t n, void *userdata)
{
    struct reply *r = userdata;
    size_t len = size * n;
    if (len > 22 && strncasecmp(line, "X-Amz-Function-Error:", 21) == 0)
        r->function_error = true;
    if (len > 23 && strncasecmp(line, "X-Tenantd-Environment:", 22) == 0) {
        const char *v = line + 22;
        while (*v == ' ')
            v++;
        size_t vlen = (size_t)(line + len - v);
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
            vlen--;
        if (vlen >= sizeof(r->environment))
            vlen = sizeof(r->environment) - 1;
        memcpy(r->environment, v, vlen);
        r->environment[vlen] = '\0';
        for (char *p = r->environment; *p; p++)
            if (*p == ' ')
                *p = '_';
    }
    return len;
}

static size_t discard(char *data, size_t size, size_t n, void *userdata)
{
    (void)data;
    (void)userdata;
    return size * n;
}

struct client {
    CURL *curl;
    char url[512];
};

static int client_init(struct client *c, const struct target *t)
{
    c->curl = curl_easy_init();
    if (!c->curl)
        return -1;
    snprintf(c->url, sizeof(c->url), "%s/2015-03-31/functions/%s/invocations", t->endpoint,
             t->function);
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    curl_easy_setopt(c->curl, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:lambda");
    curl_easy_setopt(c->curl, CURLOPT_USERPWD, t->userpwd);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "{\"bench\":true}");
    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    return 0;
}

/* One invocation for tenant; returns its latency in microseconds, or -1. */
static int64_t invoke_tenant(struct client *c, const char *tenant, struct reply *r)
{
    char tenant_header[300];
    snprintf(tenant_header, sizeof(tenant_header), "x-amz-tenant-id: %s", tenant);
    struct curl_slist *h = curl_slist_append(NULL, tenant_header);
    h = curl_slist_append(h, "content-type: application/json");
    memset(r, 0, sizeof(*r));
    snprintf(r->environment, sizeof(r->environment), "-");
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r);
    int64_t t0 = now_us();
    CURLcode rc = curl_easy_perform(c->curl);
    int64_t elapsed = now_us() - t0;
    curl_slist_free_all(h);
    if (rc != CURLE_OK)
        return -1;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
    return elapsed;
}

static int cmd_first(const struct target *t, int count)
{
    struct client c;
    if (client_init(&c, t) < 0)
        return 1;
    for (int i = 0; i < count; i++) {
        char tenant[200];
        struct reply r;
        snprintf(tenant, sizeof(tenant), "%s-%d", t->prefix, i);
        int64_t us = invoke_tenant(&c, tenant, &r);
        printf("%lld %ld %d %s\n", (long long)us, r.status, r.function_error ? 1 : 0,
               r.environment);
    }
    curl_easy_cleanup(c.curl);
    return 0;
}

struct worker {
    const struct target *t;
    int id;
    int64_t deadline_us; /* churn: stop then */
    atomic_int *next;    /* fill: next tenant index */
    int count;           /* fill: how many in all */
    long completed;
    long failed;
    pthread_t thread;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct client c;
    if (client_init(&c, w->t) < 0)
        return NULL;
    for (long i = 0;; i++) {
        char tenant[200];
        if (w->next) {
            int k = atomic_fetch_add(w->next, 1);
            if (k >= w->count)
                break;
            snprintf(tenant, sizeof(tenant), "%s-%d", w->t->prefix, k);
        } else {
            if (now_us() >= w->deadline_us)
                break;
            snprintf(tenant, sizeof(tenant), "%s-%d-%ld", w->t->prefix, w->id, i);
        }
        struct reply r;
        int64_t us = invoke_tenant(&c, tenant, &r);
        if (us >= 0 && r.status == 200 && !r.function_error)
            w->completed++;
        else
            w->failed++;
    }
    curl_easy_cleanup(c.curl);
    return NULL;
}

static int run_workers(const struct target *t, int threads, int64_t seconds, int count)
{
    struct worker *w = calloc((size_t)threads, sizeof(*w));
    atomic_int next = 0;
    if (!w)
        return 1;
    int64_t t0 = now_us();
    for (int i = 0; i < threads; i++) {
        w[i] = (struct worker){.t = t, .id = i, .deadline_us = t0 + seconds * 1000000};
        if (count > 0) {
            w[i].next = &next;
            w[i].count = count;
        }
        pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
    }
    long completed = 0, failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(w[i].thread, NULL);
        completed += w[i].completed;
        failed += w[i].failed;
    }
    printf("%ld %ld %lld\n", completed, failed, (long long)(now_us() - t0));
    free(w);
    return 0;
}

static int cmd_spawn(int count, char **argv)
{
    for (int i = 0; i < count; i++) {
        pid_t pid;
        int status = 0;
        int64_t t0 = now_us();
        if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
            return 1;
        waitpid(pid, &status, 0);
        printf("%lld %d\n", (long long)(now_us() - t0), status);
    }
    return 0;
}

/* A positive count from the command line, or -1. */
static int count_arg(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return (*s && !*end && v > 0 && v <= 10000000) ? (int)v : -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: tdclient first|churn|fill|spawn ... (see bench/tdclient.c)\n");
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "spawn") == 0)
        return count_arg(argv[2]) > 0 ? cmd_spawn(count_arg(argv[2]), argv + 3) : 2;
    if (argc < 6) {
        usage();
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct target t = {argv[2], argv[3], argv[4], argv[5]};
    int rc = 2;
    int a = argc > 6 ? count_arg(argv[6]) : -1;
    int b = argc > 7 ? count_arg(argv[7]) : -1;
    if (strcmp(argv[1], "first") == 0 && argc == 7 && a > 0)
        rc = cmd_first(&t, a);
    else if (strcmp(argv[1], "churn") == 0 && argc == 8 && a > 0 && b > 0)
        rc = run_workers(&t, a, b, 0);
    else if (strcmp(argv[1], "fill") == 0 && argc == 8 && a > 0 && b > 0)
        rc = run_workers(&t, b, 0, a);
    else
        usage();
    curl_global_cleanup();
    return rc;
}
