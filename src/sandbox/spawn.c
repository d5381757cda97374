/* Environment creation.
 *
 * The launcher (launcher.c) calls clone3() with new PID, mount, network, IPC, UTS and cgroup
 * namespaces, the child being the daemon's (CLONE_PARENT). The child becomes PID 1 of its
 * namespace and stays a copy of the launcher (no exec: that would cost a glibc start-up here).
 * Once the launcher has written its id maps, moved it into its cgroup and said go, it builds
 * the root filesystem, brings up loopback, binds the environment's API socket and passes it to
 * the daemon over the sync socket, then forks the runtime, which drops to an unprivileged uid and
 * execs. PID 1 then only reaps: when the runtime exits it kills whatever is left in the namespace
 * and exits with the runtime's status.
 *
 * The launcher is single-threaded, so the child may use libc freely; it ends in _exit().
 */
#include "tenantd/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/log.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* ---- child side ---- */

#define HOST_DIRS_MAX 8
#define DEV_NODES     6

/* Host paths the sandbox binds, opened (O_PATH) before the child switches to the sandbox's
 * ids: afterwards it could not even traverse the daemon's 0700 state directory. */
struct sources {
    int host_dir[HOST_DIRS_MAX]; /* -1: absent or a symlink (link_target set) */
    char link_target[HOST_DIRS_MAX][256];
    int ssl;
    int ca_certificates;
    int code;
    int runtime;
    int dev[DEV_NODES];
};

struct child_ctx {
    const struct td_sandbox_spec *spec;
    int sync_fd;
    int log_fd;
    int runtime_api_fd; /* -1 when the spec has none */
    char root[4096];
    struct sources src;
};

static const char *const host_dirs[] = {"/usr",   "/bin",   "/sbin",  "/lib",
                                        "/lib32", "/lib64", "/libx32"};
_Static_assert(TD_ARRAY_SIZE(host_dirs) <= HOST_DIRS_MAX, "room for every host directory");
static const char *const dev_nodes[DEV_NODES] = {"null",   "zero",    "full",
                                                 "random", "urandom", "tty"};

static void child_fail(struct child_ctx *c, const char *step, int err)
{
    struct sync_msg m = {.kind = MSG_FAILED, .err = err};
    snprintf(m.step, sizeof(m.step), "%s", step);
    (void)send(c->sync_fd, &m, sizeof(m), MSG_NOSIGNAL);
    _exit(TD_SANDBOX_EXIT_SETUP);
}

#define CHECK(c, expr, step)                                                                       \
    do {                                                                                           \
        if ((expr) < 0)                                                                            \
            child_fail((c), (step), errno);                                                        \
    } while (0)

static void path_in_root(struct child_ctx *c, const char *rel, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", c->root, rel);
}

static void make_dir(struct child_ctx *c, const char *rel, mode_t mode)
{
    char p[4200];
    path_in_root(c, rel, p, sizeof(p));
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        child_fail(c, "mkdir", errno);
}

static void write_root_file(struct child_ctx *c, const char *rel, const char *text)
{
    char p[4200];
    path_in_root(c, rel, p, sizeof(p));
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    CHECK(c, fd, "write /etc");
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len)
        child_fail(c, "write /etc", errno ? errno : EIO);
    close(fd);
}

/* The flags a read-only bind of fd's mount must keep: in a user namespace the flags of a
 * mount inherited from the host are locked and a remount may not drop them. */
