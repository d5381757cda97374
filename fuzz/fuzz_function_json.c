/* Fuzz the function-configuration code (src/control/function.c) with JSON documents.
 *
 * Input: a JSON document (parsed as the API parses request bodies), used as
 *   - a CreateFunction request (td_function_parse_create),
 *   - an UpdateFunctionConfiguration request on two fixed configurations and on the created one
 *     (td_function_apply_update),
 *   - an UpdateFunctionCode request (td_function_parse_update_code),
 *   - a stored configuration (td_function_from_storage, on the input as a C string).
 * Invariants:
 *   - a refusal carries an HTTP status (400/404/413), an error type and a message;
 *   - an accepted request yields a configuration within the documented limits (name pattern,
 *     runtime enum, ranges, environment keys and size, logging rules, non-empty package);
 *   - a failed update leaves the configuration exactly as it was;
 *   - FunctionConfiguration JSON has the expected identity fields, and the storage round trip
 *     (to_storage -> from_storage -> to_storage) is lossless for every accepted configuration.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tenantd/buf.h"
#include "tenantd/error.h"
#include "tenantd/function.h"
#include "tenantd/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (256 * 1024)
#define FUZZ_ZIP_MAX   (1024 * 1024)
#define ARN_PREFIX     "arn:aws:lambda:us-east-1:000000000000:function:"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_function_json: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const struct td_service_identity ID = {.region = "us-east-1", .account_id = "000000000000"};

/* ---- independent checks ------------------------------------------------------------------- */

static bool alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool all_of(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!alnum((unsigned char)*s) && !strchr(extra, *s))
            return false;
    return true;
}

static bool one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

static const char *const reserved_keys[] = {
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
};

