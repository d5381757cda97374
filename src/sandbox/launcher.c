/* The launcher: the process that clones every environment.
 *
 * clone3() of an environment's init takes about a millisecond here (most of it the new network
 * namespace), and for that millisecond the caller does nothing else. The daemon hands the
 * clone to this process instead and goes on serving: the request is one datagram on a socket
 * pair; the answer (MSG_STARTED with the init's pidfd, or MSG_FAILED) goes straight to the
 * environment's sync socket, whose child end travels with the request, so the daemon reads it
 * where it reads the rest of the set-up.
 *
 * The init is cloned with CLONE_PARENT: it is the daemon's child, not the launcher's, so the
 * daemon reaps it and reads its exit status exactly as before, and its parent-death signal
 * follows the daemon.
 *
 * It also writes the init's id maps, moves it into its cgroup and says go (spawn.c).
 *
 * The launcher is cloned from the daemon early in start-up, before the daemon loads any key
 * and before its event loop (or any thread) exists. Environments are copies of the launcher, so
 * none of them ever holds a copy of the daemon's secrets in memory, and the daemon stays free to
 * use threads (a child cloned from a threaded process must not allocate; these children do).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <unistd.h>

#include "sandbox_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/log.h"
#include "tenantd/util.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct td_launcher {
    pid_t pid;
    int pidfd;
    int sock;
    uint8_t buf[LAUNCH_MSG_MAX]; /* the request being encoded */
};

/* ---- the request's wire form ---- */

#define LAUNCH_VERSION 1

enum {
    LAUNCH_RUNTIME_DIR = 1 << 0,    /* runtime_dir and runtime_target follow */
    LAUNCH_HOSTNAME = 1 << 1,       /* hostname follows */
    LAUNCH_RUNTIME_API_FD = 1 << 2, /* a third descriptor is attached */
};

/* Then: seccomp_len instructions, and the strings, each NUL-terminated: root_mountpoint,
 * code_dir, [runtime_dir, runtime_target], [hostname], argv[argc], envp[envc]. */
struct launch_header {
    uint32_t version;
    uint32_t flags;
    uint64_t tmp_bytes;
    int32_t first_pid;
    uint16_t api_port;
    uint16_t seccomp_len;
    uint32_t argc;
    uint32_t envc;
    uint32_t uid; /* the environment's ids outside */
    uint32_t gid;
    uint32_t n_cgroup_procs;
};
_Static_assert(offsetof(struct launch_header, flags) == 4 &&
                   offsetof(struct launch_header, argc) == 24 &&
                   offsetof(struct launch_header, n_cgroup_procs) == 40,
               "tests/unit/test_launcher.c patches these");

struct writer {
    uint8_t *buf;
    size_t size, len;
    bool overflow;
};

