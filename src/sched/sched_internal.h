/* Shared between the scheduler's two files: sched.c (pools, placement, queue) and env.c
 * (one environment's life and its Runtime API state machine). */
#ifndef TENANTD_SCHED_INTERNAL_H
#define TENANTD_SCHED_INTERNAL_H

#include "tenantd/map.h"
#include "tenantd/sandbox.h"
#include "tenantd/sched.h"

enum env_state {
    ENV_INIT, /* runtime started, not yet in its first /next */
    ENV_IDLE, /* available: parked in /next, or about to come back to it */
    ENV_BUSY, /* holds an invocation */
    ENV_DEAD, /* killed or exited; waiting to be reaped and closed */
};

enum env_kill_reason {
    KILL_NONE,
    KILL_TIMEOUT,      /* invocation deadline: the caller already got Sandbox.Timedout */
    KILL_INIT_TIMEOUT, /* runtime init took too long */
    KILL_INIT_ERROR,   /* posted /init/error and did not exit */
    KILL_IDLE,         /* reaped after the idle timeout, evicted or retired */
    KILL_SHUTDOWN,
    KILL_SETUP, /* the sandbox could not be set up */
};

struct td_pool {
    struct td_list idle; /* ENV_IDLE environments, most recently used first */
    unsigned count;      /* every live environment of the pool */
    char *key;
    size_t key_len;
};

struct td_env {
    uint64_t id;
    struct td_sched *sched;
    struct td_function *fn; /* reference held */
    struct td_pool *pool;
    char *tenant;
    enum env_state state;
    enum env_kill_reason kill_reason;
    struct td_sandbox sb;
    struct td_cgroup *cg; /* its cgroup, or NULL when the node has none */
    uv_poll_t pid_poll;   /* once the launcher has reported the init (pid_poll_open) */
    uv_poll_t api_poll;
    uv_poll_t log_poll;
    uv_poll_t setup_poll; /* the sandbox's set-up reports, until complete */
    bool pid_poll_open;
    bool api_poll_open;
    bool setup_poll_open;
    uv_timer_t timer; /* init limit or invocation deadline */
    int log_fd;
    unsigned open_handles;
    bool line_start;                  /* the function log is at the start of a line */
    struct td_http_request *next_req; /* parked GET /next */
    struct td_http_request *post_req; /* the POST whose body is being read (one at a time) */
    struct td_invocation *inv;        /* the invocation it holds */
    char *init_error;                 /* body of /init/error */
    size_t init_error_len;
    char last_done_id[TD_UUID_LEN + 1];
    struct td_list pool_link;
    struct td_list all_link;
    int64_t created_us;
    int64_t spawn_us;         /* time to build the sandbox */
    uint64_t served;          /* invocations delivered */
    int64_t init_duration_us; /* reported on the first invocation only */
    bool init_reported;
    bool prewarmed;       /* created tenant-neutral, bound on its first invocation */
    bool init_done;       /* its runtime initialised (asked for its first event) */
    int64_t last_used_ms; /* monotonic */
    unsigned slot;
    unsigned connections; /* open connections to its API socket */
    int runtime_conn_fd;  /* the daemon's end of the runtime's inherited API socket, until served */
    pid_t runtime_pid;    /* host pid of the runtime process, for memory figures */
    int max_memory_mb;    /* last VmHWM reading */
    int64_t max_memory_read_ms; /* when it was read */
    bool peak_from_proc;        /* the cgroup's peak could not be read: VmHWM instead */
    int exit_status;
    char api_token[33]; /* what its credentials endpoint wants in Authorization */
    char binding[40];   /* what its credentials are bound to: "e<id>.<random>" */
    char *credentials;  /* the last credentials document served, or NULL */
    int64_t credentials_expire_s;
};

struct td_sched {
    uv_loop_t *loop;
    struct td_sched_config cfg;
    struct td_http_server *env_server;
    struct td_map *pools; /* pool key -> struct td_pool */
    struct td_map *envs;  /* env id -> struct td_env */
    struct td_list all;   /* every environment not yet freed */
    struct td_list queue; /* asynchronous invocations waiting for capacity */
    size_t queued;
    unsigned live; /* environments not yet DEAD */
    uint64_t next_env_id;
    uint64_t created;
    uint64_t reaped;
    uint8_t *slots; /* uid slots in use */
    uv_timer_t reaper;
    uv_timer_t prewarm_timer;
    /* cfg.spin_us: invocations delivered and not yet answered, and until when (monotonic us)
     * the loop polls without sleeping */
    unsigned in_flight;
    int64_t spin_until_us;
    uv_check_t spin_check;
    uv_idle_t spin;
    struct td_map *prewarm_wanted; /* functions whose neutral pool needs filling (ref held) */
    int closing;
    bool shutting_down;
    bool pumping;
    bool pump_again;
    void (*shutdown_done)(void *);
    void *shutdown_arg;
};

/* sched.c */
struct td_pool *sched_pool_for(struct td_sched *s, const struct td_function *fn,
                               const char *tenant);
void sched_env_available(struct td_sched *s, struct td_env *env);
void sched_count_delivered(struct td_sched *s, struct td_invocation *inv);
void sched_init_done(struct td_function *fn);
void sched_env_gone(struct td_sched *s, struct td_env *env);
void sched_pump(struct td_sched *s);
void sched_env_freed(struct td_sched *s);

/* env.c */
int env_start(struct td_sched *s, struct td_pool *pool, struct td_function *fn, const char *tenant,
              struct td_env **ret);
void env_assign(struct td_env *env, struct td_invocation *inv);
void env_kill(struct td_env *env, enum env_kill_reason why);
/* The launcher is gone: give the environment up if the launcher never reported its init. */
void env_abandon_launch(struct td_env *env);
void env_fail_invocation(struct td_env *env, const char *error_type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Complete an invocation with an error document {"errorType","errorMessage"}. */
void invocation_fail(struct td_invocation *inv, const char *error_type, const char *message);
void invocation_finish(struct td_invocation *inv, struct td_invoke_result *res);

#endif
