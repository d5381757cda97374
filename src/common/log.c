#include "tenantd/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tenantd/cleanup.h"
#include "tenantd/util.h"

enum td_log_level td_log_max_level = TD_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* Everything the daemon writes to stderr (its own messages and its functions' logs) passes
 * through one buffer, written out by td_log_flush: under load, one write per loop iteration
 * instead of one per line. Errors and warnings, and anything at exit, go out at once. */
static char out_buf[64 * 1024];
static size_t out_len;
static bool flush_at_exit;

static void write_all(const struct iovec *iov, int n)
{
    struct iovec v[8];
    if (n > (int)TD_ARRAY_SIZE(v))
        n = (int)TD_ARRAY_SIZE(v);
    memcpy(v, iov, (size_t)n * sizeof(*v));
    struct iovec *p = v;
    while (n > 0) {
        ssize_t w = writev(STDERR_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere to report it */
        }
        while (n > 0 && (size_t)w >= p->iov_len) {
            w -= (ssize_t)p->iov_len;
            p++;
            n--;
        }
        if (n > 0) {
            p->iov_base = (char *)p->iov_base + w;
            p->iov_len -= (size_t)w;
        }
    }
}

void td_log_flush(void)
{
    if (out_len == 0)
        return;
    struct iovec v = {out_buf, out_len};
    out_len = 0;
    write_all(&v, 1);
}

void td_log_out(const struct iovec *iov, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (!flush_at_exit) {
        flush_at_exit = true;
        atexit(td_log_flush);
    }
    if (out_len + total > sizeof(out_buf))
        td_log_flush();
    if (total > sizeof(out_buf)) {
        write_all(iov, n);
        return;
    }
    for (int i = 0; i < n; i++) {
        memcpy(out_buf + out_len, iov[i].iov_base, iov[i].iov_len);
        out_len += iov[i].iov_len;
    }
}

void td_log_write(enum td_log_level level, const char *fmt, ...)
{
    char line[2048 + 64];
    va_list ap;

    td_format_iso_ms(td_wall_ms(), line);
    int head = snprintf(line + 24, sizeof(line) - 24, " tenantd %s: ", level_names[level]);
    if (head < 0)
        return;
    size_t len = 24 + (size_t)head;
    va_start(ap, fmt);
    int n = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    len += (size_t)n < sizeof(line) - len - 1 ? (size_t)n : sizeof(line) - len - 2;
    line[len++] = '\n';
    struct iovec v = {line, len};
    td_log_out(&v, 1);
    if (level <= TD_LOG_WARN)
        td_log_flush();
}
