/* Function configurations: CreateFunction / UpdateFunctionConfiguration / UpdateFunctionCode
 * validation, the FunctionConfiguration document, the storage round trip and FunctionName
 * resolution (src/control/function.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "tenantd/buf.h"
#include "tenantd/cleanup.h"
#include "tenantd/error.h"
#include "tenantd/function.h"
#include "tenantd/util.h"

#define REGION  "us-east-1"
#define ACCOUNT "000000000000"
#define ROLE    "arn:aws:iam::123456789012:role/lambda-role"
#define INVALID "InvalidParameterValueException"
#define CONTENT "InvalidRequestContentException"
#define NOTFND  "ResourceNotFoundException"

/* "abc": the zip bytes of most requests (the validators do not look inside the archive). */
#define ZIP_B64 "YWJj"
/* SHA-256("abc") (FIPS 180-2 example), in hex and in base64. */
#define ABC_SHA_HEX "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ABC_SHA_B64 "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="

static const struct td_service_identity ID = {.region = REGION, .account_id = ACCOUNT};

/* ---- helpers ------------------------------------------------------------------------------ */

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!doc)
        print_message("bad test JSON: %s: %s\n", jerr.text, text);
    assert_non_null(doc);
    return doc;
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* A valid CreateFunction request for the runtime. */
static json_t *base_create(const char *runtime)
{
    json_t *req = json_pack("{s:s, s:s, s:s, s:{s:s}}", "FunctionName", "my-fn", "Runtime", runtime,
                            "Role", ROLE, "Code", "ZipFile", ZIP_B64);
    assert_non_null(req);
    if (strcmp(runtime, "nodejs20.x") == 0)
        json_object_set_new(req, "Handler", json_string("index.handler"));
    return req;
}

/* req with key set to the JSON text value (or removed when value is NULL). */
static json_t *with(json_t *req, const char *key, const char *value)
{
    if (value)
        assert_int_equal(json_object_set_new(req, key, parse(value)), 0);
    else
        json_object_del(req, key);
    return req;
}

struct outcome {
    int r;
    struct td_err err;
    struct td_function_config cfg;
    struct td_buf zip;
};

static void outcome_release(struct outcome *o)
{
    td_function_config_release(&o->cfg);
    td_buf_release(&o->zip);
}

/* Run td_function_parse_create on req (consumed). */
static void create(json_t *req, struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    td_function_config_init(&o->cfg);
    td_buf_init(&o->zip, TD_ZIP_MAX_BYTES);
    o->r = td_function_parse_create(req, &ID, &o->cfg, &o->zip, &o->err);
    if (o->r < 0)
        assert_int_not_equal(o->err.status, 0);
    json_decref(req);
}

static void expect_error(int r, const struct td_err *err, int status, const char *type,
                         const char *needle)
{
    if (r >= 0)
        print_message("expected a %d %s error, got success\n", status, type);
    assert_true(r < 0);
    if (err->status != status || strcmp(err->type, type) != 0 ||
        (needle && !strstr(err->message, needle)))
        print_message("got %d %s: %s\n", err->status, err->type, err->message);
    assert_int_equal(err->status, status);
    assert_string_equal(err->type, type);
    if (needle)
        assert_non_null(strstr(err->message, needle));
}

static void expect_ok(const struct outcome *o)
{
    if (o->r != 0)
        print_message("unexpected error %d %s: %s\n", o->err.status, o->err.type, o->err.message);
    assert_int_equal(o->r, 0);
}

/* Create must fail with the given error. */
static void create_fails(json_t *req, int status, const char *type, const char *needle)
{
    struct outcome o;
    create(req, &o);
    expect_error(o.r, &o.err, status, type, needle);
    outcome_release(&o);
}

/* Create must succeed; the configuration is returned for inspection. */
static void create_ok(json_t *req, struct outcome *o)
{
    create(req, o);
    expect_ok(o);
}

/* A created configuration with its package fields and timestamps, as the API would keep it. */
static void make_config(json_t *req, struct td_function_config *cfg)
{
    struct outcome o;
    create_ok(req, &o);
    td_function_set_code(&o.cfg, o.zip.data, o.zip.len);
    assert_int_equal(td_function_touch(&o.cfg), 0);
    td_buf_release(&o.zip);
    *cfg = o.cfg;
}

static void assert_config_equal(const struct td_function_config *a,
                                const struct td_function_config *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->runtime, b->runtime);
    assert_string_equal(a->handler, b->handler);
    assert_string_equal(a->role, b->role);
    assert_string_equal(a->description, b->description);
    assert_int_equal(a->timeout, b->timeout);
    assert_int_equal(a->memory_size, b->memory_size);
    assert_int_equal(a->ephemeral_storage, b->ephemeral_storage);
    assert_true(json_equal(a->env_vars, b->env_vars));
    assert_string_equal(a->log_format, b->log_format);
    assert_string_equal(a->app_log_level, b->app_log_level);
    assert_string_equal(a->system_log_level, b->system_log_level);
    assert_string_equal(a->log_group, b->log_group);
    assert_int_equal(a->per_tenant, b->per_tenant);
    assert_string_equal(a->code_sha256_hex, b->code_sha256_hex);
    assert_string_equal(a->code_sha256_b64, b->code_sha256_b64);
    assert_int_equal(a->code_size, b->code_size);
    assert_int_equal(a->last_modified_ms, b->last_modified_ms);
    assert_string_equal(a->revision_id, b->revision_id);
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s)
        print_message("member %s is not a string\n", key);
    assert_non_null(s);
    return s;
}

/* ---- CreateFunction: valid requests -------------------------------------------------------- */

static void check_defaults(const struct td_function_config *cfg)
{
    assert_int_equal(cfg->timeout, 3);
    assert_int_equal(cfg->memory_size, 128);
    assert_int_equal(cfg->ephemeral_storage, 512);
    assert_int_equal(json_object_size(cfg->env_vars), 0);
    assert_string_equal(cfg->log_format, "Text");
    assert_string_equal(cfg->app_log_level, "");
    assert_string_equal(cfg->system_log_level, "");
    assert_string_equal(cfg->log_group, "");
    assert_string_equal(cfg->description, "");
    assert_false(cfg->per_tenant);
}

static void test_create_each_runtime(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum td_runtime rt;
        bool provided;
    } runtimes[] = {
        {"provided.al2023", TD_RUNTIME_PROVIDED_AL2023, true},
        {"provided.al2", TD_RUNTIME_PROVIDED_AL2, true},
        {"nodejs20.x", TD_RUNTIME_NODEJS20, false},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(runtimes); i++) {
        struct outcome o;
        create_ok(base_create(runtimes[i].name), &o);
        assert_string_equal(o.cfg.name, "my-fn");
        assert_int_equal(o.cfg.runtime, runtimes[i].rt);
        assert_string_equal(o.cfg.role, ROLE);
        assert_string_equal(o.cfg.handler, runtimes[i].provided ? "" : "index.handler");
        check_defaults(&o.cfg);
        assert_int_equal(o.zip.len, 3);
        assert_memory_equal(o.zip.data, "abc", 3);
        assert_string_equal(td_runtime_name(runtimes[i].rt), runtimes[i].name);
        assert_int_equal(td_runtime_from_name(runtimes[i].name), runtimes[i].rt);
        assert_int_equal(td_runtime_is_provided(runtimes[i].rt), runtimes[i].provided);
        outcome_release(&o);
    }
    assert_int_equal(td_runtime_from_name("nodejs18.x"), TD_RUNTIME_INVALID);
    assert_string_equal(td_runtime_name(TD_RUNTIME_INVALID), "");

    /* A provided runtime with a handler keeps it. */
    struct outcome o;
    create_ok(with(base_create("provided.al2"), "Handler", "\"bootstrap.main\""), &o);
    assert_string_equal(o.cfg.handler, "bootstrap.main");
    outcome_release(&o);
}

