/* Request routing for the Lambda API (main listener) and the Runtime API (each environment's
 * own listener). Pure functions over the method and the raw path. */
#ifndef TENANTD_ROUTE_H
#define TENANTD_ROUTE_H

#include <stddef.h>

enum td_route_id {
    TD_ROUTE_NOT_FOUND = 0,
    TD_ROUTE_METHOD_NOT_ALLOWED,
    /* Lambda API */
    TD_ROUTE_LIST_FUNCTIONS,
    TD_ROUTE_CREATE_FUNCTION,
    TD_ROUTE_GET_FUNCTION,
    TD_ROUTE_DELETE_FUNCTION,
    TD_ROUTE_GET_FUNCTION_CONFIGURATION,
    TD_ROUTE_UPDATE_FUNCTION_CONFIGURATION,
    TD_ROUTE_UPDATE_FUNCTION_CODE,
    TD_ROUTE_INVOKE,
    TD_ROUTE_CODE_DOWNLOAD,
    TD_ROUTE_STATS,
    TD_ROUTE_AUDIT,
    /* Runtime API 2018-06-01 */
    TD_ROUTE_RUNTIME_NEXT,
    TD_ROUTE_RUNTIME_RESPONSE,
    TD_ROUTE_RUNTIME_ERROR,
    TD_ROUTE_RUNTIME_INIT_ERROR,
};

#define TD_ROUTE_PARAM_MAX 256

struct td_route_match {
    enum td_route_id id;
    char param[TD_ROUTE_PARAM_MAX + 1]; /* the decoded {name} / {requestId} path parameter */
    const char *operation;              /* operation name, for logs and metrics */
};

/* Both return 0 with m->id set (NOT_FOUND / METHOD_NOT_ALLOWED included), or -EINVAL when
 * a path parameter is malformed (bad percent-encoding, too long). */
int td_route_lambda(const char *method, const char *raw_path, struct td_route_match *m);
int td_route_runtime(const char *method, const char *raw_path, struct td_route_match *m);

#endif
