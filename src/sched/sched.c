#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/log.h"

#define REAPER_INTERVAL_MS 1000

/* ---- invocations ---- */

struct td_invocation *td_invocation_new(struct td_function *fn, const char *request_id)
{
    struct td_invocation *inv = calloc(1, sizeof(*inv));
    if (!inv)
        return NULL;
    if (request_id && strlen(request_id) == TD_UUID_LEN)
        memcpy(inv->request_id, request_id, TD_UUID_LEN + 1);
    else if (td_uuid4(inv->request_id) < 0) {
        free(inv);
        return NULL;
    }
    inv->fn = td_function_ref(fn);
    td_buf_init(&inv->log, 2 * TD_TAIL_LOG_MAX);
    td_list_init(&inv->link);
    return inv;
}

/* ---- polling while runtimes answer (cfg.spin_us) ---- */

static void uncount_delivered(struct td_invocation *inv)
{
    if (inv->in_flight_of) {
        inv->in_flight_of->in_flight--;
        inv->in_flight_of = NULL;
    }
}

static void on_spin(uv_idle_t *h)
{
    (void)h; /* an active idle handle is what makes the loop poll without waiting */
}

/* Spinning is for few answers awaited: with more, the loop seldom finds nothing to do, and
 * polling then would only take CPU from the runtimes it waits for (on a 2-vCPU machine, some
 * share the daemon's core). */
#define SPIN_MAX_IN_FLIGHT 4

/* After each loop iteration: the polling stops once no answer is awaited, too many are, or the
 * spin is over. A long invocation only costs its first spin_us; the loop sleeps after that. */
static void on_spin_check(uv_check_t *h)
{
    struct td_sched *s = h->data;
    if (s->in_flight == 0 || s->in_flight > SPIN_MAX_IN_FLIGHT || td_mono_us() >= s->spin_until_us)
        uv_idle_stop(&s->spin);
}

void sched_count_delivered(struct td_sched *s, struct td_invocation *inv)
{
    if (s->cfg.spin_us == 0 || inv->in_flight_of)
        return;
    inv->in_flight_of = s;
    s->in_flight++;
    s->spin_until_us = inv->delivered_us + (int64_t)s->cfg.spin_us;
    /* at once: the loop may be about to wait, whichever callback delivered */
    if (s->in_flight <= SPIN_MAX_IN_FLIGHT)
        uv_idle_start(&s->spin, on_spin);
}

void td_invocation_free(struct td_invocation *inv)
{
    if (!inv)
        return;
    uncount_delivered(inv);
    td_list_remove(&inv->link);
    td_function_unref(inv->fn);
    free(inv->tenant);
    free(inv->payload);
    free(inv->client_context);
    free(inv->trace_id);
    td_buf_release(&inv->log);
    free(inv);
}

void invocation_finish(struct td_invocation *inv, struct td_invoke_result *res)
{
    if (inv->state == TD_INV_DONE) {
        free(res->body);
        return;
    }
    if (inv->state == TD_INV_QUEUED)
        td_list_remove(&inv->link);
    uncount_delivered(inv);
    inv->state = TD_INV_DONE;
    if (inv->env && inv->env->inv == inv)
        inv->env->inv = NULL;
    inv->env = NULL;
    inv->on_done(inv, res);
}

void invocation_fail(struct td_invocation *inv, const char *error_type, const char *message)
{
    struct td_invoke_result res = {.function_error = true, .content_type = "application/json"};
    json_t *doc = json_pack("{s:s, s:s}", "errorType", error_type, "errorMessage", message);
    res.body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    res.len = res.body ? strlen(res.body) : 0;
    invocation_finish(inv, &res);
}

/* ---- pools ---- */

/* (function, version, generation, tenant): an environment serves exactly one such key. */
static int pool_key(const struct td_function *fn, const char *tenant, struct td_buf *out)
{
    int r = td_buf_puts(out, fn->cfg.name);
    if (r == 0)
        r = td_buf_append(out, "\0$LATEST", 9);
    if (r == 0)
        r = td_buf_append_u64(out, fn->generation);
    if (r == 0)
        r = td_buf_append(out, "", 1);
    if (r == 0)
        r = td_buf_puts(out, tenant ? tenant : "");
    return r;
}

