/* The table service's data model: DynamoDB numbers (spellings DynamoDB accepts and refuses,
 * canonical forms, order, exact arithmetic, limits), AttributeValue checks with DynamoDB's
 * messages, item sizes, equality and order of values, the order-preserving key encoding, and
 * the ExpressionAttributeNames/Values checks.
 *
 * JSON is written with ` for " to keep the tables readable; the helpers swap them back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ddb/ddb_internal.h"
#include "tenantd/buf.h"
#include "tenantd/cleanup.h"
#include "tenantd/ddb.h"
#include "tenantd/error.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static json_t *json_of(const char *text)
{
    _cleanup_free_ char *s = strdup(text);
    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '`')
            *p = '"';
    json_error_t jerr;
    json_t *v = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v)
        print_message("bad test JSON: %s (%s)\n", text, jerr.text);
    assert_non_null(v);
    return v;
}

static char *text_of(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '"')
            *p = '`';
    return s;
}

static void expect_text(const json_t *v, const char *want, const char *what)
{
    _cleanup_free_ char *got = text_of(v);
    if (strcmp(got, want) != 0)
        print_message("%s:\n  got  %s\n  want %s\n", what, got, want);
    assert_string_equal(got, want);
}

static void expect_error(int r, const struct td_err *err, const char *type, const char *msg,
                         const char *what)
{
    if (r >= 0 || strcmp(err->type, type) != 0 || strcmp(err->message, msg) != 0)
        print_message("%s:\n  got  %d %s: %s\n  want %s: %s\n", what, r, err->type, err->message,
                      type, msg);
    assert_true(r < 0);
    assert_int_equal(err->status, 400);
    assert_string_equal(err->type, type);
    assert_string_equal(err->message, msg);
}

#define VALIDATION    "ValidationException"
#define SERIALIZATION "SerializationException"
#define NOT_NUMERIC   "The parameter cannot be converted to a numeric value: "
#define OVERFLOW                                                                                   \
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
#define UNDERFLOW                                                                                  \
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
#define PRECISION "Attempting to store more than 38 significant digits in a Number"
#define INVALID   "One or more parameter values were invalid: "

/* ---- numbers ------------------------------------------------------------------------------- */

struct num_case {
    const char *in;
    const char *canonical; /* NULL: refused with message */
    const char *message;
};

static const struct num_case NUMBERS[] = {
    /* spellings the Alternator tests found DynamoDB to accept */
    {"3", "3", NULL},
    {"-7.1234", "-7.1234", NULL},
    {"-17e5", "-1700000", NULL},
    {"-17.4E37", "-174000000000000000000000000000000000000", NULL},
    {"+3", "3", NULL},
    {".123", "0.123", NULL},
    {"0001.23", "1.23", NULL},
    {"1e+5", "100000", NULL},
    {"0e1000", "0", NULL},
    /* normalisations captured against DynamoDB */
    {"00042", "42", NULL},
    {"-0", "0", NULL},
    {"1.5E2", "150", NULL},
    {"1.0", "1", NULL},
    {"+5", "5", NULL},
    {"+1.5", "1.5", NULL},
    {"+0", "0", NULL},
    {"+1e2", "100", NULL},
    {"1.5E+3", "1500", NULL},
    {"01.50", "1.5", NULL},
    {"1.", "1", NULL},
    {"-.5", "-0.5", NULL},
    {"0.000", "0", NULL},
    {"1E-5", "0.00001", NULL},
    {"123.456e1", "1234.56", NULL},
    {"123.456e-5", "0.00123456", NULL},
    {"100e-2", "1", NULL},
    {"0.10", "0.1", NULL},
    /* the magnitude and precision limits (Alternator's test_number.py) */
    {"1e125",
     "1"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "00000",
     NULL},
    {"9.99999999e125",
     "999999999"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000",
     NULL},
    {"-1e-130",
     "-0."
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "000000000"
     "1",
     NULL},
    {"3.1415926535897932384626433832795028841", "3.1415926535897932384626433832795028841", NULL},
    {"314159265358979323846.26433832795028841", "314159265358979323846.26433832795028841", NULL},
    {"31415926535897932384626433832795028841e30",
     "31415926535897932384626433832795028841000000000000000000000000000000", NULL},
    {"1000000000000000000000000000000000000000000000000000", /* 1 significant digit */
     "1000000000000000000000000000000000000000000000000000", NULL},
    {"1e126", NULL, OVERFLOW},
    {"11e125", NULL, OVERFLOW},
    {"-1e126", NULL, OVERFLOW},
    {"1e999999999999999999999", NULL, OVERFLOW},
    {"1e-131", NULL, UNDERFLOW},
    {"0.9e-130", NULL, UNDERFLOW},
    {"1e-999999999999999999999", NULL, UNDERFLOW},
    {"3.14159265358979323846264338327950288419", NULL, PRECISION},
    {"314159265358979323846.264338327950288419", NULL, PRECISION},
    {"314159265358979323846264338327950288419e30", NULL, PRECISION},
    /* not numbers */
    {"NaN", NULL, NOT_NUMERIC "NaN"},
    {"Infinity", NULL, NOT_NUMERIC "Infinity"},
    {"-Infinity", NULL, NOT_NUMERIC "-Infinity"},
    {"-NaN", NULL, NOT_NUMERIC "-NaN"},
    {"dog", NULL, NOT_NUMERIC "dog"},
    {"-dog", NULL, NOT_NUMERIC "-dog"},
    {" 1", NULL, NOT_NUMERIC " 1"},
    {"1 ", NULL, NOT_NUMERIC "1 "},
    {"1e", NULL, NOT_NUMERIC "1e"},
    {"e5", NULL, NOT_NUMERIC "e5"},
    {".", NULL, NOT_NUMERIC "."},
    {"-", NULL, NOT_NUMERIC "-"},
    {"1.2.3", NULL, NOT_NUMERIC "1.2.3"},
    {"--1", NULL, NOT_NUMERIC "--1"},
    {"1e1.5", NULL, NOT_NUMERIC "1e1.5"},
    {"0x10", NULL, NOT_NUMERIC "0x10"},
    {"1_000", NULL, NOT_NUMERIC "1_000"},
    {"", NULL, "The parameter cannot be converted to a numeric value"},
};

