#include "tenantd/route.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "tenantd/cleanup.h"
#include "tenantd/http.h"
#include "tenantd/util.h"

struct route {
    const char *method;
    const char *path; /* segments separated by '/', "{}" captures one segment */
    enum td_route_id id;
    const char *operation;
};

static const struct route lambda_routes[] = {
    {"GET", "/2015-03-31/functions", TD_ROUTE_LIST_FUNCTIONS, "ListFunctions"},
    {"GET", "/2015-03-31/functions/", TD_ROUTE_LIST_FUNCTIONS, "ListFunctions"},
    {"POST", "/2015-03-31/functions", TD_ROUTE_CREATE_FUNCTION, "CreateFunction"},
    {"POST", "/2015-03-31/functions/", TD_ROUTE_CREATE_FUNCTION, "CreateFunction"},
    {"GET", "/2015-03-31/functions/{}", TD_ROUTE_GET_FUNCTION, "GetFunction"},
    {"DELETE", "/2015-03-31/functions/{}", TD_ROUTE_DELETE_FUNCTION, "DeleteFunction"},
    {"GET", "/2015-03-31/functions/{}/configuration", TD_ROUTE_GET_FUNCTION_CONFIGURATION,
     "GetFunctionConfiguration"},
    {"PUT", "/2015-03-31/functions/{}/configuration", TD_ROUTE_UPDATE_FUNCTION_CONFIGURATION,
     "UpdateFunctionConfiguration"},
    {"PUT", "/2015-03-31/functions/{}/code", TD_ROUTE_UPDATE_FUNCTION_CODE, "UpdateFunctionCode"},
    {"POST", "/2015-03-31/functions/{}/invocations", TD_ROUTE_INVOKE, "Invoke"},
    {"GET", "/tenantd/code/{}", TD_ROUTE_CODE_DOWNLOAD, "GetCodePackage"},
    {"GET", "/tenantd/stats", TD_ROUTE_STATS, "GetStats"},
    {"GET", "/tenantd/audit", TD_ROUTE_AUDIT, "GetAuditEvents"},
};

static const struct route runtime_routes[] = {
    {"GET", "/2018-06-01/runtime/invocation/next", TD_ROUTE_RUNTIME_NEXT, "Next"},
    {"POST", "/2018-06-01/runtime/invocation/{}/response", TD_ROUTE_RUNTIME_RESPONSE, "Response"},
    {"POST", "/2018-06-01/runtime/invocation/{}/error", TD_ROUTE_RUNTIME_ERROR, "Error"},
    {"POST", "/2018-06-01/runtime/init/error", TD_ROUTE_RUNTIME_INIT_ERROR, "InitError"},
};

/* Compare the raw path against a template. On a match the captured raw segment is returned
 * through cap/cap_len. */
static bool path_matches(const char *tmpl, const char *path, const char **cap, size_t *cap_len)
{
    *cap = NULL;
    *cap_len = 0;
    while (*tmpl && *path) {
        if (tmpl[0] == '{' && tmpl[1] == '}') {
            const char *end = strchr(path, '/');
            size_t len = end ? (size_t)(end - path) : strlen(path);
            if (len == 0)
                return false;
            *cap = path;
            *cap_len = len;
            path += len;
            tmpl += 2;
            continue;
        }
        if (*tmpl != *path)
            return false;
        tmpl++;
        path++;
    }
    return *tmpl == '\0' && *path == '\0';
}

static int route(const struct route *table, size_t n, const char *method, const char *raw_path,
                 struct td_route_match *m)
{
    m->id = TD_ROUTE_NOT_FOUND;
    m->param[0] = '\0';
    m->operation = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *cap;
        size_t cap_len;
        /* The method first: it rules out most routes with one comparison (this runs for every
         * request, the paths only for the method's routes). */
        if (strcmp(table[i].method, method) != 0 ||
            !path_matches(table[i].path, raw_path, &cap, &cap_len))
            continue;
        if (cap) {
            if (cap_len > 3 * TD_ROUTE_PARAM_MAX ||
                td_http_percent_decode(cap, cap_len, m->param, sizeof(m->param)) < 0) {
                m->param[0] = '\0';
                return -EINVAL;
            }
        }
        m->id = table[i].id;
        m->operation = table[i].operation;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const char *cap;
        size_t cap_len;
        if (path_matches(table[i].path, raw_path, &cap, &cap_len)) {
            m->id = TD_ROUTE_METHOD_NOT_ALLOWED;
            break;
        }
    }
    return 0;
}

int td_route_lambda(const char *method, const char *raw_path, struct td_route_match *m)
{
    return route(lambda_routes, TD_ARRAY_SIZE(lambda_routes), method, raw_path, m);
}

int td_route_runtime(const char *method, const char *raw_path, struct td_route_match *m)
{
    return route(runtime_routes, TD_ARRAY_SIZE(runtime_routes), method, raw_path, m);
}

int td_http_percent_decode(const char *in, size_t len, char *out, size_t out_size)
{
    size_t o = 0;
    if (out_size == 0)
        return -E2BIG;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            if (len - i < 3)
                return -EINVAL;
            int hi = td_hex_value(in[i + 1]);
            int lo = td_hex_value(in[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0')
            return -EINVAL;
        if (o + 1 >= out_size)
            return -E2BIG;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}
