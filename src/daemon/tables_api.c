/* The table service's endpoint: POST / signed for "dynamodb" with X-Amz-Target, on the main
 * listener and on every environment's own. Requests are authorized with the DynamoDB condition
 * keys the table service reports for each. */
#include <string.h>

#include <zlib.h>

#include "daemon_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/policy.h"
#include "tenantd/tables.h"

static const char content_type[] = "application/x-amz-json-1.0";

static void reply(struct td_http_request *req, unsigned status, const char *body, size_t len,
                  const char *request_id)
{
    char crc[16];
    snprintf(crc, sizeof(crc), "%lu", crc32(0L, (const Bytef *)body, (uInt)len));
    struct td_http_out_header h[] = {{"Content-Type", content_type},
                                     {"x-amzn-RequestId", request_id ? request_id : ""},
                                     {"x-amz-crc32", crc}};
    td_http_reply(req, status, h, 3, body, len, NULL, NULL);
}

void daemon_tables_error(struct td_http_request *req, const struct td_err *err,
                         const char *request_id)
{
    /* Authentication errors are 400 in DynamoDB, in the coral service namespace. */
    char type[128];
    snprintf(type, sizeof(type), "com.amazon.coral.service#%s", err->type);
    json_t *doc = json_pack("{s:s, s:s}", "__type", type, "message", err->message);
    _cleanup_free_ char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        td_http_drop(req);
        return;
    }
    reply(req, err->status >= 500 ? (unsigned)err->status : 400, text, strlen(text), request_id);
}

static int add_all(struct td_policy_ctx *ctx, const char *key, const json_t *values)
{
    if (!values)
        return 0;
    int r = td_policy_ctx_add(ctx, key, NULL); /* present, possibly empty */
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v) if (r == 0) r =
        td_policy_ctx_add(ctx, key, json_string_value(v));
    return r;
}

static int set_if(struct td_policy_ctx *ctx, const char *key, const char *value)
{
    return value ? td_policy_ctx_set(ctx, key, value) : 0;
}

static int extend(struct td_policy_ctx *ctx, const void *arg)
{
    const struct td_tables_authz *a = arg;
    int r = add_all(ctx, "dynamodb:LeadingKeys", a->leading_keys);
    if (r == 0)
        r = add_all(ctx, "dynamodb:Attributes", a->attributes);
    if (r == 0)
        r = set_if(ctx, "dynamodb:Select", a->select);
    if (r == 0)
        r = set_if(ctx, "dynamodb:ReturnValues", a->return_values);
    if (r == 0)
        r = set_if(ctx, "dynamodb:ReturnConsumedCapacity", a->return_consumed_capacity);
    if (r == 0)
        r = set_if(ctx, "dynamodb:EnclosingOperation", a->enclosing_operation);
    return r;
}

/* The benchmark's baseline build (-DTD_BENCH_NO_AUTHZ=ON) runs the same request path without
 * the policy evaluation. */
#ifdef TD_BENCH_NO_AUTHZ
#define BENCH_NO_AUTHZ 1
#else
#define BENCH_NO_AUTHZ 0
#endif

struct authz_ctx {
    struct td_daemon *d;
    const struct td_principal *p;
    const char *request_id;
};

static int authorize_cb(void *userdata, const struct td_tables_authz *a, struct td_err *err)
{
    struct authz_ctx *x = userdata;
    return daemon_authorize_ctx(x->d, x->p, a->action, a->resource, extend, a, x->request_id, 400,
                                "AccessDeniedException", err);
}

void daemon_tables_api(struct td_daemon *d, struct td_http_request *req,
                       const struct td_principal *p, const char *request_id)
{
    uint64_t size = 0;
    if (td_http_body_overflowed(req, &size)) {
        struct td_err err;
        td_err_set(&err, 413, "RequestEntityTooLarge", "Request entity too large");
        daemon_tables_error(req, &err, request_id);
        return;
    }
    size_t len = 0;
    const char *body = td_http_body(req, &len);
    struct authz_ctx x = {.d = d, .p = p, .request_id = request_id};
    _cleanup_buf_ struct td_buf out = TD_BUF_INIT(64 * 1024 * 1024);
    unsigned status = 500;
    td_tables_handle(d->tables, td_http_header(req, "X-Amz-Target"), body ? body : "", len,
                     BENCH_NO_AUTHZ ? NULL : authorize_cb, &x, &status, &out);
    reply(req, status, out.data ? out.data : "{}", out.data ? out.len : 2, request_id);
}