static unsigned long locked_flags(int fd)
{
    struct statvfs sv;
    unsigned long f = 0;
    if (fstatvfs(fd, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    return f;
}

static void fd_path(int fd, char out[32])
{
    snprintf(out, 32, "/proc/self/fd/%d", fd);
}

static void bind_fd(struct child_ctx *c, int fd, const char *rel, bool is_file, bool read_only)
{
    char p[4200], src[32];
    path_in_root(c, rel, p, sizeof(p));
    if (is_file) {
        int t = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        CHECK(c, t, "bind target");
        close(t);
    } else {
        make_dir(c, rel, 0755);
    }
    fd_path(fd, src);
    CHECK(c, mount(src, p, NULL, MS_BIND | MS_REC, NULL), "bind mount");
    if (read_only)
        CHECK(c,
              mount(NULL, p, NULL,
                    MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | locked_flags(fd),
                    NULL),
              "bind mount read-only");
    /* The remount covers the top mount only: host mounts below it (a separate /usr/local, a
     * code directory on another filesystem) become read-only, nosuid and nodev too. Kernels
     * before 5.12 lack mount_setattr; there the top mount is what there is to cover. */
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
    if (read_only && mount_setattr(AT_FDCWD, p, AT_RECURSIVE, &attr, sizeof(attr)) < 0 &&
        errno != ENOSYS)
        child_fail(c, "bind mount read-only (recursive)", errno);
}

static int open_path(const char *path, bool directory)
{
    return open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW | (directory ? O_DIRECTORY : 0));
}

/* While still the daemon's identity: open everything of the host the sandbox shows. */
static void open_sources(struct child_ctx *c)
{
    const struct td_sandbox_spec *spec = c->spec;
    struct sources *src = &c->src;
    for (size_t i = 0; i < HOST_DIRS_MAX; i++) /* every slot: close_sources closes them all */
        src->host_dir[i] = -1;
    for (size_t i = 0; i < TD_ARRAY_SIZE(host_dirs); i++) {
        struct stat st;
        src->link_target[i][0] = '\0';
        if (lstat(host_dirs[i], &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            ssize_t n =
                readlink(host_dirs[i], src->link_target[i], sizeof(src->link_target[i]) - 1);
            CHECK(c, (int)n, "readlink");
            src->link_target[i][n] = '\0';
        } else if (S_ISDIR(st.st_mode)) {
            CHECK(c, src->host_dir[i] = open_path(host_dirs[i], true), "open host directory");
        }
    }
    src->ssl = open_path("/etc/ssl", true);
    src->ca_certificates = open_path("/etc/ca-certificates", true);
    CHECK(c, src->code = open_path(spec->code_dir, true), "open code");
    src->runtime = -1;
    if (spec->runtime_dir && spec->runtime_target)
        CHECK(c, src->runtime = open_path(spec->runtime_dir, true), "open runtime");
    for (size_t i = 0; i < DEV_NODES; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/dev/%s", dev_nodes[i]);
        CHECK(c, src->dev[i] = open_path(path, false), "open device");
    }
}

/* Replicate the top-level host paths: a symlink stays a symlink (merged-/usr systems), a
 * directory is bound read-only, a missing one is skipped. */
static void mirror_host_paths(struct child_ctx *c)
{
    for (size_t i = 0; i < TD_ARRAY_SIZE(host_dirs); i++) {
        if (c->src.link_target[i][0]) {
            char p[4200];
            path_in_root(c, host_dirs[i] + 1, p, sizeof(p));
            CHECK(c, symlink(c->src.link_target[i], p), "symlink");
        } else if (c->src.host_dir[i] >= 0) {
            bind_fd(c, c->src.host_dir[i], host_dirs[i] + 1, false, true);
        }
    }
}

static void build_etc(struct child_ctx *c)
{
    const struct td_sandbox_spec *spec = c->spec;
    char passwd[256], group[256];
    (void)spec;
    snprintf(passwd, sizeof(passwd),
             "root:x:0:0:root:/root:/usr/sbin/nologin\n"
             "sbx_user1051:x:%u:%u::/tmp:/usr/sbin/nologin\n",
             (unsigned)TD_SANDBOX_UID, (unsigned)TD_SANDBOX_GID);
    snprintf(group, sizeof(group), "root:x:0:\nsbx_user1051:x:%u:\n", (unsigned)TD_SANDBOX_GID);
    make_dir(c, "etc", 0755);
    write_root_file(c, "etc/passwd", passwd);
    write_root_file(c, "etc/group", group);
    /* The neutral hostname resolves, as programs that look themselves up expect. */
    char hosts[128];
    snprintf(hosts, sizeof(hosts), "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t%s\n",
             c->spec->hostname ? c->spec->hostname : "localhost");
    write_root_file(c, "etc/hosts", hosts);
    write_root_file(c, "etc/resolv.conf", "");
    write_root_file(c, "etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n");
    char p[4200];
    path_in_root(c, "etc/localtime", p, sizeof(p));
    CHECK(c, symlink("/usr/share/zoneinfo/UTC", p), "localtime");
    if (c->src.ssl >= 0)
        bind_fd(c, c->src.ssl, "etc/ssl", false, true);
    if (c->src.ca_certificates >= 0)
        bind_fd(c, c->src.ca_certificates, "etc/ca-certificates", false, true);
}

static void build_dev(struct child_ctx *c)
{
    char p[4200];
    make_dir(c, "dev", 0755);
    path_in_root(c, "dev", p, sizeof(p));
    CHECK(c, mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755"), "mount /dev");
    for (size_t i = 0; i < DEV_NODES; i++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "dev/%s", dev_nodes[i]);
        bind_fd(c, c->src.dev[i], rel, true, false);
    }
    make_dir(c, "dev/shm", 01777);
    path_in_root(c, "dev/shm", p, sizeof(p));
    CHECK(c, mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777"),
          "mount /dev/shm");
    static const char *const links[][2] = {{"/proc/self/fd", "dev/fd"},
                                           {"/proc/self/fd/0", "dev/stdin"},
                                           {"/proc/self/fd/1", "dev/stdout"},
                                           {"/proc/self/fd/2", "dev/stderr"}};
    for (size_t i = 0; i < TD_ARRAY_SIZE(links); i++) {
        path_in_root(c, links[i][1], p, sizeof(p));
        CHECK(c, symlink(links[i][0], p), "dev symlink");
    }
    path_in_root(c, "dev", p, sizeof(p));
    CHECK(c, mount(NULL, p, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL),
          "remount /dev read-only");
}

static void build_root(struct child_ctx *c)
{
    const struct td_sandbox_spec *spec = c->spec;
    char p[4200], opts[64];

    CHECK(c, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "make mounts private");
    snprintf(opts, sizeof(opts), "size=1m,mode=0755,uid=%u,gid=%u", (unsigned)TD_SANDBOX_UID,
             (unsigned)TD_SANDBOX_GID);
    CHECK(c, mount("tmpfs", spec->root_mountpoint, "tmpfs", MS_NOSUID | MS_NODEV, opts),
          "mount root");
    /* Relative paths from here: the way to the mount point (the daemon's state directory) is
     * closed to the sandbox user the files are now created as (root inside maps to no one). */
    CHECK(c, chdir(spec->root_mountpoint), "enter root");
    snprintf(c->root, sizeof(c->root), ".");
    CHECK(c, setfsgid(TD_SANDBOX_GID) >= 0 ? 0 : -1, "setfsgid");
    CHECK(c, setfsuid(TD_SANDBOX_UID) >= 0 ? 0 : -1, "setfsuid");
    mirror_host_paths(c);
    build_etc(c);
    make_dir(c, "var", 0755);
    bind_fd(c, c->src.code, "var/task", false, true);
    make_dir(c, "var/runtime", 0755);
    if (c->src.runtime >= 0)
        bind_fd(c, c->src.runtime, spec->runtime_target, false, true);
    make_dir(c, "opt", 0755);
    make_dir(c, "tmp", 01777);
    path_in_root(c, "tmp", p, sizeof(p));
    snprintf(opts, sizeof(opts), "size=%llu,mode=1777", (unsigned long long)spec->tmp_bytes);
    CHECK(c, mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, opts), "mount /tmp");
    build_dev(c);
    make_dir(c, "proc", 0555);
    /* Only this PID namespace's processes, and only its own ones to the unprivileged user.
     * Mounted before the host's tree goes: a user namespace may mount proc only while a fully
     * visible one is in its mount namespace. */
    if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible") < 0)
        CHECK(c, mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2"),
              "mount /proc");
    make_dir(c, ".oldroot", 0700);

    CHECK(c, (int)syscall(SYS_pivot_root, ".", ".oldroot"), "pivot_root");
    CHECK(c, chdir("/"), "chdir /");
    CHECK(c, umount2("/.oldroot", MNT_DETACH), "detach old root");
    CHECK(c, rmdir("/.oldroot"), "remove old root");
    CHECK(c, mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL),
          "remount root read-only");
}

