/* The environments' seccomp filter: compiled once with libseccomp when the daemon starts,
 * exported as raw BPF, and loaded with seccomp(2) by every runtime just before exec. The child
 * never runs libseccomp's (allocating) code. */
#include "tenantd/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include "tenantd/cleanup.h"

/* Calls that reach outside the environment or into the kernel's most exposed surfaces. They
 * fail with EPERM rather than killing the process: runtimes probe some of them (Node probes
 * io_uring, glibc falls back from clone3) and must keep working. */
static const char *const denied[] = {
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "open_by_handle_at",
    "name_to_handle_at",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "quotactl",
    "lookup_dcookie",
    "vhangup",
    "syslog",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "kcmp",
    "pidfd_getfd",
    "fanotify_init",
};

#define NAMESPACE_FLAGS                                                                            \
    (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |     \
     CLONE_NEWCGROUP)

/* The address families a function may open sockets of. Any other fails as unsupported: vsock
 * reaches the hypervisor whatever the network namespace, packet sockets see raw frames, and
 * the rest (AF_ALG, bluetooth, ...) is kernel surface no runtime needs. Allowed values are
 * exact in all 64 bits, so a family with garbage in the upper half is refused too. */
static bool family_allowed(unsigned long family)
{
    return family == AF_UNIX || family == AF_INET || family == AF_INET6 || family == AF_NETLINK;
}

static int add_socket_family_rules(scmp_filter_ctx ctx)
{
    static const int calls[] = {SCMP_SYS(socket), SCMP_SYS(socketpair)};
    _Static_assert(AF_NETLINK > AF_INET6 && AF_INET6 > AF_INET && AF_INET > AF_UNIX,
                   "AF_NETLINK is the largest allowed family");
    for (size_t c = 0; c < TD_ARRAY_SIZE(calls); c++) {
        int r;
        for (unsigned long family = 0; family < AF_NETLINK; family++) {
            if (family_allowed(family))
                continue;
            struct scmp_arg_cmp eq = SCMP_A0(SCMP_CMP_EQ, family);
            if ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), calls[c], 1, eq)) < 0)
                return r;
        }
        struct scmp_arg_cmp above = SCMP_A0(SCMP_CMP_GT, AF_NETLINK);
        if ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), calls[c], 1, above)) < 0)
            return r;
    }
    return 0;
}

static int add_rules(scmp_filter_ctx ctx)
{
    int r;
    for (size_t i = 0; i < TD_ARRAY_SIZE(denied); i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        if ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0)) < 0 && r != -EEXIST)
            return r;
    }
    /* clone with any namespace flag; clone3 passes its flags in memory a filter cannot read,
     * so it is refused as absent (callers fall back to clone, which is checked). */
    for (unsigned bit = 0; bit < 32; bit++) {
        unsigned long flag = 1UL << bit;
        if (!(flag & NAMESPACE_FLAGS))
            continue;
        struct scmp_arg_cmp one = SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag);
        if ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, one)) < 0)
            return r;
    }
    if ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) < 0)
        return r;
    /* TIOCSTI would let a process type into a terminal it shares: no environment needs it. The
     * kernel reads the request as 32 bits, so only those are compared. */
    struct scmp_arg_cmp sti = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, 0x5412 /* TIOCSTI */);
    if ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, sti)) < 0)
        return r;
    return add_socket_family_rules(ctx);
}

int td_seccomp_build(struct td_seccomp_filter *out)
{
    memset(out, 0, sizeof(*out));
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return -ENOMEM;
    int r = add_rules(ctx);
    /* A call of another architecture's ABI (x32, i386) ends the whole process, not one thread. */
    if (r == 0)
        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    /* A binary tree of syscall numbers: cheaper to load and to run. */
    if (r == 0)
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    _cleanup_close_ int fd = r == 0 ? memfd_create("tenantd-seccomp", MFD_CLOEXEC) : -1;
    if (r == 0 && fd < 0)
        r = -errno;
    if (r == 0)
        r = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    if (r < 0)
        return r;
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0)
        return -EIO;
    out->insns = malloc((size_t)size);
    if (!out->insns)
        return -ENOMEM;
    if (pread(fd, out->insns, (size_t)size, 0) != size) {
        td_seccomp_release(out);
        return -EIO;
    }
    out->len = (unsigned short)((size_t)size / sizeof(struct sock_filter));
    return 0;
}

void td_seccomp_release(struct td_seccomp_filter *f)
{
    free(f->insns);
    f->insns = NULL;
    f->len = 0;
}

int td_seccomp_load(const struct td_seccomp_filter *f)
{
    struct sock_fprog prog = {.len = f->len, .filter = f->insns};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return -errno;
    return 0;
}
