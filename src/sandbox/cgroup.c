#include "tenantd/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tenantd/cleanup.h"
#include "tenantd/log.h"

/* ---- the two implementations behind one table ---- */

enum { CTRL_MEMORY, CTRL_PIDS, CTRL_CPU, CTRL_COUNT };
static const char *const ctrl_names[CTRL_COUNT] = {"memory", "pids", "cpu"};

struct cgroup_ops {
    const char *name;
    int (*apply_limits)(struct td_cgroup *cg, const struct td_cgroup_limits *l);
    int (*peak_memory)(struct td_cgroup *cg, uint64_t *ret);
    int (*oom_kills)(struct td_cgroup *cg, uint64_t *ret);
};

struct td_cgroups {
    const struct cgroup_ops *ops;
    /* v1: one base per controller; v2: base[0] only */
    char base[CTRL_COUNT][PATH_MAX];
    int n_bases;
};

struct td_cgroup {
    struct td_cgroups *m;
    char path[CTRL_COUNT][PATH_MAX];
    int peak_fd; /* the peak memory file, kept open: it is read after every invocation */
};

static int write_file(const char *dir, const char *file, const char *text)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    if (n < 0)
        return -errno;
    return (size_t)n == strlen(text) ? 0 : -EIO;
}

static int read_file(const char *dir, const char *file, char *buf, size_t size)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, size - 1);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    return 0;
}

/* "key value" lines (memory.oom_control, memory.events). */
static int read_keyed(const char *dir, const char *file, const char *key, uint64_t *ret)
{
    char buf[1024];
    int r = read_file(dir, file, buf, sizeof(buf));
    if (r < 0)
        return r;
    size_t klen = strlen(key);
    for (char *line = buf; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            *ret = strtoull(line + klen + 1, NULL, 10);
            return 0;
        }
    }
    *ret = 0;
    return 0;
}

static int write_u64(const char *dir, const char *file, uint64_t v)
{
    char text[32];
    snprintf(text, sizeof(text), "%" PRIu64, v);
    return write_file(dir, file, text);
}

/* v1: memory, pids and cpu are separate hierarchies. */
static int v1_limits(struct td_cgroup *cg, const struct td_cgroup_limits *l)
{
    const char *mem = cg->path[CTRL_MEMORY];
    int r = write_u64(mem, "memory.limit_in_bytes", l->memory_bytes);
    if (r == 0) {
        /* Swap off: memory+swap may not exceed memory (absent without swap accounting). */
        int s = write_u64(mem, "memory.memsw.limit_in_bytes", l->memory_bytes);
        if (s < 0 && s != -ENOENT)
            r = s;
    }
    if (r == 0)
        r = write_u64(cg->path[CTRL_PIDS], "pids.max", l->pids_max);
    if (r == 0) /* 1024 shares per GB of memory; at least the kernel's minimum of 2 */
        r = write_u64(cg->path[CTRL_CPU], "cpu.shares", l->memory_mb < 2 ? 2 : l->memory_mb);
    return r;
}

/* A number from the peak memory file, opened once and read again from its start (cgroupfs
 * generates the text afresh on every read at offset 0). */
static int read_peak(struct td_cgroup *cg, const char *dir, const char *file, uint64_t *ret)
{
    if (cg->peak_fd < 0) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        if ((cg->peak_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            return -errno;
    }
    char buf[64];
    ssize_t n = pread(cg->peak_fd, buf, sizeof(buf) - 1, 0);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno || end == buf)
        return -EINVAL;
    *ret = v;
    return 0;
}

static int v1_peak(struct td_cgroup *cg, uint64_t *ret)
{
    return read_peak(cg, cg->path[CTRL_MEMORY], "memory.max_usage_in_bytes", ret);
}

static int v1_oom(struct td_cgroup *cg, uint64_t *ret)
{
    return read_keyed(cg->path[CTRL_MEMORY], "memory.oom_control", "oom_kill", ret);
}

/* v2: one hierarchy; the daemon's directory delegates memory, pids and cpu. */
static int v2_limits(struct td_cgroup *cg, const struct td_cgroup_limits *l)
{
    const char *dir = cg->path[0];
    int r = write_u64(dir, "memory.max", l->memory_bytes);
    if (r == 0) {
        int s = write_file(dir, "memory.swap.max", "0");
        if (s < 0 && s != -ENOENT)
            r = s;
    }
    if (r == 0)
        r = write_u64(dir, "pids.max", l->pids_max);
    if (r == 0) { /* cpu.weight 1..10000, 100 by default: 100 per 1769 MB (one Lambda vCPU) */
        uint64_t w = (uint64_t)l->memory_mb * 100 / 1769;
        int c = write_u64(dir, "cpu.weight", w < 1 ? 1 : w > 10000 ? 10000 : w);
        if (c < 0 && c != -ENOENT)
            r = c;
    }
    return r;
}

