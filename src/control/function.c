#include "tenantd/function.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenantd/cleanup.h"

static const char *const runtime_names[] = {
    [TD_RUNTIME_PROVIDED_AL2023] = "provided.al2023",
    [TD_RUNTIME_PROVIDED_AL2] = "provided.al2",
    [TD_RUNTIME_NODEJS20] = "nodejs20.x",
};

#define RUNTIME_ENUM_TEXT "[nodejs20.x, provided.al2, provided.al2023]"

/* Variables the platform sets itself; a function may not override them (Lambda's list plus the
 * ones tenantd uses to deliver credentials). */
static const char *const reserved_env_keys[] = {
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "TENANTD_RUNTIME_API_FD",
};

const char *td_runtime_name(enum td_runtime rt)
{
    if (rt < 0 || (size_t)rt >= TD_ARRAY_SIZE(runtime_names))
        return "";
    return runtime_names[rt];
}

enum td_runtime td_runtime_from_name(const char *name)
{
    for (size_t i = 0; i < TD_ARRAY_SIZE(runtime_names); i++)
        if (strcmp(runtime_names[i], name) == 0)
            return (enum td_runtime)i;
    return TD_RUNTIME_INVALID;
}

bool td_runtime_is_provided(enum td_runtime rt)
{
    return rt == TD_RUNTIME_PROVIDED_AL2023 || rt == TD_RUNTIME_PROVIDED_AL2;
}

void td_function_config_init(struct td_function_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->runtime = TD_RUNTIME_INVALID;
    cfg->timeout = 3;
    cfg->memory_size = 128;
    cfg->ephemeral_storage = 512;
    cfg->env_vars = json_object();
    snprintf(cfg->log_format, sizeof(cfg->log_format), "Text");
}

void td_function_config_release(struct td_function_config *cfg)
{
    json_decref(cfg->env_vars);
    cfg->env_vars = NULL;
}

int td_function_config_copy(struct td_function_config *dst, const struct td_function_config *src)
{
    *dst = *src;
    dst->env_vars = json_deep_copy(src->env_vars);
    return dst->env_vars ? 0 : -ENOMEM;
}

/* ---- regular expressions (POSIX ERE, compiled once) ---- */

enum td_regex {
    RE_FUNCTION_REF,
    RE_FUNCTION_NAME,
    RE_ROLE,
    RE_ENV_KEY,
    RE_LOG_GROUP,
    RE_COUNT,
};

/* A function name, a full or partial ARN, with an optional qualifier (the Invoke model). */
static const char function_ref_pattern[] =
    "^(arn:(aws[a-zA-Z-]*)?:lambda:)?(([a-z]{2}(-gov)?-[a-z]+-[0-9]):)?"
    "(([0-9]{12}):)?(function:)?([a-zA-Z0-9_.-]+)(:(\\$LATEST|[a-zA-Z0-9_-]+))?$";

static const char *const regex_text[RE_COUNT] = {
    [RE_FUNCTION_REF] = function_ref_pattern,
    [RE_FUNCTION_NAME] = "^[a-zA-Z0-9_-]{1,64}$",
    [RE_ROLE] = "^arn:(aws[a-zA-Z-]*)?:iam::[0-9]{12}:role/?[a-zA-Z_0-9+=,.@/-]+$",
    /* The model says [a-zA-Z]([a-zA-Z0-9_])+; single-letter names are accepted too. */
    [RE_ENV_KEY] = "^[a-zA-Z][a-zA-Z0-9_]*$",
    [RE_LOG_GROUP] = "^[-._/#A-Za-z0-9]+$",
};

static regex_t compiled[RE_COUNT];
static bool compiled_ok;

static void compile_all(void)
{
    if (compiled_ok)
        return;
    for (int i = 0; i < RE_COUNT; i++)
        if (regcomp(&compiled[i], regex_text[i], REG_EXTENDED) != 0)
            abort(); /* a typo in a constant pattern above */
    compiled_ok = true;
}

static bool pattern_ok(enum td_regex which, const char *s)
{
    compile_all();
    return regexec(&compiled[which], s, 0, NULL, 0) == 0;
}

/* ---- JSON member helpers: type errors are InvalidRequestContentException ---- */