static void test_numbers(void **state)
{
    (void)state;
    for (size_t i = 0; i < TD_ARRAY_SIZE(NUMBERS); i++) {
        const struct num_case *c = &NUMBERS[i];
        _cleanup_free_ char *spec = NULL;
        assert_true(asprintf(&spec, "{`N`:`%s`}", c->in) > 0);
        json_t *v = json_of(spec);
        struct td_err err = {0};
        int r = td_ddb_value_check(v, NULL, &err);
        if (c->canonical) {
            if (r < 0)
                print_message("%s: %s\n", c->in, err.message);
            assert_int_equal(r, 0);
            assert_string_equal(json_string_value(json_object_get(v, "N")), c->canonical);
        } else {
            expect_error(r, &err, VALIDATION, c->message, c->in);
        }
        json_decref(v);
    }
}

/* Numbers that sort in this order, some spelled twice. */
static const char *const ORDERED[] = {
    "-9.9999999999999999999999999999999999999e125",
    "-1e125",
    "-123456789012345678901234567890",
    "-100",
    "-99.9",
    "-10.5",
    "-10.05",
    "-10",
    "-2",
    "-1.25",
    "-1.2",
    "-1",
    "-0.5",
    "-0.05",
    "-1e-130",
    "0",
    "1e-130",
    "1.000001e-100",
    "0.05",
    "0.5",
    "1",
    "1.2",
    "1.205",
    "1.25",
    "2",
    "10",
    "10.05",
    "10.5",
    "99.9",
    "100",
    "101",
    "123456789012345678901234567890",
    "1e125",
    "9.9999999999999999999999999999999999999e125",
};

static void parse_ok(const char *s, struct ddb_num *n)
{
    assert_int_equal(ddb_num_parse(s, strlen(s), n), DDB_NUM_OK);
}

static void test_number_order(void **state)
{
    (void)state;
    for (size_t i = 0; i < TD_ARRAY_SIZE(ORDERED); i++) {
        for (size_t j = 0; j < TD_ARRAY_SIZE(ORDERED); j++) {
            struct ddb_num a, b;
            parse_ok(ORDERED[i], &a);
            parse_ok(ORDERED[j], &b);
            int want = i < j ? -1 : i > j ? 1 : 0;
            int got = ddb_num_cmp(&a, &b);
            got = got < 0 ? -1 : got > 0 ? 1 : 0;
            if (got != want)
                print_message("cmp %s %s: %d\n", ORDERED[i], ORDERED[j], got);
            assert_int_equal(got, want);
        }
    }
}

struct sum_case {
    const char *a, *b;
    bool subtract;
    const char *result; /* NULL: OVERFLOW */
};