static void put(struct writer *w, const void *p, size_t n)
{
    if (w->overflow || n > w->size - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_string(struct writer *w, const char *s)
{
    put(w, s, strlen(s) + 1);
}

static size_t strv_count(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

int launch_request_encode(const struct td_sandbox_spec *spec, unsigned n_cgroup_procs, uint8_t *buf,
                          size_t size, size_t *ret_len)
{
    size_t argc = strv_count(spec->argv), envc = strv_count(spec->envp);
    if (argc == 0 || !spec->root_mountpoint || !spec->code_dir)
        return -EINVAL;
    if (argc > LAUNCH_STRV_MAX || envc > LAUNCH_STRV_MAX)
        return -E2BIG;
    if (n_cgroup_procs > TD_CGROUP_MAX_HIERARCHIES)
        return -EINVAL;
    struct launch_header h;
    memset(&h, 0, sizeof(h)); /* its padding too (field by field below): nothing of the stack */
    h.version = LAUNCH_VERSION;
    h.tmp_bytes = spec->tmp_bytes;
    h.first_pid = spec->first_pid;
    h.api_port = spec->api_port;
    h.seccomp_len = spec->seccomp ? spec->seccomp->len : 0;
    h.argc = (uint32_t)argc;
    h.envc = (uint32_t)envc;
    h.uid = (uint32_t)spec->uid;
    h.gid = (uint32_t)spec->gid;
    h.n_cgroup_procs = n_cgroup_procs;
    bool runtime = spec->runtime_dir && spec->runtime_target;
    h.flags = (runtime ? LAUNCH_RUNTIME_DIR : 0) | (spec->hostname ? LAUNCH_HOSTNAME : 0) |
              (spec->runtime_api_fd >= 0 ? LAUNCH_RUNTIME_API_FD : 0);
    struct writer w = {.buf = buf, .size = size};
    put(&w, &h, sizeof(h));
    if (h.seccomp_len)
        put(&w, spec->seccomp->insns, h.seccomp_len * sizeof(struct sock_filter));
    put_string(&w, spec->root_mountpoint);
    put_string(&w, spec->code_dir);
    if (runtime) {
        put_string(&w, spec->runtime_dir);
        put_string(&w, spec->runtime_target);
    }
    if (spec->hostname)
        put_string(&w, spec->hostname);
    for (size_t i = 0; i < argc; i++)
        put_string(&w, spec->argv[i]);
    for (size_t i = 0; i < envc; i++)
        put_string(&w, spec->envp[i]);
    if (w.overflow)
        return -E2BIG;
    *ret_len = w.len;
    return 0;
}

struct reader {
    const uint8_t *p, *end;
};

static const char *take_string(struct reader *r)
{
    const uint8_t *nul = r->p < r->end ? memchr(r->p, '\0', (size_t)(r->end - r->p)) : NULL;
    if (!nul)
        return NULL;
    const char *s = (const char *)r->p;
    r->p = nul + 1;
    return s;
}

static int take_strv(struct reader *r, uint32_t n, char ***ret)
{
    char **v = calloc((size_t)n + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        /* the strings stay in the datagram, which outlives the spec; execve takes char *const */
        v[i] = (char *)take_string(r);
        if (!v[i]) {
            free(v);
            return -EPROTO;
        }
    }
    *ret = v;
    return 0;
}

int launch_request_decode(const uint8_t *buf, size_t len, struct launch_request *out)
{
    struct launch_header h;
    *out = (struct launch_request){.spec.runtime_api_fd = -1, .spec.log_fd = -1};
    if (len < sizeof(h))
        return -EPROTO;
    memcpy(&h, buf, sizeof(h));
    if (h.version != LAUNCH_VERSION || h.argc == 0 || h.argc > LAUNCH_STRV_MAX ||
        h.envc > LAUNCH_STRV_MAX || h.n_cgroup_procs > TD_CGROUP_MAX_HIERARCHIES ||
        (h.flags & ~(unsigned)(LAUNCH_RUNTIME_DIR | LAUNCH_HOSTNAME | LAUNCH_RUNTIME_API_FD)))
        return -EPROTO;
    struct reader r = {.p = buf + sizeof(h), .end = buf + len};
    size_t filter_bytes = (size_t)h.seccomp_len * sizeof(struct sock_filter);
    if (filter_bytes > (size_t)(r.end - r.p))
        return -EPROTO;
    if (h.seccomp_len) {
        out->seccomp.insns = malloc(filter_bytes); /* aligned, unlike its place in buf */
        if (!out->seccomp.insns)
            return -ENOMEM;
        memcpy(out->seccomp.insns, r.p, filter_bytes);
        out->seccomp.len = h.seccomp_len;
        out->spec.seccomp = &out->seccomp;
        r.p += filter_bytes;
    }
    struct td_sandbox_spec *spec = &out->spec;
    spec->root_mountpoint = take_string(&r);
    spec->code_dir = take_string(&r);
    bool ok = spec->root_mountpoint && spec->code_dir;
    if (ok && (h.flags & LAUNCH_RUNTIME_DIR)) {
        spec->runtime_dir = take_string(&r);
        spec->runtime_target = take_string(&r);
        ok = spec->runtime_dir && spec->runtime_target;
    }
    if (ok && (h.flags & LAUNCH_HOSTNAME))
        ok = (spec->hostname = take_string(&r)) != NULL;
    int e = ok ? take_strv(&r, h.argc, &out->argv) : -EPROTO;
    if (e == 0)
        e = take_strv(&r, h.envc, &out->envp);
    if (e == 0 && r.p != r.end)
        e = -EPROTO; /* trailing bytes: not what this version writes */
    if (e < 0) {
        launch_request_release(out);
        return e;
    }
    spec->argv = out->argv;
    spec->envp = out->envp;
    spec->tmp_bytes = h.tmp_bytes;
    spec->first_pid = h.first_pid;
    spec->api_port = h.api_port;
    spec->uid = (uid_t)h.uid;
    spec->gid = (gid_t)h.gid;
    out->n_cgroup_procs = h.n_cgroup_procs;
    out->nfds = ((h.flags & LAUNCH_RUNTIME_API_FD) ? 3 : 2) + h.n_cgroup_procs;
    return 0;
}

void launch_request_release(struct launch_request *r)
{
    free(r->argv);
    free(r->envp);
    free(r->seccomp.insns);
    *r = (struct launch_request){.spec.runtime_api_fd = -1, .spec.log_fd = -1};
}

/* ---- the launcher process ---- */

/* One request and its descriptors; 0 at end of file. A request that came truncated, or with
 * its descriptors cut short, is -EMSGSIZE; what descriptors came are in fds all the same (fds[0]
 * is the sync socket, for the failure report). */
static ssize_t recv_request(int sock, uint8_t *buf, size_t size, int *fds, size_t *ret_nfds)
{
    int flags;
    ssize_t n = sandbox_recv(sock, buf, size, 0, fds, LAUNCH_FDS_MAX, ret_nfds, &flags);
    return n > 0 && flags ? -EMSGSIZE : n;
}

static void serve_request(const uint8_t *buf, ssize_t len, const int *fds, size_t nfds)
{
    struct launch_request req;
    if (nfds == 0)
        return; /* nowhere to report; the daemon's end of the sync socket reads end of file */
    int r = len < 0 ? (int)len : launch_request_decode(buf, (size_t)len, &req);
    if (r == 0 && nfds != req.nfds) {
        launch_request_release(&req);
        r = -EPROTO;
    }
    if (r < 0) {
        sandbox_report_failure(fds[0], "launch request", -r);
        return;
    }
    size_t first_cgroup = nfds - req.n_cgroup_procs;
    req.spec.log_fd = fds[1];
    req.spec.runtime_api_fd = first_cgroup == 3 ? fds[2] : -1;
    for (unsigned i = 0; i < req.n_cgroup_procs; i++)
        req.cgroup_procs[i] = fds[first_cgroup + i];
    r = sandbox_clone(&req, fds[0]);
    if (r < 0)
        sandbox_report_failure(fds[0], "clone3", -r);
    launch_request_release(&req);
}

static _Noreturn void launcher_main(int sock)
{
    /* The daemon's death ends it; a daemon that died before this line shows as end of file. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        _exit(1);
    (void)prctl(PR_SET_NAME, "tenantd-launch", 0, 0, 0);
    /* A stop signal for the daemon's process group or cgroup (^C, systemd's control-group kill)
     * is the daemon's to handle: the launcher ends when the daemon closes its socket, after the
     * environments. (Environments reset every signal to its default.) */
    const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT,
                                SIGPIPE /* writes fail instead */};
    for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
        (void)signal(stop_signals[i], SIG_IGN);
    /* Nothing of the daemon's but this socket and the standard streams (its log). */
    if (dup3(sock, 3, O_CLOEXEC) < 0 && sock != 3)
        _exit(1);
    sock = 3;
    if (syscall(SYS_close_range, 4, ~0U, 0) < 0)
        _exit(1);
    static uint8_t buf[LAUNCH_MSG_MAX];
    for (;;) {
        int fds[LAUNCH_FDS_MAX];
        size_t nfds;
        ssize_t n = recv_request(sock, buf, sizeof(buf), fds, &nfds);
        if (n == 0)
            _exit(0); /* the daemon closed its end: stopping */
        if (n == -EINTR)
            continue;
        if (n < 0 && n != -EMSGSIZE) {
            td_log_error("launcher: cannot read requests: %s", strerror((int)-n));
            td_log_flush();
            _exit(1);
        }
        serve_request(buf, n, fds, nfds);
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        /* The next environment is a copy of this process: it must find nothing of this one's
         * request (another function's variables) where its own shorter one ends. */
        explicit_bzero(buf, n > 0 ? (size_t)n : sizeof(buf));
    }
}

/* Room for a burst of launches (a request is a few KiB): beyond it, a launch fails at once
 * (-EAGAIN) rather than the daemon waiting for a launcher that is behind, or stopped. */
#define LAUNCH_QUEUE_BYTES (8 << 20)

static void size_queue(int sock)
{
    int bytes = LAUNCH_QUEUE_BYTES;
    if (setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) < 0)
        (void)setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)); /* up to wmem_max */
}