#define BAD_CONTENT "InvalidRequestContentException"

static int get_string(const json_t *obj, const char *key, const char **ret, struct td_err *err)
{
    json_t *v = json_object_get(obj, key);
    *ret = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return td_err_set(err, 400, BAD_CONTENT,
                          "Could not parse request body into json: %s must be a string", key);
    *ret = json_string_value(v);
    return 1;
}

static int get_int(const json_t *obj, const char *key, json_int_t *ret, struct td_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return td_err_set(err, 400, BAD_CONTENT,
                          "Could not parse request body into json: %s must be an integer", key);
    *ret = json_integer_value(v);
    return 1;
}

static int get_object(const json_t *obj, const char *key, json_t **ret, struct td_err *err)
{
    json_t *v = json_object_get(obj, key);
    *ret = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return td_err_set(err, 400, BAD_CONTENT,
                          "Could not parse request body into json: %s must be an object", key);
    *ret = v;
    return 1;
}

static int copy_bounded(char *dst, size_t size, const char *src, const char *what,
                        struct td_err *err)
{
    size_t len = strlen(src);
    if (len >= size)
        return td_err_invalid(err, "%s must be at most %zu characters long", what, size - 1);
    memcpy(dst, src, len + 1);
    return 0;
}

static int validate_range(json_int_t v, json_int_t min, json_int_t max, const char *what,
                          struct td_err *err)
{
    if (v < min || v > max)
        return td_err_invalid(err,
                              "1 validation error detected: Value '%lld' at '%s' failed to satisfy "
                              "constraint: Member must have value %s %lld",
                              (long long)v, what,
                              v < min ? "greater than or equal to" : "less than or equal to",
                              (long long)(v < min ? min : max));
    return 0;
}

/* ---- the members CreateFunction and UpdateFunctionConfiguration share ---- */

static int parse_runtime(const json_t *req, struct td_function_config *cfg, struct td_err *err)
{
    const char *s;
    int r = get_string(req, "Runtime", &s, err);
    if (r <= 0)
        return r;
    enum td_runtime rt = td_runtime_from_name(s);
    if (rt == TD_RUNTIME_INVALID)
        return td_err_invalid(err,
                              "Value %s at 'runtime' failed to satisfy constraint: Member must "
                              "satisfy enum value set: " RUNTIME_ENUM_TEXT,
                              s);
    cfg->runtime = rt;
    return 0;
}

static int parse_handler(const json_t *req, struct td_function_config *cfg, struct td_err *err)
{
    const char *s;
    int r = get_string(req, "Handler", &s, err);
    if (r <= 0)
        return r;
    if (*s == '\0' || strpbrk(s, " \t\r\n\f\v"))
        return td_err_invalid(err,
                              "Value '%s' at 'handler' failed to satisfy constraint: Member "
                              "must satisfy regular expression pattern: [^\\s]+",
                              s);
    return copy_bounded(cfg->handler, sizeof(cfg->handler), s, "Handler", err);
}

static int parse_role(const json_t *req, struct td_function_config *cfg, struct td_err *err)
{
    const char *s;
    int r = get_string(req, "Role", &s, err);
    if (r <= 0)
        return r;
    if (strlen(s) > TD_ROLE_MAX || !pattern_ok(RE_ROLE, s))
        return td_err_invalid(err,
                              "1 validation error detected: Value '%.256s' at 'role' failed to "
                              "satisfy constraint: Member must satisfy regular expression pattern: "
                              "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
                              s);
    return copy_bounded(cfg->role, sizeof(cfg->role), s, "Role", err);
}