struct td_pool *sched_pool_for(struct td_sched *s, const struct td_function *fn, const char *tenant)
{
    _cleanup_buf_ struct td_buf key = TD_BUF_INIT(1024);
    if (td_buf_reserve(&key, 255) < 0 || pool_key(fn, tenant, &key) < 0)
        return NULL; /* (room for the usual key at once: this runs for every invocation) */
    struct td_pool *p = td_map_get(s->pools, key.data, key.len);
    if (p)
        return p;
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    td_list_init(&p->idle);
    p->key_len = key.len;
    p->key = td_buf_steal(&key, NULL);
    if (td_map_put(s->pools, p->key, p->key_len, p, NULL) < 0) {
        free(p->key);
        free(p);
        return NULL;
    }
    return p;
}

static void pool_drop_if_empty(struct td_sched *s, struct td_pool *p)
{
    if (p->count > 0)
        return;
    td_map_remove(s->pools, p->key, p->key_len);
    free(p->key);
    free(p);
}

/* ---- placement ---- */

/* Make room for one more environment by evicting the least recently used idle one. */
static bool evict_one_idle(struct td_sched *s)
{
    struct td_env *victim = NULL;
    struct td_list *pos, *tmp;
    td_list_foreach_safe(pos, tmp, &s->all)
    {
        struct td_env *e = td_container_of(pos, struct td_env, all_link);
        if (e->state == ENV_IDLE && !e->inv && (!victim || e->last_used_ms < victim->last_used_ms))
            victim = e;
    }
    if (!victim)
        return false;
    env_kill(victim, KILL_IDLE);
    return true;
}

/* Place an invocation now, or return -EAGAIN when the node is full. */
/* A tenant-neutral environment of a PER_TENANT function: initialised, never bound to any
 * tenant, never given an invocation. A ready one first, else the one closest to ready. */
static struct td_env *find_neutral(struct td_sched *s, const struct td_function *fn)
{
    struct td_pool *neutral = sched_pool_for(s, fn, NULL);
    if (!neutral)
        return NULL;
    struct td_env *env = td_list_first(&neutral->idle, struct td_env, pool_link);
    if (env)
        return env;
    struct td_list *pos;
    for (pos = s->all.next; pos != &s->all; pos = pos->next) {
        struct td_env *e = td_container_of(pos, struct td_env, all_link);
        if (e->pool == neutral && e->state == ENV_INIT && !e->inv && !e->tenant)
            return e;
    }
    pool_drop_if_empty(s, neutral);
    return NULL;
}

/* Bind a neutral environment to a tenant for the rest of its life. */
static int bind_to_tenant(struct td_sched *s, struct td_env *env, struct td_pool *pool,
                          const char *tenant)
{
    char *copy = strdup(tenant);
    if (!copy)
        return -ENOMEM;
    struct td_pool *neutral = env->pool;
    td_list_remove(&env->pool_link);
    neutral->count--;
    pool_drop_if_empty(s, neutral);
    env->pool = pool;
    pool->count++;
    env->tenant = copy;
    env->prewarmed = true;
    return 0;
}

static int place(struct td_sched *s, struct td_invocation *inv)
{
    struct td_pool *pool = sched_pool_for(s, inv->fn, inv->tenant);
    if (!pool)
        return -ENOMEM;
    struct td_env *env = td_list_first(&pool->idle, struct td_env, pool_link);
    if (env) {
        env_assign(env, inv);
        return 0;
    }
    if (inv->tenant && (env = find_neutral(s, inv->fn)) != NULL &&
        bind_to_tenant(s, env, pool, inv->tenant) == 0) {
        env_assign(env, inv);
        td_sched_prewarm(s, inv->fn); /* replace what was taken */
        return 0;
    }
    if (s->live >= s->cfg.max_envs && !evict_one_idle(s)) {
        pool_drop_if_empty(s, pool);
        return -EAGAIN;
    }
    int r = env_start(s, pool, inv->fn, inv->tenant, &env);
    if (r < 0) {
        pool_drop_if_empty(s, pool);
        return r;
    }
    env_assign(env, inv);
    return 0;
}

int td_sched_submit(struct td_sched *s, struct td_invocation *inv)
{
    if (s->shutting_down)
        return -ESHUTDOWN;
    int r = place(s, inv);
    if (r == -EAGAIN && inv->event) {
        inv->state = TD_INV_QUEUED;
        td_list_push_back(&s->queue, &inv->link);
        s->queued++;
        return 0;
    }
    return r;
}