static void loopback_up(struct child_ctx *c)
{
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    CHECK(c, s, "loopback socket");
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    CHECK(c, ioctl(s, SIOCGIFFLAGS, &ifr), "loopback flags");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    CHECK(c, ioctl(s, SIOCSIFFLAGS, &ifr), "loopback up");
}

int sandbox_send(int sock, const void *buf, size_t len, int flags, const int *fds, size_t nfds)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    union {
        char buf[CMSG_SPACE(LAUNCH_FDS_MAX * sizeof(int))];
        struct cmsghdr align;
    } control;
    if (nfds == 0 || nfds > LAUNCH_FDS_MAX)
        return -EINVAL;
    memset(&control, 0, sizeof(control));
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (!cm) /* cannot be: there is room for LAUNCH_FDS_MAX */
        return -EINVAL;
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
    ssize_t n;
    do
        n = sendmsg(sock, &msg, flags | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

/* A message with one descriptor attached (the child's listener, the launcher's pidfd). */
static int send_with_fd(int sock, const struct sync_msg *m, int fd)
{
    return sandbox_send(sock, m, sizeof(*m), 0, &fd, 1);
}

static void send_listener(struct child_ctx *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    CHECK(c, fd, "api socket");
    int one = 1;
    CHECK(c, setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), "api socket options");
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons(c->spec->api_port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(c, bind(fd, (struct sockaddr *)&addr, sizeof(addr)), "api bind");
    CHECK(c, listen(fd, 128), "api listen");

    struct sync_msg m = {.kind = MSG_LISTENER};
    CHECK(c, send_with_fd(c->sync_fd, &m, fd), "send api socket");
    close(fd);
}

static void reset_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* No capability can ever come back: empty bounding and ambient sets (while still allowed to
 * change them). */
static int drop_capability_bounds(void)
{
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return -1;
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

/* After the switch to the unprivileged uid: nothing effective, permitted or inheritable. */
static int drop_capabilities(void)
{
    cap_t none = cap_init();
    int r = none ? cap_set_proc(none) : -1;
    cap_free(none);
    return r;
}

/* In the runtime process: never returns. */
static void exec_runtime(struct child_ctx *c, int exec_err_fd)
{
    const struct td_sandbox_spec *spec = c->spec;
    int err;

    if (setsid() < 0 || dup2(c->log_fd, STDOUT_FILENO) < 0 || dup2(c->log_fd, STDERR_FILENO) < 0)
        goto fail;
    /* The sync socket (fd 3) is closed by now; dup2 leaves the copy open across exec. */
    if (c->runtime_api_fd >= 0 && dup2(c->runtime_api_fd, TD_SANDBOX_RUNTIME_API_FD) < 0)
        goto fail;
    /* Without O_CLOEXEC: should it land on fd 0 itself, dup2 is a no-op and stdin must stay
     * open across exec. */
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 ||
        (devnull != STDIN_FILENO && (dup2(devnull, STDIN_FILENO) < 0 || close(devnull) < 0)))
        goto fail;
    /* Lambda's descriptor limit, no core files, and none of the daemon's own limits that could
     * let a function starve the host: no real-time scheduling, no raised priority, the
     * default locked-memory allowance. */
    static const struct {
        int resource;
        rlim_t value;
    } limits[] = {{RLIMIT_NOFILE, 1024},    {RLIMIT_CORE, 0}, {RLIMIT_RTPRIO, 0},
                  {RLIMIT_RTTIME, 0},       {RLIMIT_NICE, 0}, {RLIMIT_MEMLOCK, 8 * 1024 * 1024},
                  {RLIMIT_MSGQUEUE, 819200}};
    for (size_t i = 0; i < TD_ARRAY_SIZE(limits); i++) {
        struct rlimit rl;
        if (getrlimit(limits[i].resource, &rl) < 0)
            goto fail;
        /* Only ever lowered: raising a hard limit needs a capability the child lacks. */
        rlim_t v = rl.rlim_max < limits[i].value ? rl.rlim_max : limits[i].value;
        rl.rlim_cur = rl.rlim_max = v;
        if (setrlimit(limits[i].resource, &rl) < 0)
            goto fail;
    }
    if (chdir("/var/task") < 0 || drop_capability_bounds() < 0 || setgroups(0, NULL) < 0 ||
        setresgid(TD_SANDBOX_GID, TD_SANDBOX_GID, TD_SANDBOX_GID) < 0 ||
        setresuid(TD_SANDBOX_UID, TD_SANDBOX_UID, TD_SANDBOX_UID) < 0 || drop_capabilities() < 0)
        goto fail;
    /* Last: the filter refuses calls the steps above make. It sets no_new_privs too. */
    if (spec->seccomp ? td_seccomp_load(spec->seccomp) < 0
                      : prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        goto fail;
    execve(spec->argv[0], spec->argv, spec->envp);
fail:
    err = errno;
    dprintf(STDERR_FILENO, "tenantd: cannot start the runtime '%s': %s\n", spec->argv[0],
            strerror(err));
    if (write(exec_err_fd, &err, sizeof(err)) < 0)
        _exit(TD_SANDBOX_EXIT_EXEC); /* init sees the runtime end at once anyway */
    _exit(TD_SANDBOX_EXIT_EXEC);
}

/* PID 1 of the environment: reap everything; end when the runtime ends. */
static void run_init(pid_t runtime)
{
    int status = 0, runtime_status = -1;
    for (;;) {
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pid == runtime) {
            runtime_status = status;
            kill(-1, SIGKILL); /* whatever the runtime left behind dies with it */
        }
    }
    if (runtime_status < 0)
        _exit(TD_SANDBOX_EXIT_SETUP);
    if (WIFEXITED(runtime_status))
        _exit(WEXITSTATUS(runtime_status));
    _exit(128 + WTERMSIG(runtime_status));
}

/* Start the namespace's process ids where the daemon says, so that environments created one
 * after the other do not show the same ids (logs and reports stay unambiguous). Best effort. */
static void set_first_pid(pid_t first)
{
    if (first <= 1)
        return;
    char text[16];
    int len = snprintf(text, sizeof(text), "%d", (int)first - 1);
    int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, text, (size_t)len) < 0) {
            /* not fatal: the ids just start at 2 */
        }
        close(fd);
    }
}