static int parse_numbers(const json_t *req, struct td_function_config *cfg, struct td_err *err)
{
    json_int_t v;
    int r = get_int(req, "Timeout", &v, err);
    if (r < 0)
        return r;
    if (r > 0) {
        if ((r = validate_range(v, 1, 900, "timeout", err)) < 0)
            return r;
        cfg->timeout = (int)v;
    }
    r = get_int(req, "MemorySize", &v, err);
    if (r < 0)
        return r;
    if (r > 0) {
        if ((r = validate_range(v, 128, 10240, "memorySize", err)) < 0)
            return r;
        cfg->memory_size = (int)v;
    }
    json_t *eph;
    r = get_object(req, "EphemeralStorage", &eph, err);
    if (r < 0)
        return r;
    if (r > 0) {
        r = get_int(eph, "Size", &v, err);
        if (r < 0)
            return r;
        if (r == 0)
            return td_err_invalid(err, "EphemeralStorage.Size is required");
        if ((r = validate_range(v, 512, 10240, "ephemeralStorage.size", err)) < 0)
            return r;
        cfg->ephemeral_storage = (int)v;
    }
    return 0;
}

static bool env_key_reserved(const char *key)
{
    for (size_t i = 0; i < TD_ARRAY_SIZE(reserved_env_keys); i++)
        if (strcmp(key, reserved_env_keys[i]) == 0)
            return true;
    return false;
}

static int parse_environment(const json_t *req, struct td_function_config *cfg, struct td_err *err)
{
    json_t *env, *vars;
    int r = get_object(req, "Environment", &env, err);
    if (r <= 0)
        return r;
    r = get_object(env, "Variables", &vars, err);
    if (r < 0)
        return r;
    json_t *copy = json_object();
    if (!copy)
        return -ENOMEM;
    size_t total = 0;
    const char *key;
    json_t *value;
    json_object_foreach(vars, key, value)
    {
        if (!json_is_string(value)) {
            json_decref(copy);
            return td_err_set(err, 400, BAD_CONTENT,
                              "Could not parse request body into json: Environment.Variables.%.64s "
                              "must be a string",
                              key);
        }
        if (!pattern_ok(RE_ENV_KEY, key)) {
            json_decref(copy);
            return td_err_invalid(err,
                                  "Value '%.128s' at 'environment.variables' failed to satisfy "
                                  "constraint: Map keys must satisfy constraint: [Member must "
                                  "satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
                                  key);
        }
        if (env_key_reserved(key)) {
            json_decref(copy);
            return td_err_invalid(err,
                                  "Lambda was unable to configure your environment variables "
                                  "because the environment variables you have provided contains "
                                  "reserved keys that are currently not supported for "
                                  "modification. Reserved keys used in this request: %s",
                                  key);
        }
        total += strlen(key) + json_string_length(value);
        json_object_set(copy, key, value);
    }
    if (total > TD_ENV_VARS_MAX_BYTES) {
        json_decref(copy);
        return td_err_invalid(err,
                              "Lambda was unable to configure your environment variables because "
                              "the environment variables you have provided exceeded the 4KB limit. "
                              "String measured: %zu bytes",
                              total);
    }
    json_decref(cfg->env_vars);
    cfg->env_vars = copy;
    return 0;
}