static int v2_peak(struct td_cgroup *cg, uint64_t *ret)
{
    return read_peak(cg, cg->path[0], "memory.peak", ret);
}

static int v2_oom(struct td_cgroup *cg, uint64_t *ret)
{
    return read_keyed(cg->path[0], "memory.events", "oom_kill", ret);
}

static const struct cgroup_ops ops_v1 = {"v1", v1_limits, v1_peak, v1_oom};
static const struct cgroup_ops ops_v2 = {"v2", v2_limits, v2_peak, v2_oom};

/* ---- where things are ---- */

int td_cgroup_path_in(const char *proc_cgroup, const char *controller, char *out, size_t size)
{
    for (const char *line = proc_cgroup; line && *line;) {
        const char *eol = strchrnul(line, '\n');
        const char *c1 = memchr(line, ':', (size_t)(eol - line));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
        if (c2) {
            size_t id_len = (size_t)(c1 - line), ctrls_len = (size_t)(c2 - c1 - 1);
            bool match;
            if (!controller) { /* the unified hierarchy: "0::/path" */
                match = id_len == 1 && line[0] == '0' && ctrls_len == 0;
            } else { /* a v1 hierarchy listing controller: "4:cpu,cpuacct:/path" */
                char list[256], want[64];
                snprintf(list, sizeof(list), ",%.*s,", (int)ctrls_len, c1 + 1);
                snprintf(want, sizeof(want), ",%s,", controller);
                match = strstr(list, want) != NULL;
            }
            size_t path_len = (size_t)(eol - c2 - 1);
            if (match) {
                if (path_len == 0 || path_len >= size)
                    return -EINVAL;
                memcpy(out, c2 + 1, path_len);
                out[path_len] = '\0';
                return 0;
            }
        }
        line = *eol ? eol + 1 : NULL;
    }
    return -ENOENT;
}

/* The daemon's cgroup in a hierarchy. */
static int own_cgroup(const char *controller, char *out, size_t size)
{
    char text[8192];
    int r = read_file("/proc/self", "cgroup", text, sizeof(text));
    return r < 0 ? r : td_cgroup_path_in(text, controller, out, size);
}

/* The mount point of a hierarchy: cgroup2, or the v1 one carrying controller. */
static int mount_point(const char *controller, char *out, size_t size)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        char mnt[PATH_MAX], type[64], opts[1024];
        const char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(sep + 3, "%63s %*s %1023s", type, opts) != 2)
            continue;
        if (!controller && strcmp(type, "cgroup2") == 0) {
            snprintf(out, size, "%s", mnt);
            return 0;
        }
        if (controller && strcmp(type, "cgroup") == 0) {
            char list[1100], want[64];
            snprintf(list, sizeof(list), ",%s,", opts);
            snprintf(want, sizeof(want), ",%s,", controller);
            if (strstr(list, want)) {
                snprintf(out, size, "%s", mnt);
                return 0;
            }
        }
    }
    return -ENOENT;
}

/* The processes left in a stale environment cgroup (a daemon killed before its environments
 * noticed) are killed, and the cgroup removed once they are gone. */