static const struct sum_case SUMS[] = {
    /* Alternator's test_update_expression_plus_precision */
    {"1", "10000000000000000000000", false, "10000000000000000000001"},
    {"10000000000000000000000", "1", true, "9999999999999999999999"},
    {"0.1", "0.2", false, "0.3"},
    {"1", "1", true, "0"},
    {"-5", "3", false, "-2"},
    {"2", "-3", true, "5"},
    {"1.5", "0", false, "1.5"},
    {"0", "1.5", true, "-1.5"},
    {"99999999999999999999999999999999999999", "1", true, "99999999999999999999999999999999999998"},
    {"9e125", "-9e125", false, "0"},
    {"1e-130", "1e-130", false,
     "0."
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "000000000"
     "2"},
    {"1e125", "1e125", false,
     "2"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "0000000000"
     "00000"},
    /* overflow, and the precision DynamoDB also reports as overflow */
    {"9e125", "9e125", false, NULL},
    {"9e125", "-9e125", true, NULL},
    {"1e50", "1", true, NULL},
    {"1e50", "1", false, NULL},
    {"99999999999999999999999999999999999999", "1", false,
     "100000000000000000000000000000000000000"},
    {"99999999999999999999999999999999999999", "0.1", false, NULL},
};

static void test_number_sums(void **state)
{
    (void)state;
    for (size_t i = 0; i < TD_ARRAY_SIZE(SUMS); i++) {
        const struct sum_case *c = &SUMS[i];
        struct ddb_num a, b, r;
        parse_ok(c->a, &a);
        parse_ok(c->b, &b);
        enum ddb_num_status st = ddb_num_add(&a, &b, c->subtract, &r);
        if (!c->result) {
            assert_int_equal(st, DDB_NUM_OVERFLOW);
            continue;
        }
        assert_int_equal(st, DDB_NUM_OK);
        char text[DDB_NUM_TEXT_MAX];
        ddb_num_format(&r, text);
        if (strcmp(text, c->result) != 0)
            print_message("%s %c %s = %s\n", c->a, c->subtract ? '-' : '+', c->b, text);
        assert_string_equal(text, c->result);
    }
}

/* ---- AttributeValues ----------------------------------------------------------------------- */

struct value_case {
    const char *in;
    const char *out;  /* canonical form, or NULL when refused */
    const char *type; /* error type */
    const char *message;
};

static const struct value_case VALUES[] = {
    {"{`S`:`hello`}", "{`S`:`hello`}", NULL, NULL},
    {"{`S`:``}", "{`S`:``}", NULL, NULL},
    {"{`B`:``}", "{`B`:``}", NULL, NULL},
    {"{`B`:`aGk=`}", "{`B`:`aGk=`}", NULL, NULL},
    {"{`BOOL`:false}", "{`BOOL`:false}", NULL, NULL},
    {"{`NULL`:true}", "{`NULL`:true}", NULL, NULL},
    {"{`M`:{}}", "{`M`:{}}", NULL, NULL},
    {"{`L`:[]}", "{`L`:[]}", NULL, NULL},
    {"{`L`:[{`N`:`01`},{`M`:{`x`:{`N`:`2.50`}}}]}", "{`L`:[{`N`:`1`},{`M`:{`x`:{`N`:`2.5`}}}]}",
     NULL, NULL},
    {"{`NS`:[`3`,`1.0`,`02`]}", "{`NS`:[`3`,`1`,`2`]}", NULL, NULL},
    {"{`SS`:[`b`,`a`]}", "{`SS`:[`b`,`a`]}", NULL, NULL},
    {"{`BS`:[`AQ==`,`Ag==`]}", "{`BS`:[`AQ==`,`Ag==`]}", NULL, NULL},
    /* unknown and null members are not seen */
    {"{`S`:`x`,`Q`:1}", "{`S`:`x`}", NULL, NULL},
    {"{`S`:`x`,`N`:null}", "{`S`:`x`}", NULL, NULL},
    {"{}", NULL, VALIDATION,
     "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"},
    {"{`X`:`1`}", NULL, VALIDATION,
     "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"},
    {"{`S`:`a`,`N`:`1`}", NULL, VALIDATION,
     "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the "
     "supported datatypes"},
    {"{`S`:`a`,`N`:`x`}", NULL, VALIDATION, NOT_NUMERIC "x"},
    {"{`NULL`:false}", NULL, VALIDATION,
     INVALID "Null attribute value types must have the value of true"},
    {"{`SS`:[]}", NULL, VALIDATION, INVALID "An string set  may not be empty"},
    {"{`NS`:[]}", NULL, VALIDATION, INVALID "An number set  may not be empty"},
    {"{`BS`:[]}", NULL, VALIDATION, INVALID "Binary sets should not be empty"},
    {"{`SS`:[`a`,`b`,`a`]}", NULL, VALIDATION,
     INVALID "Input collection [a, b, a] contains duplicates."},
    {"{`NS`:[`1`,`1.0`]}", NULL, VALIDATION, "Input collection contains duplicates"},
    {"{`BS`:[`AQ==`,`AQ==`]}", NULL, VALIDATION,
     INVALID "Input collection [AQ==, AQ==]of type BS contains duplicates."},
    {"{`SS`:[`a`,null]}", NULL, VALIDATION,
     INVALID "An string set may not have a null string as a member"},
    {"{`NS`:[`1`,null]}", NULL, VALIDATION, "The parameter cannot be converted to a numeric value"},
    {"{`NS`:[`1`,`x`]}", NULL, VALIDATION, NOT_NUMERIC "x"},
    {"{`NS`:[`1e200`]}", NULL, VALIDATION, OVERFLOW},
    {"{`N`:`1e-200`}", NULL, VALIDATION, UNDERFLOW},
    /* JSON of the wrong shape, as DynamoDB's deserializer words it */
    {"{`N`:123}", NULL, SERIALIZATION, "class java.lang.Short can not be converted to an String"},
    {"{`N`:123456}", NULL, SERIALIZATION,
     "class java.lang.Integer can not be converted to an String"},
    {"{`S`:true}", NULL, SERIALIZATION,
     "class java.lang.Boolean can not be converted to an String"},
    {"{`S`:{}}", NULL, SERIALIZATION, "Start of structure or map found where not expected."},
    {"{`S`:[]}", NULL, SERIALIZATION, "Start of list found where not expected"},
    {"{`BOOL`:`yes`}", NULL, SERIALIZATION, "'yes' can not be converted to an Boolean"},
    {"{`M`:[]}", NULL, SERIALIZATION, "Expected map or null"},
    {"{`L`:{}}", NULL, SERIALIZATION, "Expected list or null"},
    {"{`SS`:`a`}", NULL, SERIALIZATION, "Expected list or null"},
    {"`x`", NULL, SERIALIZATION, "Expected null"},
    {"[]", NULL, SERIALIZATION, "Start of list found where not expected"},
    {"{`B`:`abc`}", NULL, SERIALIZATION,
     "'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 "
     "bytes but found: 3"},
    {"{`B`:`ab!c`}", NULL, SERIALIZATION,
     "'ab!c' can not be converted to a Blob: Invalid Base64 character: '!'"},
    {"{`B`:`a=bc`}", NULL, SERIALIZATION,
     "'a=bc' can not be converted to a Blob: Invalid Base64 character: '='"},
    {"{`B`:`aGl=`}", NULL, SERIALIZATION,
     "'aGl=' can not be converted to a Blob: Invalid last non-pad Base64 character dectected"},
    {"{`L`:[{`S`:`a`},{}]}", NULL, VALIDATION,
     "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"},
};