static bool in_set(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

static int parse_logging(const json_t *req, struct td_function_config *cfg, struct td_err *err)
{
    static const char *const formats[] = {"JSON", "Text"};
    static const char *const app_levels[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    static const char *const sys_levels[] = {"DEBUG", "INFO", "WARN"};
    json_t *lc;
    const char *s;
    int r = get_object(req, "LoggingConfig", &lc, err);
    if (r <= 0)
        return r;
    if ((r = get_string(lc, "LogFormat", &s, err)) < 0)
        return r;
    if (r > 0) {
        if (!in_set(s, formats, TD_ARRAY_SIZE(formats)))
            return td_err_invalid(err,
                                  "Value '%.32s' at 'loggingConfig.logFormat' failed to "
                                  "satisfy constraint: Member must satisfy enum value set: "
                                  "[JSON, Text]",
                                  s);
        snprintf(cfg->log_format, sizeof(cfg->log_format), "%s", s);
        if (strcmp(s, "Text") == 0) {
            /* Levels belong to the JSON format: switching back to Text drops them. */
            cfg->app_log_level[0] = '\0';
            cfg->system_log_level[0] = '\0';
        }
    }
    if ((r = get_string(lc, "ApplicationLogLevel", &s, err)) < 0)
        return r;
    if (r > 0) {
        if (!in_set(s, app_levels, TD_ARRAY_SIZE(app_levels)))
            return td_err_invalid(err,
                                  "Value '%.32s' at 'loggingConfig.applicationLogLevel' "
                                  "failed to satisfy constraint: Member must satisfy enum "
                                  "value set: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]",
                                  s);
        snprintf(cfg->app_log_level, sizeof(cfg->app_log_level), "%s", s);
    }
    if ((r = get_string(lc, "SystemLogLevel", &s, err)) < 0)
        return r;
    if (r > 0) {
        if (!in_set(s, sys_levels, TD_ARRAY_SIZE(sys_levels)))
            return td_err_invalid(err,
                                  "Value '%.32s' at 'loggingConfig.systemLogLevel' failed "
                                  "to satisfy constraint: Member must satisfy enum value set: "
                                  "[DEBUG, INFO, WARN]",
                                  s);
        snprintf(cfg->system_log_level, sizeof(cfg->system_log_level), "%s", s);
    }
    if ((r = get_string(lc, "LogGroup", &s, err)) < 0)
        return r;
    if (r > 0) {
        if (strlen(s) > TD_LOG_GROUP_MAX || !pattern_ok(RE_LOG_GROUP, s))
            return td_err_invalid(err,
                                  "Value '%.64s' at 'loggingConfig.logGroup' failed to "
                                  "satisfy constraint: Member must satisfy regular "
                                  "expression pattern: [\\.\\-_/#A-Za-z0-9]+",
                                  s);
        snprintf(cfg->log_group, sizeof(cfg->log_group), "%s", s);
    }
    if (strcmp(cfg->log_format, "Text") == 0) {
        if (cfg->app_log_level[0] || cfg->system_log_level[0])
            return td_err_invalid(err, "Log levels can only be set when LogFormat is JSON");
    } else {
        if (!cfg->app_log_level[0])
            snprintf(cfg->app_log_level, sizeof(cfg->app_log_level), "INFO");
        if (!cfg->system_log_level[0])
            snprintf(cfg->system_log_level, sizeof(cfg->system_log_level), "INFO");
    }
    return 0;
}

static int parse_description(const json_t *req, struct td_function_config *cfg, struct td_err *err)
{
    const char *s;
    int r = get_string(req, "Description", &s, err);
    if (r <= 0)
        return r;
    return copy_bounded(cfg->description, sizeof(cfg->description), s, "Description", err);
}

/* Features tenantd does not implement are refused rather than silently ignored. */
static int refuse_unsupported(const json_t *req, struct td_err *err)
{
    static const char *const keys[] = {"Layers", "FileSystemConfigs", "ImageConfig",
                                       "CodeSigningConfigArn", "KMSKeyArn"};
    for (size_t i = 0; i < TD_ARRAY_SIZE(keys); i++) {
        json_t *v = json_object_get(req, keys[i]);
        if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0) &&
            !(json_is_string(v) && json_string_length(v) == 0))
            return td_err_invalid(err, "%s is not supported by tenantd", keys[i]);
    }
    json_t *vpc = json_object_get(req, "VpcConfig");
    json_t *subnets = json_is_object(vpc) ? json_object_get(vpc, "SubnetIds") : NULL;
    if (json_is_array(subnets) && json_array_size(subnets) > 0)
        return td_err_invalid(err, "VpcConfig is not supported by tenantd");
    json_t *dlc = json_object_get(req, "DeadLetterConfig");
    json_t *target = json_is_object(dlc) ? json_object_get(dlc, "TargetArn") : NULL;
    if (json_is_string(target) && json_string_length(target) > 0)
        return td_err_invalid(err, "DeadLetterConfig is not supported by tenantd");
    json_t *arch = json_object_get(req, "Architectures");
    if (arch && !json_is_null(arch)) {
        if (!json_is_array(arch))
            return td_err_set(
                err, 400, BAD_CONTENT,
                "Could not parse request body into json: Architectures must be a list");
        size_t i;
        json_t *a;
        json_array_foreach(arch, i, a)
        {
            if (!json_is_string(a) || strcmp(json_string_value(a), "x86_64") != 0)
                return td_err_invalid(err, "Architectures: only x86_64 is supported on this node");
        }
    }
    json_t *publish = json_object_get(req, "Publish");
    if (json_is_true(publish))
        return td_err_invalid(err, "Publish: function versions are not supported by tenantd yet");
    return 0;
}

