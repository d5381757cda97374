/* The tenantd daemon: state, listeners, scheduler and the event loop, wired together. */
#ifndef TENANTD_DAEMON_H
#define TENANTD_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

struct td_daemon_config {
    char listen_host[256];
    uint16_t listen_port; /* 0 = any free port */
    char state_dir[PATH_MAX];
    char region[64];
    char account_id[16];
    unsigned max_envs;
    unsigned idle_timeout_s;
    unsigned init_timeout_s;
    unsigned prewarm;
    unsigned spin_us;                /* see td_sched_config */
    char node_modules_dir[PATH_MAX]; /* where aws-lambda-ric is installed; "" = none */
    char node_bin[PATH_MAX];
    unsigned uid_base;
    char roles_file[PATH_MAX]; /* "" = none */
    bool strict_tenancy;
    bool allow_no_cgroups; /* else no usable cgroup controllers refuses to start */
    bool debug;
};

void td_daemon_config_defaults(struct td_daemon_config *cfg, const char *exe_path);

/* Run until SIGTERM or SIGINT. Returns the process exit code. */
int td_daemon_run(const struct td_daemon_config *cfg);

#endif
