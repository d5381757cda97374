/* The query-protocol services of the main listener (and, for STS, of every environment's):
 * POST / with a form body, told apart by the service of the request's signature scope. */
#include <string.h>

#include "daemon_internal.h"
#include "tenantd/awsquery.h"
#include "tenantd/cleanup.h"
#include "tenantd/iam.h"
#include "tenantd/sts.h"

struct authz_ctx {
    struct td_daemon *d;
    const struct td_principal *p;
    const char *request_id;
};

/* IAM and STS answer a refusal with 403 AccessDenied. */
static int authorize_cb(void *userdata, const char *action, const char *resource,
                        struct td_err *err)
{
    struct authz_ctx *a = userdata;
    return daemon_authorize(a->d, a->p, action, resource, a->request_id, 403, "AccessDenied", err);
}

static const char *namespace_of(const char *service)
{
    return strcmp(service, "iam") == 0 ? TD_IAM_NS : TD_STS_NS;
}

void daemon_query_error(struct td_http_request *req, const char *service, const struct td_err *err,
                        const char *request_id)
{
    _cleanup_buf_ struct td_buf out = TD_BUF_INIT(64 * 1024);
    struct td_http_out_header h[] = {{"Content-Type", "text/xml"},
                                     {"x-amzn-RequestId", request_id ? request_id : ""}};
    if (td_query_error_xml(err, namespace_of(service), request_id, &out) < 0) {
        td_http_drop(req);
        return;
    }
    td_http_reply(req, (unsigned)err->status, h, request_id ? 2 : 1, out.data, out.len, NULL, NULL);
}

void daemon_query_api(struct td_daemon *d, struct td_http_request *req,
                      const struct td_principal *p, const char *service, const char *request_id)
{
    uint64_t size = 0;
    if (td_http_body_overflowed(req, &size)) {
        struct td_err err;
        td_err_set(&err, 413, "RequestEntityTooLarge", "The request body is too large");
        daemon_query_error(req, service, &err, request_id);
        return;
    }
    size_t len = 0;
    const char *body = td_http_body(req, &len);
    struct authz_ctx a = {.d = d, .p = p, .request_id = request_id};
    _cleanup_buf_ struct td_buf out = TD_BUF_INIT(4 * 1024 * 1024);
    unsigned status = 500;
    if (strcmp(service, "iam") == 0) {
        td_iam_handle(d->svc.iam, body ? body : "", len, request_id, authorize_cb, &a, &status,
                      &out);
    } else {
        struct td_sts_caller caller = {
            .root = p->root, .session = p->session, .arn = p->arn, .account = d->cfg->account_id};
        td_sts_handle(d->svc.iam, &d->session_keys, &caller, body ? body : "", len, request_id,
                      authorize_cb, &a, &status, &out);
    }
    struct td_http_out_header h[] = {{"Content-Type", "text/xml"},
                                     {"x-amzn-RequestId", request_id}};
    td_http_reply(req, status, h, 2, out.data, out.len, NULL, NULL);
}