static int parse_common(const json_t *req, struct td_function_config *cfg, struct td_err *err)
{
    int r;
    if ((r = parse_runtime(req, cfg, err)) < 0 || (r = parse_handler(req, cfg, err)) < 0 ||
        (r = parse_role(req, cfg, err)) < 0 || (r = parse_description(req, cfg, err)) < 0 ||
        (r = parse_numbers(req, cfg, err)) < 0 || (r = parse_environment(req, cfg, err)) < 0 ||
        (r = parse_logging(req, cfg, err)) < 0 || (r = refuse_unsupported(req, err)) < 0)
        return r;
    if (cfg->runtime == TD_RUNTIME_NODEJS20 && !cfg->handler[0])
        return td_err_invalid(err, "Handler is required for runtime nodejs20.x");
    return 0;
}

static int parse_tenancy(const json_t *req, struct td_function_config *cfg, struct td_err *err)
{
    json_t *tc;
    const char *mode;
    int r = get_object(req, "TenancyConfig", &tc, err);
    if (r <= 0)
        return r;
    if ((r = get_string(tc, "TenantIsolationMode", &mode, err)) < 0)
        return r;
    if (r == 0)
        return td_err_invalid(err, "TenancyConfig.TenantIsolationMode is required");
    if (strcmp(mode, "PER_TENANT") != 0)
        return td_err_invalid(err,
                              "1 validation error detected: Value '%.64s' at "
                              "'tenancyConfig.tenantIsolationMode' failed to satisfy constraint: "
                              "Member must satisfy enum value set: [PER_TENANT]",
                              mode);
    cfg->per_tenant = true;
    return 0;
}

static int parse_zip(const json_t *code, struct td_buf *zip_out, struct td_err *err)
{
    const char *zip;
    int r = get_string(code, "ZipFile", &zip, err);
    if (r < 0)
        return r;
    if (r == 0) {
        if (json_object_get(code, "S3Bucket") || json_object_get(code, "ImageUri"))
            return td_err_invalid(err, "Code from S3 or a container image is not supported by "
                                       "tenantd: upload the zip inline as Code.ZipFile");
        return td_err_invalid(err, "Code.ZipFile is required");
    }
    r = td_base64_decode(zip, strlen(zip), zip_out);
    if (r == -E2BIG)
        return td_err_set(err, 413, "RequestEntityTooLargeException",
                          "Request must be smaller than %d bytes for the CreateFunction operation",
                          TD_CREATE_FUNCTION_BODY_MAX);
    if (r < 0 || zip_out->len == 0)
        return td_err_invalid(err, "Could not unzip uploaded file. Please check your file, then "
                                   "try to upload again.");
    return 0;
}

int td_function_parse_create(const json_t *req, const struct td_service_identity *id,
                             struct td_function_config *cfg, struct td_buf *zip_out,
                             struct td_err *err)
{
    const char *s;
    int r;

    if (!json_is_object(req))
        return td_err_set(err, 400, BAD_CONTENT,
                          "Could not parse request body into json: expected an object");
    if ((r = get_string(req, "FunctionName", &s, err)) < 0)
        return r;
    if (r == 0)
        return td_err_invalid(err, "FunctionName is required");
    char qualifier[129];
    if ((r = td_function_name_resolve(s, id, cfg->name, qualifier, err)) < 0)
        return r;
    if (qualifier[0] || !pattern_ok(RE_FUNCTION_NAME, cfg->name))
        return td_err_invalid(err,
                              "1 validation error detected: Value '%.140s' at 'functionName' "
                              "failed to satisfy constraint: Member must satisfy regular "
                              "expression pattern: [a-zA-Z0-9-_]+",
                              s);
    if ((r = parse_common(req, cfg, err)) < 0 || (r = parse_tenancy(req, cfg, err)) < 0)
        return r;
    if (cfg->runtime == TD_RUNTIME_INVALID)
        return td_err_invalid(err, "Runtime is required for a .zip file archive");
    if (!cfg->role[0])
        return td_err_invalid(err, "Role is required");
    if ((r = get_string(req, "PackageType", &s, err)) < 0)
        return r;
    if (r > 0 && strcmp(s, "Zip") != 0)
        return td_err_invalid(err, "PackageType %.16s is not supported by tenantd: use Zip", s);
    json_t *code;
    if ((r = get_object(req, "Code", &code, err)) < 0)
        return r;
    if (r == 0)
        return td_err_invalid(err, "Code is required");
    return parse_zip(code, zip_out, err);
}