/* How many threads this process has (Threads: in /proc/self/status), or -errno. */
static int thread_count(void)
{
    char text[16384]; /* Threads: comes after Groups:, which can be long */
    _cleanup_close_ int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    if (n < 0)
        return -errno;
    text[n] = '\0';
    char *line = strstr(text, "\nThreads:");
    if (!line)
        return -ENOENT;
    line += strlen("\nThreads:");
    line += strspn(line, " \t");
    line[strcspn(line, "\n")] = '\0';
    int64_t count;
    int r = td_parse_int64(line, 1, INT32_MAX, &count);
    return r < 0 ? r : (int)count;
}

int td_launcher_start(struct td_launcher **ret)
{
    int sp[2];
    /* The launcher mallocs, and so do the environments it clones: it must not be cloned from a
     * process with other threads, one of which could hold malloc's lock at that moment. */
    if (thread_count() != 1)
        return -EBUSY;
    _cleanup_free_ struct td_launcher *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        return -errno;
    _cleanup_close_ int daemon_end = sp[0];
    _cleanup_close_ int launcher_end = sp[1];
    int pidfd = -1;
    struct clone_args args = {
        .flags = CLONE_PIDFD,
        .pidfd = (uint64_t)(uintptr_t)&pidfd,
        .exit_signal = SIGCHLD,
    };
    td_log_flush(); /* not to be written twice */
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        close(daemon_end);
        launcher_main(launcher_end);
    }
    l->pid = (pid_t)pid;
    l->pidfd = pidfd;
    l->sock = TAKE_FD(daemon_end);
    size_queue(l->sock);
    *ret = TAKE_PTR(l);
    return 0;
}