static void test_create_full_request(void **state)
{
    (void)state;
    struct outcome o;
    create_ok(parse("{\"FunctionName\": \"full_Fn-1\", \"Runtime\": \"nodejs20.x\","
                    " \"Role\": \"" ROLE "\", \"Handler\": \"app.main\","
                    " \"Code\": {\"ZipFile\": \"" ZIP_B64 "\"},"
                    " \"Description\": \"d\\u00e9scription\", \"Timeout\": 900,"
                    " \"MemorySize\": 10240, \"EphemeralStorage\": {\"Size\": 10240},"
                    " \"Environment\": {\"Variables\": {\"A\": \"1\", \"b_2\": \"x=y\"}},"
                    " \"LoggingConfig\": {\"LogFormat\": \"JSON\", \"ApplicationLogLevel\":"
                    " \"TRACE\", \"SystemLogLevel\": \"WARN\", \"LogGroup\": \"/custom/grp#1\"},"
                    " \"TenancyConfig\": {\"TenantIsolationMode\": \"PER_TENANT\"},"
                    " \"Architectures\": [\"x86_64\"], \"PackageType\": \"Zip\","
                    " \"Publish\": false, \"Layers\": [], \"KMSKeyArn\": \"\","
                    " \"VpcConfig\": {\"SubnetIds\": [], \"SecurityGroupIds\": []},"
                    " \"DeadLetterConfig\": {}, \"Tags\": {\"k\": \"v\"}}"),
              &o);
    assert_string_equal(o.cfg.name, "full_Fn-1");
    assert_int_equal(o.cfg.runtime, TD_RUNTIME_NODEJS20);
    assert_string_equal(o.cfg.handler, "app.main");
    assert_string_equal(o.cfg.description, "d\xc3\xa9scription");
    assert_int_equal(o.cfg.timeout, 900);
    assert_int_equal(o.cfg.memory_size, 10240);
    assert_int_equal(o.cfg.ephemeral_storage, 10240);
    assert_int_equal(json_object_size(o.cfg.env_vars), 2);
    assert_string_equal(jstr(o.cfg.env_vars, "A"), "1");
    assert_string_equal(jstr(o.cfg.env_vars, "b_2"), "x=y");
    assert_string_equal(o.cfg.log_format, "JSON");
    assert_string_equal(o.cfg.app_log_level, "TRACE");
    assert_string_equal(o.cfg.system_log_level, "WARN");
    assert_string_equal(o.cfg.log_group, "/custom/grp#1");
    assert_true(o.cfg.per_tenant);
    outcome_release(&o);
}

/* ---- CreateFunction: FunctionName ---------------------------------------------------------- */

static void test_create_function_name(void **state)
{
    (void)state;
    struct outcome o;
    create_ok(with(base_create("provided.al2023"), "FunctionName",
                   "\"arn:aws:lambda:" REGION ":" ACCOUNT ":function:from-arn\""),
              &o);
    assert_string_equal(o.cfg.name, "from-arn");
    outcome_release(&o);
    create_ok(
        with(base_create("provided.al2023"), "FunctionName", "\"" ACCOUNT ":function:partial\""),
        &o);
    assert_string_equal(o.cfg.name, "partial");
    outcome_release(&o);

    _cleanup_free_ char *n64 = repeat('n', 64);
    _cleanup_free_ char *n65 = repeat('n', 65);
    _cleanup_free_ char *q64 = NULL, *q65 = NULL;
    assert_true(asprintf(&q64, "\"%s\"", n64) > 0);
    assert_true(asprintf(&q65, "\"%s\"", n65) > 0);
    create_ok(with(base_create("provided.al2023"), "FunctionName", q64), &o);
    assert_string_equal(o.cfg.name, n64);
    outcome_release(&o);
    create_fails(with(base_create("provided.al2023"), "FunctionName", q65), 400, INVALID, NULL);

    /* Names a create cannot take: dots (allowed in references only), qualifiers, garbage. */
    static const char *const bad[] = {
        "\"my.fn\"", "\"f:$LATEST\"", "\"f:prod\"", "\"\"", "\"a b\"", "\"f/g\"", "\"\\u00e9\"",
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(bad); i++)
        create_fails(with(base_create("provided.al2023"), "FunctionName", bad[i]), 400, INVALID,
                     NULL);
    create_fails(with(base_create("provided.al2023"), "FunctionName", NULL), 400, INVALID,
                 "FunctionName is required");
    create_fails(with(base_create("provided.al2023"), "FunctionName", "null"), 400, INVALID,
                 "FunctionName is required");
    create_fails(with(base_create("provided.al2023"), "FunctionName", "7"), 400, CONTENT,
                 "FunctionName");
    /* Another region's or account's ARN is not ours. */
    create_fails(with(base_create("provided.al2023"), "FunctionName",
                      "\"arn:aws:lambda:eu-west-1:" ACCOUNT ":function:f\""),
                 404, NOTFND, NULL);
    create_fails(with(base_create("provided.al2023"), "FunctionName",
                      "\"arn:aws:lambda:" REGION ":111111111111:function:f\""),
                 404, NOTFND, NULL);
}

/* ---- CreateFunction: numbers --------------------------------------------------------------- */

static void numeric_case(const char *key, const char *value, bool ok, int expect_value,
                         const char *needle)
{
    struct outcome o;
    create(with(base_create("provided.al2023"), key, value), &o);
    if (ok) {
        expect_ok(&o);
        int got = strcmp(key, "Timeout") == 0      ? o.cfg.timeout
                  : strcmp(key, "MemorySize") == 0 ? o.cfg.memory_size
                                                   : o.cfg.ephemeral_storage;
        assert_int_equal(got, expect_value);
    } else {
        expect_error(o.r, &o.err, 400, INVALID, needle);
    }
    outcome_release(&o);
}

static void test_create_timeout(void **state)
{
    (void)state;
    numeric_case("Timeout", "1", true, 1, NULL);
    numeric_case("Timeout", "900", true, 900, NULL);
    numeric_case("Timeout", "60", true, 60, NULL);
    numeric_case("Timeout", "null", true, 3, NULL);
    numeric_case("Timeout", "0", false, 0, "Value '0' at 'timeout'");
    numeric_case("Timeout", "901", false, 0, "Value '901' at 'timeout'");
    numeric_case("Timeout", "-1", false, 0, "timeout");
    numeric_case("Timeout", "4294967297", false, 0, "timeout"); /* not truncated to 1 */
    numeric_case("Timeout", "-9223372036854775808", false, 0, "timeout");
    numeric_case("Timeout", "9223372036854775807", false, 0, "timeout");
    create_fails(with(base_create("provided.al2023"), "Timeout", "\"3\""), 400, CONTENT, "Timeout");
    create_fails(with(base_create("provided.al2023"), "Timeout", "3.0"), 400, CONTENT, "Timeout");
    create_fails(with(base_create("provided.al2023"), "Timeout", "true"), 400, CONTENT, "Timeout");
}

static void test_create_memory_and_storage(void **state)
{
    (void)state;
    numeric_case("MemorySize", "128", true, 128, NULL);
    numeric_case("MemorySize", "10240", true, 10240, NULL);
    numeric_case("MemorySize", "1769", true, 1769, NULL);
    numeric_case("MemorySize", "127", false, 0, "memorySize");
    numeric_case("MemorySize", "10241", false, 0, "memorySize");
    numeric_case("MemorySize", "0", false, 0, "memorySize");
    numeric_case("MemorySize", "4294967424", false, 0, "memorySize"); /* 2^32 + 128 */
    create_fails(with(base_create("provided.al2023"), "MemorySize", "\"128\""), 400, CONTENT,
                 "MemorySize");

    numeric_case("EphemeralStorage", "{\"Size\": 512}", true, 512, NULL);
    numeric_case("EphemeralStorage", "{\"Size\": 10240}", true, 10240, NULL);
    numeric_case("EphemeralStorage", "null", true, 512, NULL);
    numeric_case("EphemeralStorage", "{\"Size\": 511}", false, 0, "ephemeralStorage.size");
    numeric_case("EphemeralStorage", "{\"Size\": 10241}", false, 0, "ephemeralStorage.size");
    numeric_case("EphemeralStorage", "{}", false, 0, "Size is required");
    create_fails(with(base_create("provided.al2023"), "EphemeralStorage", "512"), 400, CONTENT,
                 "EphemeralStorage");
    create_fails(with(base_create("provided.al2023"), "EphemeralStorage", "{\"Size\": \"512\"}"),
                 400, CONTENT, "Size");
}

/* ---- CreateFunction: environment ----------------------------------------------------------- */

