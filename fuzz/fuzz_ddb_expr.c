/* Fuzz the DynamoDB expression languages: parse, check, evaluate, apply.
 *
 * Input: the first byte picks the expression kind (its value modulo 5: condition, key
 * condition, filter, projection, update, in the order of enum td_ddb_expr_kind); the rest, up
 * to the first NUL, is the expression. It is parsed with fixed ExpressionAttributeNames and
 * Values (below) and, when it parses, used on a fixed item holding every type: conditions and
 * filters are evaluated (on the item and on no item), key conditions read for a hash+range and
 * a hash-only schema, projections applied, updates applied to a copy of the item. Short
 * UTF-8 inputs are also checked as an N and a B value, and encoded as keys.
 *
 * Checked invariants (abort on violation): a refused expression explains itself (status 400 or
 * 500, a type, a message) and yields no expression; evaluation of a parsed expression fails
 * only for lack of memory; an update either succeeds and leaves an item that passes
 * td_ddb_item_check unchanged, or fails and leaves the item exactly as it was; projections and
 * the attribute list are well-formed; messages about valid UTF-8 input are valid UTF-8; a
 * canonical value stays as it is when checked again; key encodings decode back to equal values
 * and order numbers as td_ddb_value_compare does. With
 * FUZZ_DDB_VERBOSE set in the environment, outcomes are printed (handy when adding seeds to
 * fuzz/corpus/ddb_expr/).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tenantd/buf.h"
#include "tenantd/ddb.h"
#include "tenantd/error.h"

/* Longer than TD_DDB_EXPR_MAX_BYTES, so that the size limit is exercised too. */
#define FUZZ_MAX_INPUT (TD_DDB_EXPR_MAX_BYTES + 64)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char NAMES[] = "{\"#a\":\"a\",\"#b\":\"b\",\"#n\":\"n\",\"#s\":\"s\",\"#l\":\"l\","
                            "\"#m\":\"m\",\"#k\":\"pk\",\"#r\":\"sk\",\"#d\":\"dotted.name\","
                            "\"#x\":\"x\",\"#set\":\"ss\",\"#0\":\"\\u00e9\"}";

static const char VALUES[] =
    "{\":s\":{\"S\":\"ban\"},\":n\":{\"N\":\"10\"},\":z\":{\"N\":\"0\"},"
    "\":neg\":{\"N\":\"-1.5e-3\"},\":big\":{\"N\":\"9.9e125\"},\":tiny\":{\"N\":\"1e-130\"},"
    "\":b\":{\"B\":\"AQI=\"},\":t\":{\"BOOL\":true},\":null\":{\"NULL\":true},"
    "\":l\":{\"L\":[{\"N\":\"1\"},{\"S\":\"x\"}]},\":e\":{\"L\":[]},"
    "\":m\":{\"M\":{\"a\":{\"N\":\"1\"},\"b\":{\"L\":[]}}},"
    "\":ss\":{\"SS\":[\"red\",\"blue\"]},\":ns\":{\"NS\":[\"1\",\"5\"]},"
    "\":bs\":{\"BS\":[\"AQ==\"]},\":type\":{\"S\":\"SS\"},\":empty\":{\"S\":\"\"}}";

static const char ITEM[] =
    "{\"pk\":{\"S\":\"p\"},\"sk\":{\"N\":\"1\"},\"n\":{\"N\":\"10\"},\"s\":{\"S\":\"banana\"},"
    "\"b\":{\"B\":\"AQID\"},\"t\":{\"BOOL\":false},\"z\":{\"NULL\":true},"
    "\"ss\":{\"SS\":[\"red\",\"green\"]},\"ns\":{\"NS\":[\"1\",\"2\"]},\"bs\":{\"BS\":[\"AQ==\"]},"
    "\"l\":{\"L\":[{\"S\":\"a\"},{\"N\":\"3\"},{\"L\":[{\"N\":\"4\"}]},{\"M\":{\"x\":{\"N\":\"5\"}}"
    "}]},"
    "\"m\":{\"M\":{\"x\":{\"M\":{\"y\":{\"S\":\"deep\"}}},\"l\":{\"L\":[{\"N\":\"1\"}]},"
    "\"ns\":{\"NS\":[\"7\"]}}},\"dotted.name\":{\"S\":\"yes\"},\"\\u00e9\":{\"S\":\"\\u00e9\"}}";