int td_launcher_pidfd(const struct td_launcher *l)
{
    return l->pidfd;
}

int td_launcher_request(struct td_launcher *l, const struct td_sandbox_spec *spec, int child_fd,
                        const int *cgroup_procs, unsigned n_cgroup_procs)
{
    size_t len;
    int r = launch_request_encode(spec, n_cgroup_procs, l->buf, sizeof(l->buf), &len);
    if (r < 0)
        return r;
    int fds[LAUNCH_FDS_MAX] = {child_fd, spec->log_fd};
    size_t nfds = 2;
    if (spec->runtime_api_fd >= 0)
        fds[nfds++] = spec->runtime_api_fd;
    for (unsigned i = 0; i < n_cgroup_procs; i++)
        fds[nfds++] = cgroup_procs[i];
    /* -EAGAIN: LAUNCH_QUEUE_BYTES are waiting already */
    return sandbox_send(l->sock, l->buf, len, MSG_DONTWAIT, fds, nfds);
}

int td_launcher_kill(struct td_launcher *l)
{
    if (syscall(SYS_pidfd_send_signal, l->pidfd, SIGKILL, NULL, 0) < 0)
        return errno == ESRCH ? 0 : -errno;
    return 0;
}

void td_launcher_stop(struct td_launcher *l)
{
    if (!l)
        return;
    close(l->sock);
    /* Every environment is gone by now, so nothing is lost; a launcher stopped or stuck must
     * not keep the daemon from exiting. */
    (void)td_launcher_kill(l);
    siginfo_t info;
    int r;
    do
        r = waitid(P_PIDFD, (id_t)l->pidfd, &info, WEXITED);
    while (r < 0 && errno == EINTR);
    close(l->pidfd);
    free(l);
}
