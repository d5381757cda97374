/* Daemon logging. Library code returns errors and leaves logging to the daemon's own code;
 * the level is checked before the arguments are formatted. */
#ifndef TENANTD_LOG_H
#define TENANTD_LOG_H

enum td_log_level { TD_LOG_ERROR = 0, TD_LOG_WARN, TD_LOG_INFO, TD_LOG_DEBUG };

extern enum td_log_level td_log_max_level;

void td_log_write(enum td_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct iovec;
/* Raw bytes for stderr (whole lines), in order with the messages above. They are buffered:
 * td_log_flush writes them out (the daemon calls it before its loop waits; errors, warnings
 * and exit flush by themselves). */
void td_log_out(const struct iovec *iov, int n);
void td_log_flush(void);

#define td_log(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) <= td_log_max_level)                                                           \
            td_log_write((level), __VA_ARGS__);                                                    \
    } while (0)

#define td_log_error(...) td_log(TD_LOG_ERROR, __VA_ARGS__)
#define td_log_warn(...)  td_log(TD_LOG_WARN, __VA_ARGS__)
#define td_log_info(...)  td_log(TD_LOG_INFO, __VA_ARGS__)
#define td_log_debug(...) td_log(TD_LOG_DEBUG, __VA_ARGS__)

#endif