int td_function_apply_update(const json_t *req, struct td_function_config *cfg, struct td_err *err)
{
    if (!json_is_object(req))
        return td_err_set(err, 400, BAD_CONTENT,
                          "Could not parse request body into json: expected an object");
    json_t *tc = json_object_get(req, "TenancyConfig");
    if (tc && !json_is_null(tc))
        return td_err_invalid(err, "TenancyConfig cannot be modified after function creation");
    struct td_function_config next;
    int r = td_function_config_copy(&next, cfg);
    if (r < 0)
        return r;
    r = parse_common(req, &next, err);
    if (r < 0) {
        td_function_config_release(&next);
        return r;
    }
    td_function_config_release(cfg);
    *cfg = next;
    return 0;
}

int td_function_parse_update_code(const json_t *req, struct td_buf *zip_out, bool *ret_publish,
                                  struct td_err *err)
{
    if (!json_is_object(req))
        return td_err_set(err, 400, BAD_CONTENT,
                          "Could not parse request body into json: expected an object");
    json_t *arch = json_object_get(req, "Architectures");
    json_t *publish = json_object_get(req, "Publish");
    if (json_is_true(publish))
        return td_err_invalid(err, "Publish: function versions are not supported by tenantd yet");
    if (arch && !json_is_null(arch)) {
        json_t *only = json_pack("{s:O}", "Architectures", arch);
        int r = only ? refuse_unsupported(only, err) : -ENOMEM;
        json_decref(only);
        if (r < 0)
            return r;
    }
    *ret_publish = false;
    return parse_zip(req, zip_out, err);
}

void td_function_set_code(struct td_function_config *cfg, const void *zip, size_t len)
{
    uint8_t digest[TD_SHA256_LEN];
    struct td_buf b64 = TD_BUF_INIT(64);

    td_sha256(zip, len, digest);
    td_hex(digest, sizeof(digest), cfg->code_sha256_hex);
    if (td_base64_encode(digest, sizeof(digest), &b64) == 0)
        snprintf(cfg->code_sha256_b64, sizeof(cfg->code_sha256_b64), "%s", b64.data);
    td_buf_release(&b64);
    cfg->code_size = (int64_t)len;
}

int td_function_touch(struct td_function_config *cfg)
{
    cfg->last_modified_ms = td_wall_ms();
    return td_uuid4(cfg->revision_id);
}

int td_function_arn(const struct td_service_identity *id, const char *name, struct td_buf *out)
{
    return td_buf_printf(out, "arn:aws:lambda:%s:%s:function:%s", id->region, id->account_id, name);
}

static json_t *logging_to_json(const struct td_function_config *cfg)
{
    json_t *lc = json_object();
    if (!lc)
        return NULL;
    json_object_set_new(lc, "LogFormat", json_string(cfg->log_format));
    if (cfg->app_log_level[0])
        json_object_set_new(lc, "ApplicationLogLevel", json_string(cfg->app_log_level));
    if (cfg->system_log_level[0])
        json_object_set_new(lc, "SystemLogLevel", json_string(cfg->system_log_level));
    if (cfg->log_group[0]) {
        json_object_set_new(lc, "LogGroup", json_string(cfg->log_group));
    } else {
        char group[TD_FUNCTION_NAME_MAX + 16];
        snprintf(group, sizeof(group), "/aws/lambda/%s", cfg->name);
        json_object_set_new(lc, "LogGroup", json_string(group));
    }
    return lc;
}

