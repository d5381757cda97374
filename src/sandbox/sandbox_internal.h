/* Shared by spawn.c (environments) and launcher.c (the process that clones them). */
#ifndef TENANTD_SANDBOX_INTERNAL_H
#define TENANTD_SANDBOX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tenantd/cgroup.h"
#include "tenantd/sandbox.h"

/* Messages over an environment's sync socket. The child reports its set-up (LISTENER, EXEC_OK,
 * EXEC_FAILED, FAILED); the launcher reports STARTED (pid, with the pidfd attached; with err
 * set when the init exists but its id maps or cgroup could not be set), or FAILED when there
 * is no init. */
struct sync_msg {
    int32_t kind; /* MSG_* */
    int32_t err;  /* errno of a failed step */
    int32_t pid;  /* MSG_STARTED: host pid of the environment's init */
    char step[48];
};

enum { MSG_LISTENER = 1, MSG_EXEC_OK, MSG_EXEC_FAILED, MSG_FAILED, MSG_STARTED };

/* A launch request: the spec, in one datagram, its descriptors attached: the sync socket's
 * child end, the log pipe, the runtime's API socket if any, the cgroup.procs files if any. */
#define LAUNCH_MSG_MAX  (64 * 1024)
#define LAUNCH_STRV_MAX 4096 /* arguments, and environment variables */
#define LAUNCH_FDS_MAX  (3 + TD_CGROUP_MAX_HIERARCHIES)

struct launch_request {
    struct td_sandbox_spec spec; /* its strings point into the decoded datagram; its
                                    descriptors are the caller's to fill in */
    unsigned nfds;               /* how many descriptors come with it */
    unsigned n_cgroup_procs;     /* of which cgroup.procs files (the last ones) */
    int cgroup_procs[TD_CGROUP_MAX_HIERARCHIES];
    char **argv;
    char **envp;
    struct td_seccomp_filter seccomp;
};

/* In the launcher: clone the environment's init as a child of the daemon (CLONE_PARENT), its
 * set-up socket being child_fd, write its id maps, move it into its cgroup, and report
 * MSG_STARTED on child_fd. 0 or -errno (then nothing was reported and no process is left). */
int sandbox_clone(const struct launch_request *req, int child_fd);

/* One message with nfds (≤ LAUNCH_FDS_MAX) descriptors attached; 0 or -errno. */
int sandbox_send(int sock, const void *buf, size_t len, int flags, const int *fds, size_t nfds);

/* One message into buf and the descriptors it carries (CLOEXEC; up to max kept in fds, the rest
 * closed). The byte count (0 at end of file) or -errno; *ret_msg_flags gets MSG_TRUNC and
 * MSG_CTRUNC. */
ssize_t sandbox_recv(int sock, void *buf, size_t size, int flags, int *fds, size_t max,
                     size_t *ret_nfds, int *ret_msg_flags);

/* Report on child_fd that the environment could not be cloned. */
void sandbox_report_failure(int child_fd, const char *step, int err);

/* -E2BIG when the spec does not fit LAUNCH_MSG_MAX. */
int launch_request_encode(const struct td_sandbox_spec *spec, unsigned n_cgroup_procs, uint8_t *buf,
                          size_t size, size_t *ret_len);
/* -EPROTO for anything that is not a whole, well-formed request; buf must outlive out. */
int launch_request_decode(const uint8_t *buf, size_t len, struct launch_request *out);
void launch_request_release(struct launch_request *r);

/* In the daemon: hand the environment to the launcher (blocking while its queue is full). */
int td_launcher_request(struct td_launcher *l, const struct td_sandbox_spec *spec, int child_fd,
                        const int *cgroup_procs, unsigned n_cgroup_procs);

#endif
