/* The seccomp filter every environment's runtime runs under (see src/sandbox/seccomp.c). */
#ifndef TENANTD_SECCOMP_H
#define TENANTD_SECCOMP_H

struct sock_filter;

struct td_seccomp_filter {
    struct sock_filter *insns; /* raw BPF */
    unsigned short len;        /* instructions */
};

/* Compile the filter (once, at start-up). */
int td_seccomp_build(struct td_seccomp_filter *out);
void td_seccomp_release(struct td_seccomp_filter *f);
/* In the child, just before exec: no_new_privs, then the filter. Async-signal-safe. */
int td_seccomp_load(const struct td_seccomp_filter *f);

#endif
