/* Scope-bound ownership helpers, in the manner of systemd and crun.
 *
 *   _cleanup_free_ char *s = strdup("x");   freed when s goes out of scope
 *   _cleanup_close_ int fd = open(...);     closed when fd goes out of scope
 *   return TAKE_PTR(s);                      hands ownership to the caller
 */
#ifndef TENANTD_CLEANUP_H
#define TENANTD_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void td_freep(void *p)
{
    free(*(void **)p);
}

static inline void td_closep(const int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        (void)close(*fd);
        errno = saved;
    }
}

static inline void td_fclosep(FILE **f)
{
    if (*f)
        (void)fclose(*f);
}

static inline void td_closedirp(DIR **d)
{
    if (*d)
        (void)closedir(*d);
}

#define _cleanup_(f)       __attribute__((cleanup(f)))
#define _cleanup_free_     _cleanup_(td_freep)
#define _cleanup_close_    _cleanup_(td_closep)
#define _cleanup_fclose_   _cleanup_(td_fclosep)
#define _cleanup_closedir_ _cleanup_(td_closedirp)

/* Return the pointer and leave NULL behind, so the cleanup attribute does nothing. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _taken = (p);                                                                \
        (p) = NULL;                                                                                \
        _taken;                                                                                    \
    })

#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _taken_fd = (fd);                                                                      \
        (fd) = -1;                                                                                 \
        _taken_fd;                                                                                 \
    })

#define TD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Convert a libc "-1 and errno" result into the project's "-errno" convention. */
#define TD_NERRNO(expr)                                                                            \
    ({                                                                                             \
        int _r = (expr);                                                                           \
        _r < 0 ? -errno : _r;                                                                      \
    })

#endif