static void close_sources(struct sources *src)
{
    for (size_t i = 0; i < HOST_DIRS_MAX; i++)
        if (src->host_dir[i] >= 0)
            close(src->host_dir[i]);
    int *fds[] = {&src->ssl, &src->ca_certificates, &src->code, &src->runtime};
    for (size_t i = 0; i < TD_ARRAY_SIZE(fds); i++)
        if (*fds[i] >= 0)
            close(*fds[i]);
    for (size_t i = 0; i < DEV_NODES; i++)
        if (src->dev[i] >= 0)
            close(src->dev[i]);
}

/* PID 1 keeps only what reaping needs: CAP_KILL (its runtime runs under another uid), and
 * nobody may read its memory (it is a copy of the launcher's). */
static void restrict_init(struct child_ctx *c)
{
    CHECK(c, prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "init not dumpable");
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
        if (cap != CAP_KILL)
            (void)prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    cap_t caps = cap_init();
    cap_value_t kill_cap = CAP_KILL;
    if (caps && cap_set_flag(caps, CAP_PERMITTED, 1, &kill_cap, CAP_SET) == 0 &&
        cap_set_flag(caps, CAP_EFFECTIVE, 1, &kill_cap, CAP_SET) == 0)
        (void)cap_set_proc(caps);
    cap_free(caps);
}

