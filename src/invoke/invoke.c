/* POST /2015-03-31/functions/{FunctionName}/invocations */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenantd/api.h"
#include "tenantd/cleanup.h"
#include "tenantd/log.h"

#define TENANT_ID_MAX      256
#define CLIENT_CONTEXT_MAX 3583
#define TRACE_ID_MAX       256
#define TENANCY_MISMATCH_MSG                                                                       \
    "Tenant ID configuration not specified or passed to a function when tenant isolation is not "  \
    "enabled."

enum invocation_type { INVOKE_SYNC, INVOKE_EVENT, INVOKE_DRY_RUN, INVOKE_BAD };

static bool tenant_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("._:/=+-@ ", c) != NULL;
}

int td_tenant_id_validate(const char *tenant, struct td_err *err)
{
    size_t len = strlen(tenant);
    bool ok = len >= 1 && len <= TENANT_ID_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = tenant_char_ok((unsigned char)tenant[i]) && tenant[i] != '\0';
    if (ok)
        return 0;
    return td_err_invalid(err,
                          "1 validation error detected: Value at 'tenantId' failed to satisfy "
                          "constraint: Member must have length between 1 and %d and satisfy "
                          "regular expression pattern: [a-zA-Z0-9\\._:\\/=+\\-@ ]+",
                          TENANT_ID_MAX);
}

static enum invocation_type invocation_type(const struct td_http_request *req)
{
    const char *t = td_http_header(req, "X-Amz-Invocation-Type");
    if (!t || strcmp(t, "RequestResponse") == 0)
        return INVOKE_SYNC;
    if (strcmp(t, "Event") == 0)
        return INVOKE_EVENT;
    if (strcmp(t, "DryRun") == 0)
        return INVOKE_DRY_RUN;
    return INVOKE_BAD;
}

static void reply_too_large(struct td_http_request *req, bool event, uint64_t size,
                            const char *request_id)
{
    struct td_err err;
    if (event)
        td_err_set(&err, 413, "RequestEntityTooLargeException",
                   "%" PRIu64 " byte payload is too large for the Event invocation type (limit "
                   "%d bytes)",
                   size, TD_INVOKE_EVENT_PAYLOAD_MAX);
    else
        td_err_set(&err, 413, "RequestEntityTooLargeException",
                   "Request must be smaller than %d bytes for the InvokeFunction operation",
                   TD_INVOKE_SYNC_PAYLOAD_MAX);
    td_http_reply_aws_error(req, &err, request_id);
}

/* An oversized payload is still read (and dropped) so that the client, still sending, gets
 * the 413 answer rather than a broken connection. */
size_t td_invoke_body_max(struct td_http_request *req)
{
    bool event = invocation_type(req) == INVOKE_EVENT;
    return event ? TD_INVOKE_EVENT_PAYLOAD_MAX : TD_INVOKE_SYNC_PAYLOAD_MAX;
}

/* ---- answering the caller ---- */

static void free_body(void *p)
{
    free(p);
}

static void client_gone(struct td_http_request *req, void *owner)
{
    struct td_invocation *inv = owner;
    (void)req;
    inv->userdata = NULL;
    if (inv->state == TD_INV_ASSIGNED || inv->state == TD_INV_NEW) {
        td_sched_cancel(inv);
        td_invocation_free(inv);
    }
}

static void sync_done(struct td_invocation *inv, struct td_invoke_result *res)
{
    struct td_http_request *req = inv->userdata;
    if (!req) {
        free(res->body);
        td_invocation_free(inv);
        return;
    }
    td_http_set_owner(req, NULL, NULL);
    struct td_http_out_header h[7];
    size_t n = 0;
    _cleanup_buf_ struct td_buf tail = TD_BUF_INIT(8192);
    h[n++] = (struct td_http_out_header){"Content-Type", res->content_type ? res->content_type
                                                                           : "application/json"};
    h[n++] = (struct td_http_out_header){"X-Amz-Executed-Version", "$LATEST"};
    h[n++] = (struct td_http_out_header){"x-amzn-RequestId", inv->request_id};
    if (res->function_error)
        h[n++] = (struct td_http_out_header){"X-Amz-Function-Error", "Unhandled"};
    if (inv->environment[0])
        h[n++] = (struct td_http_out_header){"X-Tenantd-Environment", inv->environment};
    if (inv->tail) {
        size_t len = inv->log.len;
        const char *start = inv->log.data ? inv->log.data : "";
        if (len > TD_TAIL_LOG_MAX) {
            start += len - TD_TAIL_LOG_MAX;
            len = TD_TAIL_LOG_MAX;
        }
        if (td_base64_encode(start, len, &tail) == 0)
            h[n++] = (struct td_http_out_header){"X-Amz-Log-Result", tail.data ? tail.data : ""};
    }
    char *body = TAKE_PTR(res->body);
    if (body)
        td_http_reply(req, 200, h, n, body, res->len, free_body, body);
    else
        td_http_reply(req, 200, h, n, "", 0, NULL, NULL);
    td_invocation_free(inv);
}

