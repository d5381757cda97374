/* What each environment's own listener (127.0.0.1:9001 inside its network namespace) serves:
 * the Lambda Runtime API 2018-06-01. The environment is known from the connection alone
 * (the listener it arrived on); nothing the runtime sends can name another environment. */
#include "tenantd/envapi.h"

#include <string.h>

#include "tenantd/route.h"

static void reply_error(struct td_http_request *req, unsigned status, const char *type,
                        const char *message)
{
    json_t *doc = json_pack("{s:s, s:s}", "errorMessage", message, "errorType", type);
    td_http_reply_json(req, status, NULL, 0, doc);
    json_decref(doc);
}

static void reply_accepted(struct td_http_request *req)
{
    static const char ok[] = "{\"status\":\"OK\"}\n";
    static const struct td_http_out_header h[] = {{"Content-Type", "application/json"}};
    td_http_reply(req, 202, h, 1, ok, sizeof(ok) - 1, NULL, NULL);
}

static void reply_post_result(struct td_http_request *req, enum td_env_post_result r)
{
    switch (r) {
    case TD_POST_ACCEPTED:
        reply_accepted(req);
        break;
    case TD_POST_UNKNOWN_ID:
        reply_error(req, 400, "InvalidRequestID", "Invalid request ID");
        break;
    case TD_POST_ALREADY_DONE:
        reply_error(req, 403, "InvalidStateTransition",
                    "State transition from RuntimeResponseSentState to InvocationResponse failed "
                    "for runtime. Error: State transition is not allowed");
        break;
    case TD_POST_NOT_IN_INIT:
        reply_error(req, 403, "InvalidStateTransition",
                    "State transition from Ready to InitError failed for runtime. Error: State "
                    "transition is not allowed");
        break;
    case TD_POST_BUSY:
        reply_error(req, 429, "TooManyRequestsException",
                    "Another request body from this environment is being received");
        break;
    case TD_POST_TOO_LARGE:
        reply_error(req, 413, "RequestEntityTooLarge",
                    "Exceeded maximum allowed payload size (6291556 bytes).");
        break;
    default:
        reply_error(req, 500, "InternalServerError", "Internal Server Error");
        break;
    }
}

/* Everything is judged from the request line and headers: a request that will be refused is
 * answered before its body is read. */
static bool is_signed(const struct td_http_request *req)
{
    const char *auth = td_http_header(req, "Authorization");
    return (auth && strncmp(auth, "AWS4-HMAC-SHA256", 16) == 0) ||
           td_http_query_param(req, "X-Amz-Credential") != NULL;
}

static bool is_credentials(const struct td_http_request *req)
{
    return strcmp(td_http_path(req), TD_ENV_CREDENTIALS_PATH) == 0;
}

static void on_headers(struct td_http_request *req, void *userdata)
{
    struct td_envapi *api = userdata;
    struct td_env *env = td_sched_env(api->sched, td_http_conn_context(req));
    struct td_route_match m;
    if (!env) {
        td_http_drop(req);
        return;
    }
    if (is_signed(req) && api->signed_headers) {
        api->signed_headers(req, env, api->userdata);
        return;
    }
    if (is_credentials(req)) {
        td_http_set_body_max(req, 0);
        return;
    }
    td_http_set_body_max(req, 0);
    if (td_route_runtime(td_http_method(req), td_http_path(req), &m) < 0) {
        reply_error(req, 400, "InvalidRequestID", "Invalid request ID");
        return;
    }
    enum td_env_post_result r;
    switch (m.id) {
    case TD_ROUTE_RUNTIME_NEXT:
        return;
    case TD_ROUTE_RUNTIME_RESPONSE:
    case TD_ROUTE_RUNTIME_ERROR:
        r = td_env_post_begin(env, m.param, req);
        break;
    case TD_ROUTE_RUNTIME_INIT_ERROR:
        r = td_env_post_begin(env, NULL, req);
        break;
    case TD_ROUTE_METHOD_NOT_ALLOWED:
        reply_error(req, 405, "MethodNotAllowed", "Method not allowed");
        return;
    default:
        reply_error(req, 404, "NotFound", "Not found");
        return;
    }
    if (r != TD_POST_ACCEPTED)
        reply_post_result(req, r);
    else
        td_http_set_body_max(req, TD_RUNTIME_PAYLOAD_MAX);
}

/* A streamed response is read whole; a failure announced in its trailers is an error. */
static bool response_is_error(struct td_http_request *req, enum td_route_id id)
{
    if (id == TD_ROUTE_RUNTIME_ERROR)
        return true;
    return td_http_trailer(req, "Lambda-Runtime-Function-Error-Type") != NULL;
}

static void on_request(struct td_http_request *req, void *userdata)
{
    struct td_envapi *api = userdata;
    struct td_env *env = td_sched_env(api->sched, td_http_conn_context(req));
    struct td_route_match m;

    if (!env) {
        td_http_drop(req);
        return;
    }
    if (is_signed(req) && api->signed_request) {
        api->signed_request(req, env, api->userdata);
        return;
    }
    if (is_credentials(req)) {
        if (api->credentials && strcmp(td_http_method(req), "GET") == 0)
            api->credentials(req, env, api->userdata);
        else
            reply_error(req, 405, "MethodNotAllowed", "Method not allowed");
        return;
    }
    if (td_route_runtime(td_http_method(req), td_http_path(req), &m) < 0) {
        reply_error(req, 400, "InvalidRequestID", "Invalid request ID");
        return;
    }
    const char *mode = td_http_header(req, "Lambda-Runtime-Function-Response-Mode");
    switch (m.id) {
    case TD_ROUTE_RUNTIME_NEXT:
        td_env_next(env, req);
        return;
    case TD_ROUTE_RUNTIME_RESPONSE:
        if (mode && strcmp(mode, "streaming") != 0) {
            reply_error(req, 400, "InvalidFunctionResponseMode", "Invalid function response mode");
            return;
        }
        /* fall through */
    case TD_ROUTE_RUNTIME_ERROR:
        reply_post_result(req, td_env_response(env, m.param, req, response_is_error(req, m.id)));
        return;
    case TD_ROUTE_RUNTIME_INIT_ERROR:
        reply_post_result(req, td_env_init_error(env, req));
        return;
    case TD_ROUTE_METHOD_NOT_ALLOWED:
        reply_error(req, 405, "MethodNotAllowed", "Method not allowed");
        return;
    default:
        reply_error(req, 404, "NotFound", "Not found");
        return;
    }
}

static void on_connection_closed(uint64_t context, void *userdata)
{
    struct td_envapi *api = userdata;
    struct td_env *env = td_sched_env(api->sched, context);
    if (env)
        td_env_connection_closed(env);
}

static const struct td_http_handlers runtime_api_handlers = {
    .on_headers = on_headers,
    .on_request = on_request,
    .on_connection_closed = on_connection_closed,
};

const struct td_http_handlers *td_envapi_handlers(void)
{
    return &runtime_api_handlers;
}