static void test_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < TD_ARRAY_SIZE(VALUES); i++) {
        const struct value_case *c = &VALUES[i];
        json_t *v = json_of(c->in);
        struct td_err err = {0};
        int r = td_ddb_value_check(v, NULL, &err);
        if (c->out) {
            if (r < 0)
                print_message("%s: %s\n", c->in, err.message);
            assert_int_equal(r, 0);
            expect_text(v, c->out, c->in);
            assert_int_not_equal(td_ddb_type_of(v), 0);
        } else {
            expect_error(r, &err, c->type, c->message, c->in);
        }
        json_decref(v);
    }
}

/* Levels: a scalar inside 31 maps is 32 levels (accepted), inside 32 maps 33 (refused). */
static json_t *nested(int maps, const char *inner)
{
    json_t *v = json_of(inner);
    for (int i = 0; i < maps; i++) {
        json_t *m = json_pack("{s:{s:o}}", "M", "x", v);
        assert_non_null(m);
        v = m;
    }
    return v;
}

static void test_nesting(void **state)
{
    (void)state;
    struct td_err err = {0};
    json_t *ok = nested(31, "{`S`:`deep`}");
    assert_int_equal(td_ddb_value_check(ok, NULL, &err), 0);
    assert_int_equal(ddb_depth(ok), 32);
    json_decref(ok);
    json_t *empty = nested(31, "{`M`:{}}");
    assert_int_equal(td_ddb_value_check(empty, NULL, &err), 0);
    json_decref(empty);
    json_t *deep = nested(32, "{`S`:`deep`}");
    expect_error(td_ddb_value_check(deep, NULL, &err), &err, VALIDATION,
                 "Nesting Levels have exceeded supported limits: Attributes in the item have "
                 "nested levels beyond supported limit",
                 "33 levels");
    json_decref(deep);
    /* and a JSON nesting far past what the checks walk */
    json_t *absurd = nested(2000, "{`S`:`x`}");
    assert_true(td_ddb_value_check(absurd, NULL, &err) < 0);
    assert_int_equal(ddb_depth(absurd), DDB_WALK_MAX);
    assert_true(td_ddb_item_size(absurd) < 100000);
    json_decref(absurd);
}