static void env_case(const char *vars, bool ok, const char *needle)
{
    _cleanup_free_ char *env = NULL;
    assert_true(asprintf(&env, "{\"Variables\": %s}", vars) > 0);
    if (ok) {
        struct outcome o;
        create_ok(with(base_create("provided.al2023"), "Environment", env), &o);
        json_t *want = parse(vars);
        assert_true(json_equal(o.cfg.env_vars, want));
        json_decref(want);
        outcome_release(&o);
    } else {
        create_fails(with(base_create("provided.al2023"), "Environment", env), 400, INVALID,
                     needle);
    }
}

static void test_create_environment(void **state)
{
    (void)state;
    env_case("{}", true, NULL);
    env_case("{\"A\": \"\"}", true, NULL);
    env_case("{\"a\": \"1\", \"Z9\": \"2\", \"my_VAR_1\": \"three\", \"AWS_PROFILE\": \"p\"}", true,
             NULL);
    env_case("{\"V\": \"line\\nbreak=and \\u00fcnicode\"}", true, NULL);

    static const char *const bad_keys[] = {"1A",  "_A", "A-B",     "A B", "A.B",
                                           "A=B", "",   "\\u00c4", "A\\n"};
    for (size_t i = 0; i < TD_ARRAY_SIZE(bad_keys); i++) {
        _cleanup_free_ char *vars = NULL;
        assert_true(asprintf(&vars, "{\"%s\": \"v\"}", bad_keys[i]) > 0);
        env_case(vars, false, "environment.variables");
    }

    static const char *const reserved[] = {
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
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
    for (size_t i = 0; i < TD_ARRAY_SIZE(reserved); i++) {
        _cleanup_free_ char *vars = NULL;
        assert_true(asprintf(&vars, "{\"OK\": \"1\", \"%s\": \"x\"}", reserved[i]) > 0);
        env_case(vars, false, reserved[i]);
    }
    /* The reserved names that start with '_' fail the key pattern first: refused either way. */
    env_case("{\"_HANDLER\": \"x\"}", false, NULL);
    env_case("{\"_X_AMZN_TRACE_ID\": \"x\"}", false, NULL);

    /* 4 KB of keys and values: 1 + 4095 is the most, 1 + 4096 is too much. */
    _cleanup_free_ char *v4095 = repeat('v', 4095);
    _cleanup_free_ char *v4096 = repeat('v', 4096);
    _cleanup_free_ char *ok = NULL, *big = NULL, *spread = NULL;
    assert_true(asprintf(&ok, "{\"K\": \"%s\"}", v4095) > 0);
    assert_true(asprintf(&big, "{\"K\": \"%s\"}", v4096) > 0);
    env_case(ok, true, NULL);
    env_case(big, false, "4KB");
    /* Spread over several variables: 2 * (2 + 2047) = 4098. */
    _cleanup_free_ char *v2047 = repeat('w', 2047);
    assert_true(asprintf(&spread, "{\"K1\": \"%s\", \"K2\": \"%s\"}", v2047, v2047) > 0);
    env_case(spread, false, "4KB");

    /* Types. */
    create_fails(with(base_create("provided.al2023"), "Environment", "{\"Variables\": {\"A\": 1}}"),
                 400, CONTENT, NULL);
    create_fails(
        with(base_create("provided.al2023"), "Environment", "{\"Variables\": {\"A\": null}}"), 400,
        CONTENT, NULL);
    create_fails(with(base_create("provided.al2023"), "Environment", "{\"Variables\": [\"A\"]}"),
                 400, CONTENT, "Variables");
    create_fails(with(base_create("provided.al2023"), "Environment", "[]"), 400, CONTENT,
                 "Environment");
}

/* ---- CreateFunction: logging --------------------------------------------------------------- */

static void logging_case(const char *lc, const char *format, const char *app, const char *sys,
                         const char *group)
{
    struct outcome o;
    create_ok(with(base_create("provided.al2023"), "LoggingConfig", lc), &o);
    assert_string_equal(o.cfg.log_format, format);
    assert_string_equal(o.cfg.app_log_level, app);
    assert_string_equal(o.cfg.system_log_level, sys);
    assert_string_equal(o.cfg.log_group, group);
    outcome_release(&o);
}

static void test_create_logging(void **state)
{
    (void)state;
    logging_case("{}", "Text", "", "", "");
    logging_case("{\"LogFormat\": \"Text\"}", "Text", "", "", "");
    logging_case("{\"LogFormat\": \"JSON\"}", "JSON", "INFO", "INFO", "");
    logging_case("{\"LogFormat\": \"JSON\", \"ApplicationLogLevel\": \"FATAL\"}", "JSON", "FATAL",
                 "INFO", "");
    logging_case("{\"LogFormat\": \"JSON\", \"SystemLogLevel\": \"DEBUG\"}", "JSON", "INFO",
                 "DEBUG", "");
    logging_case("{\"LogGroup\": \"/aws/lambda/custom-1_x.y#z\"}", "Text", "", "",
                 "/aws/lambda/custom-1_x.y#z");
    static const char *const app_levels[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    for (size_t i = 0; i < TD_ARRAY_SIZE(app_levels); i++) {
        _cleanup_free_ char *lc = NULL;
        assert_true(asprintf(&lc, "{\"LogFormat\": \"JSON\", \"ApplicationLogLevel\": \"%s\"}",
                             app_levels[i]) > 0);
        logging_case(lc, "JSON", app_levels[i], "INFO", "");
    }

    static const char *const bad[] = {
        "{\"LogFormat\": \"json\"}",
        "{\"LogFormat\": \"XML\"}",
        "{\"LogFormat\": \"\"}",
        "{\"LogFormat\": \"JSON\", \"ApplicationLogLevel\": \"VERBOSE\"}",
        "{\"LogFormat\": \"JSON\", \"ApplicationLogLevel\": \"info\"}",
        "{\"LogFormat\": \"JSON\", \"SystemLogLevel\": \"ERROR\"}",
        "{\"LogFormat\": \"JSON\", \"SystemLogLevel\": \"TRACE\"}",
        "{\"LogGroup\": \"bad group\"}",
        "{\"LogGroup\": \"\"}",
        "{\"LogGroup\": \"a:b\"}",
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(bad); i++)
        create_fails(with(base_create("provided.al2023"), "LoggingConfig", bad[i]), 400, INVALID,
                     "loggingConfig");
    /* Levels only go with JSON. */
    create_fails(with(base_create("provided.al2023"), "LoggingConfig",
                      "{\"LogFormat\": \"Text\", \"ApplicationLogLevel\": \"INFO\"}"),
                 400, INVALID, "LogFormat is JSON");
    create_fails(
        with(base_create("provided.al2023"), "LoggingConfig", "{\"SystemLogLevel\": \"WARN\"}"),
        400, INVALID, "LogFormat is JSON");
    /* LogGroup length: 512 is the most. */
    _cleanup_free_ char *g512 = repeat('g', 512);
    _cleanup_free_ char *g513 = repeat('g', 513);
    _cleanup_free_ char *lc512 = NULL, *lc513 = NULL;
    assert_true(asprintf(&lc512, "{\"LogGroup\": \"%s\"}", g512) > 0);
    assert_true(asprintf(&lc513, "{\"LogGroup\": \"%s\"}", g513) > 0);
    logging_case(lc512, "Text", "", "", g512);
    create_fails(with(base_create("provided.al2023"), "LoggingConfig", lc513), 400, INVALID,
                 "logGroup");
    /* Types. */
    create_fails(with(base_create("provided.al2023"), "LoggingConfig", "\"JSON\""), 400, CONTENT,
                 "LoggingConfig");
    create_fails(with(base_create("provided.al2023"), "LoggingConfig", "{\"LogFormat\": 1}"), 400,
                 CONTENT, "LogFormat");
}

/* ---- CreateFunction: tenancy, role, runtime, handler --------------------------------------- */

static void test_create_tenancy(void **state)
{
    (void)state;
    struct outcome o;
    create_ok(with(base_create("provided.al2023"), "TenancyConfig",
                   "{\"TenantIsolationMode\": \"PER_TENANT\"}"),
              &o);
    assert_true(o.cfg.per_tenant);
    outcome_release(&o);
    create_ok(with(base_create("provided.al2023"), "TenancyConfig", "null"), &o);
    assert_false(o.cfg.per_tenant);
    outcome_release(&o);

    create_fails(with(base_create("provided.al2023"), "TenancyConfig", "{}"), 400, INVALID,
                 "TenantIsolationMode is required");
    create_fails(
        with(base_create("provided.al2023"), "TenancyConfig", "{\"TenantIsolationMode\": null}"),
        400, INVALID, "TenantIsolationMode is required");
    create_fails(with(base_create("provided.al2023"), "TenancyConfig",
                      "{\"TenantIsolationMode\": \"SHARED\"}"),
                 400, INVALID, "[PER_TENANT]");
    create_fails(with(base_create("provided.al2023"), "TenancyConfig",
                      "{\"TenantIsolationMode\": \"per_tenant\"}"),
                 400, INVALID, "[PER_TENANT]");
    create_fails(
        with(base_create("provided.al2023"), "TenancyConfig", "{\"TenantIsolationMode\": 1}"), 400,
        CONTENT, "TenantIsolationMode");
    create_fails(with(base_create("provided.al2023"), "TenancyConfig", "\"PER_TENANT\""), 400,
                 CONTENT, "TenancyConfig");
}

static void test_create_role(void **state)
{
    (void)state;
    static const char *const good[] = {
        "arn:aws:iam::123456789012:role/r",
        "arn:aws:iam::123456789012:role/service-role/My_Role+=,.@-x",
        "arn:aws-cn:iam::123456789012:role/r",
        "arn::iam::123456789012:role/r",
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(good); i++) {
        _cleanup_free_ char *v = NULL;
        assert_true(asprintf(&v, "\"%s\"", good[i]) > 0);
        struct outcome o;
        create_ok(with(base_create("provided.al2023"), "Role", v), &o);
        assert_string_equal(o.cfg.role, good[i]);
        outcome_release(&o);
    }
    static const char *const bad[] = {
        "\"\"",
        "\"role\"",
        "\"arn:aws:iam::12345678901:role/r\"",
        "\"arn:aws:iam::1234567890123:role/r\"",
        "\"arn:aws:iam::123456789012:user/r\"",
        "\"arn:aws:iam::123456789012:role\"",
        "\"arn:aws:iam::123456789012:role/a b\"",
        "\"arn:aws:sts::123456789012:role/r\"",
        "\" arn:aws:iam::123456789012:role/r\"",
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(bad); i++)
        create_fails(with(base_create("provided.al2023"), "Role", bad[i]), 400, INVALID, "'role'");
    /* Length: 2048 characters is the most. */
    const char *prefix = "arn:aws:iam::123456789012:role/";
    _cleanup_free_ char *tail_ok = repeat('r', TD_ROLE_MAX - strlen(prefix));
    _cleanup_free_ char *tail_long = repeat('r', TD_ROLE_MAX + 1 - strlen(prefix));
    _cleanup_free_ char *r_ok = NULL, *r_long = NULL;
    assert_true(asprintf(&r_ok, "\"%s%s\"", prefix, tail_ok) > 0);
    assert_true(asprintf(&r_long, "\"%s%s\"", prefix, tail_long) > 0);
    struct outcome o;
    create_ok(with(base_create("provided.al2023"), "Role", r_ok), &o);
    assert_int_equal(strlen(o.cfg.role), TD_ROLE_MAX);
    outcome_release(&o);
    create_fails(with(base_create("provided.al2023"), "Role", r_long), 400, INVALID, NULL);

    create_fails(with(base_create("provided.al2023"), "Role", NULL), 400, INVALID,
                 "Role is required");
    create_fails(with(base_create("provided.al2023"), "Role", "[]"), 400, CONTENT, "Role");
}

static void test_create_runtime(void **state)
{
    (void)state;
    static const char *const bad[] = {"\"python3.12\"", "\"nodejs18.x\"",
                                      "\"provided\"",   "\"PROVIDED.AL2023\"",
                                      "\"\"",           "\"provided.al2023 \""};
    for (size_t i = 0; i < TD_ARRAY_SIZE(bad); i++)
        create_fails(with(base_create("provided.al2023"), "Runtime", bad[i]), 400, INVALID,
                     "enum value set");
    create_fails(with(base_create("provided.al2023"), "Runtime", NULL), 400, INVALID,
                 "Runtime is required");
    create_fails(with(base_create("provided.al2023"), "Runtime", "2023"), 400, CONTENT, "Runtime");
}

static void test_create_handler(void **state)
{
    (void)state;
    create_fails(with(base_create("nodejs20.x"), "Handler", NULL), 400, INVALID,
                 "Handler is required");
    create_fails(with(base_create("nodejs20.x"), "Handler", "null"), 400, INVALID,
                 "Handler is required");
    static const char *const bad[] = {"\"\"", "\"a b\"", "\"a\\tb\"", "\"a\\n\"", "\" \""};
    for (size_t i = 0; i < TD_ARRAY_SIZE(bad); i++)
        create_fails(with(base_create("nodejs20.x"), "Handler", bad[i]), 400, INVALID, "handler");
    _cleanup_free_ char *h128 = repeat('h', TD_HANDLER_MAX);
    _cleanup_free_ char *h129 = repeat('h', TD_HANDLER_MAX + 1);
    _cleanup_free_ char *q128 = NULL, *q129 = NULL;
    assert_true(asprintf(&q128, "\"%s\"", h128) > 0);
    assert_true(asprintf(&q129, "\"%s\"", h129) > 0);
    struct outcome o;
    create_ok(with(base_create("nodejs20.x"), "Handler", q128), &o);
    assert_string_equal(o.cfg.handler, h128);
    outcome_release(&o);
    create_fails(with(base_create("nodejs20.x"), "Handler", q129), 400, INVALID, "Handler");
    create_fails(with(base_create("nodejs20.x"), "Handler", "{}"), 400, CONTENT, "Handler");

    /* Description: 256 bytes is the most. */
    _cleanup_free_ char *d256 = repeat('d', TD_DESCRIPTION_MAX);
    _cleanup_free_ char *d257 = repeat('d', TD_DESCRIPTION_MAX + 1);
    _cleanup_free_ char *qd256 = NULL, *qd257 = NULL;
    assert_true(asprintf(&qd256, "\"%s\"", d256) > 0);
    assert_true(asprintf(&qd257, "\"%s\"", d257) > 0);
    create_ok(with(base_create("provided.al2023"), "Description", qd256), &o);
    assert_string_equal(o.cfg.description, d256);
    outcome_release(&o);
    create_fails(with(base_create("provided.al2023"), "Description", qd257), 400, INVALID,
                 "Description");
}

/* ---- CreateFunction: code and unsupported features ----------------------------------------- */

static void test_create_code(void **state)
{
    (void)state;
    struct outcome o;
    create_ok(with(base_create("provided.al2023"), "Code", "{\"ZipFile\": \"UEsDBA==\"}"), &o);
    assert_int_equal(o.zip.len, 4);
    assert_memory_equal(o.zip.data, "PK\x03\x04", 4);
    outcome_release(&o);
    create_ok(with(base_create("provided.al2023"), "PackageType", "\"Zip\""), &o);
    outcome_release(&o);

    static const char *const bad_b64[] = {
        "\"not base64!\"", "\"YWJ\"",      "\"YW Jj\"", "\"YWJj\\n\"", "\"Y===\"",
        "\"====\"",        "\"YWJj====\"", "\"\"",      "\"YW=j\"",
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(bad_b64); i++) {
        _cleanup_free_ char *code = NULL;
        assert_true(asprintf(&code, "{\"ZipFile\": %s}", bad_b64[i]) > 0);
        create_fails(with(base_create("provided.al2023"), "Code", code), 400, INVALID,
                     "Could not unzip");
    }
    create_fails(
        with(base_create("provided.al2023"), "Code", "{\"S3Bucket\": \"b\", \"S3Key\": \"k.zip\"}"),
        400, INVALID, "S3");
    create_fails(with(base_create("provided.al2023"), "Code", "{\"ImageUri\": \"x\"}"), 400,
                 INVALID, "container image");
    create_fails(with(base_create("provided.al2023"), "Code", "{}"), 400, INVALID,
                 "Code.ZipFile is required");
    create_fails(with(base_create("provided.al2023"), "Code", NULL), 400, INVALID,
                 "Code is required");
    create_fails(with(base_create("provided.al2023"), "Code", "\"" ZIP_B64 "\""), 400, CONTENT,
                 "Code");
    create_fails(with(base_create("provided.al2023"), "Code", "{\"ZipFile\": [1]}"), 400, CONTENT,
                 "ZipFile");
    create_fails(with(base_create("provided.al2023"), "PackageType", "\"Image\""), 400, INVALID,
                 "PackageType");
    create_fails(with(base_create("provided.al2023"), "PackageType", "2"), 400, CONTENT,
                 "PackageType");
}

static void test_create_code_too_large(void **state)
{
    (void)state;
    struct td_function_config cfg;
    struct td_err err = {0};
    struct td_buf zip = TD_BUF_INIT(2);
    td_function_config_init(&cfg);
    json_t *req = base_create("provided.al2023");
    int r = td_function_parse_create(req, &ID, &cfg, &zip, &err);
    expect_error(r, &err, 413, "RequestEntityTooLargeException", "CreateFunction");
    json_decref(req);
    td_buf_release(&zip);
    td_function_config_release(&cfg);
}

/* A package of exactly the largest size is accepted, whatever its length modulo 3. */
static void test_create_code_at_limit(void **state)
{
    (void)state;
    static const struct {
        const char *b64;
        size_t len;
    } cases[] = {{"YWJj", 3}, {"YWJjZA==", 4}, {"YWJjZGU=", 5}};
    for (size_t i = 0; i < TD_ARRAY_SIZE(cases); i++) {
        struct td_function_config cfg;
        struct td_err err = {0};
        struct td_buf zip = TD_BUF_INIT(cases[i].len);
        td_function_config_init(&cfg);
        _cleanup_free_ char *code = NULL;
        assert_true(asprintf(&code, "{\"ZipFile\": \"%s\"}", cases[i].b64) > 0);
        json_t *req = with(base_create("provided.al2023"), "Code", code);
        int r = td_function_parse_create(req, &ID, &cfg, &zip, &err);
        if (r != 0)
            print_message("%zu-byte package, limit %zu: %d %s: %s\n", cases[i].len, cases[i].len,
                          err.status, err.type, err.message);
        assert_int_equal(r, 0);
        assert_int_equal(zip.len, cases[i].len);
        json_decref(req);
        td_buf_release(&zip);
        td_function_config_release(&cfg);
    }
}

static void test_create_unsupported(void **state)
{
    (void)state;
    static const struct {
        const char *key, *value, *needle;
    } cases[] = {
        {"Publish", "true", "Publish"},
        {"Layers", "[\"arn:aws:lambda:us-east-1:000000000000:layer:l:1\"]", "Layers"},
        {"FileSystemConfigs", "[{\"Arn\": \"a\", \"LocalMountPath\": \"/mnt/x\"}]",
         "FileSystemConfigs"},
        {"ImageConfig", "{\"Command\": [\"x\"]}", "ImageConfig"},
        {"CodeSigningConfigArn", "\"arn:x\"", "CodeSigningConfigArn"},
        {"KMSKeyArn", "\"arn:aws:kms:x\"", "KMSKeyArn"},
        {"VpcConfig", "{\"SubnetIds\": [\"subnet-1\"]}", "VpcConfig"},
        {"DeadLetterConfig", "{\"TargetArn\": \"arn:aws:sqs:x\"}", "DeadLetterConfig"},
        {"Architectures", "[\"arm64\"]", "x86_64"},
        {"Architectures", "[\"x86_64\", \"arm64\"]", "x86_64"},
        {"Architectures", "[1]", "x86_64"},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(cases); i++)
        create_fails(with(base_create("provided.al2023"), cases[i].key, cases[i].value), 400,
                     INVALID, cases[i].needle);
    create_fails(with(base_create("provided.al2023"), "Architectures", "\"x86_64\""), 400, CONTENT,
                 "Architectures");
    /* Neutral values are fine. */
    static const struct {
        const char *key, *value;
    } neutral[] = {
        {"Publish", "false"},    {"Layers", "[]"},
        {"Layers", "null"},      {"KMSKeyArn", "\"\""},
        {"Architectures", "[]"}, {"Architectures", "[\"x86_64\"]"},
        {"VpcConfig", "{}"},     {"DeadLetterConfig", "{\"TargetArn\": \"\"}"},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(neutral); i++) {
        struct outcome o;
        create_ok(with(base_create("provided.al2023"), neutral[i].key, neutral[i].value), &o);
        outcome_release(&o);
    }
}

static void test_create_wrong_types(void **state)
{
    (void)state;
    static const char *const docs[] = {"[]", "\"x\"", "1", "null", "true"};
    for (size_t i = 0; i < TD_ARRAY_SIZE(docs); i++) {
        struct outcome o;
        create(parse(docs[i]), &o);
        expect_error(o.r, &o.err, 400, CONTENT, NULL);
        outcome_release(&o);
    }
    static const struct {
        const char *key, *value;
    } members[] = {
        {"FunctionName", "[\"f\"]"}, {"Runtime", "{}"},       {"Handler", "1"},
        {"Role", "false"},           {"Description", "5"},    {"Timeout", "\"1\""},
        {"MemorySize", "128.5"},     {"Environment", "1"},    {"LoggingConfig", "[]"},
        {"TenancyConfig", "true"},   {"Code", "[]"},          {"PackageType", "{}"},
        {"EphemeralStorage", "[]"},  {"Architectures", "{}"},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(members); i++)
        create_fails(with(base_create("nodejs20.x"), members[i].key, members[i].value), 400,
                     CONTENT, members[i].key);
}

/* ---- UpdateFunctionConfiguration ----------------------------------------------------------- */

static void base_config(struct td_function_config *cfg)
{
    make_config(parse("{\"FunctionName\": \"upd\", \"Runtime\": \"provided.al2023\","
                      " \"Role\": \"" ROLE "\", \"Code\": {\"ZipFile\": \"" ZIP_B64 "\"},"
                      " \"Description\": \"before\", \"Timeout\": 30, \"MemorySize\": 256,"
                      " \"Environment\": {\"Variables\": {\"KEEP\": \"me\"}},"
                      " \"TenancyConfig\": {\"TenantIsolationMode\": \"PER_TENANT\"}}"),
                cfg);
}

static int update(struct td_function_config *cfg, const char *text, struct td_err *err)
{
    json_t *req = parse(text);
    memset(err, 0, sizeof(*err));
    int r = td_function_apply_update(req, cfg, err);
    json_decref(req);
    return r;
}

static void test_update_partial(void **state)
{
    (void)state;
    struct td_function_config cfg, before;
    struct td_err err;
    base_config(&cfg);
    assert_int_equal(td_function_config_copy(&before, &cfg), 0);

    assert_int_equal(update(&cfg, "{\"Timeout\": 10}", &err), 0);
    assert_int_equal(cfg.timeout, 10);
    before.timeout = 10;
    assert_config_equal(&cfg, &before); /* nothing else moved, per_tenant included */

    assert_int_equal(update(&cfg, "{}", &err), 0);
    assert_config_equal(&cfg, &before);

    assert_int_equal(update(&cfg, "{\"TenancyConfig\": null, \"Description\": \"after\"}", &err),
                     0);
    assert_string_equal(cfg.description, "after");
    assert_true(cfg.per_tenant);
    assert_int_equal(cfg.memory_size, 256);
    assert_string_equal(jstr(cfg.env_vars, "KEEP"), "me");

    /* Environment is replaced as a whole; an empty Environment clears it. */
    assert_int_equal(update(&cfg, "{\"Environment\": {\"Variables\": {\"NEW\": \"v\"}}}", &err), 0);
    assert_int_equal(json_object_size(cfg.env_vars), 1);
    assert_string_equal(jstr(cfg.env_vars, "NEW"), "v");
    assert_int_equal(update(&cfg, "{\"Environment\": {}}", &err), 0);
    assert_int_equal(json_object_size(cfg.env_vars), 0);

    /* Runtime change to nodejs20.x needs a handler. */
    assert_true(update(&cfg, "{\"Runtime\": \"nodejs20.x\"}", &err) < 0);
    assert_int_equal(cfg.runtime, TD_RUNTIME_PROVIDED_AL2023);
    assert_int_equal(update(&cfg, "{\"Runtime\": \"nodejs20.x\", \"Handler\": \"i.h\"}", &err), 0);
    assert_int_equal(cfg.runtime, TD_RUNTIME_NODEJS20);
    assert_string_equal(cfg.handler, "i.h");

    /* Logging: to JSON with defaults, then a level. */
    assert_int_equal(update(&cfg, "{\"LoggingConfig\": {\"LogFormat\": \"JSON\"}}", &err), 0);
    assert_string_equal(cfg.log_format, "JSON");
    assert_string_equal(cfg.app_log_level, "INFO");
    assert_int_equal(update(&cfg, "{\"LoggingConfig\": {\"SystemLogLevel\": \"WARN\"}}", &err), 0);
    assert_string_equal(cfg.log_format, "JSON");
    assert_string_equal(cfg.system_log_level, "WARN");
    assert_string_equal(cfg.app_log_level, "INFO");

    td_function_config_release(&before);
    td_function_config_release(&cfg);
}

static void test_update_refusals_leave_config(void **state)
{
    (void)state;
    struct td_function_config cfg;
    struct td_err err;
    base_config(&cfg);
    _cleanup_free_ char *orig = td_function_to_storage(&cfg, &ID);
    assert_non_null(orig);

    static const struct {
        const char *req;
        int status;
        const char *type, *needle;
    } cases[] = {
        {"{\"TenancyConfig\": {\"TenantIsolationMode\": \"PER_TENANT\"}}", 400, INVALID,
         "TenancyConfig"},
        {"{\"TenancyConfig\": {}, \"Timeout\": 5}", 400, INVALID, "TenancyConfig"},
        {"{\"Timeout\": 0}", 400, INVALID, "timeout"},
        {"{\"Timeout\": 5, \"MemorySize\": 64}", 400, INVALID, "memorySize"},
        /* Fails late: the earlier members were applied to the copy only. */
        {"{\"Timeout\": 5, \"Description\": \"x\", \"Environment\": {\"Variables\": {\"A\": "
         "\"b\"}}, \"LoggingConfig\": {\"LogFormat\": \"JSON\"}, \"Layers\": [\"l\"]}",
         400, INVALID, "Layers"},
        {"{\"Environment\": {\"Variables\": {\"AWS_REGION\": \"x\"}}}", 400, INVALID, "AWS_REGION"},
        {"{\"Runtime\": \"go1.x\"}", 400, INVALID, "runtime"},
        {"{\"Role\": \"nope\"}", 400, INVALID, "role"},
        {"{\"Publish\": true}", 400, INVALID, "Publish"},
        {"{\"Timeout\": \"5\"}", 400, CONTENT, "Timeout"},
        {"[]", 400, CONTENT, NULL},
        {"\"Timeout\"", 400, CONTENT, NULL},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(cases); i++) {
        int r = update(&cfg, cases[i].req, &err);
        expect_error(r, &err, cases[i].status, cases[i].type, cases[i].needle);
        _cleanup_free_ char *now = td_function_to_storage(&cfg, &ID);
        assert_non_null(now);
        assert_string_equal(now, orig);
    }
    td_function_config_release(&cfg);
}

/* A function whose logs are JSON can be switched back to Text (its levels go away), as with
 * Lambda; otherwise LogFormat could never change back. */
static void test_update_logging_back_to_text(void **state)
{
    (void)state;
    struct td_function_config cfg;
    struct td_err err;
    base_config(&cfg);
    assert_int_equal(update(&cfg, "{\"LoggingConfig\": {\"LogFormat\": \"JSON\"}}", &err), 0);
    assert_string_equal(cfg.app_log_level, "INFO");
    int r = update(&cfg, "{\"LoggingConfig\": {\"LogFormat\": \"Text\"}}", &err);
    if (r < 0)
        print_message("JSON -> Text refused: %s\n", err.message);
    assert_int_equal(r, 0);
    assert_string_equal(cfg.log_format, "Text");
    assert_string_equal(cfg.app_log_level, "");
    assert_string_equal(cfg.system_log_level, "");
    td_function_config_release(&cfg);
}

/* ---- UpdateFunctionCode -------------------------------------------------------------------- */

static void test_update_code(void **state)
{
    (void)state;
    struct td_err err;
    bool publish = true;
    _cleanup_buf_ struct td_buf zip = TD_BUF_INIT(TD_ZIP_MAX_BYTES);

    json_t *req = parse("{\"ZipFile\": \"UEsDBAo=\", \"Architectures\": [\"x86_64\"],"
                        " \"Publish\": false, \"DryRun\": false}");
    assert_int_equal(td_function_parse_update_code(req, &zip, &publish, &err), 0);
    json_decref(req);
    assert_false(publish);
    assert_int_equal(zip.len, 5);
    assert_memory_equal(zip.data, "PK\x03\x04\n", 5);

    static const struct {
        const char *req;
        int status;
        const char *type, *needle;
    } cases[] = {
        {"{\"ZipFile\": \"" ZIP_B64 "\", \"Publish\": true}", 400, INVALID, "Publish"},
        {"{\"ZipFile\": \"" ZIP_B64 "\", \"Architectures\": [\"arm64\"]}", 400, INVALID, "x86_64"},
        {"{\"ZipFile\": \"" ZIP_B64 "\", \"Architectures\": \"x86_64\"}", 400, CONTENT,
         "Architectures"},
        {"{\"S3Bucket\": \"b\", \"S3Key\": \"k\"}", 400, INVALID, "S3"},
        {"{\"ImageUri\": \"i\"}", 400, INVALID, "container image"},
        {"{}", 400, INVALID, "ZipFile is required"},
        {"{\"ZipFile\": \"%%%%\"}", 400, INVALID, "Could not unzip"},
        {"{\"ZipFile\": \"\"}", 400, INVALID, "Could not unzip"},
        {"{\"ZipFile\": 12}", 400, CONTENT, "ZipFile"},
        {"[\"ZipFile\"]", 400, CONTENT, NULL},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(cases); i++) {
        td_buf_reset(&zip);
        memset(&err, 0, sizeof(err));
        req = parse(cases[i].req);
        int r = td_function_parse_update_code(req, &zip, &publish, &err);
        json_decref(req);
        expect_error(r, &err, cases[i].status, cases[i].type, cases[i].needle);
    }

    struct td_buf small = TD_BUF_INIT(2);
    req = parse("{\"ZipFile\": \"" ZIP_B64 "\"}");
    int r = td_function_parse_update_code(req, &small, &publish, &err);
    json_decref(req);
    expect_error(r, &err, 413, "RequestEntityTooLargeException", NULL);
    td_buf_release(&small);
}

/* ---- the FunctionConfiguration document ---------------------------------------------------- */

static void test_to_json_shape(void **state)
{
    (void)state;
    struct outcome o;
    create_ok(parse("{\"FunctionName\": \"shape\", \"Runtime\": \"nodejs20.x\","
                    " \"Role\": \"" ROLE "\", \"Handler\": \"index.handler\","
                    " \"Code\": {\"ZipFile\": \"" ZIP_B64 "\"}, \"Timeout\": 42,"
                    " \"MemorySize\": 512, \"Description\": \"desc\"}"),
              &o);
    td_function_set_code(&o.cfg, o.zip.data, o.zip.len);
    assert_string_equal(o.cfg.code_sha256_hex, ABC_SHA_HEX);
    assert_string_equal(o.cfg.code_sha256_b64, ABC_SHA_B64);
    assert_int_equal(o.cfg.code_size, 3);
    o.cfg.last_modified_ms = INT64_C(1440938160123); /* 2015-08-30T12:36:00.123Z */
    snprintf(o.cfg.revision_id, sizeof(o.cfg.revision_id), "%s",
             "11111111-2222-4333-8444-555555555555");

    json_t *doc = td_function_to_json(&o.cfg, &ID);
    assert_non_null(doc);
    assert_string_equal(jstr(doc, "FunctionName"), "shape");
    assert_string_equal(jstr(doc, "FunctionArn"),
                        "arn:aws:lambda:" REGION ":" ACCOUNT ":function:shape");
    assert_string_equal(jstr(doc, "Runtime"), "nodejs20.x");
    assert_string_equal(jstr(doc, "Role"), ROLE);
    assert_string_equal(jstr(doc, "Handler"), "index.handler");
    assert_string_equal(jstr(doc, "Description"), "desc");
    assert_string_equal(jstr(doc, "CodeSha256"), ABC_SHA_B64);
    assert_int_equal(json_integer_value(json_object_get(doc, "CodeSize")), 3);
    assert_int_equal(json_integer_value(json_object_get(doc, "Timeout")), 42);
    assert_int_equal(json_integer_value(json_object_get(doc, "MemorySize")), 512);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "EphemeralStorage"), "Size")), 512);
    assert_string_equal(jstr(doc, "LastModified"), "2015-08-30T12:36:00.123+0000");
    assert_string_equal(jstr(doc, "RevisionId"), "11111111-2222-4333-8444-555555555555");
    assert_string_equal(jstr(doc, "Version"), "$LATEST");
    assert_string_equal(jstr(doc, "PackageType"), "Zip");
    assert_string_equal(jstr(doc, "State"), "Active");
    assert_string_equal(jstr(doc, "LastUpdateStatus"), "Successful");
    json_t *arch = json_object_get(doc, "Architectures");
    assert_true(json_is_array(arch));
    assert_int_equal(json_array_size(arch), 1);
    assert_string_equal(json_string_value(json_array_get(arch, 0)), "x86_64");
    /* No environment, no tenancy; the default log group. */
    assert_null(json_object_get(doc, "Environment"));
    assert_null(json_object_get(doc, "TenancyConfig"));
    json_t *lc = json_object_get(doc, "LoggingConfig");
    assert_true(json_is_object(lc));
    assert_string_equal(jstr(lc, "LogFormat"), "Text");
    assert_string_equal(jstr(lc, "LogGroup"), "/aws/lambda/shape");
    assert_null(json_object_get(lc, "ApplicationLogLevel"));
    assert_null(json_object_get(lc, "SystemLogLevel"));
    /* Private storage fields stay private. */
    assert_null(json_object_get(doc, "tenantd:CodeSha256Hex"));
    json_decref(doc);

    /* With environment, tenancy, JSON logs and a custom group. */
    json_object_set_new(o.cfg.env_vars, "K", json_string("v"));
    o.cfg.per_tenant = true;
    snprintf(o.cfg.log_format, sizeof(o.cfg.log_format), "JSON");
    snprintf(o.cfg.app_log_level, sizeof(o.cfg.app_log_level), "DEBUG");
    snprintf(o.cfg.system_log_level, sizeof(o.cfg.system_log_level), "WARN");
    snprintf(o.cfg.log_group, sizeof(o.cfg.log_group), "/my/group");
    doc = td_function_to_json(&o.cfg, &ID);
    assert_non_null(doc);
    assert_string_equal(
        jstr(json_object_get(json_object_get(doc, "Environment"), "Variables"), "K"), "v");
    assert_string_equal(jstr(json_object_get(doc, "TenancyConfig"), "TenantIsolationMode"),
                        "PER_TENANT");
    lc = json_object_get(doc, "LoggingConfig");
    assert_string_equal(jstr(lc, "LogFormat"), "JSON");
    assert_string_equal(jstr(lc, "ApplicationLogLevel"), "DEBUG");
    assert_string_equal(jstr(lc, "SystemLogLevel"), "WARN");
    assert_string_equal(jstr(lc, "LogGroup"), "/my/group");
    json_decref(doc);

    _cleanup_buf_ struct td_buf arn = TD_BUF_INIT(256);
    assert_int_equal(td_function_arn(&ID, "x", &arn), 0);
    assert_string_equal(arn.data, "arn:aws:lambda:us-east-1:000000000000:function:x");
    outcome_release(&o);
}

