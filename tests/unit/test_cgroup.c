/* Where a process sits in the cgroup hierarchies, from /proc/<pid>/cgroup. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tenantd/cgroup.h"

static void expect_path(const char *text, const char *controller, const char *want)
{
    char out[256] = "";
    assert_int_equal(td_cgroup_path_in(text, controller, out, sizeof(out)), 0);
    assert_string_equal(out, want);
}

static void test_pure_v2(void **state)
{
    (void)state;
    expect_path("0::/\n", NULL, "/");
    expect_path("0::/system.slice/tenantd.service\n", NULL, "/system.slice/tenantd.service");
    expect_path("0::/user.slice/a:b\n", NULL, "/user.slice/a:b"); /* a colon in the path */
    expect_path("0::/no-newline", NULL, "/no-newline");
    char out[64];
    assert_int_equal(td_cgroup_path_in("0::/x\n", "memory", out, sizeof(out)), -ENOENT);
}

static void test_hybrid(void **state)
{
    (void)state;
    const char *text = "12:pids:/svc\n"
                       "11:memory:/svc-mem\n"
                       "4:cpu,cpuacct:/svc-cpu\n"
                       "1:name=systemd:/init.scope\n"
                       "0::/unified\n";
    expect_path(text, NULL, "/unified");
    expect_path(text, "memory", "/svc-mem");
    expect_path(text, "pids", "/svc");
    expect_path(text, "cpu", "/svc-cpu");
    expect_path(text, "cpuacct", "/svc-cpu");
    char out[64];
    assert_int_equal(td_cgroup_path_in(text, "cpuset", out, sizeof(out)), -ENOENT);
    assert_int_equal(td_cgroup_path_in(text, "mem", out, sizeof(out)), -ENOENT);
}

static void test_malformed(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(td_cgroup_path_in("", NULL, out, sizeof(out)), -ENOENT);
    assert_int_equal(td_cgroup_path_in("garbage\n0:\n", NULL, out, sizeof(out)), -ENOENT);
    assert_int_equal(td_cgroup_path_in("1::/v1-named-empty\n", NULL, out, sizeof(out)), -ENOENT);
    assert_int_equal(td_cgroup_path_in("0::\n", NULL, out, sizeof(out)), -EINVAL);
    assert_int_equal(td_cgroup_path_in("0::/much/too/long\n", NULL, out, sizeof(out)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pure_v2),
        cmocka_unit_test(test_hybrid),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