static void test_where(void **state)
{
    (void)state;
    struct td_err err = {0};
    json_t *v = json_of("{`N`:`dog`}");
    expect_error(td_ddb_value_check(v, ":val", &err), &err, VALIDATION,
                 "ExpressionAttributeValues contains invalid value: The parameter cannot be "
                 "converted to a numeric value: dog for key :val",
                 "where");
    json_decref(v);
    v = json_of("{}");
    expect_error(td_ddb_value_check(v, ":v", &err), &err, VALIDATION,
                 "ExpressionAttributeValues contains invalid value: Supplied AttributeValue is "
                 "empty, must contain exactly one of the supported datatypes for key :v",
                 "where");
    json_decref(v);
}

static void test_item_check(void **state)
{
    (void)state;
    struct td_err err = {0};
    json_t *item = json_of("{`pk`:{`S`:`a`},`n`:{`N`:`007`},`s`:{`NS`:[`1.50`]}}");
    assert_int_equal(td_ddb_item_check(item, &err), 0);
    expect_text(item, "{`pk`:{`S`:`a`},`n`:{`N`:`7`},`s`:{`NS`:[`1.5`]}}", "item");
    json_decref(item);
    item = json_of("{``:{`S`:`a`}}");
    expect_error(td_ddb_item_check(item, &err), &err, VALIDATION,
                 INVALID "An attribute name may not be empty", "empty name");
    json_decref(item);
    item = json_of("{`a`:{`N`:`1e999`}}");
    expect_error(td_ddb_item_check(item, &err), &err, VALIDATION, OVERFLOW, "item number");
    json_decref(item);
    item = json_of("[1]");
    assert_true(td_ddb_item_check(item, &err) < 0);
    assert_string_equal(err.type, SERIALIZATION);
    json_decref(item);
}

/* ---- sizes --------------------------------------------------------------------------------- */

struct size_case {
    const char *item;
    size_t size;
};

static const struct size_case SIZES[] = {
    {"{}", 0},
    /* Developer Guide: name bytes + UTF-8 bytes */
    {"{`name`:{`S`:`hello`}}", 4 + 5},
    {"{`é`:{`S`:`日本`}}", 2 + 6},
    /* Developer Guide's worked examples of numbers: 27 -> 2, -27 -> 3, 461 -> 3 */
    {"{`a`:{`N`:`27`}}", 1 + 2},
    {"{`a`:{`N`:`-27`}}", 1 + 3},
    {"{`a`:{`N`:`461`}}", 1 + 3},
    {"{`a`:{`N`:`0`}}", 1 + 1},
    {"{`a`:{`N`:`1786461547`}}", 1 + 6},
    {"{`a`:{`N`:`1e125`}}", 1 + 2},
    {"{`a`:{`N`:`1.5`}}", 1 + 3},
    {"{`a`:{`N`:`0.001`}}", 1 + 2},
    {"{`a`:{`N`:`12345678901234567890123456789012345678`}}", 1 + 20},
    /* raw bytes of B */
    {"{`b`:{`B`:`AQID`}}", 1 + 3},
    {"{`b`:{`B`:`AQ==`}}", 1 + 1},
    {"{`b`:{`B`:``}}", 1},
    {"{`t`:{`BOOL`:true},`u`:{`NULL`:true}}", 1 + 1 + 1 + 1},
    /* sets: their elements */
    {"{`s`:{`SS`:[`ab`,`cde`]}}", 1 + 5},
    {"{`s`:{`NS`:[`27`,`-27`]}}", 1 + 5},
    {"{`s`:{`BS`:[`AQ==`,`AQID`]}}", 1 + 4},
    /* M and L: 3 bytes, plus 1 per element */
    {"{`m`:{`M`:{}}}", 1 + 3},
    {"{`l`:{`L`:[]}}", 1 + 3},
    {"{`m`:{`M`:{`ab`:{`S`:`xyz`}}}}", 1 + 3 + 2 + 3 + 1},
    {"{`l`:{`L`:[{`S`:`xyz`},{`N`:`27`}]}}", 1 + 3 + (3 + 1) + (2 + 1)},
};

static void test_sizes(void **state)
{
    (void)state;
    for (size_t i = 0; i < TD_ARRAY_SIZE(SIZES); i++) {
        json_t *item = json_of(SIZES[i].item);
        size_t got = td_ddb_item_size(item);
        if (got != SIZES[i].size)
            print_message("%s: %zu, want %zu\n", SIZES[i].item, got, SIZES[i].size);
        assert_int_equal(got, SIZES[i].size);
        json_decref(item);
    }
}

/* ---- equality and order -------------------------------------------------------------------- */

struct eq_case {
    const char *a, *b;
    bool equal;
    int order; /* td_ddb_value_compare */
};

