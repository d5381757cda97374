/* isolation: shows what an execution environment keeps between invocations.
 *
 * Each answer is {"tenant":..,"firstTenant":..,"memCount":N,"tmpCount":N,"pid":N,
 * "instance":"<32 hex>"}:
 *   memCount     a counter in process memory (a static variable)
 *   tmpCount     a counter kept in the file /tmp/counter (read, increment, write)
 *   pid          getpid(); inside a PID namespace this is small and the same in every
 *                environment, so it does not identify the process
 *   instance     128 random bits drawn at start-up: unique per process on the machine
 *   firstTenant  the tenant of the first invocation this process served (null if none)
 * In an environment that only ever serves one tenant, firstTenant always equals tenant and
 * the counters start at 1 for every new tenant.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>

#include "tdrt.h"

#define COUNTER_FILE "/tmp/counter"

static long long mem_count;
static char instance[33];
static bool seen_first;
static char *first_tenant;

static int make_instance_id(void)
{
    uint8_t raw[16];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        (void)snprintf(instance + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* Read the number in COUNTER_FILE (0 if missing or empty), add one, write it back. */
static int bump_tmp_counter(long long *ret)
{
    int fd = open(COUNTER_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    buf[n] = '\0';
    long long v = strtoll(buf, NULL, 10) + 1;
    int len = snprintf(buf, sizeof(buf), "%lld\n", v);
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
        int e = errno ? -errno : -EIO;
        close(fd);
        return e;
    }
    if (close(fd) < 0)
        return -errno;
    *ret = v;
    return 0;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int handler(const struct tdrt_context *ctx, const char *event, size_t event_len,
                   struct tdrt_response *resp, void *userdata)
{
    (void)event;
    (void)event_len;
    (void)userdata;

    if (!seen_first) {
        seen_first = true;
        if (ctx->tenant_id && !(first_tenant = strdup(ctx->tenant_id)))
            return -ENOMEM;
    }
    mem_count++;
    long long tmp_count = 0;
    int r = bump_tmp_counter(&tmp_count);
    if (r < 0)
        return tdrt_response_error(resp, "TmpCounterError", "%s: %s", COUNTER_FILE, strerror(-r));

    json_t *o = json_pack("{s:o, s:o, s:I, s:I, s:I, s:s}", "tenant", str_or_null(ctx->tenant_id),
                          "firstTenant", str_or_null(first_tenant), "memCount",
                          (json_int_t)mem_count, "tmpCount", (json_int_t)tmp_count, "pid",
                          (json_int_t)getpid(), "instance", instance);
    if (!o)
        return -ENOMEM;
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        return -ENOMEM;
    r = tdrt_response_set(resp, text, strlen(text), "application/json");
    free(text);
    return r;
}

int main(void)
{
    int r = make_instance_id();
    if (r < 0) {
        (void)tdrt_init_error("Runtime.IsolationInitError", "getrandom failed");
        return EXIT_FAILURE;
    }
    r = tdrt_run(handler, NULL);
    free(first_tenant);
    return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