static void test_touch(void **state)
{
    (void)state;
    struct td_function_config cfg;
    td_function_config_init(&cfg);
    int64_t t0 = td_wall_ms();
    assert_int_equal(td_function_touch(&cfg), 0);
    char first[TD_UUID_LEN + 1];
    memcpy(first, cfg.revision_id, sizeof(first));
    assert_int_equal(strlen(first), TD_UUID_LEN);
    assert_true(cfg.last_modified_ms >= t0 && cfg.last_modified_ms <= td_wall_ms());
    assert_int_equal(td_function_touch(&cfg), 0);
    assert_string_not_equal(cfg.revision_id, first);
    td_function_config_release(&cfg);
}

/* ---- storage ------------------------------------------------------------------------------- */

static void test_storage_round_trip(void **state)
{
    (void)state;
    static const char *const reqs[] = {
        "{\"FunctionName\": \"rt1\", \"Runtime\": \"provided.al2023\", \"Role\": \"" ROLE "\","
        " \"Code\": {\"ZipFile\": \"" ZIP_B64 "\"}}",
        "{\"FunctionName\": \"rt2\", \"Runtime\": \"nodejs20.x\", \"Role\": \"" ROLE "\","
        " \"Handler\": \"a.b\", \"Code\": {\"ZipFile\": \"UEsDBA==\"}, \"Description\": "
        "\"\\u65e5\\u672c \\\"quoted\\\"\", \"Timeout\": 900, \"MemorySize\": 10240,"
        " \"EphemeralStorage\": {\"Size\": 2048}, \"Environment\": {\"Variables\": {\"A\": \"1\","
        " \"B\": \"\\u00e9\\n\"}}, \"LoggingConfig\": {\"LogFormat\": \"JSON\","
        " \"ApplicationLogLevel\": \"ERROR\", \"SystemLogLevel\": \"DEBUG\", \"LogGroup\": "
        "\"/x/y\"}, \"TenancyConfig\": {\"TenantIsolationMode\": \"PER_TENANT\"}}",
        "{\"FunctionName\": \"rt3\", \"Runtime\": \"provided.al2\", \"Role\": \"" ROLE "\","
        " \"Code\": {\"ZipFile\": \"" ZIP_B64 "\"}, \"LoggingConfig\": {\"LogFormat\": \"JSON\"}}",
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(reqs); i++) {
        struct td_function_config cfg, back;
        make_config(parse(reqs[i]), &cfg);
        _cleanup_free_ char *text = td_function_to_storage(&cfg, &ID);
        assert_non_null(text);
        assert_non_null(strstr(text, "\"tenantd:CodeSha256Hex\":\""));
        assert_int_equal(td_function_from_storage(text, &back), 0);
        assert_config_equal(&cfg, &back);
        _cleanup_free_ char *again = td_function_to_storage(&back, &ID);
        assert_non_null(again);
        assert_string_equal(text, again);
        td_function_config_release(&back);
        td_function_config_release(&cfg);
    }
}