/* What every configuration accepted from a request must satisfy. */
static void check_valid(const struct td_function_config *cfg)
{
    static const char *const app_levels[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    static const char *const sys_levels[] = {"DEBUG", "INFO", "WARN"};

    size_t nlen = strlen(cfg->name);
    CHECK(nlen >= 1 && nlen <= 64 && all_of(cfg->name, "_-"));
    CHECK(cfg->runtime == TD_RUNTIME_PROVIDED_AL2023 || cfg->runtime == TD_RUNTIME_PROVIDED_AL2 ||
          cfg->runtime == TD_RUNTIME_NODEJS20);
    CHECK(strpbrk(cfg->handler, " \t\r\n\f\v") == NULL);
    CHECK(cfg->runtime != TD_RUNTIME_NODEJS20 || cfg->handler[0] != '\0');
    CHECK(strncmp(cfg->role, "arn:", 4) == 0 && strstr(cfg->role, ":iam::") != NULL);
    CHECK(cfg->timeout >= 1 && cfg->timeout <= 900);
    CHECK(cfg->memory_size >= 128 && cfg->memory_size <= 10240);
    CHECK(cfg->ephemeral_storage >= 512 && cfg->ephemeral_storage <= 10240);

    CHECK(json_is_object(cfg->env_vars));
    size_t total = 0;
    const char *key;
    json_t *value;
    json_object_foreach(cfg->env_vars, key, value)
    {
        CHECK(((key[0] | 0x20) >= 'a' && (key[0] | 0x20) <= 'z') && all_of(key, "_"));
        CHECK(!one_of(key, reserved_keys, sizeof(reserved_keys) / sizeof(reserved_keys[0])));
        CHECK(json_is_string(value));
        total += strlen(key) + json_string_length(value);
    }
    CHECK(total <= TD_ENV_VARS_MAX_BYTES);

    if (strcmp(cfg->log_format, "Text") == 0) {
        CHECK(cfg->app_log_level[0] == '\0' && cfg->system_log_level[0] == '\0');
    } else {
        CHECK(strcmp(cfg->log_format, "JSON") == 0);
        CHECK(one_of(cfg->app_log_level, app_levels, 6));
        CHECK(one_of(cfg->system_log_level, sys_levels, 3));
    }
    CHECK(cfg->log_group[0] == '\0' || all_of(cfg->log_group, "-._/#"));
}

static void check_refusal(int r, const struct td_err *err)
{
    CHECK(r < 0);
    if (r == -ENOMEM)
        return;
    CHECK(err->status == 400 || err->status == 404 || err->status == 413);
    CHECK(err->type[0] != '\0');
    CHECK(err->message[0] != '\0');
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p++;
        int n = c < 0x80             ? 0
                : (c & 0xe0) == 0xc0 ? 1
                : (c & 0xf0) == 0xe0 ? 2
                : (c & 0xf8) == 0xf0 ? 3
                                     : -1;
        if (n < 0)
            return false;
        unsigned cp = n == 0 ? c : n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
        for (int i = 0; i < n; i++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (*p++ & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
    }
    return true;
}

static bool strings_valid(const struct td_function_config *cfg)
{
    return utf8_valid(cfg->name) && utf8_valid(cfg->handler) && utf8_valid(cfg->role) &&
           utf8_valid(cfg->description) && utf8_valid(cfg->log_format) &&
           utf8_valid(cfg->app_log_level) && utf8_valid(cfg->system_log_level) &&
           utf8_valid(cfg->log_group) && utf8_valid(cfg->code_sha256_hex) &&
           utf8_valid(cfg->code_sha256_b64) && utf8_valid(cfg->revision_id);
}

/* ---- round trip --------------------------------------------------------------------------- */

static void effective_group(const struct td_function_config *cfg, char *out, size_t size)
{
    if (cfg->log_group[0])
        snprintf(out, size, "%s", cfg->log_group);
    else
        snprintf(out, size, "/aws/lambda/%s", cfg->name);
}

static void check_same(const struct td_function_config *a, const struct td_function_config *b)
{
    char ga[TD_LOG_GROUP_MAX + 1], gb[TD_LOG_GROUP_MAX + 1];
    CHECK(strcmp(a->name, b->name) == 0);
    CHECK(a->runtime == b->runtime);
    CHECK(strcmp(a->handler, b->handler) == 0);
    CHECK(strcmp(a->role, b->role) == 0);
    CHECK(strcmp(a->description, b->description) == 0);
    CHECK(a->timeout == b->timeout);
    CHECK(a->memory_size == b->memory_size);
    CHECK(a->ephemeral_storage == b->ephemeral_storage);
    CHECK(json_equal(a->env_vars, b->env_vars));
    CHECK(strcmp(a->log_format, b->log_format) == 0);
    CHECK(strcmp(a->app_log_level, b->app_log_level) == 0);
    CHECK(strcmp(a->system_log_level, b->system_log_level) == 0);
    effective_group(a, ga, sizeof(ga));
    effective_group(b, gb, sizeof(gb));
    CHECK(strcmp(ga, gb) == 0);
    CHECK(a->per_tenant == b->per_tenant);
    CHECK(strcmp(a->code_sha256_hex, b->code_sha256_hex) == 0);
    CHECK(strcmp(a->code_sha256_b64, b->code_sha256_b64) == 0);
    CHECK(a->code_size == b->code_size);
    CHECK(a->last_modified_ms == b->last_modified_ms);
    CHECK(strcmp(a->revision_id, b->revision_id) == 0);
}

static void check_json(const struct td_function_config *cfg)
{
    json_t *doc = td_function_to_json(cfg, &ID);
    CHECK(doc != NULL);
    const char *arn = json_string_value(json_object_get(doc, "FunctionArn"));
    CHECK(arn && strncmp(arn, ARN_PREFIX, strlen(ARN_PREFIX)) == 0 &&
          strcmp(arn + strlen(ARN_PREFIX), cfg->name) == 0);
    const char *name = json_string_value(json_object_get(doc, "FunctionName"));
    CHECK(name && strcmp(name, cfg->name) == 0);
    const char *sha = json_string_value(json_object_get(doc, "CodeSha256"));
    CHECK(sha && strcmp(sha, cfg->code_sha256_b64) == 0);
    CHECK((json_object_get(doc, "TenancyConfig") != NULL) == cfg->per_tenant);
    CHECK((json_object_get(doc, "Environment") != NULL) == (json_object_size(cfg->env_vars) > 0));
    char group[TD_LOG_GROUP_MAX + 1];
    effective_group(cfg, group, sizeof(group));
    const char *lg =
        json_string_value(json_object_get(json_object_get(doc, "LoggingConfig"), "LogGroup"));
    CHECK(lg && strcmp(lg, group) == 0);
    CHECK(json_integer_value(json_object_get(doc, "Timeout")) == cfg->timeout);
    json_decref(doc);
}

static void round_trip(const struct td_function_config *cfg)
{
    check_json(cfg);
    char *text = td_function_to_storage(cfg, &ID);
    CHECK(text != NULL);
    struct td_function_config back;
    CHECK(td_function_from_storage(text, &back) == 0);
    check_same(cfg, &back);
    char *again = td_function_to_storage(&back, &ID);
    CHECK(again != NULL && strcmp(text, again) == 0);
    free(again);
    free(text);
    td_function_config_release(&back);
}

/* ---- the operations ----------------------------------------------------------------------- */

static void try_update(const json_t *req, const struct td_function_config *base)
{
    struct td_function_config cfg;
    struct td_err err;
    memset(&err, 0, sizeof(err));
    CHECK(td_function_config_copy(&cfg, base) == 0);
    char *before = td_function_to_storage(&cfg, &ID);
    CHECK(before != NULL);
    int r = td_function_apply_update(req, &cfg, &err);
    if (r == 0) {
        check_valid(&cfg);
        CHECK(cfg.per_tenant == base->per_tenant); /* tenancy is fixed at creation */
        CHECK(strcmp(cfg.name, base->name) == 0);
        round_trip(&cfg);
    } else {
        check_refusal(r, &err);
        char *after = td_function_to_storage(&cfg, &ID);
        CHECK(after != NULL && strcmp(before, after) == 0);
        free(after);
    }
    free(before);
    td_function_config_release(&cfg);
}

static void stamp(struct td_function_config *cfg, const void *zip, size_t len)
{
    td_function_set_code(cfg, zip, len);
    cfg->last_modified_ms = INT64_C(1700000000123);
    snprintf(cfg->revision_id, sizeof(cfg->revision_id), "%s",
             "00000000-0000-4000-8000-000000000000");
}

static bool g_ready;
static struct td_function_config g_plain, g_rich;

static void make_base(struct td_function_config *cfg, const char *text)
{
    json_error_t jerr;
    json_t *req = json_loads(text, 0, &jerr);
    struct td_buf zip = TD_BUF_INIT(64);
    struct td_err err;
    CHECK(req != NULL);
    td_function_config_init(cfg);
    CHECK(td_function_parse_create(req, &ID, cfg, &zip, &err) == 0);
    stamp(cfg, zip.data, zip.len);
    td_buf_release(&zip);
    json_decref(req);
}

static void setup(void)
{
    if (g_ready)
        return;
    make_base(&g_plain, "{\"FunctionName\": \"plain\", \"Runtime\": \"provided.al2023\", "
                        "\"Role\": \"arn:aws:iam::123456789012:role/r\", "
                        "\"Code\": {\"ZipFile\": \"UEsDBA==\"}}");
    make_base(&g_rich,
              "{\"FunctionName\": \"rich\", \"Runtime\": \"nodejs20.x\", \"Handler\": \"i.h\", "
              "\"Role\": \"arn:aws:iam::123456789012:role/r\", \"Code\": {\"ZipFile\": "
              "\"UEsDBA==\"}, \"Timeout\": 30, \"Environment\": {\"Variables\": {\"A\": \"1\"}}, "
              "\"LoggingConfig\": {\"LogFormat\": \"JSON\", \"LogGroup\": \"/g\"}, "
              "\"TenancyConfig\": {\"TenantIsolationMode\": \"PER_TENANT\"}}");
    g_ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    setup();

    json_error_t jerr;
    json_t *req = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (req) {
        /* CreateFunction. */
        struct td_function_config cfg;
        struct td_buf zip = TD_BUF_INIT(FUZZ_ZIP_MAX);
        struct td_err err;
        memset(&err, 0, sizeof(err));
        td_function_config_init(&cfg);
        int r = td_function_parse_create(req, &ID, &cfg, &zip, &err);
        if (r == 0) {
            CHECK(zip.len > 0 && zip.len <= FUZZ_ZIP_MAX);
            check_valid(&cfg);
            stamp(&cfg, zip.data, zip.len);
            round_trip(&cfg);
            try_update(req, &cfg);
        } else {
            check_refusal(r, &err);
        }
        td_function_config_release(&cfg);

        /* UpdateFunctionConfiguration. */
        try_update(req, &g_plain);
        try_update(req, &g_rich);

        /* UpdateFunctionCode. */
        bool publish = true;
        td_buf_reset(&zip);
        memset(&err, 0, sizeof(err));
        r = td_function_parse_update_code(req, &zip, &publish, &err);
        if (r == 0)
            CHECK(zip.len > 0 && !publish);
        else
            check_refusal(r, &err);
        td_buf_release(&zip);
        json_decref(req);
    }

    /* A stored configuration. */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct td_function_config stored;
    memset(&stored, 0, sizeof(stored)); /* releasable whatever from_storage does */
    if (td_function_from_storage(text, &stored) == 0) {
        CHECK(stored.name[0] != '\0');
        CHECK(td_runtime_name(stored.runtime)[0] != '\0');
        CHECK(strlen(stored.code_sha256_hex) == TD_SHA256_HEX_LEN);
        CHECK(stored.timeout >= 1 && stored.memory_size >= 128 && stored.ephemeral_storage >= 512);
        CHECK(json_is_object(stored.env_vars));
        char *out = td_function_to_storage(&stored, &ID);
        /* Over-long members are refused, so every accepted document round-trips: what
         * tenantd writes, it reads back the same. */
        CHECK(strings_valid(&stored));
        struct td_function_config back;
        CHECK(out != NULL);
        CHECK(td_function_from_storage(out, &back) == 0);
        check_same(&stored, &back);
        td_function_config_release(&back);
        free(out);
    }
    td_function_config_release(&stored);
    free(text);
    return 0;
}
