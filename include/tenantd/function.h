/* Function configurations: validation of the Lambda control-plane requests that create and
 * change them (shapes of models/lambda-service-2.json), and their FunctionConfiguration JSON.
 * Pure code: no I/O. */
#ifndef TENANTD_FUNCTION_H
#define TENANTD_FUNCTION_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "tenantd/buf.h"
#include "tenantd/error.h"
#include "tenantd/util.h"

#define TD_FUNCTION_NAME_MAX  64
#define TD_HANDLER_MAX        128
#define TD_ROLE_MAX           2048
#define TD_DESCRIPTION_MAX    256
#define TD_LOG_GROUP_MAX      512
#define TD_ENV_VARS_MAX_BYTES 4096
/* CreateFunction / UpdateFunctionCode request bodies (base64 of a 50 MB zip, as Lambda). */
#define TD_CREATE_FUNCTION_BODY_MAX 69905067
#define TD_ZIP_MAX_BYTES            (50 * 1024 * 1024)

enum td_runtime {
    TD_RUNTIME_PROVIDED_AL2023,
    TD_RUNTIME_PROVIDED_AL2,
    TD_RUNTIME_NODEJS20,
    TD_RUNTIME_INVALID = -1,
};

struct td_function_config {
    char name[TD_FUNCTION_NAME_MAX + 1];
    enum td_runtime runtime;
    char handler[TD_HANDLER_MAX + 1];
    char role[TD_ROLE_MAX + 1];
    char description[TD_DESCRIPTION_MAX + 1];
    int timeout;           /* seconds, 1..900 */
    int memory_size;       /* MB, 128..10240 */
    int ephemeral_storage; /* MB, 512..10240 */
    json_t *env_vars;      /* object of string values; owned; never NULL once initialised */
    char log_format[8];    /* "Text" or "JSON" */
    char app_log_level[8]; /* empty when not set */
    char system_log_level[8];
    char log_group[TD_LOG_GROUP_MAX + 1];
    bool per_tenant;

    char code_sha256_hex[TD_SHA256_HEX_LEN + 1];
    char code_sha256_b64[45];
    int64_t code_size;

    int64_t last_modified_ms;
    char revision_id[TD_UUID_LEN + 1];
};

/* Where the service runs: used to build ARNs. */
struct td_service_identity {
    const char *region;
    const char *account_id;
};

void td_function_config_init(struct td_function_config *cfg);
void td_function_config_release(struct td_function_config *cfg);
int td_function_config_copy(struct td_function_config *dst, const struct td_function_config *src);

const char *td_runtime_name(enum td_runtime rt);
enum td_runtime td_runtime_from_name(const char *name);
bool td_runtime_is_provided(enum td_runtime rt);

/* Validate a CreateFunction request. The decoded zip is appended to zip_out; the caller
 * fills in the code fields and timestamps after storing the package. */
int td_function_parse_create(const json_t *req, const struct td_service_identity *id,
                             struct td_function_config *cfg, struct td_buf *zip_out,
                             struct td_err *err);
/* Apply an UpdateFunctionConfiguration request to cfg (which is changed only on success). */
int td_function_apply_update(const json_t *req, struct td_function_config *cfg, struct td_err *err);
/* Validate an UpdateFunctionCode request; appends the decoded zip. */
int td_function_parse_update_code(const json_t *req, struct td_buf *zip_out, bool *ret_publish,
                                  struct td_err *err);

/* Set the package fields from the zip bytes. */
void td_function_set_code(struct td_function_config *cfg, const void *zip, size_t len);
/* New RevisionId and LastModified after any change. */
int td_function_touch(struct td_function_config *cfg);

/* The FunctionConfiguration document the API returns. */
json_t *td_function_to_json(const struct td_function_config *cfg,
                            const struct td_service_identity *id);
/* Storage round trip (the same document plus private fields). */
char *td_function_to_storage(const struct td_function_config *cfg,
                             const struct td_service_identity *id);
/* cfg is initialised here; on failure it holds nothing to release (releasing is harmless). */
int td_function_from_storage(const char *json_text, struct td_function_config *cfg);

/* Function ARN "arn:aws:lambda:<region>:<account>:function:<name>". */
int td_function_arn(const struct td_service_identity *id, const char *name, struct td_buf *out);

/* Resolve the FunctionName path parameter: a name, a full or partial ARN, with an optional
 * ":qualifier" suffix. The qualifier (empty when absent) is returned separately. */
int td_function_name_resolve(const char *text, const struct td_service_identity *id,
                             char name[TD_FUNCTION_NAME_MAX + 1], char qualifier[129],
                             struct td_err *err);

#endif
