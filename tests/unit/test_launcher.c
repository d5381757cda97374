/* The launcher's requests: what the daemon encodes is what the launcher decodes, and a request
 * that is cut short, padded or otherwise not one is refused, never read past its end. Then the
 * launcher process itself: the environments it clones are its caller's children. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox_internal.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static struct sock_filter insns[3] = {
    {0x20, 0, 0, 4}, {0x15, 0, 1, 0xc000003e}, {0x06, 0, 0, 0x7fff0000}};
static struct td_seccomp_filter filter = {.insns = insns, .len = 3};
static char a0[] = "/var/task/bootstrap", a1[] = "--flag", a2[] = "";
static char e0[] = "AWS_LAMBDA_FUNCTION_NAME=echo", e1[] = "EMPTY=", e2[] = "_HANDLER=bootstrap";
static char *argv_[] = {a0, a1, a2, NULL};
static char *envp_[] = {e0, e1, e2, NULL};

static struct td_sandbox_spec full_spec(void)
{
    return (struct td_sandbox_spec){
        .root_mountpoint = "/state/run/root",
        .code_dir = "/state/code/abc",
        .runtime_dir = "/usr/lib/node_modules",
        .runtime_target = "var/runtime/node_modules",
        .argv = argv_,
        .envp = envp_,
        .tmp_bytes = 512ull << 20,
        .log_fd = 7,
        .runtime_api_fd = 9,
        .api_port = 9001,
        .hostname = "sandbox",
        .first_pid = 1097,
        .seccomp = &filter,
        .uid = 3000042,
        .gid = 3000043,
    };
}

static size_t encode(const struct td_sandbox_spec *spec, unsigned n_cgroup_procs, uint8_t *buf)
{
    size_t len = 0;
    assert_int_equal(launch_request_encode(spec, n_cgroup_procs, buf, LAUNCH_MSG_MAX, &len), 0);
    assert_true(len > 0 && len <= LAUNCH_MSG_MAX);
    return len;
}

static void assert_strv_equal(char *const *a, char *const *b)
{
    size_t i = 0;
    for (; a[i] && b[i]; i++)
        assert_string_equal(a[i], b[i]);
    assert_null(a[i]);
    assert_null(b[i]);
}

static void test_round_trip(void **state)
{
    (void)state;
    static uint8_t buf[LAUNCH_MSG_MAX];
    struct td_sandbox_spec in = full_spec();
    size_t len = encode(&in, 3, buf);
    struct launch_request out;
    assert_int_equal(launch_request_decode(buf, len, &out), 0);
    assert_string_equal(out.spec.root_mountpoint, in.root_mountpoint);
    assert_string_equal(out.spec.code_dir, in.code_dir);
    assert_string_equal(out.spec.runtime_dir, in.runtime_dir);
    assert_string_equal(out.spec.runtime_target, in.runtime_target);
    assert_string_equal(out.spec.hostname, "sandbox");
    assert_strv_equal(out.spec.argv, argv_);
    assert_strv_equal(out.spec.envp, envp_);
    assert_int_equal(out.spec.tmp_bytes, in.tmp_bytes);
    assert_int_equal(out.spec.api_port, 9001);
    assert_int_equal(out.spec.first_pid, 1097);
    assert_non_null(out.spec.seccomp);
    assert_int_equal(out.spec.seccomp->len, 3);
    assert_memory_equal(out.spec.seccomp->insns, insns, sizeof(insns));
    assert_int_equal(out.spec.uid, in.uid);
    assert_int_equal(out.spec.gid, in.gid);
    assert_int_equal(out.n_cgroup_procs, 3);
    assert_int_equal(out.nfds, 6);
    /* descriptors travel beside the datagram, never in it */
    assert_int_equal(out.spec.log_fd, -1);
    assert_int_equal(out.spec.runtime_api_fd, -1);
    launch_request_release(&out);
}

static void test_optional_parts_absent(void **state)
{
    (void)state;
    static uint8_t buf[LAUNCH_MSG_MAX];
    char *no_env[] = {NULL};
    struct td_sandbox_spec in = full_spec();
    in.runtime_dir = in.runtime_target = in.hostname = NULL;
    in.seccomp = NULL;
    in.runtime_api_fd = -1;
    in.envp = no_env;
    size_t len = encode(&in, 0, buf);
    struct launch_request out;
    assert_int_equal(launch_request_decode(buf, len, &out), 0);
    assert_null(out.spec.runtime_dir);
    assert_null(out.spec.runtime_target);
    assert_null(out.spec.hostname);
    assert_null(out.spec.seccomp);
    assert_null(out.spec.envp[0]);
    assert_int_equal(out.nfds, 2);
    assert_int_equal(out.n_cgroup_procs, 0);
    launch_request_release(&out);
}

/* Every prefix of a valid request, and the request with a byte more, is refused. The decoder
 * reads a heap copy of exactly that many bytes, so ASan sees any read past the end. */
static void test_cut_short_or_padded(void **state)
{
    (void)state;
    static uint8_t buf[LAUNCH_MSG_MAX];
    struct td_sandbox_spec in = full_spec();
    size_t len = encode(&in, 1, buf);
    for (size_t n = 0; n <= len + 1; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, buf, n <= len ? n : len);
        if (n > len)
            copy[len] = 'x';
        struct launch_request out;
        int r = launch_request_decode(copy, n, &out);
        if (n == len) {
            assert_int_equal(r, 0);
            launch_request_release(&out);
        } else {
            assert_int_equal(r, -EPROTO);
        }
        free(copy);
    }
}

