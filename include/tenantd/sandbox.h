/* Execution-environment sandboxes: one process tree per environment, in its own PID, mount,
 * network, IPC, UTS and cgroup namespaces, on a fresh read-only root with the code at
 * /var/task and a private /tmp. The daemon gets back a pidfd for the tree's init process and
 * a listening socket bound to 127.0.0.1:<port> inside the environment's network namespace,
 * on which it serves the environment's endpoints. */
#ifndef TENANTD_SANDBOX_H
#define TENANTD_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>

#include "tenantd/cgroup.h"
#include "tenantd/seccomp.h"

struct td_sandbox_spec {
    const char *root_mountpoint; /* an empty host directory; the new root is mounted on it */
    const char *code_dir;        /* bound read-only at /var/task */
    const char *runtime_dir;     /* bound read-only at /<runtime_target>, or NULL */
    const char *runtime_target;  /* e.g. "var/runtime/node_modules" */
    char *const *argv;           /* the runtime, as seen inside the sandbox */
    char *const *envp;           /* its whole environment: nothing of the daemon's leaks in */
    uint64_t tmp_bytes;          /* size of the private /tmp */
    uid_t uid;                   /* the environment's own ids outside (mapped from the sandbox */
    gid_t gid;                   /* user inside, TD_SANDBOX_UID/GID) */
    int log_fd;                  /* becomes the runtime's stdout and stderr */
    int runtime_api_fd; /* a connected socket the runtime inherits as TD_SANDBOX_RUNTIME_API_FD,
                           or -1 */
    uint16_t api_port;  /* 9001 */
    const char *hostname;
    pid_t first_pid; /* process id of the runtime inside its PID namespace (0 = 2) */
    const struct td_seccomp_filter *seccomp; /* loaded by the runtime just before exec */
    struct td_cgroup *cgroup; /* the environment is moved into it before it runs (or NULL) */
};

struct td_sandbox {
    pid_t pid;        /* host pid of the environment's init */
    int pidfd;        /* readable when init has exited */
    int api_fd;       /* listening socket inside the environment, once set up */
    int sync_fd;      /* the child reports its set-up here; the caller may close it once the
                         set-up is complete (and set it to -1) */
    int exec_errno;   /* the runtime could not be executed (the environment ends at once) */
    const char *step; /* the step that failed, for logs */
};

/* Create the environment: clone3 only. The child builds the sandbox while the caller goes on;
 * the caller watches sync_fd and calls td_sandbox_progress whenever it is readable. */
int td_sandbox_start(const struct td_sandbox_spec *spec, struct td_sandbox *sb);
/* Read the child's reports: 1 when the set-up is complete (api_fd valid, the runtime started or
 * exec_errno set), 0 when more is to come, negative when it failed (step says where). */
int td_sandbox_progress(struct td_sandbox *sb);
/* Kill the whole tree (killing init ends every process of its PID namespace). */
int td_sandbox_kill(const struct td_sandbox *sb);
/* Reap init if it has exited: 0 and the wait status, or -EAGAIN while it runs. */
int td_sandbox_reap(struct td_sandbox *sb, int *ret_status);
/* Close the daemon's handles on the environment (does not kill it). */
void td_sandbox_close(struct td_sandbox *sb);

/* The ids functions run as inside their user namespace (Lambda's sbx_user1051). */
#define TD_SANDBOX_UID 993
#define TD_SANDBOX_GID 990

/* The descriptor number of spec->runtime_api_fd in the runtime (TENANTD_RUNTIME_API_FD). */
#define TD_SANDBOX_RUNTIME_API_FD 3

/* Exit statuses init reports, besides the runtime's own. */
#define TD_SANDBOX_EXIT_SETUP 125 /* the sandbox could not be set up */
#define TD_SANDBOX_EXIT_EXEC  126 /* the runtime could not be executed */

#endif
