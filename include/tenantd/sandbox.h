/* Execution-environment sandboxes: one process tree per environment, in its own PID, mount,
 * network, IPC, UTS and cgroup namespaces, on a fresh read-only root with the code at
 * /var/task and a private /tmp. The daemon gets back a pidfd for the tree's init process and
 * a listening socket bound to 127.0.0.1:<port> inside the environment's network namespace,
 * on which it serves the environment's endpoints.
 *
 * A launcher process (src/sandbox/launcher.c) does the cloning, so that the daemon never waits
 * for it; the environments are still the daemon's children. */
#ifndef TENANTD_SANDBOX_H
#define TENANTD_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>

#include "tenantd/cgroup.h"
#include "tenantd/seccomp.h"

struct td_launcher;

struct td_sandbox_spec {
    struct td_launcher *launcher; /* clones the environment */
    const char *root_mountpoint;  /* an empty host directory; the new root is mounted on it */
    const char *code_dir;         /* bound read-only at /var/task */
    const char *runtime_dir;      /* bound read-only at /<runtime_target>, or NULL */
    const char *runtime_target;   /* e.g. "var/runtime/node_modules" */
    char *const *argv;            /* the runtime, as seen inside the sandbox */
    char *const *envp;            /* its whole environment: nothing of the daemon's leaks in */
    uint64_t tmp_bytes;           /* size of the private /tmp */
    uid_t uid;                    /* the environment's own ids outside (mapped from the sandbox */
    gid_t gid;                    /* user inside, TD_SANDBOX_UID/GID) */
    int log_fd;                   /* becomes the runtime's stdout and stderr */
    int runtime_api_fd; /* a connected socket the runtime inherits as TD_SANDBOX_RUNTIME_API_FD,
                           or -1 */
    uint16_t api_port;  /* 9001 */
    const char *hostname;
    pid_t first_pid; /* process id of the runtime inside its PID namespace (0 = 2) */
    const struct td_seccomp_filter *seccomp; /* loaded by the runtime just before exec */
    struct td_cgroup *cgroup; /* the environment is moved into it before it runs (or NULL) */
};

struct td_sandbox {
    pid_t pid;        /* host pid of the environment's init (0 until the launcher reports it) */
    int pidfd;        /* readable when init has exited (-1 until then) */
    int api_fd;       /* listening socket inside the environment, once set up */
    int sync_fd;      /* the child reports its set-up here; the caller may close it once the
                         set-up is complete (and set it to -1) */
    int exec_errno;   /* the runtime could not be executed (the environment ends at once) */
    const char *step; /* the step that failed, for logs */
};

/* Start the launcher: call it before any thread exists and before the process holds anything
 * an environment must not (keys), since every environment is a copy of it. It ends when
 * td_launcher_stop closes its socket, or when the caller dies. */
int td_launcher_start(struct td_launcher **ret);
/* Readable when the launcher has exited (after which no environment can be created). */
int td_launcher_pidfd(const struct td_launcher *l);
/* End it at once (environments it has not reported are then given up). */
int td_launcher_kill(struct td_launcher *l);
/* Stop the launcher and wait for it. */
void td_launcher_stop(struct td_launcher *l);

/* Create the environment: hand it to spec->launcher, which clones it. The caller watches
 * sync_fd and calls td_sandbox_progress whenever it is readable; pidfd is set there, once the
 * init exists. */
int td_sandbox_start(const struct td_sandbox_spec *spec, struct td_sandbox *sb);
/* Read the reports: 1 when the set-up is complete (api_fd valid, the runtime started or
 * exec_errno set), 0 when more is to come, negative when it failed (step says where; with
 * pidfd still -1, the launcher reported no process, or ended before it could). */
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
