/* The audit log: one JSON object per line in <state dir>/audit.log, appended for every request
 * refused by authorization (who: principal, tenant, environment; what: action, resource; why:
 * the reason as IAM words it). Read back by `tenantd audit` and GET /tenantd/audit. */
#ifndef TENANTD_AUDIT_H
#define TENANTD_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define TD_AUDIT_MAX_LIMIT 10000

struct td_audit_filter {
    const char *tenant;    /* NULL: any */
    const char *principal; /* NULL: any */
    const char *action;    /* NULL: any */
    int64_t since_ms;      /* 0: from the start */
    size_t limit;          /* the newest this many; 0 = 100 */
};

/* The matching events, oldest first, as a new JSON array in *ret. A missing log is empty. */
int td_audit_query(const char *state_dir, const struct td_audit_filter *f, json_t **ret);

#endif
