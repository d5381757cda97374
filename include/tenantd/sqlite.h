/* What the two SQLite users (the daemon's store and the table service's store) share: one
 * mapping of SQLite result codes to negative errno values, and statement cleanup attributes. */
#ifndef TENANTD_SQLITE_H
#define TENANTD_SQLITE_H

#include <errno.h>

#include <sqlite3.h>

/* 0 for SQLITE_OK, DONE and ROW; a negative errno otherwise (extended result codes carry the
 * primary code in the low byte). */
static inline int td_sqlite_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return -EACCES;
    default:
        return -EIO;
    }
}

static inline void td_sqlite_finalizep(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}
/* A statement prepared for one use: finalized when it goes out of scope. */
#define _cleanup_stmt_ __attribute__((cleanup(td_sqlite_finalizep)))

static inline void td_sqlite_resetp(sqlite3_stmt **st)
{
    sqlite3_reset(*st);
    sqlite3_clear_bindings(*st);
}
/* A statement kept prepared: reset, bindings dropped, when it goes out of scope. */
#define _cleanup_reset_ __attribute__((cleanup(td_sqlite_resetp)))

#endif