static void event_done(struct td_invocation *inv, struct td_invoke_result *res)
{
    if (res->function_error)
        td_log_warn("asynchronous invocation %s of '%s' (tenant %s) failed: %.*s", inv->request_id,
                    inv->fn->cfg.name, inv->tenant ? inv->tenant : "-",
                    (int)(res->len > 512 ? 512 : res->len), res->body ? res->body : "");
    free(res->body);
    td_invocation_free(inv);
}

/* ---- request validation ---- */

static int read_client_context(const struct td_http_request *req, struct td_invocation *inv,
                               struct td_err *err)
{
    const char *cc = td_http_header(req, "X-Amz-Client-Context");
    if (!cc)
        return 0;
    size_t len = strlen(cc);
    _cleanup_buf_ struct td_buf json = TD_BUF_INIT(CLIENT_CONTEXT_MAX);
    if (len > CLIENT_CONTEXT_MAX)
        return td_err_invalid(err, "Client context must be at most %d bytes (base64)",
                              CLIENT_CONTEXT_MAX);
    json_error_t jerr;
    json_t *doc = NULL;
    if (td_base64_decode(cc, len, &json) == 0 && json.data)
        doc = json_loadb(json.data, json.len, JSON_REJECT_DUPLICATES, &jerr);
    bool ok = json_is_object(doc);
    json_decref(doc);
    if (!ok)
        return td_err_invalid(err, "Client context must be a valid Base64-encoded JSON object.");
    inv->client_context = td_buf_steal(&json, NULL);
    return inv->client_context ? 0 : -ENOMEM;
}

static int make_trace_id(const struct td_http_request *req, struct td_invocation *inv)
{
    const char *given = td_http_header(req, "X-Amzn-Trace-Id");
    if (given && strlen(given) <= TRACE_ID_MAX) {
        bool printable = true;
        for (const char *p = given; *p; p++)
            printable = printable && *p > 0x20 && *p < 0x7f;
        if (printable) {
            inv->trace_id = strdup(given);
            return inv->trace_id ? 0 : -ENOMEM;
        }
    }
    uint8_t rnd[20];
    char hex[41];
    int r = td_random_id_bytes(rnd, sizeof(rnd));
    if (r < 0)
        return r;
    td_hex(rnd, sizeof(rnd), hex);
    /* Root=1-<8 hex digits of the epoch second>-<24 hex>;Parent=<16 hex>;Sampled=0, put
     * together by hand: it is made for every invocation. */
    static const char digits[] = "0123456789abcdef";
    char id[] = "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0";
    uint32_t epoch = (uint32_t)(td_wall_ms() / 1000);
    for (int i = 0; i < 8; i++)
        id[7 + i] = digits[(epoch >> (28 - 4 * i)) & 0xf];
    memcpy(id + 16, hex, 24);
    memcpy(id + 48, hex + 24, 16);
    inv->trace_id = strdup(id);
    return inv->trace_id ? 0 : -ENOMEM;
}

static int check_log_type(const struct td_http_request *req, bool *ret_tail, struct td_err *err)
{
    const char *lt = td_http_header(req, "X-Amz-Log-Type");
    *ret_tail = false;
    if (!lt || strcmp(lt, "None") == 0)
        return 0;
    if (strcmp(lt, "Tail") == 0) {
        *ret_tail = true;
        return 0;
    }
    return td_err_invalid(err,
                          "1 validation error detected: Value '%.32s' at 'logType' failed to "
                          "satisfy constraint: Member must satisfy enum value set: [None, Tail]",
                          lt);
}