json_t *td_function_to_json(const struct td_function_config *cfg,
                            const struct td_service_identity *id)
{
    _cleanup_buf_ struct td_buf arn = TD_BUF_INIT(512);
    char modified[29];

    if (td_function_arn(id, cfg->name, &arn) < 0)
        return NULL;
    td_format_lambda_time(cfg->last_modified_ms, modified);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:i, s:i, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:s, "
        "s:s, s:[s], s:{s:i}, s:{s:s, s:s}}",
        "FunctionName", cfg->name, "FunctionArn", arn.data, "Runtime",
        td_runtime_name(cfg->runtime), "Role", cfg->role, "Handler", cfg->handler, "CodeSize",
        (json_int_t)cfg->code_size, "Description", cfg->description, "Timeout", cfg->timeout,
        "MemorySize", cfg->memory_size, "LastModified", modified, "CodeSha256",
        cfg->code_sha256_b64, "Version", "$LATEST", "TracingConfig", "Mode", "PassThrough",
        "RevisionId", cfg->revision_id, "State", "Active", "LastUpdateStatus", "Successful",
        "PackageType", "Zip", "Architectures", "x86_64", "EphemeralStorage", "Size",
        cfg->ephemeral_storage, "SnapStart", "ApplyOn", "None", "OptimizationStatus", "Off");
    if (!o)
        return NULL;
    if (json_object_size(cfg->env_vars) > 0)
        json_object_set_new(o, "Environment", json_pack("{s:O}", "Variables", cfg->env_vars));
    json_object_set_new(o, "LoggingConfig", logging_to_json(cfg));
    if (cfg->per_tenant)
        json_object_set_new(o, "TenancyConfig",
                            json_pack("{s:s}", "TenantIsolationMode", "PER_TENANT"));
    return o;
}

char *td_function_to_storage(const struct td_function_config *cfg,
                             const struct td_service_identity *id)
{
    json_t *o = td_function_to_json(cfg, id);
    if (!o)
        return NULL;
    json_object_set_new(o, "tenantd:CodeSha256Hex", json_string(cfg->code_sha256_hex));
    json_object_set_new(o, "tenantd:LastModifiedMs", json_integer(cfg->last_modified_ms));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

/* Copy a string member; a member too long for its field makes the document invalid (it was
 * not written by td_function_to_storage). */
static int copy_member(const json_t *o, const char *key, char *dst, size_t size)
{
    const char *s = json_string_value(json_object_get(o, key));
    size_t len = s ? strlen(s) : 0;
    if (len >= size)
        return -EINVAL;
    memcpy(dst, s ? s : "", len + 1);
    return 0;
}

static int int_member(const json_t *o, const char *key, json_int_t min, json_int_t max, int *dst)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return -EINVAL;
    *dst = (int)json_integer_value(v);
    return 0;
}

static int from_storage_doc(const json_t *o, struct td_function_config *cfg)
{
    int r = 0;
    r |= copy_member(o, "FunctionName", cfg->name, sizeof(cfg->name));
    cfg->runtime = td_runtime_from_name(json_string_value(json_object_get(o, "Runtime")) ?: "");
    r |= copy_member(o, "Handler", cfg->handler, sizeof(cfg->handler));
    r |= copy_member(o, "Role", cfg->role, sizeof(cfg->role));
    r |= copy_member(o, "Description", cfg->description, sizeof(cfg->description));
    r |= int_member(o, "Timeout", 1, 900, &cfg->timeout);
    r |= int_member(o, "MemorySize", 128, 10240, &cfg->memory_size);
    r |= int_member(json_object_get(o, "EphemeralStorage"), "Size", 512, 10240,
                    &cfg->ephemeral_storage);
    json_t *vars = json_object_get(json_object_get(o, "Environment"), "Variables");
    if (json_is_object(vars))
        json_object_update(cfg->env_vars, vars);
    json_t *lc = json_object_get(o, "LoggingConfig");
    r |= copy_member(lc, "LogFormat", cfg->log_format, sizeof(cfg->log_format));
    r |= copy_member(lc, "ApplicationLogLevel", cfg->app_log_level, sizeof(cfg->app_log_level));
    r |= copy_member(lc, "SystemLogLevel", cfg->system_log_level, sizeof(cfg->system_log_level));
    char group[TD_LOG_GROUP_MAX + 1], default_group[TD_FUNCTION_NAME_MAX + 16];
    r |= copy_member(lc, "LogGroup", group, sizeof(group));
    snprintf(default_group, sizeof(default_group), "/aws/lambda/%s", cfg->name);
    if (r == 0 && strcmp(group, default_group) != 0)
        snprintf(cfg->log_group, sizeof(cfg->log_group), "%s", group);
    cfg->per_tenant = json_is_object(json_object_get(o, "TenancyConfig"));
    r |=
        copy_member(o, "tenantd:CodeSha256Hex", cfg->code_sha256_hex, sizeof(cfg->code_sha256_hex));
    r |= copy_member(o, "CodeSha256", cfg->code_sha256_b64, sizeof(cfg->code_sha256_b64));
    cfg->code_size = json_integer_value(json_object_get(o, "CodeSize"));
    cfg->last_modified_ms = json_integer_value(json_object_get(o, "tenantd:LastModifiedMs"));
    r |= copy_member(o, "RevisionId", cfg->revision_id, sizeof(cfg->revision_id));
    if (r || !cfg->name[0] || cfg->runtime == TD_RUNTIME_INVALID ||
        strlen(cfg->code_sha256_hex) != TD_SHA256_HEX_LEN ||
        strspn(cfg->code_sha256_hex, "0123456789abcdef") != TD_SHA256_HEX_LEN ||
        cfg->code_size < 0 || cfg->last_modified_ms < 0)
        return -EINVAL;
    return 0;
}

