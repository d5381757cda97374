#include "tenantd/log.h"

#include <stdarg.h>
#include <stdio.h>

#include "tenantd/util.h"

enum td_log_level td_log_max_level = TD_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void td_log_write(enum td_log_level level, const char *fmt, ...)
{
    char ts[25];
    char msg[2048];
    va_list ap;

    td_format_iso_ms(td_wall_ms(), ts);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s tenantd %s: %s\n", ts, level_names[level], msg);
}