static const struct eq_case EQUALS[] = {
    {"{`S`:`a`}", "{`S`:`a`}", true, 0},
    {"{`S`:`a`}", "{`S`:`b`}", false, -1},
    {"{`S`:`Z`}", "{`S`:`a`}", false, -1},
    {"{`S`:`ab`}", "{`S`:`a`}", false, 1},
    /* UTF-8 byte order: U+1F600 sorts after U+FFFD (in UTF-16 order it would not) */
    {"{`S`:`\\ud83d\\ude00`}", "{`S`:`\\ufffd`}", false, 1},
    {"{`N`:`10`}", "{`N`:`9`}", false, 1},
    {"{`N`:`1.5`}", "{`N`:`1.50`}", true, 0},
    {"{`N`:`-1`}", "{`N`:`1`}", false, -1},
    /* B: unsigned bytes (0x80 after 0x7f) */
    {"{`B`:`gA==`}", "{`B`:`fw==`}", false, 1},
    {"{`B`:`AQI=`}", "{`B`:`AQ==`}", false, 1},
    {"{`B`:`AQ==`}", "{`B`:`AQ==`}", true, 0},
    {"{`S`:`1`}", "{`N`:`1`}", false, -2},
    {"{`BOOL`:true}", "{`BOOL`:true}", true, -2},
    {"{`BOOL`:true}", "{`BOOL`:false}", false, -2},
    {"{`NULL`:true}", "{`NULL`:true}", true, -2},
    {"{`SS`:[`a`,`b`]}", "{`SS`:[`b`,`a`]}", true, -2},
    {"{`SS`:[`a`,`b`]}", "{`SS`:[`a`,`c`]}", false, -2},
    {"{`NS`:[`1`,`2.0`]}", "{`NS`:[`2`,`1`]}", true, -2},
    {"{`NS`:[`1`]}", "{`SS`:[`1`]}", false, -2},
    {"{`L`:[{`S`:`a`},{`N`:`1`}]}", "{`L`:[{`S`:`a`},{`N`:`1`}]}", true, -2},
    {"{`L`:[{`S`:`a`},{`N`:`1`}]}", "{`L`:[{`N`:`1`},{`S`:`a`}]}", false, -2},
    {"{`M`:{`a`:{`N`:`1`},`b`:{`S`:`x`}}}", "{`M`:{`b`:{`S`:`x`},`a`:{`N`:`1.0`}}}", true, -2},
    {"{`M`:{`a`:{`N`:`1`}}}", "{`M`:{`a`:{`N`:`1`},`b`:{`S`:`x`}}}", false, -2},
    {"{`M`:{}}", "{`L`:[]}", false, -2},
};

static void test_equality(void **state)
{
    (void)state;
    for (size_t i = 0; i < TD_ARRAY_SIZE(EQUALS); i++) {
        const struct eq_case *c = &EQUALS[i];
        json_t *a = json_of(c->a), *b = json_of(c->b);
        if (td_ddb_value_equal(a, b) != c->equal || td_ddb_value_compare(a, b) != c->order)
            print_message("%s vs %s\n", c->a, c->b);
        assert_int_equal(td_ddb_value_equal(a, b), c->equal);
        assert_int_equal(td_ddb_value_equal(b, a), c->equal);
        assert_int_equal(td_ddb_value_compare(a, b), c->order);
        json_decref(a);
        json_decref(b);
    }
}

static void test_types(void **state)
{
    (void)state;
    static const char *const NAMES[] = {"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"};
    for (int t = TD_DDB_S; t <= TD_DDB_BS; t++)
        assert_string_equal(td_ddb_type_name((enum td_ddb_type)t), NAMES[t - 1]);
    json_t *bad = json_of("{`S`:1}");
    assert_int_equal(td_ddb_type_of(bad), 0);
    json_decref(bad);
    bad = json_of("{`NULL`:false}");
    assert_int_equal(td_ddb_type_of(bad), 0);
    json_decref(bad);
    json_t *ok = json_of("{`BS`:[]}");
    assert_int_equal(td_ddb_type_of(ok), TD_DDB_BS);
    json_decref(ok);
}

/* ---- keys ---------------------------------------------------------------------------------- */

static void encode(const char *av, struct td_buf *out)
{
    json_t *v = json_of(av);
    td_buf_reset(out);
    assert_int_equal(td_ddb_key_encode(v, out), 0);
    json_decref(v);
}

static int blob_cmp(const struct td_buf *a, const struct td_buf *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->data, b->data, n) : 0;
    c = c != 0 ? c : a->len == b->len ? 0 : a->len < b->len ? -1 : 1;
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