int td_function_from_storage(const char *json_text, struct td_function_config *cfg)
{
    json_error_t jerr;
    td_function_config_init(cfg);
    if (!cfg->env_vars)
        return -ENOMEM;
    json_t *o = json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr);
    int r = json_is_object(o) ? from_storage_doc(o, cfg) : -EINVAL;
    json_decref(o);
    if (r < 0)
        td_function_config_release(cfg); /* nothing to free, and releasing again is harmless */
    return r;
}

static void copy_group(const char *text, const regmatch_t *m, char *dst, size_t size)
{
    size_t len = m->rm_so < 0 ? 0 : (size_t)(m->rm_eo - m->rm_so);
    if (len >= size)
        len = size - 1;
    if (len)
        memcpy(dst, text + m->rm_so, len);
    dst[len] = '\0';
}

int td_function_name_resolve(const char *text, const struct td_service_identity *id,
                             char name[TD_FUNCTION_NAME_MAX + 1], char qualifier[129],
                             struct td_err *err)
{
    regmatch_t m[12];
    char region[32], account[16];

    /* The common case, a plain name (no ':'), without the regular expression: it matches the
     * pattern exactly when it is made of the name characters, and is then all name. */
    size_t len = strlen(text);
    if (len > 0 && len <= TD_FUNCTION_NAME_MAX &&
        strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == len) {
        memcpy(name, text, len + 1);
        qualifier[0] = '\0';
        return 0;
    }
    compile_all();
    if (len > 170 || regexec(&compiled[RE_FUNCTION_REF], text, TD_ARRAY_SIZE(m), m, 0) != 0)
        return td_err_invalid(err,
                              "1 validation error detected: Value '%.170s' at 'functionName' "
                              "failed to satisfy constraint: Member must satisfy regular "
                              "expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-"
                              "[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$"
                              "LATEST|[a-zA-Z0-9-_]+))?",
                              text);
    if (m[9].rm_eo - m[9].rm_so > TD_FUNCTION_NAME_MAX)
        return td_err_invalid(err, "Function name must be at most %d characters long",
                              TD_FUNCTION_NAME_MAX);
    if (m[11].rm_so >= 0 && m[11].rm_eo - m[11].rm_so > 128)
        return td_err_invalid(err, "Qualifier must be at most 128 characters long");
    copy_group(text, &m[4], region, sizeof(region));
    copy_group(text, &m[7], account, sizeof(account));
    copy_group(text, &m[9], name, TD_FUNCTION_NAME_MAX + 1);
    copy_group(text, &m[11], qualifier, 129);
    /* A function of another region or account cannot be here. */
    if ((region[0] && strcmp(region, id->region) != 0) ||
        (account[0] && strcmp(account, id->account_id) != 0))
        return td_err_not_found(err, "Function not found: %s", text);
    return 0;
}