static void test_storage_rejects(void **state)
{
    (void)state;
    struct td_function_config cfg;
    struct td_function_config good;
    make_config(parse("{\"FunctionName\": \"rej\", \"Runtime\": \"provided.al2023\", \"Role\": "
                      "\"" ROLE "\", \"Code\": {\"ZipFile\": \"" ZIP_B64 "\"}}"),
                &good);
    _cleanup_free_ char *text = td_function_to_storage(&good, &ID);
    td_function_config_release(&good);
    json_t *base = parse(text);

    static const char *const not_docs[] = {"", "[]", "\"x\"", "{", "null", "{\"a\":1,\"a\":2}"};
    for (size_t i = 0; i < TD_ARRAY_SIZE(not_docs); i++) {
        int r = td_function_from_storage(not_docs[i], &cfg);
        assert_int_equal(r, -EINVAL);
        if (r == 0)
            td_function_config_release(&cfg);
    }
    static const struct {
        const char *key, *value;
    } broken[] = {
        {"FunctionName", NULL},
        {"FunctionName", "\"\""},
        {"Runtime", "\"python3.12\""},
        {"Runtime", NULL},
        {"tenantd:CodeSha256Hex", NULL},
        {"tenantd:CodeSha256Hex", "\"abc\""},
        {"Timeout", "0"},
        {"MemorySize", "64"},
        {"EphemeralStorage", "{}"},
        {"Timeout", "\"3\""},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(broken); i++) {
        json_t *doc = json_deep_copy(base);
        with(doc, broken[i].key, broken[i].value);
        char *t = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        int r = td_function_from_storage(t, &cfg);
        if (r != -EINVAL)
            print_message("accepted: %s\n", t);
        free(t);
        assert_int_equal(r, -EINVAL);
        td_function_config_release(&cfg);
    }
    json_decref(base);
}