static void pump_once(struct td_sched *s)
{
    struct td_list *pos, *tmp;
    td_list_foreach_safe(pos, tmp, &s->queue)
    {
        struct td_invocation *inv = td_container_of(pos, struct td_invocation, link);
        td_list_remove(&inv->link);
        s->queued--;
        inv->state = TD_INV_NEW;
        int r = place(s, inv);
        if (r == -EAGAIN) {
            /* Back where it was, so the queue stays first in, first out. */
            inv->state = TD_INV_QUEUED;
            td_list_insert_after(tmp->prev, &inv->link);
            s->queued++;
        } else if (r < 0) {
            invocation_fail(inv, "Sandbox.Failure",
                            "the execution environment could not be created");
        }
    }
}

/* Start what the asynchronous queue holds, as far as capacity allows. Re-entrant calls (an
 * eviction inside a placement frees capacity) are folded into one more pass. */
void sched_pump(struct td_sched *s)
{
    if (s->shutting_down)
        return;
    if (s->pumping) {
        s->pump_again = true;
        return;
    }
    s->pumping = true;
    do {
        s->pump_again = false;
        pump_once(s);
    } while (s->pump_again);
    s->pumping = false;
}

void td_sched_cancel(struct td_invocation *inv)
{
    struct td_env *env = inv->env;
    if (inv->state == TD_INV_ASSIGNED && env) {
        /* Not delivered yet: the environment stays, free for the next invocation. */
        env->inv = NULL;
        inv->env = NULL;
        if (env->state == ENV_BUSY)
            sched_env_available(env->sched, env);
    }
}

/* An environment can take an invocation: give it a queued one of its pool or pool it. */
void sched_env_available(struct td_sched *s, struct td_env *env)
{
    if (env->fn->retired || s->shutting_down) {
        env_kill(env, s->shutting_down ? KILL_SHUTDOWN : KILL_IDLE);
        return;
    }
    env->state = ENV_IDLE;
    env->last_used_ms = td_mono_ms();
    td_list_remove(&env->pool_link);
    td_list_push_front(&env->pool->idle, &env->pool_link);
    sched_pump(s);
}

/* Prewarming a function whose runtime cannot initialise would start and lose environments as
 * fast as the machine allows (about 60 a second were seen). After a neutral environment ends
 * without having initialised, its replacement waits: 1 s, doubling up to 5 min. An environment
 * of the function that initialises ends the wait. Invocations are not held back by it: they
 * start environments of their own. */
#define PREWARM_BACKOFF_MIN_MS 1000
#define PREWARM_BACKOFF_MAX_MS (5 * 60 * 1000)

static void prewarm_failed(struct td_function *fn)
{
    if (fn->prewarm_failures < 20)
        fn->prewarm_failures++;
    int64_t wait = (int64_t)PREWARM_BACKOFF_MIN_MS << (fn->prewarm_failures - 1);
    fn->prewarm_after_ms =
        td_mono_ms() + (wait < PREWARM_BACKOFF_MAX_MS ? wait : PREWARM_BACKOFF_MAX_MS);
}

void sched_init_done(struct td_function *fn)
{
    fn->prewarm_failures = 0;
    fn->prewarm_after_ms = 0;
}

/* An environment is dead: it no longer counts against the limit. */
void sched_env_gone(struct td_sched *s, struct td_env *env)
{
    if (!env->tenant && env->fn->cfg.per_tenant && !env->fn->retired) {
        if (!env->init_done)
            prewarm_failed(env->fn);
        td_sched_prewarm(s, env->fn); /* a neutral environment ended: replace it */
    }
    td_list_remove(&env->pool_link);
    env->pool->count--;
    pool_drop_if_empty(s, env->pool);
    env->pool = NULL;
    s->live--;
    sched_pump(s);
}

void td_sched_retire(struct td_sched *s, const struct td_function *fn)
{
    struct td_list *pos, *tmp;
    td_list_foreach_safe(pos, tmp, &s->all)
    {
        struct td_env *e = td_container_of(pos, struct td_env, all_link);
        if (e->fn == fn && e->state == ENV_IDLE && !e->inv)
            env_kill(e, KILL_IDLE);
    }
}