/* Function, qualifier and tenant: the checks every invocation type shares. */
static struct td_function *resolve(struct td_services *svc, struct td_http_request *req,
                                   const char *function, const char **ret_tenant,
                                   struct td_err *err)
{
    char name[TD_FUNCTION_NAME_MAX + 1], qualifier[129];
    if (td_function_name_resolve(function, &svc->id, name, qualifier, err) < 0)
        return NULL;
    const char *q = td_http_query_param(req, "Qualifier");
    char qdecoded[129];
    if (q && td_http_percent_decode(q, strlen(q), qdecoded, sizeof(qdecoded)) < 0) {
        td_err_invalid(err, "Qualifier is not valid");
        return NULL;
    }
    if (q && qualifier[0] && strcmp(qdecoded, qualifier) != 0) {
        td_err_invalid(err, "The derived qualifier from the function name does not match the "
                            "specified qualifier.");
        return NULL;
    }
    const char *qual = qualifier[0] ? qualifier : (q ? qdecoded : "");
    struct td_function *fn = td_registry_get(svc->registry, name);
    if (!fn || (qual[0] && strcmp(qual, "$LATEST") != 0)) {
        td_err_not_found(err, "Function not found: arn:aws:lambda:%s:%s:function:%s%s%s",
                         svc->id.region, svc->id.account_id, name, qual[0] ? ":" : "", qual);
        return NULL;
    }
    const char *tenant = td_http_header(req, "X-Amz-Tenant-Id");
    if (tenant && td_tenant_id_validate(tenant, err) < 0)
        return NULL;
    if ((tenant != NULL) != fn->cfg.per_tenant) {
        td_err_invalid(err, TENANCY_MISMATCH_MSG);
        return NULL;
    }
    *ret_tenant = tenant;
    return fn;
}

static void reply_throttled(struct td_http_request *req, const char *request_id)
{
    static const struct td_http_out_header base[] = {
        {"x-amzn-ErrorType", "TooManyRequestsException"}, {"Retry-After", "1"}};
    struct td_http_out_header h[3] = {base[0], base[1], {"x-amzn-RequestId", request_id}};
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "Reason", "ConcurrentInvocationLimitExceeded",
                            "Type", "User", "message", "Rate Exceeded.", "retryAfterSeconds", "1");
    td_http_reply_json(req, 429, h, 3, doc);
    json_decref(doc);
}

void td_invoke_handle(struct td_services *svc, struct td_http_request *req, const char *function,
                      const char *request_id)
{
    struct td_err err = {0};
    const char *tenant = NULL;
    bool tail;
    uint64_t size;
    enum invocation_type type = invocation_type(req);

    if (type == INVOKE_BAD) {
        td_err_invalid(&err, "1 validation error detected: Value at 'invocationType' failed to "
                             "satisfy constraint: Member must satisfy enum value set: [Event, "
                             "RequestResponse, DryRun]");
        td_http_reply_aws_error(req, &err, request_id);
        return;
    }
    if (td_http_body_overflowed(req, &size)) {
        reply_too_large(req, type == INVOKE_EVENT, size, request_id);
        return;
    }
    struct td_function *fn = resolve(svc, req, function, &tenant, &err);
    if (!fn || check_log_type(req, &tail, &err) < 0) {
        td_http_reply_aws_error(req, &err, request_id);
        return;
    }
    if (type == INVOKE_DRY_RUN) {
        struct td_http_out_header h[] = {{"x-amzn-RequestId", request_id}};
        td_http_reply(req, 204, h, 1, "", 0, NULL, NULL);
        return;
    }

    struct td_invocation *inv = td_invocation_new(fn, request_id);
    int r = inv ? 0 : -ENOMEM;
    if (r == 0) {
        inv->event = type == INVOKE_EVENT;
        inv->tail = tail && !inv->event;
        inv->tenant = tenant ? strdup(tenant) : NULL;
        r = (tenant && !inv->tenant) ? -ENOMEM : read_client_context(req, inv, &err);
    }
    if (r == 0)
        r = make_trace_id(req, inv);
    if (r < 0) {
        if (!err.status)
            td_err_internal(&err, "cannot start the invocation: %s", strerror(-r));
        td_http_reply_aws_error(req, &err, request_id);
        td_invocation_free(inv);
        return;
    }
    inv->payload = td_http_body_steal(req, &inv->payload_len);
    inv->on_done = inv->event ? event_done : sync_done;
    if (!inv->event) {
        inv->userdata = req;
        td_http_set_owner(req, inv, client_gone);
        td_http_suspend(req);
    }
    r = td_sched_submit(svc->sched, inv);
    if (r == 0) {
        if (inv->event) {
            struct td_http_out_header h[] = {{"x-amzn-RequestId", request_id}};
            td_http_reply(req, 202, h, 1, "", 0, NULL, NULL);
        }
        return;
    }
    td_http_set_owner(req, NULL, NULL);
    if (r == -EAGAIN) {
        reply_throttled(req, request_id);
    } else {
        td_err_set(&err, r == -ESHUTDOWN ? 503 : 500, "ServiceException",
                   r == -ESHUTDOWN ? "tenantd is shutting down"
                                   : "the execution environment could not be created");
        td_http_reply_aws_error(req, &err, request_id);
    }
    td_invocation_free(inv);
}