static void verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void verbose(const char *fmt, ...)
{
    static int on = -1;
    if (on < 0)
        on = getenv("FUZZ_DDB_VERBOSE") != NULL;
    if (!on)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* Set when the expression is valid UTF-8 (as any expression from a JSON request is): its
 * messages, which quote it, must then be valid UTF-8 too, or they cannot go back in JSON. */
static bool utf8_input;

static bool is_utf8(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

static void check_error(int r, const struct td_err *err)
{
    if (r >= 0 || (err->status != 400 && err->status != 500) || !err->type[0] || !err->message[0])
        abort();
    if (r != -ENOMEM && err->status != 400)
        abort();
    if (utf8_input && !is_utf8(err->message))
        abort();
}

static json_t *load(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);
    if (!v)
        abort();
    return v;
}

static void use_condition(const struct td_ddb_expr *e, const json_t *item)
{
    struct td_err err = {0};
    bool on_item = false, on_none = false;
    int r = td_ddb_condition_eval(e, item, &on_item, &err);
    if (r < 0)
        check_error(r, &err);
    r = td_ddb_condition_eval(e, NULL, &on_none, &err);
    if (r < 0)
        check_error(r, &err);
    verbose("  item: %s, no item: %s\n", on_item ? "true" : "false", on_none ? "true" : "false");
}

static void use_key_condition(const struct td_ddb_expr *e)
{
    struct td_err err = {0};
    struct td_ddb_key_condition kc;
    static const char *const RANGES[] = {"sk", NULL};
    for (size_t i = 0; i < 2; i++) {
        int r = td_ddb_key_condition_get(e, "pk", RANGES[i], &kc, &err);
        if (r < 0) {
            check_error(r, &err);
            verbose("  key (%s): %s\n", RANGES[i] ? "hash+range" : "hash", err.message);
            continue;
        }
        if (!kc.hash_value || td_ddb_type_of(kc.hash_value) == 0)
            abort();
        if (kc.op == TD_DDB_RANGE_BETWEEN && !kc.range_values[1])
            abort();
        if (kc.op != TD_DDB_RANGE_NONE && !kc.range_values[0])
            abort();
        verbose("  key (%s): range op %d\n", RANGES[i] ? "hash+range" : "hash", (int)kc.op);
    }
}

static void use_projection(const struct td_ddb_expr *e, const json_t *item)
{
    struct td_err err = {0};
    json_t *out = NULL;
    int r = td_ddb_projection_apply(e, item, &out, &err);
    if (r < 0) {
        check_error(r, &err);
        return;
    }
    /* a projection of a valid item is a valid item */
    json_t *copy = json_deep_copy(out);
    if (!json_is_object(out) || !copy || td_ddb_item_check(copy, &err) < 0 ||
        !json_equal(copy, out))
        abort();
    verbose("  projection: %zu attributes\n", json_object_size(out));
    json_decref(copy);
    json_decref(out);
    r = td_ddb_projection_apply(e, NULL, &out, &err);
    if (r == 0 && json_object_size(out) != 0)
        abort();
    json_decref(out);
}

static void use_update(const struct td_ddb_expr *e, const json_t *item)
{
    static const char *const KEYS[] = {"pk", "sk", NULL};
    struct td_err err = {0};
    json_t *work = json_deep_copy(item);
    if (!work)
        return;
    json_t *projected = NULL;
    if (td_ddb_update_project(e, item, &projected, &err) == 0)
        json_decref(projected);
    int r = td_ddb_update_apply(e, work, KEYS, &err);
    if (r < 0) {
        check_error(r, &err);
        /* all or nothing */
        if (!json_equal(work, item))
            abort();
        verbose("  update: %s\n", err.message);
    } else {
        /* still a valid item, already canonical */
        json_t *copy = json_deep_copy(work);
        if (!copy || td_ddb_item_check(copy, &err) < 0 || !json_equal(copy, work))
            abort();
        if (!json_equal(json_object_get(work, "pk"), json_object_get(item, "pk")))
            abort();
        verbose("  update: ok, %zu bytes\n", td_ddb_item_size(work));
        json_decref(copy);
    }
    json_decref(work);
}

static int blob_cmp(const struct td_buf *a, const struct td_buf *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->data, b->data, n) : 0;
    c = c != 0 ? c : a->len == b->len ? 0 : a->len < b->len ? -1 : 1;
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

/* The text as a number and as base64 too: canonical forms are stable, key encodings decode
 * back to equal values, and the N encoding orders as the numbers do. */
static void use_as_value(const char *text, const char *member)
{
    static const char *const FIXED[] = {"-1e125", "-1", "-0.5", "0",  "1e-130",
                                        "0.5",    "1",  "1.5",  "10", "9.99e125"};
    struct td_err err = {0};
    json_t *v = json_pack("{s:s}", member, text);
    if (!v)
        return;
    int r = td_ddb_value_check(v, NULL, &err);
    if (r < 0) {
        check_error(r, &err);
        json_decref(v);
        return;
    }
    json_t *again = json_deep_copy(v);
    if (!again || td_ddb_value_check(again, NULL, &err) < 0 || !json_equal(again, v))
        abort();
    json_decref(again);
    struct td_buf key = TD_BUF_INIT(64 * 1024), other = TD_BUF_INIT(64);
    json_t *back = NULL;
    if (td_ddb_key_encode(v, &key) == 0) {
        enum td_ddb_type t = td_ddb_type_of(v);
        if (td_ddb_key_decode(t, key.data, key.len, &back) < 0 || !td_ddb_value_equal(back, v))
            abort();
        for (size_t i = 0; t == TD_DDB_N && i < sizeof(FIXED) / sizeof(FIXED[0]); i++) {
            json_t *f = json_pack("{s:s}", "N", FIXED[i]);
            td_buf_reset(&other);
            if (f && td_ddb_key_encode(f, &other) == 0 &&
                td_ddb_value_compare(v, f) != blob_cmp(&key, &other))
                abort();
            json_decref(f);
        }
    }
    json_decref(back);
    td_buf_release(&key);
    td_buf_release(&other);
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    enum td_ddb_expr_kind kind = (enum td_ddb_expr_kind)(data[0] % 5);
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    utf8_input = is_utf8(text);
    if (utf8_input && strlen(text) <= 256) {
        use_as_value(text, "N");
        use_as_value(text, "B");
    }

    json_t *names = load(NAMES), *values = load(VALUES), *item = load(ITEM);
    struct td_err err = {0};
    struct td_ddb_subst *s = NULL;
    if (td_ddb_subst_new(names, values, &s, &err) < 0 || td_ddb_item_check(item, &err) < 0)
        abort();

    struct td_ddb_expr *e = NULL;
    int r = td_ddb_expr_parse(kind, text, s, &e, &err);
    verbose("kind %d: %s\n", (int)kind, text);
    if (r < 0) {
        check_error(r, &err);
        if (e)
            abort();
        verbose("  refused: %s: %s\n", err.type, err.message);
    } else {
        json_t *attrs = json_array(), *a;
        size_t i;
        if (attrs && td_ddb_expr_attributes(e, attrs) == 0)
            json_array_foreach(attrs, i, a) if (!json_is_string(a)) abort();
        json_decref(attrs);
        if (td_ddb_subst_check(s, &err) < 0)
            check_error(-EINVAL, &err);
        if (kind == TD_DDB_EXPR_CONDITION || kind == TD_DDB_EXPR_FILTER)
            use_condition(e, item);
        else if (kind == TD_DDB_EXPR_KEY_CONDITION)
            use_key_condition(e);
        else if (kind == TD_DDB_EXPR_PROJECTION)
            use_projection(e, item);
        else
            use_update(e, item);
    }
    td_ddb_expr_free(e);
    td_ddb_subst_free(s);
    json_decref(names);
    json_decref(values);
    json_decref(item);
    free(text);
    return 0;
}