static void reap_idle(uv_timer_t *t)
{
    struct td_sched *s = t->data;
    int64_t now = td_mono_ms();
    int64_t limit = (int64_t)s->cfg.idle_timeout_s * 1000;
    struct td_list *pos, *tmp;
    td_list_foreach_safe(pos, tmp, &s->all)
    {
        struct td_env *e = td_container_of(pos, struct td_env, all_link);
        bool neutral = !e->tenant && e->fn->cfg.per_tenant;
        if (e->state == ENV_IDLE && !e->inv && !neutral && now - e->last_used_ms >= limit)
            env_kill(e, KILL_IDLE);
    }
}

/* ---- the tenant-neutral pool ---- */

static size_t neutral_count(struct td_sched *s, const struct td_function *fn)
{
    struct td_pool *neutral = sched_pool_for(s, fn, NULL);
    size_t n = neutral ? neutral->count : 0;
    if (neutral)
        pool_drop_if_empty(s, neutral);
    return n;
}

static bool collect_wanted(const void *key, size_t len, void *value, void *userdata)
{
    (void)key;
    (void)len;
    struct td_function ***cursor = userdata;
    *(*cursor)++ = value;
    return true;
}

/* Start neutral environments up to the target for every function that asked, as far as the
 * node's limit allows (prewarming never evicts anything). */
static void prewarm_run(uv_timer_t *t)
{
    struct td_sched *s = t->data;
    size_t n = td_map_size(s->prewarm_wanted);
    struct td_function **fns = calloc(n ? n : 1, sizeof(*fns));
    if (!fns)
        return;
    struct td_function **cursor = fns;
    td_map_foreach(s->prewarm_wanted, collect_wanted, &cursor);
    for (size_t i = 0; i < n; i++)
        td_map_remove(s->prewarm_wanted, &fns[i], sizeof(fns[i]));
    int64_t now = td_mono_ms(), next = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        struct td_function *fn = fns[i];
        if (fn->prewarm_after_ms > now && !fn->retired && !s->shutting_down) {
            /* still waiting after failures: wanted again when the wait is over */
            if (td_map_put(s->prewarm_wanted, &fn, sizeof(fn), fn, NULL) == 0) {
                next = fn->prewarm_after_ms < next ? fn->prewarm_after_ms : next;
                continue; /* the map holds the reference now */
            }
            td_function_unref(fn);
            continue;
        }
        size_t have = neutral_count(s, fn);
        while (!fn->retired && !s->shutting_down && have < s->cfg.prewarm &&
               s->live < s->cfg.max_envs) {
            struct td_pool *neutral = sched_pool_for(s, fn, NULL);
            struct td_env *env;
            if (!neutral || env_start(s, neutral, fn, NULL, &env) < 0)
                break;
            have++;
        }
        td_function_unref(fn);
    }
    free(fns);
    if (next != INT64_MAX)
        uv_timer_start(&s->prewarm_timer, prewarm_run, (uint64_t)(next - now), 0);
}

void td_sched_prewarm(struct td_sched *s, struct td_function *fn)
{
    if (!fn->cfg.per_tenant || fn->retired || s->shutting_down || s->cfg.prewarm == 0)
        return;
    if (td_map_get(s->prewarm_wanted, &fn, sizeof(fn)))
        return;
    if (td_map_put(s->prewarm_wanted, &fn, sizeof(fn), td_function_ref(fn), NULL) < 0) {
        td_function_unref(fn);
        return;
    }
    /* Deferred: the environment creation must not delay the invocation that asked. */
    uv_timer_start(&s->prewarm_timer, prewarm_run, 0, 0);
}

/* ---- lifecycle ---- */

int td_sched_new(uv_loop_t *loop, const struct td_sched_config *cfg,
                 struct td_http_server *env_server, struct td_sched **ret)
{
    struct td_sched *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->loop = loop;
    s->cfg = *cfg;
    s->env_server = env_server;
    s->pools = td_map_new();
    s->envs = td_map_new();
    s->prewarm_wanted = td_map_new();
    s->slots = calloc(cfg->uid_count ? cfg->uid_count : 1, 1);
    s->next_env_id = 1;
    td_list_init(&s->all);
    td_list_init(&s->queue);
    if (!s->pools || !s->envs || !s->slots || !s->prewarm_wanted) {
        td_sched_free(s);
        return -ENOMEM;
    }
    uv_timer_init(loop, &s->reaper);
    uv_timer_init(loop, &s->prewarm_timer);
    uv_check_init(loop, &s->spin_check);
    uv_idle_init(loop, &s->spin);
    s->reaper.data = s->prewarm_timer.data = s->spin_check.data = s->spin.data = s;
    if (cfg->spin_us) {
        uv_check_start(&s->spin_check, on_spin_check);
        /* neither keeps the loop alive */
        uv_unref((uv_handle_t *)&s->spin_check);
        uv_unref((uv_handle_t *)&s->spin);
    }
    uv_timer_start(&s->reaper, reap_idle, REAPER_INTERVAL_MS, REAPER_INTERVAL_MS);
    *ret = s;
    return 0;
}