static void kill_and_remove(int parent_fd, const char *name)
{
    _cleanup_close_ int dfd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return;
    _cleanup_close_ int killfd = openat(dfd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
    if (killfd < 0 || write(killfd, "1", 1) != 1) {
        _cleanup_close_ int procs = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
        _cleanup_fclose_ FILE *f = procs >= 0 ? fdopen(TAKE_FD(procs), "re") : NULL;
        int pid;
        while (f && fscanf(f, "%d", &pid) == 1)
            if (pid > 1)
                (void)kill(pid, SIGKILL);
    }
    /* Killed processes leave the cgroup asynchronously. */
    for (int tries = 0; tries < 100; tries++) {
        if (unlinkat(parent_fd, name, AT_REMOVEDIR) == 0 || errno != EBUSY)
            return;
        struct timespec ts = {.tv_nsec = 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* A daemon killed without a chance to clean up leaves its "tenantd.<pid>" directory behind,
 * with environments in it if they outlived it; the next daemon removes those of dead pids. */
static void remove_stale_dirs(const char *parent)
{
    _cleanup_closedir_ DIR *d = opendir(parent);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char *end;
        if (de->d_type != DT_DIR || strncmp(de->d_name, "tenantd.", 8) != 0)
            continue;
        long pid = strtol(de->d_name + 8, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) == 0 ||
            errno != ESRCH)
            continue;
        _cleanup_close_ int stale =
            openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_closedir_ DIR *sub = stale >= 0 ? fdopendir(TAKE_FD(stale)) : NULL;
        struct dirent *e;
        while (sub && (e = readdir(sub)))
            if (e->d_type == DT_DIR && e->d_name[0] != '.')
                kill_and_remove(dirfd(sub), e->d_name);
        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0)
            td_log_warn("cgroup: cannot remove stale %s/%s: %s", parent, de->d_name,
                        strerror(errno));
    }
}

static int make_daemon_dir(const char *mnt, const char *own, char *out, size_t size)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s%s", mnt, strcmp(own, "/") == 0 ? "" : own);
    remove_stale_dirs(parent);
    int n = snprintf(out, size, "%s%s/tenantd.%d", mnt, strcmp(own, "/") == 0 ? "" : own,
                     (int)getpid());
    if (n < 0 || (size_t)n >= size)
        return -ENAMETOOLONG;
    if (mkdir(out, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static bool has_memory_and_pids(const char *dir)
{
    char have[256];
    return read_file(dir, "cgroup.controllers", have, sizeof(have)) == 0 &&
           strstr(have, "memory") && strstr(have, "pids");
}

/* Whether this process is the only one in the cgroup directory dir. */
static bool alone_in(const char *dir)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    int pid, n = 0;
    bool alone = f != NULL;
    while (alone && fscanf(f, "%d", &pid) == 1)
        alone = pid == (int)getpid() && ++n == 1;
    return alone && n == 1;
}

/* Enable memory and pids (and cpu when offered) below dir. A cgroup with processes may not
 * enable them ("no internal processes", the root excepted): when dir is the daemon's own
 * (a delegated service cgroup), the daemon moves to a leaf "tenantd.<pid>.daemon"; when it
 * holds other processes too, -EBUSY. */
static int delegate_below(const char *dir)
{
    if (!has_memory_and_pids(dir))
        return -ENOTSUP;
    int r = write_file(dir, "cgroup.subtree_control", "+memory +pids");
    if (r == -EBUSY) {
        if (!alone_in(dir))
            return -EBUSY;
        char leaf[PATH_MAX + 32], self[24];
        snprintf(leaf, sizeof(leaf), "%s/tenantd.%d.daemon", dir, (int)getpid());
        snprintf(self, sizeof(self), "%d", (int)getpid());
        if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
            return -errno;
        if ((r = write_file(leaf, "cgroup.procs", self)) < 0)
            return r;
        r = write_file(dir, "cgroup.subtree_control", "+memory +pids");
    }
    if (r < 0)
        return r;
    (void)write_file(dir, "cgroup.subtree_control", "+cpu");
    return 0;
}

/* The cgroup (a path in the hierarchy) that will hold the environments' tree: the daemon's own
 * when it can delegate; else (shared with the shell that started it, say, or offered no
 * controllers) the nearest ancestor that can, so that the environments stay inside whatever
 * limits the operator set above the daemon; the hierarchy's root last. */
static int choose_v2_parent(const char *mnt, const char *own, char *where, size_t size)
{
    char dir[PATH_MAX * 2];
    if ((size_t)snprintf(where, size, "%s", own) >= size)
        return -ENAMETOOLONG;
    snprintf(dir, sizeof(dir), "%s%s", mnt, strcmp(own, "/") == 0 ? "" : own);
    int first = delegate_below(dir);
    if (first == 0)
        return 0;
    while (strcmp(where, "/") != 0) {
        char *slash = strrchr(where, '/');
        slash[slash == where ? 1 : 0] = '\0';
        snprintf(dir, sizeof(dir), "%s%s", mnt, strcmp(where, "/") == 0 ? "" : where);
        if (delegate_below(dir) == 0) {
            td_log_warn("cgroup: %s%s cannot hold the environments' cgroups (%s); they go under "
                        "%s instead",
                        mnt, own, strerror(-first), dir);
            return 0;
        }
    }
    return first == -EBUSY || first == -ENOENT ? -ENOTSUP : first;
}

static int open_v2(struct td_cgroups *m)
{
    char mnt[PATH_MAX], own[PATH_MAX], where[PATH_MAX];
    int r = mount_point(NULL, mnt, sizeof(mnt));
    if (r == 0)
        r = own_cgroup(NULL, own, sizeof(own));
    if (r == 0)
        r = choose_v2_parent(mnt, own, where, sizeof(where));
    if (r < 0)
        return r;
    if ((r = make_daemon_dir(mnt, where, m->base[0], sizeof(m->base[0]))) < 0)
        return r;
    if ((r = write_file(m->base[0], "cgroup.subtree_control", "+memory +pids")) < 0) {
        rmdir(m->base[0]);
        return -ENOTSUP;
    }
    (void)write_file(m->base[0], "cgroup.subtree_control", "+cpu");
    m->n_bases = 1;
    m->ops = &ops_v2;
    return 0;
}

static int open_v1(struct td_cgroups *m)
{
    for (int i = 0; i < CTRL_COUNT; i++) {
        char mnt[PATH_MAX], own[PATH_MAX];
        int r = mount_point(ctrl_names[i], mnt, sizeof(mnt));
        if (r == 0)
            r = own_cgroup(ctrl_names[i], own, sizeof(own));
        if (r == 0)
            r = make_daemon_dir(mnt, own, m->base[i], sizeof(m->base[i]));
        if (r < 0) {
            for (int j = 0; j < i; j++)
                rmdir(m->base[j]);
            return r == -ENOENT ? -ENOTSUP : r;
        }
    }
    m->n_bases = CTRL_COUNT;
    m->ops = &ops_v1;
    return 0;
}

int td_cgroups_open(struct td_cgroups **ret)
{
    struct td_cgroups *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    int r = open_v2(m);
    if (r < 0)
        r = open_v1(m);
    if (r < 0) {
        free(m);
        return r;
    }
    *ret = m;
    return 0;
}

void td_cgroups_close(struct td_cgroups *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_bases; i++)
        (void)rmdir(m->base[i]);
    free(m);
}

const char *td_cgroups_version(const struct td_cgroups *m)
{
    return m->ops->name;
}

/* ---- one environment's cgroup ---- */

int td_cgroup_create(struct td_cgroups *m, const char *name, const struct td_cgroup_limits *l,
                     struct td_cgroup **ret)
{
    struct td_cgroup *cg = calloc(1, sizeof(*cg));
    int r = cg ? 0 : -ENOMEM;
    if (cg) {
        cg->m = m;
        cg->peak_fd = -1;
    }
    for (int i = 0; r == 0 && i < m->n_bases; i++) {
        int n = snprintf(cg->path[i], sizeof(cg->path[i]), "%s/%s", m->base[i], name);
        if (n < 0 || (size_t)n >= sizeof(cg->path[i]))
            r = -ENAMETOOLONG;
        else if (mkdir(cg->path[i], 0755) < 0)
            r = -errno;
        if (r < 0)
            cg->path[i][0] = '\0';
    }
    if (r == 0)
        r = m->ops->apply_limits(cg, l);
    if (r < 0) {
        td_cgroup_destroy(cg);
        return r;
    }
    *ret = cg;
    return 0;
}

_Static_assert(CTRL_COUNT <= TD_CGROUP_MAX_HIERARCHIES, "room for every v1 hierarchy");

int td_cgroup_open_procs(struct td_cgroup *cg, int fds[TD_CGROUP_MAX_HIERARCHIES], size_t *ret_n)
{
    *ret_n = 0;
    for (int i = 0; i < cg->m->n_bases; i++) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof(path), "%s/cgroup.procs", cg->path[i]);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            int r = -errno;
            while (*ret_n > 0)
                close(fds[--*ret_n]);
            return r;
        }
        fds[(*ret_n)++] = fd;
    }
    return 0;
}

int td_cgroup_peak_memory(struct td_cgroup *cg, uint64_t *ret)
{
    return cg->m->ops->peak_memory(cg, ret);
}

int td_cgroup_oom_kills(struct td_cgroup *cg, uint64_t *ret)
{
    return cg->m->ops->oom_kills(cg, ret);
}

void td_cgroup_destroy(struct td_cgroup *cg)
{
    if (!cg)
        return;
    if (cg->peak_fd >= 0)
        close(cg->peak_fd);
    for (int i = 0; i < cg->m->n_bases; i++)
        if (cg->path[i][0])
            (void)rmdir(cg->path[i]);
    free(cg);
}