/* The parent-death signal is cleared by every change of the process's ids (the fs ids while
 * building the root included): arm it again, then make sure the daemon did not die in the
 * window, which its end of the sync socket tells (getppid is 0 across the PID namespace). */
static void rearm_parent_death(struct child_ctx *c)
{
    char byte;
    CHECK(c, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "parent death signal");
    if (recv(c->sync_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
        _exit(TD_SANDBOX_EXIT_SETUP);
}

static void child_main(struct child_ctx *c)
{
    const struct td_sandbox_spec *spec = c->spec;
    reset_signals();
    CHECK(c, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "parent death signal");
    /* Now in its own cgroup: a cgroup namespace rooted there hides the rest of the tree. */
    CHECK(c, unshare(CLONE_NEWCGROUP), "cgroup namespace");
    open_sources(c);
    build_root(c);
    rearm_parent_death(c);
    close_sources(&c->src);
    loopback_up(c);
    if (spec->hostname)
        CHECK(c, sethostname(spec->hostname, strlen(spec->hostname)), "hostname");
    send_listener(c);

    set_first_pid(spec->first_pid);
    int pipefd[2];
    CHECK(c, pipe2(pipefd, O_CLOEXEC), "exec status pipe");
    /* _Fork, not fork: pthread_atfork handlers inherited from the daemon (libuv re-creates its
     * signal pipe on descriptors that are ours in this process) must not run here. */
    pid_t pid = _Fork();
    CHECK(c, pid, "fork runtime");
    if (pid == 0) {
        close(pipefd[0]);
        close(c->sync_fd);
        exec_runtime(c, pipefd[1]);
    }
    close(pipefd[1]);
    close(c->log_fd);
    if (c->runtime_api_fd >= 0)
        close(c->runtime_api_fd); /* the runtime's alone: its end reads EOF when it is gone */
    restrict_init(c);
    rearm_parent_death(c);
    int err = 0;
    ssize_t n;
    do
        n = read(pipefd[0], &err, sizeof(err));
    while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    struct sync_msg m = {.kind = n == sizeof(err) ? MSG_EXEC_FAILED : MSG_EXEC_OK, .err = err};
    snprintf(m.step, sizeof(m.step), "exec runtime");
    (void)send(c->sync_fd, &m, sizeof(m), MSG_NOSIGNAL);
    close(c->sync_fd);
    run_init(pid);
}

/* Keep only the sync socket, the log pipe and the runtime's API socket: the child must not hold
 * the launcher's other descriptors (its socket to the daemon). Each is
 * first moved out of the way (1000+) so that renumbering cannot overwrite another. */
static int keep_only(struct child_ctx *c)
{
    int *fds[] = {&c->sync_fd, &c->log_fd, &c->runtime_api_fd};
    int high[TD_ARRAY_SIZE(fds)];
    for (size_t i = 0; i < TD_ARRAY_SIZE(fds); i++) {
        high[i] = *fds[i] < 0 ? -1 : fcntl(*fds[i], F_DUPFD_CLOEXEC, 1000);
        if (*fds[i] >= 0 && high[i] < 0)
            return -errno;
    }
    for (size_t i = 0; i < TD_ARRAY_SIZE(fds); i++) {
        if (high[i] < 0) {
            close(3 + (int)i); /* the slot of a descriptor it has not: whatever was there */
            continue;
        }
        if (dup3(high[i], 3 + (int)i, O_CLOEXEC) < 0)
            return -errno;
        *fds[i] = 3 + (int)i;
    }
    return (int)syscall(SYS_close_range, 3 + TD_ARRAY_SIZE(fds), ~0U, 0);
}

/* ---- launcher side ---- */

/* The sandbox user (and nothing else) inside maps to the environment's own uid and gid
 * outside; root inside maps to no one. The child waits for these before it does anything. */
static int write_map(pid_t pid, const char *file, unsigned inside, unsigned outside)
{
    char path[64], line[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    int len = snprintf(line, sizeof(line), "%u %u 1\n", inside, outside);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (write(fd, line, (size_t)len) != len)
        return errno ? -errno : -EIO;
    return 0;
}

static int write_id_maps(pid_t pid, uid_t uid, gid_t gid)
{
    int r = write_map(pid, "uid_map", TD_SANDBOX_UID, (unsigned)uid);
    return r < 0 ? r : write_map(pid, "gid_map", TD_SANDBOX_GID, (unsigned)gid);
}

/* Into the environment's cgroup, before it runs anything. */
static int attach_cgroup(const struct launch_request *req, pid_t pid)
{
    char text[24];
    int len = snprintf(text, sizeof(text), "%d", (int)pid);
    for (unsigned i = 0; i < req->n_cgroup_procs; i++)
        if (write(req->cgroup_procs[i], text, (size_t)len) != len)
            return errno ? -errno : -EIO;
    return 0;
}

void sandbox_report_failure(int child_fd, const char *step, int err)
{
    struct sync_msg m = {.kind = MSG_FAILED, .err = err};
    snprintf(m.step, sizeof(m.step), "%s", step);
    (void)send(child_fd, &m, sizeof(m), MSG_NOSIGNAL);
}

/* The launcher writes the user namespace's id maps and moves the child into its cgroup, then
 * says go on a pipe; the child does nothing before. End of file: the launcher gave it up. */
static bool wait_for_go(int fd)
{
    char go;
    ssize_t n;
    do
        n = read(fd, &go, 1);
    while (n < 0 && errno == EINTR);
    return n == 1;
}

int sandbox_clone(const struct launch_request *req, int child_fd)
{
    const struct td_sandbox_spec *spec = &req->spec;
    int pidfd = -1, go[2];
    if (pipe2(go, O_CLOEXEC) < 0)
        return -errno;
    struct clone_args args = {
        .flags = CLONE_PIDFD | CLONE_PARENT | CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID |
                 CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
        .pidfd = (uint64_t)(uintptr_t)&pidfd,
        .exit_signal = 0, /* CLONE_PARENT: the launcher's own exit signal (SIGCHLD) is used */
    };
    td_log_flush(); /* the child must not inherit (and one day write) pending lines */
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0) {
        int r = -errno;
        close(go[0]);
        close(go[1]);
        return r;
    }
    if (pid == 0) {
        (void)prctl(PR_SET_NAME, "tenantd-env", 0, 0, 0); /* not the launcher, in ps */
        close(go[1]);
        if (!wait_for_go(go[0]))
            _exit(TD_SANDBOX_EXIT_SETUP);
        close(go[0]);
        struct child_ctx c = {.spec = spec,
                              .sync_fd = child_fd,
                              .log_fd = spec->log_fd,
                              .runtime_api_fd = spec->runtime_api_fd};
        if (keep_only(&c) < 0)
            _exit(TD_SANDBOX_EXIT_SETUP);
        child_main(&c);
        _exit(TD_SANDBOX_EXIT_SETUP);
    }
    /* A failure from here on is reported with the pidfd, for the daemon to kill and reap its
     * child (which, without its go, exits anyway). */
    close(go[0]);
    struct sync_msg m = {.kind = MSG_STARTED, .pid = (int32_t)pid};
    const char *step = "user namespace maps";
    int r = write_id_maps((pid_t)pid, spec->uid, spec->gid);
    if (r == 0) {
        step = "cgroup";
        r = attach_cgroup(req, (pid_t)pid);
    }
    if (r < 0) {
        m.err = -r;
        snprintf(m.step, sizeof(m.step), "%s", step);
    }
    /* STARTED goes first: every message of the child's comes after it on the same socket. */
    int sent = send_with_fd(child_fd, &m, pidfd);
    if (sent < 0) /* the daemon does not know it: it must not run unseen */
        (void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    else if (r == 0 && write(go[1], "g", 1) != 1 && errno != EPIPE) /* EPIPE: killed meanwhile */
        td_log_error("launcher: no go for environment %ld: %s", pid, strerror(errno));
    close(go[1]); /* a child without its go exits; the daemon then reads end of file */
    close(pidfd);
    return sent;
}

/* ---- daemon side ---- */

ssize_t sandbox_recv(int sock, void *buf, size_t size, int flags, int *fds, size_t max,
                     size_t *ret_nfds, int *ret_msg_flags)
{
    struct iovec iov = {.iov_base = buf, .iov_len = size};
    union {
        char buf[CMSG_SPACE(LAUNCH_FDS_MAX * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    *ret_nfds = 0;
    *ret_msg_flags = 0;
    ssize_t n = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -errno;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (*ret_nfds < max)
                fds[(*ret_nfds)++] = fd;
            else
                close(fd);
        }
    }
    *ret_msg_flags = msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC);
    return n;
}

/* One message from the sync socket, and the descriptor it carried (else -1); -EAGAIN when none
 * is there yet. */
static int recv_msg(int fd, struct sync_msg *m, int *ret_fd)
{
    size_t nfds;
    int flags;
    *ret_fd = -1;
    ssize_t got = sandbox_recv(fd, m, sizeof(*m), MSG_DONTWAIT, ret_fd, 1, &nfds, &flags);
    if (got < 0)
        return (int)got;
    if (got == sizeof(*m) && !flags)
        return 0;
    if (*ret_fd >= 0)
        close(*ret_fd);
    *ret_fd = -1;
    /* end of file: the child (or the launcher) went away before it finished */
    return got == 0 ? -EPIPE : -EPROTO;
}

static void close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

int td_sandbox_start(const struct td_sandbox_spec *spec, struct td_sandbox *sb)
{
    int sp[2], procs[TD_CGROUP_MAX_HIERARCHIES];
    size_t n_procs = 0;
    *sb = (struct td_sandbox){.pidfd = -1, .api_fd = -1, .sync_fd = -1, .step = "cgroup"};
    if (!spec->launcher)
        return -EINVAL;
    int r = spec->cgroup ? td_cgroup_open_procs(spec->cgroup, procs, &n_procs) : 0;
    if (r < 0)
        return r;
    sb->step = "socketpair";
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
        r = -errno;
        close_all(procs, n_procs);
        return r;
    }
    _cleanup_close_ int parent_fd = sp[0];
    _cleanup_close_ int child_fd = sp[1]; /* the launcher's (then the child's) from now on */
    sb->step = "launcher";
    r = td_launcher_request(spec->launcher, spec, child_fd, procs, (unsigned)n_procs);
    close_all(procs, n_procs);
    if (r < 0)
        return r;
    sb->sync_fd = TAKE_FD(parent_fd);
    sb->step = "clone3";
    return 0;
}

/* The init exists, in its cgroup and with its id maps, and has its go. */
static int on_started(struct td_sandbox *sb, struct sync_msg *m, int pidfd, char *failed_step,
                      size_t size)
{
    if (pidfd < 0 || m->pid <= 0 || sb->pidfd >= 0) {
        if (pidfd >= 0)
            close(pidfd);
        sb->step = "clone report";
        return -EPROTO;
    }
    sb->pid = (pid_t)m->pid;
    sb->pidfd = pidfd;
    if (m->err) {
        m->step[sizeof(m->step) - 1] = '\0';
        snprintf(failed_step, size, "%s", m->step);
        sb->step = failed_step;
        return m->err > 0 ? -m->err : -EIO;
    }
    sb->step = "set-up";
    return 0;
}

int td_sandbox_progress(struct td_sandbox *sb)
{
    static char failed_step[64];
    for (;;) {
        struct sync_msg m;
        int fd;
        int r = recv_msg(sb->sync_fd, &m, &fd);
        if (r == -EAGAIN || r == -EINTR)
            return 0;
        if (r < 0) {
            sb->step = "sandbox set-up message";
            return r;
        }
        switch (m.kind) {
        case MSG_STARTED:
            if ((r = on_started(sb, &m, fd, failed_step, sizeof(failed_step))) < 0)
                return r;
            continue;
        case MSG_LISTENER:
            if (fd < 0 || sb->api_fd >= 0 || sb->pidfd < 0) {
                if (fd >= 0)
                    close(fd);
                sb->step = "api socket";
                return -EPROTO;
            }
            sb->api_fd = fd;
            continue;
        default:
            break;
        }
        if (fd >= 0)
            close(fd);
        switch (m.kind) {
        case MSG_EXEC_OK:
        case MSG_EXEC_FAILED:
            /* With a failed exec the environment exists, and ends at once. */
            sb->exec_errno = m.kind == MSG_EXEC_FAILED ? (m.err > 0 ? m.err : EIO) : 0;
            sb->step = NULL;
            return sb->api_fd >= 0 ? 1 : -EPROTO;
        default:
            m.step[sizeof(m.step) - 1] = '\0';
            snprintf(failed_step, sizeof(failed_step), "%s", m.step);
            sb->step = failed_step;
            return m.err > 0 ? -m.err : -EIO;
        }
    }
}

int td_sandbox_kill(const struct td_sandbox *sb)
{
    if (sb->pidfd < 0)
        return -EBADF;
    if (syscall(SYS_pidfd_send_signal, sb->pidfd, SIGKILL, NULL, 0) < 0)
        return errno == ESRCH ? 0 : -errno;
    return 0;
}

int td_sandbox_reap(struct td_sandbox *sb, int *ret_status)
{
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    if (waitid(P_PIDFD, (id_t)sb->pidfd, &info, WEXITED | WNOHANG) < 0)
        return -errno;
    if (info.si_pid == 0)
        return -EAGAIN;
    if (info.si_code == CLD_EXITED)
        *ret_status = W_EXITCODE(info.si_status, 0);
    else
        *ret_status = info.si_status & 0x7f; /* killed by a signal */
    return 0;
}

void td_sandbox_close(struct td_sandbox *sb)
{
    if (sb->pidfd >= 0)
        close(sb->pidfd);
    if (sb->api_fd >= 0)
        close(sb->api_fd);
    if (sb->sync_fd >= 0)
        close(sb->sync_fd);
    sb->pidfd = -1;
    sb->api_fd = -1;
    sb->sync_fd = -1;
}