void td_sched_set_env_server(struct td_sched *s, struct td_http_server *env_server)
{
    s->env_server = env_server;
}

static void maybe_shutdown_done(struct td_sched *s)
{
    /* Every environment ever created has been freed (its handles closed): nothing refers to
     * the scheduler any more. */
    if (s->shutting_down && s->shutdown_done && s->created == s->reaped) {
        void (*done)(void *) = s->shutdown_done;
        s->shutdown_done = NULL;
        done(s->shutdown_arg);
    }
}

void td_sched_shutdown(struct td_sched *s, void (*done)(void *), void *arg)
{
    s->shutting_down = true;
    s->shutdown_done = done;
    s->shutdown_arg = arg;
    uv_timer_stop(&s->reaper);
    struct td_list *pos, *tmp;
    td_list_foreach_safe(pos, tmp, &s->queue)
    {
        struct td_invocation *inv = td_container_of(pos, struct td_invocation, link);
        s->queued--;
        invocation_fail(inv, "ServiceException", "tenantd is shutting down");
    }
    td_list_foreach_safe(pos, tmp, &s->all)
    {
        struct td_env *e = td_container_of(pos, struct td_env, all_link);
        if (e->inv)
            env_fail_invocation(e, "ServiceException", "tenantd is shutting down");
        env_kill(e, KILL_SHUTDOWN);
    }
    maybe_shutdown_done(s);
}

void td_sched_launcher_gone(struct td_sched *s)
{
    struct td_list *pos, *tmp;
    td_list_foreach_safe(pos, tmp, &s->all)
    {
        env_abandon_launch(td_container_of(pos, struct td_env, all_link));
    }
}

/* Called by env.c once an environment is completely freed. */
void sched_env_freed(struct td_sched *s)
{
    maybe_shutdown_done(s);
}

static bool unref_wanted(const void *key, size_t len, void *value, void *userdata)
{
    (void)key;
    (void)len;
    (void)userdata;
    td_function_unref(value);
    return true;
}

static void sched_release(struct td_sched *s)
{
    if (s->prewarm_wanted)
        td_map_foreach(s->prewarm_wanted, unref_wanted, NULL);
    td_map_free(s->prewarm_wanted);
    td_map_free(s->pools);
    td_map_free(s->envs);
    free(s->slots);
    free(s);
}

static void reaper_closed(uv_handle_t *h)
{
    struct td_sched *s = h->data;
    if (--s->closing > 0)
        return;
    sched_release(s);
}

void td_sched_free(struct td_sched *s)
{
    if (!s)
        return;
    if (s->reaper.loop) {
        s->closing = 4;
        uv_close((uv_handle_t *)&s->reaper, reaper_closed);
        uv_close((uv_handle_t *)&s->prewarm_timer, reaper_closed);
        uv_close((uv_handle_t *)&s->spin_check, reaper_closed);
        uv_close((uv_handle_t *)&s->spin, reaper_closed);
        return;
    }
    sched_release(s);
}

void td_sched_get_stats(const struct td_sched *s, struct td_sched_stats *out)
{
    memset(out, 0, sizeof(*out));
    const struct td_list *pos;
    for (pos = s->all.next; pos != &s->all; pos = pos->next) {
        const struct td_env *e = td_container_of(pos, struct td_env, all_link);
        out->envs++;
        if (e->state == ENV_IDLE)
            out->idle++;
        else if (e->state == ENV_BUSY)
            out->busy++;
        else if (e->state == ENV_INIT)
            out->starting++;
    }
    out->created = s->created;
    out->reaped = s->reaped;
    out->queued = s->queued;
}

struct td_env *td_sched_env(struct td_sched *s, uint64_t env_id)
{
    return td_map_get(s->envs, &env_id, sizeof(env_id));
}