/* A stored document is read back only in a form tenantd can write again: a member longer than
 * its field (here a Description of 401 bytes of UTF-8) is refused, or at least not cut inside
 * a UTF-8 sequence, after which the configuration could no longer be rendered. */
static void test_storage_overlong_fields(void **state)
{
    (void)state;
    struct td_function_config good, cfg;
    make_config(parse("{\"FunctionName\": \"long\", \"Runtime\": \"provided.al2023\", \"Role\": "
                      "\"" ROLE "\", \"Code\": {\"ZipFile\": \"" ZIP_B64 "\"}}"),
                &good);
    _cleanup_free_ char *text = td_function_to_storage(&good, &ID);
    td_function_config_release(&good);
    json_t *doc = parse(text);
    _cleanup_buf_ struct td_buf desc = TD_BUF_INIT(1024);
    assert_int_equal(td_buf_puts(&desc, "a"), 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(td_buf_puts(&desc, "\xc3\xa9"), 0);
    json_object_set_new(doc, "Description", json_string(desc.data));
    _cleanup_free_ char *bad = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    memset(&cfg, 0, sizeof(cfg));
    int r = td_function_from_storage(bad, &cfg);
    if (r == 0) {
        json_t *out = td_function_to_json(&cfg, &ID);
        if (!out)
            print_message("accepted, then cannot render: Description cut to %zu bytes\n",
                          strlen(cfg.description));
        assert_non_null(out);
        json_decref(out);
    }
    td_function_config_release(&cfg);
}

/* The daemon releases the configuration whatever td_function_from_storage returned
 * (daemon.c load_function), so a failed call must leave cfg releasable: initialised, or with
 * env_vars NULL. */
static void test_storage_failure_leaves_config_releasable(void **state)
{
    (void)state;
    static const char *const bad[] = {"not json", "[]", "{\"FunctionName\": \"f\"}"};
    for (size_t i = 0; i < TD_ARRAY_SIZE(bad); i++) {
        struct td_function_config cfg;
        memset(&cfg, 0xa5, sizeof(cfg));
        json_t *poison = cfg.env_vars;
        assert_int_equal(td_function_from_storage(bad[i], &cfg), -EINVAL);
        if (cfg.env_vars == poison)
            print_message("from_storage(\"%s\") left cfg uninitialised\n", bad[i]);
        assert_ptr_not_equal(cfg.env_vars, poison);
        assert_true(cfg.env_vars == NULL || json_is_object(cfg.env_vars));
        td_function_config_release(&cfg);
    }
}

/* ---- FunctionName resolution --------------------------------------------------------------- */

static void resolve_ok(const char *text, const char *name, const char *qualifier)
{
    char n[TD_FUNCTION_NAME_MAX + 1], q[129];
    struct td_err err = {0};
    int r = td_function_name_resolve(text, &ID, n, q, &err);
    if (r != 0)
        print_message("resolve(\"%s\"): %s\n", text, err.message);
    assert_int_equal(r, 0);
    assert_string_equal(n, name);
    assert_string_equal(q, qualifier);
}

static void resolve_fails(const char *text, int status, const char *type)
{
    char n[TD_FUNCTION_NAME_MAX + 1], q[129];
    struct td_err err = {0};
    int r = td_function_name_resolve(text, &ID, n, q, &err);
    if (r >= 0)
        print_message("resolve(\"%s\") accepted: name '%s' qualifier '%s'\n", text, n, q);
    expect_error(r, &err, status, type, NULL);
}

static void test_name_resolve(void **state)
{
    (void)state;
    resolve_ok("f", "f", "");
    resolve_ok("my-function_1.2", "my-function_1.2", "");
    resolve_ok("arn:aws:lambda:us-east-1:000000000000:function:f", "f", "");
    resolve_ok("arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST", "f", "$LATEST");
    resolve_ok("arn:aws:lambda:us-east-1:000000000000:function:f:prod", "f", "prod");
    resolve_ok("000000000000:function:f", "f", "");
    resolve_ok("f:$LATEST", "f", "$LATEST");
    resolve_ok("f:prod", "f", "prod");
    resolve_ok("f:1", "f", "1");

    _cleanup_free_ char *n64 = repeat('x', 64);
    _cleanup_free_ char *n65 = repeat('x', 65);
    resolve_ok(n64, n64, "");
    _cleanup_free_ char *arn64 = NULL, *arn65 = NULL, *q128 = NULL, *with_q128 = NULL;
    assert_true(asprintf(&arn64, "arn:aws:lambda:us-east-1:000000000000:function:%s:v1", n64) > 0);
    assert_true(asprintf(&arn65, "arn:aws:lambda:us-east-1:000000000000:function:%s", n65) > 0);
    resolve_ok(arn64, n64, "v1");
    q128 = repeat('q', 128);
    assert_true(asprintf(&with_q128, "f:%s", q128) > 0);
    resolve_ok(with_q128, "f", q128);

    resolve_fails(n65, 400, INVALID);
    resolve_fails(arn65, 400, INVALID);

    resolve_fails("arn:aws:lambda:eu-west-1:000000000000:function:f", 404, NOTFND);
    resolve_fails("arn:aws:lambda:us-east-1:111111111111:function:f", 404, NOTFND);
    resolve_fails("111111111111:function:f", 404, NOTFND);
    resolve_fails("111111111111:function:f:$LATEST", 404, NOTFND);

    static const char *const garbage[] = {
        "",
        ":",
        "f:",
        ":f",
        "f:a:b",
        "f::",
        "a b",
        "f/g",
        "f:$latest",
        "f:$LATEST:x",
        "arn:aws:lambda:us-east-1:000000000000:function:",
        "arn:aws:s3:::bucket",
        "\xc3\xa9",
        "f\n",
        "f\t",
        "f;rm",
        "f%3A",
        "00000000000:function:f:x:y",
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(garbage); i++)
        resolve_fails(garbage[i], 400, INVALID);

    /* Longer than 170 characters: refused before matching. */
    _cleanup_free_ char *long_text = NULL;
    assert_true(asprintf(&long_text, "arn:aws:lambda:us-east-1:000000000000:function:%s:%s", n64,
                         q128) > 0);
    resolve_fails(long_text, 400, INVALID);
}

/* Qualifiers are 1-128 characters (Lambda's Qualifier): a longer one must be refused rather
 * than cut to 128 characters, which would name another version or alias. */
static void test_name_resolve_long_qualifier(void **state)
{
    (void)state;
    _cleanup_free_ char *q129 = repeat('q', 129);
    _cleanup_free_ char *text = NULL;
    assert_true(asprintf(&text, "f:%s", q129) > 0);
    resolve_fails(text, 400, INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_each_runtime),
        cmocka_unit_test(test_create_full_request),
        cmocka_unit_test(test_create_function_name),
        cmocka_unit_test(test_create_timeout),
        cmocka_unit_test(test_create_memory_and_storage),
        cmocka_unit_test(test_create_environment),
        cmocka_unit_test(test_create_logging),
        cmocka_unit_test(test_create_tenancy),
        cmocka_unit_test(test_create_role),
        cmocka_unit_test(test_create_runtime),
        cmocka_unit_test(test_create_handler),
        cmocka_unit_test(test_create_code),
        cmocka_unit_test(test_create_code_too_large),
        cmocka_unit_test(test_create_code_at_limit),
        cmocka_unit_test(test_create_unsupported),
        cmocka_unit_test(test_create_wrong_types),
        cmocka_unit_test(test_update_partial),
        cmocka_unit_test(test_update_refusals_leave_config),
        cmocka_unit_test(test_update_logging_back_to_text),
        cmocka_unit_test(test_update_code),
        cmocka_unit_test(test_to_json_shape),
        cmocka_unit_test(test_touch),
        cmocka_unit_test(test_storage_round_trip),
        cmocka_unit_test(test_storage_rejects),
        cmocka_unit_test(test_storage_overlong_fields),
        cmocka_unit_test(test_storage_failure_leaves_config_releasable),
        cmocka_unit_test(test_name_resolve),
        cmocka_unit_test(test_name_resolve_long_qualifier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
