/* The functions a node serves, in memory. The store is the durable copy; this is what the
 * invoke path reads (no SQLite on the warm path).
 *
 * A struct td_function is immutable once published: an update builds a new object with a new
 * generation and replaces the old one, which is marked retired and lives on (refcounted) for
 * as long as environments or invocations still use it. */
#ifndef TENANTD_REGISTRY_H
#define TENANTD_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "tenantd/error.h"
#include "tenantd/function.h"

struct td_registry;

struct td_function {
    struct td_registry *registry;
    int refs;
    uint64_t generation;
    bool retired;
    struct td_function_config cfg;
    char *arn;
    char *code_dir; /* extracted package, read-only inside environments */
    /* the scheduler's: neutral environments that ended without initialising, in a row, and
     * when (monotonic ms) prewarming may try again (src/sched/sched.c) */
    unsigned prewarm_failures;
    int64_t prewarm_after_ms;
};

int td_registry_new(const char *state_dir, const struct td_service_identity *id,
                    struct td_registry **ret);
void td_registry_free(struct td_registry *r);

/* A new function object for cfg (copied), with its package extracted from zip if the
 * package directory does not exist yet. */
int td_registry_make(struct td_registry *r, const struct td_function_config *cfg, const void *zip,
                     size_t zip_len, struct td_function **ret, struct td_err *err);

struct td_function *td_registry_get(const struct td_registry *r, const char *name);
/* Publish fn under its name (the registry takes the caller's reference); a previous object
 * of that name is retired and its reference dropped. */
int td_registry_put(struct td_registry *r, struct td_function *fn);
/* Remove and retire; returns -ENOENT when absent. */
int td_registry_remove(struct td_registry *r, const char *name);

/* Names in byte order, for ListFunctions. The array and the names are the caller's to free. */
int td_registry_names(const struct td_registry *r, char ***ret_names, size_t *ret_count);

/* Whether a package directory is still referenced by any live function object. */
bool td_registry_code_in_use(const struct td_registry *r, const char *sha256_hex);
/* Remove extracted package directories no live function object uses. */
void td_registry_gc_code(struct td_registry *r);

struct td_function *td_function_ref(struct td_function *fn);
void td_function_unref(struct td_function *fn);

#endif
