/* Lambda control plane: CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
 * DeleteFunction, UpdateFunctionCode, UpdateFunctionConfiguration. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tenantd/api.h"
#include "tenantd/cleanup.h"
#include "tenantd/iam.h"
#include "tenantd/log.h"
#include "tenantd/zipcode.h"

#define CONTROL_BODY_MAX       (256 * 1024)
#define LIST_DEFAULT_MAX_ITEMS 50
#define LIST_MAX_ITEMS         10000
#define CODE_URL_TTL_S         600

size_t td_control_body_max(enum td_route_id id)
{
    if (id == TD_ROUTE_CREATE_FUNCTION || id == TD_ROUTE_UPDATE_FUNCTION_CODE)
        return TD_CREATE_FUNCTION_BODY_MAX;
    return CONTROL_BODY_MAX;
}

static void reply_error(struct td_http_request *req, const struct td_err *err,
                        const char *request_id)
{
    td_http_reply_aws_error(req, err, request_id);
}

static void reply_doc(struct td_http_request *req, unsigned status, json_t *doc,
                      const char *request_id)
{
    struct td_http_out_header h[] = {{"x-amzn-RequestId", request_id}};
    if (!doc) {
        struct td_err err;
        td_err_internal(&err, "out of memory");
        reply_error(req, &err, request_id);
        return;
    }
    td_http_reply_json(req, status, h, 1, doc);
    json_decref(doc);
}

static json_t *parse_body(struct td_http_request *req, struct td_err *err)
{
    size_t len;
    const char *body = td_http_body(req, &len);
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        td_err_set(err, 400, "InvalidRequestContentException",
                   "Could not parse request body into json: %s at line %d column %d", jerr.text,
                   jerr.line, jerr.column);
    return doc;
}

static struct td_function *find(struct td_services *svc, struct td_http_request *req,
                                const char *param, struct td_err *err)
{
    char name[TD_FUNCTION_NAME_MAX + 1], qualifier[129];
    if (td_function_name_resolve(param, &svc->id, name, qualifier, err) < 0)
        return NULL;
    const char *q = td_http_query_param(req, "Qualifier");
    const char *qual = qualifier[0] ? qualifier : (q ? q : "");
    struct td_function *fn = td_registry_get(svc->registry, name);
    if (!fn || (qual[0] && strcmp(qual, "$LATEST") != 0)) {
        td_err_not_found(err, "Function not found: arn:aws:lambda:%s:%s:function:%s%s%.128s",
                         svc->id.region, svc->id.account_id, name, qual[0] ? ":" : "", qual);
        return NULL;
    }
    return fn;
}

/* Persist cfg (and a new package) and publish it in the registry. */
static int save_function(struct td_services *svc, const struct td_function_config *cfg,
                         const void *zip, size_t zip_len, bool create, struct td_function **ret,
                         struct td_err *err)
{
    struct td_function *fn = NULL;
    int r = td_registry_make(svc->registry, cfg, zip, zip_len, &fn, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *doc = td_function_to_storage(cfg, &svc->id);
    r = doc ? td_store_begin(svc->store) : -ENOMEM;
    if (r == 0 && zip)
        r = td_store_code_put(svc->store, cfg->code_sha256_hex, zip, zip_len);
    if (r == 0)
        r = create ? td_store_function_insert(svc->store, cfg->name, doc, cfg->code_sha256_hex)
                   : td_store_function_update(svc->store, cfg->name, doc, cfg->code_sha256_hex);
    if (r == 0)
        r = td_store_code_gc(svc->store) < 0 ? -EIO : 0;
    if (r == 0)
        r = td_store_commit(svc->store);
    if (r < 0) {
        td_store_rollback(svc->store);
        td_function_unref(fn);
        if (r == -EEXIST && create)
            return td_err_conflict(err, "Function already exist: %s", cfg->name);
        return td_err_setc(err, r, 500, "ServiceException", "cannot save the function: %s",
                           strerror(-r));
    }
    struct td_function *old = td_registry_get(svc->registry, cfg->name);
    if (old)
        td_sched_retire(svc->sched, old);
    r = td_registry_put(svc->registry, fn);
    if (r < 0) {
        td_function_unref(fn);
        return td_err_setc(err, r, 500, "ServiceException", "out of memory");
    }
    td_registry_gc_code(svc->registry);
    td_sched_prewarm(svc->sched, fn);
    *ret = fn;
    return 0;
}

/* The function's Role must be a role of this node. A PER_TENANT function's role is linted:
 * findings are logged, and refused under --strict-tenancy. */
static int check_role(struct td_services *svc, const struct td_function_config *cfg,
                      struct td_err *err)
{
    if (!svc->iam)
        return 0;
    struct td_role *role = td_iam_role_by_arn(svc->iam, cfg->role);
    if (!role)
        return td_err_invalid(err,
                              "The role defined for the function cannot be assumed by Lambda.");
    int r = 0;
    if (cfg->per_tenant) {
        _cleanup_buf_ struct td_buf findings = TD_BUF_INIT(16384);
        int errors = td_iam_lint_role(role, &findings);
        if (findings.len)
            td_log_warn("function '%s', role %s: tenancy lint:\n%s", cfg->name, role->name,
                        findings.data);
        if (errors > 0 && td_iam_strict(svc->iam))
            r = td_err_invalid(err,
                               "The role %s would let a tenant reach other tenants' data "
                               "(--strict-tenancy): %.800s",
                               role->name, findings.data);
    }
    td_role_unref(role);
    return r;
}

static void create_function(struct td_services *svc, struct td_http_request *req,
                            const char *request_id)
{
    struct td_err err = {0};
    struct td_function_config cfg;
    _cleanup_buf_ struct td_buf zip = TD_BUF_INIT(TD_ZIP_MAX_BYTES);
    json_auto_t *body = parse_body(req, &err);
    struct td_function *fn = NULL;

    td_function_config_init(&cfg);
    int r = body ? td_function_parse_create(body, &svc->id, &cfg, &zip, &err) : -EINVAL;
    if (r == 0)
        r = check_role(svc, &cfg, &err);
    if (r == 0 && td_registry_get(svc->registry, cfg.name))
        r = td_err_conflict(&err, "Function already exist: %s", cfg.name);
    if (r == 0) {
        td_function_set_code(&cfg, zip.data, zip.len);
        r = td_function_touch(&cfg);
    }
    if (r == 0)
        r = save_function(svc, &cfg, zip.data, zip.len, true, &fn, &err);
    td_function_config_release(&cfg);
    if (r < 0) {
        if (!err.status)
            td_err_internal(&err, "cannot create the function: %s", strerror(-r));
        reply_error(req, &err, request_id);
        return;
    }
    td_log_info("function '%s' created (%s, %s, code %s)", fn->cfg.name,
                td_runtime_name(fn->cfg.runtime), fn->cfg.per_tenant ? "PER_TENANT" : "shared",
                fn->cfg.code_sha256_hex);
    reply_doc(req, 201, td_function_to_json(&fn->cfg, &svc->id), request_id);
}

static int check_revision(const json_t *body, const struct td_function *fn, struct td_err *err)
{
    const char *rev = json_string_value(json_object_get(body, "RevisionId"));
    if (rev && strcmp(rev, fn->cfg.revision_id) != 0)
        return td_err_set(err, 412, "PreconditionFailedException",
                          "The Revision Id provided does not match the latest Revision Id. Call "
                          "the GetFunction/GetAlias API to retrieve the latest Revision Id");
    return 0;
}

static void update_configuration(struct td_services *svc, struct td_http_request *req,
                                 const char *param, const char *request_id)
{
    struct td_err err = {0};
    struct td_function_config cfg;
    json_auto_t *body = parse_body(req, &err);
    struct td_function *fn = body ? find(svc, req, param, &err) : NULL;
    if (!fn) {
        reply_error(req, &err, request_id);
        return;
    }
    int r = td_function_config_copy(&cfg, &fn->cfg);
    if (r == 0)
        r = check_revision(body, fn, &err);
    if (r == 0)
        r = td_function_apply_update(body, &cfg, &err);
    if (r == 0 && json_object_get(body, "Role"))
        r = check_role(svc, &cfg, &err);
    if (r == 0)
        r = td_function_touch(&cfg);
    if (r == 0)
        r = save_function(svc, &cfg, NULL, 0, false, &fn, &err);
    td_function_config_release(&cfg);
    if (r < 0) {
        if (!err.status)
            td_err_internal(&err, "cannot update the function: %s", strerror(-r));
        reply_error(req, &err, request_id);
        return;
    }
    reply_doc(req, 200, td_function_to_json(&fn->cfg, &svc->id), request_id);
}

static void update_code(struct td_services *svc, struct td_http_request *req, const char *param,
                        const char *request_id)
{
    struct td_err err = {0};
    struct td_function_config cfg;
    _cleanup_buf_ struct td_buf zip = TD_BUF_INIT(TD_ZIP_MAX_BYTES);
    json_auto_t *body = parse_body(req, &err);
    struct td_function *fn = body ? find(svc, req, param, &err) : NULL;
    bool publish;
    if (!fn) {
        reply_error(req, &err, request_id);
        return;
    }
    int r = td_function_config_copy(&cfg, &fn->cfg);
    if (r == 0)
        r = check_revision(body, fn, &err);
    if (r == 0)
        r = td_function_parse_update_code(body, &zip, &publish, &err);
    if (r == 0) {
        td_function_set_code(&cfg, zip.data, zip.len);
        r = td_function_touch(&cfg);
    }
    if (r == 0)
        r = save_function(svc, &cfg, zip.data, zip.len, false, &fn, &err);
    td_function_config_release(&cfg);
    if (r < 0) {
        if (!err.status)
            td_err_internal(&err, "cannot update the function code: %s", strerror(-r));
        reply_error(req, &err, request_id);
        return;
    }
    reply_doc(req, 200, td_function_to_json(&fn->cfg, &svc->id), request_id);
}

static void delete_function(struct td_services *svc, struct td_http_request *req, const char *param,
                            const char *request_id)
{
    struct td_err err = {0};
    struct td_function *fn = find(svc, req, param, &err);
    if (!fn) {
        reply_error(req, &err, request_id);
        return;
    }
    char name[TD_FUNCTION_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", fn->cfg.name);
    int r = td_store_begin(svc->store);
    if (r == 0)
        r = td_store_function_delete(svc->store, name);
    if (r == 0)
        r = td_store_code_gc(svc->store) < 0 ? -EIO : 0;
    if (r == 0)
        r = td_store_commit(svc->store);
    if (r < 0) {
        td_store_rollback(svc->store);
        td_err_internal(&err, "cannot delete the function: %s", strerror(-r));
        reply_error(req, &err, request_id);
        return;
    }
    td_sched_retire(svc->sched, fn);
    td_registry_remove(svc->registry, name);
    td_registry_gc_code(svc->registry);
    td_log_info("function '%s' deleted", name);
    struct td_http_out_header h[] = {{"x-amzn-RequestId", request_id}};
    td_http_reply(req, 204, h, 1, "", 0, NULL, NULL);
}

static void list_functions(struct td_services *svc, struct td_http_request *req,
                           const char *request_id)
{
    struct td_err err = {0};
    int64_t max_items = LIST_DEFAULT_MAX_ITEMS;
    const char *mi = td_http_query_param(req, "MaxItems");
    const char *marker_raw = td_http_query_param(req, "Marker");
    char marker[TD_ROUTE_PARAM_MAX + 1] = "";

    if (mi && td_parse_int64(mi, 1, LIST_MAX_ITEMS, &max_items) < 0) {
        td_err_invalid(&err,
                       "1 validation error detected: Value '%.16s' at 'maxItems' failed to "
                       "satisfy constraint: Member must have value between 1 and 10000",
                       mi);
        reply_error(req, &err, request_id);
        return;
    }
    if (marker_raw &&
        td_http_percent_decode(marker_raw, strlen(marker_raw), marker, sizeof(marker)) < 0) {
        td_err_invalid(&err, "Invalid Marker");
        reply_error(req, &err, request_id);
        return;
    }
    char **names = NULL;
    size_t count = 0;
    if (td_registry_names(svc->registry, &names, &count) < 0) {
        td_err_internal(&err, "out of memory");
        reply_error(req, &err, request_id);
        return;
    }
    json_t *list = json_array();
    json_t *doc = json_pack("{s:o}", "Functions", list);
    size_t i = 0;
    while (i < count && marker[0] && strcmp(names[i], marker) < 0)
        i++;
    for (int64_t taken = 0; i < count && taken < max_items; i++, taken++) {
        struct td_function *fn = td_registry_get(svc->registry, names[i]);
        if (fn)
            json_array_append_new(list, td_function_to_json(&fn->cfg, &svc->id));
    }
    if (i < count && doc)
        json_object_set_new(doc, "NextMarker", json_string(names[i]));
    for (size_t j = 0; j < count; j++)
        free(names[j]);
    free(names);
    reply_doc(req, 200, doc, request_id);
}

/* ---- code package download URLs (GetFunction Code.Location) ---- */

static int code_token(struct td_services *svc, const char *sha, int64_t expires,
                      char out[TD_SHA256_HEX_LEN + 1])
{
    char msg[128];
    uint8_t mac[32];
    unsigned int mac_len = sizeof(mac);
    snprintf(msg, sizeof(msg), "%s.%" PRId64, sha, expires);
    if (!HMAC(EVP_sha256(), svc->code_url_key, sizeof(svc->code_url_key),
              (const unsigned char *)msg, strlen(msg), mac, &mac_len))
        return -EIO;
    td_hex(mac, sizeof(mac), out);
    return 0;
}

static void get_function(struct td_services *svc, struct td_http_request *req, const char *param,
                         bool config_only, const char *request_id)
{
    struct td_err err = {0};
    struct td_function *fn = find(svc, req, param, &err);
    if (!fn) {
        reply_error(req, &err, request_id);
        return;
    }
    json_t *cfg = td_function_to_json(&fn->cfg, &svc->id);
    if (config_only) {
        reply_doc(req, 200, cfg, request_id);
        return;
    }
    int64_t expires = td_wall_ms() / 1000 + CODE_URL_TTL_S;
    char mac[TD_SHA256_HEX_LEN + 1];
    _cleanup_free_ char *location = NULL;
    if (code_token(svc, fn->cfg.code_sha256_hex, expires, mac) < 0 ||
        asprintf(&location, "%s/tenantd/code/%s.%" PRId64 ".%s", svc->endpoint,
                 fn->cfg.code_sha256_hex, expires, mac) < 0) {
        location = NULL;
        json_decref(cfg);
        td_err_internal(&err, "cannot sign the code location");
        reply_error(req, &err, request_id);
        return;
    }
    reply_doc(req, 200,
              json_pack("{s:o, s:{s:s, s:s}}", "Configuration", cfg, "Code", "RepositoryType", "S3",
                        "Location", location),
              request_id);
}

void td_control_code_download(struct td_services *svc, struct td_http_request *req,
                              const char *token, const char *request_id)
{
    char sha[TD_SHA256_HEX_LEN + 1], mac[TD_SHA256_HEX_LEN + 1], want[TD_SHA256_HEX_LEN + 1];
    long long expires;
    int used = 0;
    struct td_err err = {0};
    td_err_set(&err, 403, "AccessDeniedException", "Request has expired or is not signed");
    if (sscanf(token, "%64[0-9a-f].%lld.%64[0-9a-f]%n", sha, &expires, mac, &used) != 3 ||
        (size_t)used != strlen(token) || strlen(sha) != TD_SHA256_HEX_LEN ||
        strlen(mac) != TD_SHA256_HEX_LEN || expires < td_wall_ms() / 1000 ||
        code_token(svc, sha, expires, want) < 0 || CRYPTO_memcmp(want, mac, sizeof(mac) - 1) != 0) {
        reply_error(req, &err, request_id);
        return;
    }
    struct td_buf zip = TD_BUF_INIT(TD_ZIP_MAX_BYTES);
    if (td_store_code_get(svc->store, sha, &zip) < 0) {
        td_buf_release(&zip);
        td_err_not_found(&err, "Code package not found");
        reply_error(req, &err, request_id);
        return;
    }
    size_t len;
    char *data = td_buf_steal(&zip, &len);
    struct td_http_out_header h[] = {{"Content-Type", "application/zip"},
                                     {"x-amzn-RequestId", request_id}};
    if (data)
        td_http_reply(req, 200, h, 2, data, len, free, data);
    else
        td_http_reply(req, 200, h, 2, "", 0, NULL, NULL);
}

void td_control_handle(struct td_services *svc, struct td_http_request *req,
                       const struct td_route_match *m, const char *request_id)
{
    uint64_t size;
    if (td_http_body_overflowed(req, &size)) {
        struct td_err err;
        td_err_set(&err, 413, "RequestEntityTooLargeException",
                   "Request must be smaller than %zu bytes for the %s operation",
                   td_control_body_max(m->id), m->operation);
        reply_error(req, &err, request_id);
        return;
    }
    switch (m->id) {
    case TD_ROUTE_CREATE_FUNCTION:
        create_function(svc, req, request_id);
        break;
    case TD_ROUTE_LIST_FUNCTIONS:
        list_functions(svc, req, request_id);
        break;
    case TD_ROUTE_GET_FUNCTION:
        get_function(svc, req, m->param, false, request_id);
        break;
    case TD_ROUTE_GET_FUNCTION_CONFIGURATION:
        get_function(svc, req, m->param, true, request_id);
        break;
    case TD_ROUTE_DELETE_FUNCTION:
        delete_function(svc, req, m->param, request_id);
        break;
    case TD_ROUTE_UPDATE_FUNCTION_CONFIGURATION:
        update_configuration(svc, req, m->param, request_id);
        break;
    case TD_ROUTE_UPDATE_FUNCTION_CODE:
        update_code(svc, req, m->param, request_id);
        break;
    default: {
        struct td_err err;
        td_err_set(&err, 404, "UnknownOperationException", "Unknown operation");
        reply_error(req, &err, request_id);
        break;
    }
    }
}