static void test_key_numbers(void **state)
{
    (void)state;
    struct td_buf a = TD_BUF_INIT(1024), b = TD_BUF_INIT(1024);
    for (size_t i = 0; i < TD_ARRAY_SIZE(ORDERED); i++) {
        for (size_t j = 0; j < TD_ARRAY_SIZE(ORDERED); j++) {
            char sa[128], sb[128];
            snprintf(sa, sizeof(sa), "{`N`:`%s`}", ORDERED[i]);
            snprintf(sb, sizeof(sb), "{`N`:`%s`}", ORDERED[j]);
            encode(sa, &a);
            encode(sb, &b);
            int want = i < j ? -1 : i > j ? 1 : 0;
            if (blob_cmp(&a, &b) != want)
                print_message("key order %s %s\n", ORDERED[i], ORDERED[j]);
            assert_int_equal(blob_cmp(&a, &b), want);
            assert_true(a.len <= 22);
        }
        /* and back */
        char spec[128];
        snprintf(spec, sizeof(spec), "{`N`:`%s`}", ORDERED[i]);
        encode(spec, &a);
        json_t *back = NULL;
        assert_int_equal(td_ddb_key_decode(TD_DDB_N, a.data, a.len, &back), 0);
        json_t *orig = json_of(spec);
        assert_true(td_ddb_value_equal(back, orig));
        json_decref(back);
        json_decref(orig);
    }
    /* equal numbers spelled differently encode identically */
    static const char *const SAME[][2] = {
        {"1.50", "15e-1"}, {"-0", "0"}, {"100", "1E2"}, {"0.0010", ".001"}, {"-7.10", "-0071e-1"}};
    for (size_t i = 0; i < TD_ARRAY_SIZE(SAME); i++) {
        char sa[64], sb[64];
        snprintf(sa, sizeof(sa), "{`N`:`%s`}", SAME[i][0]);
        snprintf(sb, sizeof(sb), "{`N`:`%s`}", SAME[i][1]);
        encode(sa, &a);
        encode(sb, &b);
        assert_int_equal(blob_cmp(&a, &b), 0);
    }
    td_buf_release(&a);
    td_buf_release(&b);
}

static void test_key_strings_binary(void **state)
{
    (void)state;
    struct td_buf a = TD_BUF_INIT(4096), b = TD_BUF_INIT(4096);
    /* S by UTF-8 bytes, B unsigned */
    static const char *const S_ORDER[] = {"{`S`:``}",
                                          "{`S`:`A`}",
                                          "{`S`:`a`}",
                                          "{`S`:`a\\u0000`}",
                                          "{`S`:`ab`}",
                                          "{`S`:`\\ufffd`}",
                                          "{`S`:`\\ud83d\\ude00`}"};
    for (size_t i = 0; i + 1 < TD_ARRAY_SIZE(S_ORDER); i++) {
        encode(S_ORDER[i], &a);
        encode(S_ORDER[i + 1], &b);
        assert_int_equal(blob_cmp(&a, &b), -1);
    }
    static const char *const B_ORDER[] = {"{`B`:``}",     "{`B`:`AA==`}", "{`B`:`fw==`}",
                                          "{`B`:`gA==`}", "{`B`:`gAA=`}", "{`B`:`/w==`}"};
    for (size_t i = 0; i + 1 < TD_ARRAY_SIZE(B_ORDER); i++) {
        encode(B_ORDER[i], &a);
        encode(B_ORDER[i + 1], &b);
        assert_int_equal(blob_cmp(&a, &b), -1);
    }
    encode("{`B`:`AQID`}", &a);
    assert_int_equal(a.len, 3);
    json_t *back = NULL;
    assert_int_equal(td_ddb_key_decode(TD_DDB_B, a.data, a.len, &back), 0);
    expect_text(back, "{`B`:`AQID`}", "B back");
    json_decref(back);
    encode("{`S`:`日本`}", &a);
    assert_int_equal(td_ddb_key_decode(TD_DDB_S, a.data, a.len, &back), 0);
    expect_text(back, "{`S`:`日本`}", "S back");
    json_decref(back);
    /* other types are not keys; garbage does not decode */
    json_t *l = json_of("{`L`:[]}");
    assert_int_equal(td_ddb_key_encode(l, &a), -EINVAL);
    json_decref(l);
    assert_int_equal(td_ddb_key_decode(TD_DDB_N, "\x02\x01", 2, &back), -EINVAL);
    assert_int_equal(td_ddb_key_decode(TD_DDB_N, "", 0, &back), -EINVAL);
    assert_int_equal(td_ddb_key_decode(TD_DDB_N, "\x02\x82\x00\x00", 4, &back), -EINVAL);
    assert_int_equal(td_ddb_key_decode(TD_DDB_S, "\xff", 1, &back), -EINVAL);
    assert_int_equal(td_ddb_key_decode(TD_DDB_M, "x", 1, &back), -EINVAL);
    td_buf_release(&a);
    td_buf_release(&b);
}

