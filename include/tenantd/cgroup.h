/* Each environment's cgroup: memory limit (MemorySize, no swap), a pids limit, CPU weight in
 * proportion to memory, and the figures the REPORT line needs (peak memory, OOM kills).
 *
 * One small interface, two implementations: cgroup v1 (separate memory, pids and cpu
 * hierarchies, as on hybrid hosts) and cgroup v2 (one unified hierarchy). The environments'
 * cgroups live under the daemon's own cgroup, in a directory of this daemon
 * ("tenantd.<pid>"), so a host or a benchmark that limits or measures the daemon's cgroup also
 * covers its environments. */
#ifndef TENANTD_CGROUP_H
#define TENANTD_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct td_cgroups;
struct td_cgroup;

struct td_cgroup_limits {
    uint64_t memory_bytes; /* hard limit; swap is off */
    uint32_t pids_max;
    uint32_t memory_mb; /* the CPU weight follows it, as Lambda's CPU share does */
};

/* Find the controllers (v2 when it has memory and pids, else v1) and create this daemon's
 * directory. -ENOTSUP when neither is usable: environments then run without cgroup limits. */
int td_cgroups_open(struct td_cgroups **ret);
/* Remove this daemon's (empty) directory. */
void td_cgroups_close(struct td_cgroups *m);
const char *td_cgroups_version(const struct td_cgroups *m);

/* A process's cgroup path in a hierarchy, from the text of /proc/<pid>/cgroup: the unified
 * (v2) one for controller NULL ("0::/path"), else the v1 hierarchy carrying controller
 * ("4:memory:/path"). -ENOENT when there is none; -EINVAL for an empty or too long path. */
int td_cgroup_path_in(const char *proc_cgroup, const char *controller, char *out, size_t size);

int td_cgroup_create(struct td_cgroups *m, const char *name, const struct td_cgroup_limits *l,
                     struct td_cgroup **ret);
/* The cgroup.procs files of the cgroup (one per hierarchy), opened for writing: writing a pid
 * to each moves the process (and so its future children) into the cgroup. The launcher does
 * that, because the move can wait milliseconds for the kernel (an RCU grace period). */
#define TD_CGROUP_MAX_HIERARCHIES 3
int td_cgroup_open_procs(struct td_cgroup *cg, int fds[TD_CGROUP_MAX_HIERARCHIES], size_t *ret_n);
/* Peak memory use since creation, in bytes. */
int td_cgroup_peak_memory(struct td_cgroup *cg, uint64_t *ret);
/* How many processes the OOM killer has killed in it. */
int td_cgroup_oom_kills(struct td_cgroup *cg, uint64_t *ret);
/* Remove it (its processes must be gone) and free it. NULL is fine. */
void td_cgroup_destroy(struct td_cgroup *cg);

#endif