static void test_bad_headers(void **state)
{
    (void)state;
    static uint8_t buf[LAUNCH_MSG_MAX];
    struct td_sandbox_spec in = full_spec();
    size_t len = encode(&in, 1, buf);
    struct launch_request out;
    uint32_t v;
    /* version, flags, argc and the cgroup.procs count: at 0, 4, 24 and 40 in the header */
    size_t offsets[] = {0, 4, 24, 40};
    uint32_t values[] = {2, 1u << 9, 0, TD_CGROUP_MAX_HIERARCHIES + 1};
    for (size_t i = 0; i < 4; i++) {
        memcpy(&v, buf + offsets[i], sizeof(v));
        memcpy(buf + offsets[i], &values[i], sizeof(values[i]));
        assert_int_equal(launch_request_decode(buf, len, &out), -EPROTO);
        memcpy(buf + offsets[i], &v, sizeof(v));
    }
    assert_int_equal(launch_request_decode(buf, len, &out), 0);
    launch_request_release(&out);
}

static void test_too_large(void **state)
{
    (void)state;
    static uint8_t buf[LAUNCH_MSG_MAX];
    size_t big = LAUNCH_MSG_MAX;
    char *value = malloc(big + 1);
    assert_non_null(value);
    memset(value, 'v', big);
    value[big] = '\0';
    char *env[] = {value, NULL};
    struct td_sandbox_spec in = full_spec();
    in.envp = env;
    size_t len = 0;
    assert_int_equal(launch_request_encode(&in, 0, buf, LAUNCH_MSG_MAX, &len), -E2BIG);
    char *no_argv[] = {NULL};
    in.envp = envp_;
    in.argv = no_argv;
    assert_int_equal(launch_request_encode(&in, 0, buf, LAUNCH_MSG_MAX, &len), -EINVAL);
    in.argv = argv_;
    assert_int_equal(
        launch_request_encode(&in, TD_CGROUP_MAX_HIERARCHIES + 1, buf, LAUNCH_MSG_MAX, &len),
        -EINVAL);
    free(value);
}

static int recv_report(int fd, struct sync_msg *m, int *ret_fd)
{
    size_t nfds;
    int flags;
    *ret_fd = -1;
    ssize_t n = sandbox_recv(fd, m, sizeof(*m), 0, ret_fd, 1, &nfds, &flags);
    return n == (ssize_t)sizeof(*m) && !flags ? 0 : -1;
}

/* A real launch: the environment's init is this process's child (CLONE_PARENT), not the
 * launcher's; it gets its go from the launcher, fails its set-up (the spec's paths do not
 * exist), says so and exits. Twice, to see that the launcher keeps serving. Needs root (user,
 * mount, network namespaces), as the whole suite does. */
static void test_launch_and_reap(void **state)
{
    (void)state;
    struct td_launcher *l = NULL;
    assert_int_equal(td_launcher_start(&l), 0);
    for (int round = 0; round < 2; round++) {
        int sync[2], logp[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync), 0);
        assert_int_equal(pipe2(logp, O_CLOEXEC), 0);
        struct td_sandbox_spec spec = full_spec();
        spec.launcher = l;
        spec.runtime_api_fd = -1;
        spec.log_fd = logp[1];
        assert_int_equal(td_launcher_request(l, &spec, sync[1], NULL, 0), 0);
        close(sync[1]);
        close(logp[1]);
        struct sync_msg m;
        int pidfd;
        assert_int_equal(recv_report(sync[0], &m, &pidfd), 0);
        m.step[sizeof(m.step) - 1] = '\0';
        assert_int_equal(m.kind, MSG_STARTED); /* a MSG_FAILED "clone3": not root, say */
        assert_true(m.pid > 0);
        assert_true(pidfd >= 0);
        pid_t pid = m.pid;
        /* with its go, it sets up a root at a path that does not exist, and reports why not */
        int none;
        assert_int_equal(recv_report(sync[0], &m, &none), 0);
        assert_int_equal(m.kind, MSG_FAILED);
        assert_int_equal(none, -1);
        close(sync[0]);
        siginfo_t info;
        memset(&info, 0, sizeof(info));
        /* ours to wait for (ECHILD otherwise) */
        assert_int_equal(waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED), 0);
        assert_int_equal(info.si_pid, pid);
        assert_int_equal(info.si_code, CLD_EXITED);
        assert_int_equal(info.si_status, TD_SANDBOX_EXIT_SETUP);
        close(pidfd);
        close(logp[0]);
    }
    td_launcher_stop(l);
}

static void *wait_for_close(void *arg)
{
    char byte;
    ssize_t n = read(*(int *)arg, &byte, 1); /* until the test closes the other end */
    (void)n;
    return NULL;
}

/* Cloned from a process with another thread, the launcher could inherit malloc's lock taken:
 * it refuses to start. */
static void test_refuses_threads(void **state)
{
    (void)state;
    int p[2];
    pthread_t t;
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(pthread_create(&t, NULL, wait_for_close, &p[0]), 0);
    struct td_launcher *l = NULL;
    assert_int_equal(td_launcher_start(&l), -EBUSY);
    assert_null(l);
    close(p[1]);
    assert_int_equal(pthread_join(t, NULL), 0);
    close(p[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),          cmocka_unit_test(test_optional_parts_absent),
        cmocka_unit_test(test_cut_short_or_padded), cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_too_large),           cmocka_unit_test(test_launch_and_reap),
        cmocka_unit_test(test_refuses_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