/* ---- substitutions ------------------------------------------------------------------------- */

struct subst_case {
    const char *names, *values;
    const char *type;
    const char *message; /* NULL: accepted */
};

static const struct subst_case SUBSTS[] = {
    {"{`#a`:`x`,`#B_1`:`y`}", "{`:v`:{`N`:`1`},`:_`:{`S`:`s`}}", NULL, NULL},
    {"{}", NULL, VALIDATION, "ExpressionAttributeNames must not be empty"},
    {NULL, "{}", VALIDATION, "ExpressionAttributeValues must not be empty"},
    {"{`#sryLiyD8D-`:`x`}", NULL, VALIDATION,
     "ExpressionAttributeNames contains invalid key: Syntax error; key: \"#sryLiyD8D-\""},
    {"{`a`:`x`}", NULL, VALIDATION,
     "ExpressionAttributeNames contains invalid key: Syntax error; key: \"a\""},
    {"{`#`:`x`}", NULL, VALIDATION,
     "ExpressionAttributeNames contains invalid key: Syntax error; key: \"#\""},
    {NULL, "{`v`:{`S`:`x`}}", VALIDATION,
     "ExpressionAttributeValues contains invalid key: Syntax error; key: \"v\""},
    {NULL, "{`:hi!there`:{`S`:`x`}}", VALIDATION,
     "ExpressionAttributeValues contains invalid key: Syntax error; key: \":hi!there\""},
    {NULL, "{`:v`:{}}", VALIDATION,
     "ExpressionAttributeValues contains invalid value: Supplied AttributeValue is empty, must "
     "contain exactly one of the supported datatypes for key :v"},
    {NULL, "{`:v`:{`SS`:[]}}", VALIDATION,
     "ExpressionAttributeValues contains invalid value: One or more parameter values were "
     "invalid: An string set  may not be empty for key :v"},
    {"{`#a`:``}", NULL, VALIDATION,
     "ExpressionAttributeNames contains invalid value: Empty attribute name for key #a"},
    {"{`#a`:1}", NULL, SERIALIZATION,
     "Unexpected value for ExpressionAttributeNames key #a: expected a string"},
};

static void test_substitutions(void **state)
{
    (void)state;
    for (size_t i = 0; i < TD_ARRAY_SIZE(SUBSTS); i++) {
        const struct subst_case *c = &SUBSTS[i];
        json_t *names = c->names ? json_of(c->names) : NULL;
        json_t *values = c->values ? json_of(c->values) : NULL;
        struct td_ddb_subst *s = NULL;
        struct td_err err = {0};
        int r = td_ddb_subst_new(names, values, &s, &err);
        if (c->message) {
            expect_error(r, &err, c->type, c->message, c->names ? c->names : c->values);
            assert_null(s);
        } else {
            assert_int_equal(r, 0);
            /* nothing used yet: the names are reported first, in the request's order */
            expect_error(td_ddb_subst_check(s, &err), &err, VALIDATION,
                         "Value provided in ExpressionAttributeNames unused in expressions: "
                         "keys: {#a, #B_1}",
                         "unused");
        }
        td_ddb_subst_free(s);
        json_decref(names);
        json_decref(values);
    }
    /* the caller's JSON is not modified: the values are copied and made canonical */
    json_t *values = json_of("{`:n`:{`N`:`01.0`}}");
    struct td_ddb_subst *s = NULL;
    struct td_err err = {0};
    assert_int_equal(td_ddb_subst_new(NULL, values, &s, &err), 0);
    expect_text(values, "{`:n`:{`N`:`01.0`}}", "caller's values");
    expect_error(td_ddb_subst_check(s, &err), &err, VALIDATION,
                 "Value provided in ExpressionAttributeValues unused in expressions: keys: {:n}",
                 "unused value");
    const json_t *v = ddb_subst_value(s, ":n", 2);
    expect_text(v, "{`N`:`1`}", "canonical copy");
    assert_int_equal(td_ddb_subst_check(s, &err), 0);
    td_ddb_subst_free(s);
    json_decref(values);
    assert_int_equal(td_ddb_subst_check(NULL, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),       cmocka_unit_test(test_number_order),
        cmocka_unit_test(test_number_sums),   cmocka_unit_test(test_values),
        cmocka_unit_test(test_nesting),       cmocka_unit_test(test_where),
        cmocka_unit_test(test_item_check),    cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_equality),      cmocka_unit_test(test_types),
        cmocka_unit_test(test_key_numbers),   cmocka_unit_test(test_key_strings_binary),
        cmocka_unit_test(test_substitutions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
