/* The five DynamoDB expression languages: syntax errors and the checks after parsing, with
 * DynamoDB's messages (those recorded from real DynamoDB in public bug reports, dynalite's and
 * the Alternator test suite's records); condition and filter evaluation (the Developer Guide's
 * operators and functions, the Alternator suite's edge cases); updates (SET, REMOVE, ADD,
 * DELETE, if_not_exists, list_append, + and -, list index semantics); projections; key
 * conditions; the attribute names of an expression.
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

#include "tenantd/buf.h"
#include "tenantd/cleanup.h"
#include "tenantd/ddb.h"
#include "tenantd/error.h"

#define C TD_DDB_EXPR_CONDITION
#define F TD_DDB_EXPR_FILTER
#define K TD_DDB_EXPR_KEY_CONDITION
#define P TD_DDB_EXPR_PROJECTION
#define U TD_DDB_EXPR_UPDATE

/* ---- helpers ------------------------------------------------------------------------------- */

static json_t *json_of(const char *text)
{
    if (!text)
        return NULL;
    _cleanup_free_ char *s = strdup(text);
    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '`')
            *p = '"';
    json_error_t jerr;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &jerr);
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

/* Values: "name=<json>" entries separated by ';' (shorter than a JSON map in the tables). */
static json_t *values_of(const char *spec)
{
    if (!spec)
        return NULL;
    json_t *map = json_object();
    _cleanup_free_ char *copy = strdup(spec);
    assert_non_null(map);
    assert_non_null(copy);
    char *save = NULL;
    for (char *e = strtok_r(copy, ";", &save); e; e = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(e, '=');
        assert_non_null(eq);
        *eq = '\0';
        assert_int_equal(json_object_set_new(map, e, json_of(eq + 1)), 0);
    }
    return map;
}

struct parsed {
    struct td_ddb_subst *s;
    struct td_ddb_expr *e;
    struct td_err err;
    int r;
};

static void parse(struct parsed *p, enum td_ddb_expr_kind kind, const char *expr, const char *names,
                  const char *values)
{
    memset(p, 0, sizeof(*p));
    json_t *n = json_of(names), *v = values_of(values);
    p->r = td_ddb_subst_new(n, v, &p->s, &p->err);
    json_decref(n);
    json_decref(v);
    if (p->r < 0)
        print_message("substitutions refused: %s\n", p->err.message);
    assert_int_equal(p->r, 0);
    p->r = td_ddb_expr_parse(kind, expr, p->s, &p->e, &p->err);
}

static void parsed_free(struct parsed *p)
{
    td_ddb_expr_free(p->e);
    td_ddb_subst_free(p->s);
}

static void parse_ok(struct parsed *p, enum td_ddb_expr_kind kind, const char *expr,
                     const char *names, const char *values)
{
    parse(p, kind, expr, names, values);
    if (p->r < 0)
        print_message("%s: unexpected error %s\n", expr, p->err.message);
    assert_int_equal(p->r, 0);
    assert_non_null(p->e);
}

/* ---- syntax and checks --------------------------------------------------------------------- */

struct error_case {
    enum td_ddb_expr_kind kind;
    const char *expr;
    const char *names;
    const char *values;
    const char *message; /* NULL: accepted */
};

#define SYN_C        "Invalid ConditionExpression: Syntax error; "
#define SYN_U        "Invalid UpdateExpression: Syntax error; "
#define SYN_P        "Invalid ProjectionExpression: Syntax error; "
#define SYN_K        "Invalid KeyConditionExpression: Syntax error; "
#define IC           "Invalid ConditionExpression: "
#define IU           "Invalid UpdateExpression: "
#define IP           "Invalid ProjectionExpression: "
#define IK           "Invalid KeyConditionExpression: "
#define IF           "Invalid FilterExpression: "
#define OPERAND_TYPE "Incorrect operand type for operator or function; operator or function: "
#define MISUSED      "The function is not allowed to be used this way in an expression; function: "
#define NARGS        "Incorrect number of operands for operator or function; operator or function: "
#define N1           "{`N`:`1`}"
#define S1           "{`S`:`x`}"

static const struct error_case ERRORS[] = {
    /* syntax errors: the token and the text around it, as DynamoDB quotes them */
    {U, "ADD hits : incr", NULL, ":incr=" N1, SYN_U "token: \":\", near: \"hits : incr\""},
    {U, "INVALID SYNTAX HERE", NULL, ":v=" S1,
     SYN_U "token: \"INVALID\", near: \"INVALID SYNTAX\""},
    {U, "SET _123 = :val1", NULL, ":val1=" N1, SYN_U "token: \"_\", near: \"SET _123\""},
    {U, "SET 123a = :val1", NULL, ":val1=" N1, SYN_U "token: \"123\", near: \"SET 123a\""},
    {U, "SET hi-there = :val1", NULL, ":val1=" N1, SYN_U "token: \"-\", near: \"hi-there\""},
    {U, "SET \"hithere\" = :val1", NULL, ":val1=" N1,
     SYN_U "token: \"\"\", near: \"SET \"hithere\""},
    {U, "SET # = :val1", NULL, ":val1=" N1, SYN_U "token: \"#\", near: \"SET # =\""},
    {U, "SET a = :", NULL, NULL, SYN_U "token: \":\", near: \"= :\""},
    {U, "SET :a = :b", NULL, ":a=" N1 ";:b=" N1, SYN_U "token: \":a\", near: \"SET :a =\""},
    {U, "SET a = :val1 + :val2 + :val3", NULL, ":val1=" N1 ";:val2=" N1 ";:val3=" N1,
     SYN_U "token: \"+\", near: \":val2 + :val3\""},
    {U, "SET a[:xyz] = :val1", NULL, ":val1=" N1 ";:xyz=" N1,
     SYN_U "token: \":xyz\", near: \"[:xyz]\""},
    {U, "SET a[#xyz] = :val1", NULL, ":val1=" N1, SYN_U "token: \"#xyz\", near: \"[#xyz]\""},
    {U, "SET c = if_not_exists(c, :val1+:val2)", NULL, ":val1=" N1 ";:val2=" N1,
     SYN_U "token: \"+\", near: \":val1+:val2\""},
    {U, "SET a = _f(b,c,d)", NULL, NULL, SYN_U "token: \"_\", near: \"= _f\""},
    {U, "SET b = if_not_exists(non@sense, :val1)", NULL, ":val1=" N1,
     SYN_U "token: \"@\", near: \"non@sense\""},
    {U, "SET a = :v REMOVE", NULL, ":v=" N1, SYN_U "token: \"<EOF>\", near: \"REMOVE\""},
    {U, "SET a = :v,", NULL, ":v=" N1, SYN_U "token: \"<EOF>\", near: \",\""},
    {U, "HELLO b = :val1", NULL, ":val1=" N1, SYN_U "token: \"HELLO\", near: \"HELLO b\""},
    {U, "ADD a b", NULL, NULL, SYN_U "token: \"b\", near: \"a b\""},
    {P, "a b", NULL, NULL, SYN_P "token: \"b\", near: \"a b\""},
    {P, "a,", NULL, NULL, SYN_P "token: \"<EOF>\", near: \",\""},
    {P, "!!!", NULL, NULL, SYN_P "token: \"!\", near: \"!!\""},
    {P, "a[-1]", NULL, NULL, SYN_P "token: \"-\", near: \"[-1\""},
    {P, "a.[1]", NULL, NULL, SYN_P "token: \"[\", near: \".[1\""},
    {P, "a[99999999999]", NULL, NULL, SYN_P "token: \"99999999999\", near: \"[99999999999]\""},
    {C, "a = = :v", NULL, ":v=" N1, SYN_C "token: \"=\", near: \"= = :v\""},
    {C, "_hidden = :v", NULL, ":v=" N1, SYN_C "token: \"_\", near: \"_hidden\""},
    {C, "a IN ()", NULL, NULL, SYN_C "token: \")\", near: \"()\""},
    {C, "attribute_type()", NULL, NULL, SYN_C "token: \")\", near: \"()\""},
    {C, "a", NULL, NULL, SYN_C "token: \"<EOF>\", near: \"a\""},
    {C, ":a", NULL, ":a=" N1, SYN_C "token: \"<EOF>\", near: \":a\""},
    {C, "NOT :x", NULL, ":x=" N1, SYN_C "token: \"<EOF>\", near: \":x\""},
    {C, ":x AND :y", NULL, ":x=" N1 ";:y=" N1, SYN_C "token: \"AND\", near: \":x AND :y\""},
    {C, "a < b < c", NULL, NULL, SYN_C "token: \"<\", near: \"b < c\""},
    {C, "a BETWEEN :x", NULL, ":x=" N1, SYN_C "token: \"<EOF>\", near: \":x\""},
    {C, "a = :v AND", NULL, ":v=" N1, SYN_C "token: \"<EOF>\", near: \"AND\""},
    {C, "(a = :v", NULL, ":v=" N1, SYN_C "token: \"<EOF>\", near: \":v\""},
    {C, "a = (b = :v)", NULL, ":v=" N1, SYN_C "token: \"=\", near: \"b = :v\""},
    {C, "(a = :v) = :v", NULL, ":v=" N1, SYN_C "token: \"=\", near: \") = :v\""},
    {C, "and = :v", NULL, ":v=" N1, SYN_C "token: \"and\", near: \"and =\""},
    {C, "a.and = :v", NULL, ":v=" N1, SYN_C "token: \"and\", near: \".and =\""},
    {K, "p=:p AND c!=:c", NULL, ":p=" S1 ";:c=" S1, SYN_K "token: \"!\", near: \"c!=\""},
    /* empty and oversized */
    {U, "", NULL, NULL, IU "The expression can not be empty;"},
    {P, "   ", NULL, NULL, IP "The expression can not be empty;"},
    {K, "", NULL, NULL, IK "The expression can not be empty;"},
    {F, " \t\n", NULL, NULL, IF "The expression can not be empty;"},
    /* reserved words, whatever their case, but not behind a #name */
    {U, "SET status = :s", NULL, ":s=" S1,
     IU "Attribute name is a reserved keyword; reserved keyword: status"},
    {U, "SET #s = :s", "{`#s`:`status`}", ":s=" S1, NULL},
    {C, "a.Size = :v", NULL, ":v=" N1,
     IC "Attribute name is a reserved keyword; reserved keyword: Size"},
    {P, "a, data", NULL, NULL, IP "Attribute name is a reserved keyword; reserved keyword: data"},
    {P, "a, #d", "{`#d`:`data`}", NULL, NULL},
    {C, "size(a) > :v", NULL, ":v=" N1, NULL},
    /* placeholders */
    {U, "SET a = :absent", NULL, ":alt=" N1,
     IU "An expression attribute value used in expression is not defined; attribute value: "
        ":absent"},
    {U, "SET #a = :v", NULL, ":v=" N1,
     IU "An expression attribute name used in the document path is not defined; attribute "
        "name: #a"},
    {U, "SET b = if_not_exists(:val2, :val1)", NULL, ":val1=" N1,
     IU "An expression attribute value used in expression is not defined; attribute value: "
        ":val2"},
    {P, "#undef", NULL, NULL,
     IP "An expression attribute name used in the document path is not defined; attribute "
        "name: #undef"},
    {K, "p = :pk AND sk > :sk", NULL, ":pk=" S1,
     IK "An expression attribute value used in expression is not defined; attribute value: "
        ":sk"},
    {C, "#a.#b = :v", "{`#a`:`x`}", ":v=" N1,
     IC "An expression attribute name used in the document path is not defined; attribute "
        "name: #b"},
    /* functions: unknown, misused, operands */
    {C, "starts_with(a, :v)", NULL, ":v=" S1, IC "Invalid function name; function: starts_with"},
    {C, "ATTRIBUTE_EXISTS(a)", NULL, NULL, IC "Invalid function name; function: ATTRIBUTE_EXISTS"},
    {C, "dog(a)=:arg", NULL, ":arg=" N1, IC "Invalid function name; function: dog"},
    {C, "begins_with(a, :v) = :t", NULL, ":v=" S1 ";:t={`BOOL`:true}", IC MISUSED "begins_with"},
    {C, "attribute_exists(a) < :val", NULL, ":val=" N1, IC MISUSED "attribute_exists"},
    {C, "size(a)", NULL, NULL, IC MISUSED "size"},
    {C, "NOT size(a)", NULL, NULL, IC MISUSED "size"},
    {C, "if_not_exists(a, a)=:arg", NULL, ":arg=" N1, IC MISUSED "if_not_exists"},
    {C, "list_append(a, a)=:arg", NULL, ":arg=" N1, IC MISUSED "list_append"},
    {C, "size(a, a)=:arg", NULL, ":arg=" N1, IC NARGS "size, number of operands: 2"},
    {C, "contains(a)", NULL, NULL, IC NARGS "contains, number of operands: 1"},
    {C, "begins_with(a, :v, :v)", NULL, ":v=" S1, IC NARGS "begins_with, number of operands: 3"},
    {C, "attribute_exists(:val)", NULL, ":val=" N1,
     IC "Operator or function requires a document path; operator or function: attribute_exists"},
    {C, "attribute_type(a, b)", NULL, NULL,
     IC OPERAND_TYPE "attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}"},
    {C, "attribute_type(a, :t)", NULL, ":t={`S`:`STRING`}",
     IC "Invalid attribute type name found; type: STRING, valid types: "
        "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}"},
    {C, "attribute_type(:val, :t)", NULL, ":val=" N1 ";:t={`S`:`N`}", NULL},
    {C, "begins_with(a, :n)", NULL, ":n=" N1, IC OPERAND_TYPE "begins_with, operand type: N"},
    {C, "size(:n) = :n", NULL, ":n=" N1, IC OPERAND_TYPE "size, operand type: N"},
    {C, "size(size(a)) = :n", NULL, ":n=" N1, IC OPERAND_TYPE "size, operand type: N"},
    {C, "a < :l", NULL, ":l={`L`:[{`N`:`1`}]}", IC OPERAND_TYPE "<, operand type: L"},
    {C, ":l >= a", NULL, ":l={`M`:{}}", IC OPERAND_TYPE ">=, operand type: M"},
    {C, "a <= :b", NULL, ":b={`BOOL`:true}", IC OPERAND_TYPE "<=, operand type: BOOL"},
    {C, "a = :l", NULL, ":l={`L`:[]}", NULL},
    {C, "a BETWEEN :hi AND :lo", NULL, ":hi={`N`:`5`};:lo=" N1,
     IC "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
        "lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: "
        "{N:1}"},
    {C, "a BETWEEN :lo AND :s", NULL, ":lo=" N1 ";:s={`S`:`a`}",
     IC "The BETWEEN operator requires same data type for lower and upper bounds; lower bound "
        "operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:a}"},
    {C, "a BETWEEN :lo AND :hi", NULL, ":lo={`NS`:[`1`]};:hi={`NS`:[`2`]}",
     IC OPERAND_TYPE "BETWEEN, operand type: NS"},
    {C, "a = a", NULL, NULL,
     IC "The first operand must be distinct from the remaining operands for this operator or "
        "function; operator: =, first operand: [a]"},
    {C, "contains(a.b[1], #x.b[1])", "{`#x`:`a`}", NULL,
     IC "The first operand must be distinct from the remaining operands for this operator or "
        "function; operator: contains, first operand: [a, b, [1]]"},
    /* one error per condition, in source order */
    {C, "a < :l AND #undef = :v", NULL, ":l={`L`:[]};:v=" N1, IC OPERAND_TYPE "<, operand type: L"},
    {C, "#undef = :v AND a < :l", NULL, ":l={`L`:[]};:v=" N1,
     IC "An expression attribute name used in the document path is not defined; attribute "
        "name: #undef"},
    {C, "a = :v AND size(b) AND dog(c)", NULL, ":v=" N1, IC "Invalid function name; function: dog"},
    {C, "status = :v AND size(b)", NULL, ":v=" N1, IC MISUSED "size"},
    /* parentheses: one pair is fine, two are redundant */
    {C, "(a = :v)", NULL, ":v=" N1, NULL},
    {C, "(a) = :v", NULL, ":v=" N1, NULL},
    {C, "((a = :v))", NULL, ":v=" N1, IC "The expression has redundant parentheses;"},
    {C, "((a)) = :v", NULL, ":v=" N1, IC "The expression has redundant parentheses;"},
    {K, "((c=:c) AND (p=:p))", NULL, ":c=" S1 ";:p=" S1, NULL},
    {K, "((c=:c) AND ((p=:p)))", NULL, ":c=" S1 ";:p=" S1,
     IK "The expression has redundant parentheses;"},
    /* key conditions: DynamoDB's condition grammar, but fewer operators */
    {K, "p=:p AND c<>:c", NULL, ":p=" S1 ";:c=" S1,
     IK "Invalid operator used in KeyConditionExpression: <>"},
    {K, "c=:c OR p=:p", NULL, ":p=" S1 ";:c=" S1,
     IK "Invalid operator used in KeyConditionExpression: OR"},
    {K, "NOT c=:c AND p=:p", NULL, ":p=" S1 ";:c=" S1,
     IK "Invalid operator used in KeyConditionExpression: NOT"},
    {K, "p=:p AND c IN (:c)", NULL, ":p=" S1 ";:c=" S1,
     IK "Invalid operator used in KeyConditionExpression: IN"},
    {K, "p=:p AND attribute_exists(c)", NULL, ":p=" S1,
     IK "Invalid operator used in KeyConditionExpression: attribute_exists"},
    {K, "p=:p AND dog(c, :c)", NULL, ":p=" S1 ";:c=" N1, IK "Invalid function name; function: dog"},
    {K, "p=:p AND BEGINS_WITH(c,:c)", NULL, ":p=" S1 ";:c=" S1,
     IK "Invalid function name; function: BEGINS_WITH"},
    {K, "p=:p AND begins_with(c, :c)", NULL, ":p=" S1 ";:c=" N1,
     IK OPERAND_TYPE "begins_with, operand type: N"},
    /* updates */
    {U, "SET a = :val1 SET b = :val2", NULL, ":val1=" N1 ";:val2=" N1,
     IU "The \"SET\" section can only be used once in an update expression;"},
    {U, "SET a = :val1 REMOVE a SET b = :val2", NULL, ":val1=" N1 ";:val2=" N1,
     IU "The \"SET\" section can only be used once in an update expression;"},
    {U, "remove a remove b", NULL, NULL,
     IU "The \"REMOVE\" section can only be used once in an update expression;"},
    {U, "SET a = :v REMOVE a", NULL, ":v=" N1,
     IU "Two document paths overlap with each other; must remove or rewrite one of these "
        "paths; path one: [a], path two: [a]"},
    {U, "SET #a1 = :v1, #a2 = :v2", "{`#a1`:`a`,`#a2`:`a`}", ":v1=" N1 ";:v2=" N1,
     IU "Two document paths overlap with each other; must remove or rewrite one of these "
        "paths; path one: [a], path two: [a]"},
    {U, "SET a[1][1] = :v1, a[1] = :v2", NULL, ":v1=" N1 ";:v2=" N1,
     IU "Two document paths overlap with each other; must remove or rewrite one of these "
        "paths; path one: [a, [1], [1]], path two: [a, [1]]"},
    {U, "SET a.b = :v1, a.b.c.d.e = :v2", NULL, ":v1=" N1 ";:v2=" N1,
     IU "Two document paths overlap with each other; must remove or rewrite one of these "
        "paths; path one: [a, b], path two: [a, b, c, d, e]"},
    {U, "SET a.b = :v1, a[1] = :v2", NULL, ":v1=" N1 ";:v2=" N1,
     IU "Two document paths conflict with each other; must remove or rewrite one of these "
        "paths; path one: [a, b], path two: [a, [1]]"},
    {U, "SET a.b.c = :v1, a.b[2] = :v2", NULL, ":v1=" N1 ";:v2=" N1,
     IU "Two document paths conflict with each other; must remove or rewrite one of these "
        "paths; path one: [a, b, c], path two: [a, b, [2]]"},
    {U, "SET a.b = :v1, a.c.d = :v2, b.x = :v1 REMOVE a.x, b.y", NULL, ":v1=" N1 ";:v2=" N1, NULL},
    {U, "REMOVE a SET b = a", NULL, NULL, NULL},
    {U, "ADD a :v", NULL, ":v=" S1,
     IU "Incorrect operand type for operator or function; operator: ADD, operand type: STRING, "
        "typeSet: ALLOWED_FOR_ADD_OPERAND"},
    {U, "ADD a :v", NULL, ":v={`M`:{}}",
     IU "Incorrect operand type for operator or function; operator: ADD, operand type: MAP, "
        "typeSet: ALLOWED_FOR_ADD_OPERAND"},
    {U, "ADD a :v", NULL, ":v={`L`:[]}",
     IU "Incorrect operand type for operator or function; operator: ADD, operand type: LIST, "
        "typeSet: ALLOWED_FOR_ADD_OPERAND"},
    {U, "DELETE a :v", NULL, ":v=" N1,
     IU "Incorrect operand type for operator or function; operator: DELETE, operand type: "
        "NUMBER, typeSet: ALLOWED_FOR_DELETE_OPERAND"},
    {U, "ADD a :v, b :s DELETE c :s", NULL, ":v=" N1 ";:s={`SS`:[`x`]}", NULL},
    {U, "SET b = :val1 + :val2", NULL, ":val1={`S`:`dog`};:val2=" N1,
     IU OPERAND_TYPE "+, operand type: S"},
    {U, "SET b = :val1 - a", NULL, ":val1={`SS`:[`a`]}", IU OPERAND_TYPE "-, operand type: SS"},
    {U, "SET a = list_append(:val1, :val2)", NULL, ":val1={`L`:[]};:val2=" S1,
     IU OPERAND_TYPE "list_append, operand type: S"},
    {U, "SET a = list_append(:val1)", NULL, ":val1={`L`:[]}",
     IU NARGS "list_append, number of operands: 1"},
    {U, "SET a = list_append(:a, :b, :c)", NULL, ":a={`L`:[]};:b={`L`:[]};:c={`L`:[]}",
     IU NARGS "list_append, number of operands: 3"},
    {U, "SET a = list_append(list_append(:a, :b), :c)", NULL, ":a={`L`:[]};:b={`L`:[]};:c={`L`:[]}",
     IU MISUSED "list_append"},
    {U, "SET a = if_not_exists(b, if_not_exists(c, :v))", NULL, ":v=" N1,
     IU MISUSED "if_not_exists"},
    {U, "SET a = list_append(if_not_exists(a, :e), :t)", NULL, ":e={`L`:[]};:t={`L`:[]}", NULL},
    {U, "SET b = if_not_exists(b, :val1)+:val2", NULL, ":val1=" N1 ";:val2=" N1, NULL},
    {U, "SET b = (a + :v)", NULL, ":v=" N1, NULL},
    {U, "SET b = (a) + (:v), c = (:v)", NULL, ":v=" N1, NULL},
    {U, "SET b = if_not_exists(:val2, :val1)", NULL, ":val1=" N1 ";:val2=" N1,
     IU "Operator or function requires a document path; operator or function: if_not_exists"},
    {U, "SET a = f(b,c,d)", NULL, NULL, IU "Invalid function name; function: f"},
    {U, "SET a = f123_hi(b,c,d)", NULL, NULL, IU "Invalid function name; function: f123_hi"},
    {U, "SET a = LIST_APPEND(:val1, :val2)", NULL, ":val1={`L`:[]};:val2={`L`:[]}",
     IU "Invalid function name; function: LIST_APPEND"},
    {U, "SET a = attribute_exists(b)", NULL, NULL,
     IU "Invalid function name; function: attribute_exists"},
    {U, "set b = :v", NULL, ":v=" N1, NULL},
    {U, "  sEt   b=:v  ", NULL, ":v=" N1, NULL},
    {U, "SET Alpha_Numeric_123 = :v, #123 = :v, #_ = :v", "{`#123`:`x`,`#_`:`y`}", ":v=" N1, NULL},
    {U, "SET a = :Alpha_Numeric_123, b = :123, c = :_", NULL,
     ":Alpha_Numeric_123=" N1 ";:123=" N1 ";:_=" N1, NULL},
    /* projections */
    {P, "a, a.b", NULL, NULL,
     IP "Two document paths overlap with each other; must remove or rewrite one of these "
        "paths; path one: [a], path two: [a, b]"},
    {P, "a[0], a.b", NULL, NULL,
     IP "Two document paths conflict with each other; must remove or rewrite one of these "
        "paths; path one: [a, [0]], path two: [a, b]"},
    {P, "a.b, a.c, a[1].d, x", NULL, NULL,
     IP "Two document paths conflict with each other; must remove or rewrite one of these "
        "paths; path one: [a, b], path two: [a, [1], d]"},
    {P, "a, b[1], #c.d[2].e, f.g", "{`#c`:`c`}", NULL, NULL},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < TD_ARRAY_SIZE(ERRORS); i++) {
        const struct error_case *c = &ERRORS[i];
        struct parsed p;
        parse(&p, c->kind, c->expr, c->names, c->values);
        if (c->message) {
            if (p.r >= 0 || strcmp(p.err.message, c->message) != 0)
                print_message("%s:\n  got  %s\n  want %s\n", c->expr,
                              p.r >= 0 ? "ok" : p.err.message, c->message);
            assert_true(p.r < 0);
            assert_null(p.e);
            assert_int_equal(p.err.status, 400);
            assert_string_equal(p.err.type, "ValidationException");
            assert_string_equal(p.err.message, c->message);
        } else {
            if (p.r < 0)
                print_message("%s: unexpected %s\n", c->expr, p.err.message);
            assert_int_equal(p.r, 0);
        }
        parsed_free(&p);
    }
}

/* The limits: 4 KB of text, 300 operators, 100 operands to IN, nesting. */
static void test_limits(void **state)
{
    (void)state;
    struct parsed p;
    struct td_buf b = TD_BUF_INIT(64 * 1024);
    /* 4096 bytes are fine, 4097 are not */
    assert_int_equal(td_buf_puts(&b, "a = :v"), 0);
    while (b.len < 4096)
        assert_int_equal(td_buf_puts(&b, " "), 0);
    parse_ok(&p, C, b.data, NULL, ":v=" N1);
    parsed_free(&p);
    assert_int_equal(td_buf_puts(&b, " "), 0);
    parse(&p, C, b.data, NULL, ":v=" N1);
    assert_string_equal(p.err.message, IC "Expression size has exceeded the maximum allowed "
                                          "size; expression size: 4097");
    parsed_free(&p);
    /* 300 operators: 150 comparisons and 150 ANDs are fine, 151 + 150 are not */
    td_buf_reset(&b);
    for (int i = 0; i < 150; i++)
        assert_true(td_buf_printf(&b, "%sa = :v", i ? " AND " : "") >= 0);
    assert_int_equal(td_buf_puts(&b, " AND a = :v"), 0); /* 151st comparison, 150th AND */
    parse(&p, F, b.data, NULL, ":v=" N1);
    assert_string_equal(p.err.message,
                        IF "The expression contains too many operators; operator count: 301");
    parsed_free(&p);
    /* IN: 100 operands with the left one */
    td_buf_reset(&b);
    _cleanup_buf_ struct td_buf values = TD_BUF_INIT(64 * 1024);
    assert_int_equal(td_buf_puts(&b, "a IN ("), 0);
    for (int i = 0; i < 100; i++) {
        assert_true(td_buf_printf(&b, "%s:v%d", i ? "," : "", i) >= 0);
        assert_true(td_buf_printf(&values, "%s:v%d=" N1, i ? ";" : "", i) >= 0);
    }
    assert_int_equal(td_buf_puts(&b, ")"), 0);
    parse(&p, C, b.data, NULL, values.data);
    assert_string_equal(p.err.message, IC "The IN operator is provided with too many operands; "
                                          "number of operands: 101");
    parsed_free(&p);
    /* nesting past the parser's cap is refused, not recursed into */
    td_buf_reset(&b);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(td_buf_puts(&b, "NOT "), 0);
    assert_int_equal(td_buf_puts(&b, "a = :v"), 0);
    parse(&p, C, b.data, NULL, ":v=" N1);
    assert_string_equal(p.err.message,
                        IC "The expression has too many nested levels; maximum levels: 64");
    parsed_free(&p);
    td_buf_reset(&b);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(td_buf_puts(&b, "("), 0);
    parse(&p, C, b.data, NULL, NULL);
    assert_true(p.r < 0);
    parsed_free(&p);
    td_buf_reset(&b);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(td_buf_puts(&b, "size("), 0);
    parse(&p, U, b.data, NULL, NULL);
    assert_true(p.r < 0);
    parsed_free(&p);
    td_buf_release(&b);
}

/* ---- conditions ---------------------------------------------------------------------------- */

/* b is the bytes 01 02 03; unicode is U+00E9 U+1F600 (3 UTF-16 code units, 6 UTF-8 bytes). */
static const char ITEM[] =
    "{`pk`:{`S`:`p`},`n`:{`N`:`10`},`s`:{`S`:`banana`},`b`:{`B`:`AQID`},`flag`:{`BOOL`:true},"
    "`nothing`:{`NULL`:true},`tags`:{`SS`:[`red`,`green`]},`nums`:{`NS`:[`1`,`5`]},"
    "`bins`:{`BS`:[`AQ==`,`Ag==`]},"
    "`letters`:{`L`:[{`S`:`a`},{`S`:`b`},{`N`:`3`},{`SS`:[`x`]},{`L`:[{`N`:`4`}]}]},"
    "`info`:{`M`:{`nested`:{`M`:{`deep`:{`S`:`x`}}},"
    "`arr`:{`L`:[{`M`:{`v`:{`N`:`1`}}},{`M`:{`v`:{`N`:`2`}}}]}}},"
    "`dotted.name`:{`S`:`yes`},`unicode`:{`S`:`\\u00e9\\ud83d\\ude00`}}";

struct cond_case {
    const char *expr;
    const char *names;
    const char *values;
    bool want;
};

#define N(x) "{`N`:`" x "`}"
#define S(x) "{`S`:`" x "`}"

static const struct cond_case CONDITIONS[] = {
    /* comparisons: numbers numerically, strings by UTF-8 bytes */
    {"n > :nine", NULL, ":nine=" N("9"), true},
    {"n < :hundred", NULL, ":hundred=" N("100"), true},
    {"n = :ten", NULL, ":ten=" N("10.0"), true},
    {"n >= :ten AND n <= :ten", NULL, ":ten=" N("10"), true},
    {"n <> :ten", NULL, ":ten=" N("1e1"), false},
    {"s > :apple", NULL, ":apple=" S("apple"), true},
    {"s < :lower", NULL, ":lower=" S("banana_"), true},
    {"s >= :upper", NULL, ":upper=" S("BANANA"), true},
    /* UTF-8 order: U+1F600 after U+FFFD (UTF-16 order would say before) */
    {"unicode > :e", NULL, ":e={`S`:`\\u00e9\\ufffd`}", true},
    {"b < :b", NULL, ":b={`B`:`gA==`}", true},
    /* missing attributes: never equal, always unequal, never ordered */
    {"absent <> :v", NULL, ":v=" N("1"), true},
    {"absent < :v", NULL, ":v=" N("1"), false},
    {"absent = :v", NULL, ":v=" N("1"), false},
    {":v > absent", NULL, ":v=" N("1"), false},
    {"q = z", NULL, NULL, false},
    {"q <> z", NULL, NULL, true},
    {"q >= z", NULL, NULL, false},
    /* different types: unequal and unordered */
    {"s > :n", NULL, ":n=" N("1"), false},
    {"s <> :n", NULL, ":n=" N("1"), true},
    {"letters < :n", NULL, ":n=" N("1"), false},
    {"flag = :t", NULL, ":t={`BOOL`:true}", true},
    {"flag = :t", NULL, ":t={`BOOL`:false}", false},
    {"nothing = :null", NULL, ":null={`NULL`:true}", true},
    {"nums = :set", NULL, ":set={`NS`:[`5`,`1.0`]}", true},
    {"tags = :set", NULL, ":set={`SS`:[`red`]}", false},
    {"info.nested = :m", NULL, ":m={`M`:{`deep`:{`S`:`x`}}}", true},
    {"letters[4] = :l", NULL, ":l={`L`:[{`N`:`4`}]}", true},
    {"n = n2", NULL, NULL, false},
    /* BETWEEN and IN */
    {"n BETWEEN :lo AND :hi", NULL, ":lo=" N("10") ";:hi=" N("20"), true},
    {"n BETWEEN :lo AND :hi", NULL, ":lo=" N("11") ";:hi=" N("20"), false},
    {"s between :lo and :hi", NULL, ":lo=" S("b") ";:hi=" S("c"), true},
    {"q BETWEEN :lo AND :hi", NULL, ":lo=" N("1") ";:hi=" N("2"), false},
    {"s IN (:a, :b)", NULL, ":a=" S("apple") ";:b=" S("banana"), true},
    {"s IN (:a)", NULL, ":a=" S("apple"), false},
    {"n IN (:x, :y)", NULL, ":x=" S("dog") ";:y=" N("10"), true},
    {"q IN (:a)", NULL, ":a=" S("apple"), false},
    {"n in (n, s)", NULL, NULL, true},
    /* AND before OR, NOT before AND, parentheses first */
    {"n = :yes OR n = :yes AND n = :no", NULL, ":yes=" N("10") ";:no=" N("11"), true},
    {"(n = :yes OR n = :yes) AND n = :no", NULL, ":yes=" N("10") ";:no=" N("11"), false},
    {"NOT n = :no AND n = :yes", NULL, ":yes=" N("10") ";:no=" N("11"), true},
    {"not (n = :yes)", NULL, ":yes=" N("10"), false},
    {"NOT NOT n = :yes", NULL, ":yes=" N("10"), true},
    {"n = :no OR s = :no OR flag = :t", NULL, ":no=" N("11") ";:t={`BOOL`:true}", true},
    {"n between :lo and :hi Or s in (:a)", NULL, ":lo=" N("1") ";:hi=" N("20") ";:a=" S("x"), true},
    /* functions */
    {"attribute_exists(n) AND attribute_not_exists(absent)", NULL, NULL, true},
    {"attribute_exists (nothing)", NULL, NULL, true},
    {"attribute_exists(info.arr[1].v)", NULL, NULL, true},
    {"attribute_not_exists(letters[9])", NULL, NULL, true},
    {"attribute_type(tags, :ss) AND attribute_type(nothing, :null)", NULL,
     ":ss=" S("SS") ";:null=" S("NULL"), true},
    {"attribute_type(n, :s)", NULL, ":s=" S("S"), false},
    {"attribute_type(absent, :s)", NULL, ":s=" S("S"), false},
    {"attribute_type(:val, :t)", NULL, ":val=" N("0") ";:t=" S("N"), true},
    {"begins_with(s, :p)", NULL, ":p=" S("ban"), true},
    {"begins_with(s, :p)", NULL, ":p=" S("nan"), false},
    {"begins_with(s, :p)", NULL, ":p=" S(""), true},
    {"begins_with(b, :p)", NULL, ":p={`B`:`AQI=`}", true},
    {"begins_with(b, :p)", NULL, ":p={`B`:`Ag==`}", false},
    {"begins_with(n, :p)", NULL, ":p=" S("1"), false},
    {"begins_with(s, :p)", NULL, ":p={`B`:`YmFu`}", false},
    {"begins_with(:str, s)", NULL, ":str=" S("bananasplit"), true},
    {"contains(s, :sub)", NULL, ":sub=" S("nan"), true},
    {"contains(s, :sub)", NULL, ":sub=" S("nab"), false},
    {"contains(tags, :red)", NULL, ":red=" S("red"), true},
    {"contains(tags, :blue)", NULL, ":blue=" S("blue"), false},
    {"contains(nums, :five)", NULL, ":five=" N("5.0"), true},
    {"contains(nums, :five)", NULL, ":five=" S("5"), false},
    {"contains(bins, :two)", NULL, ":two={`B`:`Ag==`}", true},
    {"contains(b, :two)", NULL, ":two={`B`:`AgM=`}", true},
    {"contains(letters, :three)", NULL, ":three=" N("3"), true},
    {"contains(letters, :set)", NULL, ":set={`SS`:[`x`]}", true},
    {"contains(letters, :l)", NULL, ":l={`L`:[{`N`:`4`}]}", true},
    {"contains(letters, :l)", NULL, ":l={`L`:[{`N`:`5`}]}", false},
    {"contains(n, :one)", NULL, ":one=" N("1"), false},
    {"contains(absent, :one)", NULL, ":one=" N("1"), false},
    {"contains(s, n)", NULL, NULL, false},
    /* size(): UTF-16 code units, bytes, elements; no value for other types */
    {"size(s) = :six", NULL, ":six=" N("6"), true},
    {"size(unicode) = :three", NULL, ":three=" N("3"), true},
    {"size(tags) = :two AND size(letters) = :five AND size(info) = :two", NULL,
     ":two=" N("2") ";:five=" N("5"), true},
    {"size(b) = :three", NULL, ":three=" N("3"), true},
    {"size(n) = :one", NULL, ":one=" N("1"), false},
    {"size(flag) = :one", NULL, ":one=" N("1"), false},
    {"size(nothing) = :one", NULL, ":one=" N("1"), false},
    {"size(nothing) <> :one", NULL, ":one=" N("1"), true},
    {"size(absent) < :one", NULL, ":one=" N("1"), false},
    {"size(s) = :dog", NULL, ":dog=" S("dog"), false},
    {"size(s) < n", NULL, NULL, true},
    {"size(s)<>:arg", NULL, ":arg=" N("4"), true},
    {"size(info.nested) = :one", NULL, ":one=" N("1"), true},
    {"size(:s) = :two", NULL, ":s=" S("ab") ";:two=" N("2"), true},
    {"contains(info.arr, :m)", NULL, ":m={`M`:{`v`:{`N`:`2`}}}", true},
    /* document paths */
    {"info.nested.deep = :x", NULL, ":x=" S("x"), true},
    {"info.arr[1].v = :two", NULL, ":two=" N("2"), true},
    {"info.arr[5].v = :two", NULL, ":two=" N("2"), false},
    {"letters[0] = :a", NULL, ":a=" S("a"), true},
    {"letters.a = :a", NULL, ":a=" S("a"), false},
    {"s[0] = :a", NULL, ":a=" S("b"), false},
    {"info.arr[0].v < info.arr[1].v", NULL, NULL, true},
    {"#d = :y", "{`#d`:`dotted.name`}", ":y=" S("yes"), true},
    {"dotted.x = :y", NULL, ":y=" S("yes"), false},
    {"#i.#n.deep = :x", "{`#i`:`info`,`#n`:`nested`}", ":x=" S("x"), true},
};

static void test_conditions(void **state)
{
    (void)state;
    json_t *item = json_of(ITEM);
    struct td_err err = {0};
    assert_int_equal(td_ddb_item_check(item, &err), 0);
    for (size_t i = 0; i < TD_ARRAY_SIZE(CONDITIONS); i++) {
        const struct cond_case *c = &CONDITIONS[i];
        for (int kind = C; kind <= F; kind += F - C) {
            struct parsed p;
            parse_ok(&p, (enum td_ddb_expr_kind)kind, c->expr, c->names, c->values);
            bool got = !c->want;
            assert_int_equal(td_ddb_condition_eval(p.e, item, &got, &err), 0);
            if (got != c->want)
                print_message("%s: %s\n", c->expr, got ? "true" : "false");
            assert_int_equal(got, c->want);
            /* every placeholder was used */
            assert_int_equal(td_ddb_subst_check(p.s, &err), 0);
            parsed_free(&p);
        }
    }
    json_decref(item);
}

static void test_condition_no_item(void **state)
{
    (void)state;
    static const struct cond_case CASES[] = {
        {"attribute_not_exists(pk)", NULL, NULL, true},
        {"attribute_exists(pk)", NULL, NULL, false},
        {"q <> :v", NULL, ":v=" N("1"), true},
        {"NOT contains(q, :v)", NULL, ":v=" N("1"), true},
        {":a = :a", NULL, ":a=" N("1"), true},
        {"size(:a) = :n", NULL, ":a={`L`:[]};:n=" N("0"), true},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(CASES); i++) {
        struct parsed p;
        struct td_err err = {0};
        parse_ok(&p, C, CASES[i].expr, CASES[i].names, CASES[i].values);
        bool got = !CASES[i].want;
        assert_int_equal(td_ddb_condition_eval(p.e, NULL, &got, &err), 0);
        assert_int_equal(got, CASES[i].want);
        parsed_free(&p);
    }
}

/* ---- updates ------------------------------------------------------------------------------- */

struct update_case {
    const char *expr;
    const char *names;
    const char *values;
    const char *before;
    const char *after;   /* NULL: refused */
    const char *message; /* the error */
};

#define MISSING  "The provided expression refers to an attribute that does not exist in the item"
#define BAD_TYPE "An operand in the update expression has an incorrect data type"
#define BAD_PATH "The document path provided in the update expression is invalid for update"
#define KEY_ATTR                                                                                   \
    "One or more parameter values were invalid: Cannot update attribute pk. This attribute is "    \
    "part of the key"
#define OVERFLOW                                                                                   \
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
#define BASE                 "`pk`:{`S`:`p`}"
#define LIST(x)              "{`L`:[" x "]}"
#define J2(a, b)             a "," b
#define J3(a, b, c)          a "," b "," c
#define J4(a, b, c, d)       a "," b "," c "," d
#define J5(a, b, c, d, e)    a "," b "," c "," d "," e
#define J6(a, b, c, d, e, f) a "," b "," c "," d "," e "," f
#define NUM(x)               "{`N`:`" x "`}"
#define STR(x)               "{`S`:`" x "`}"

static const struct update_case UPDATES[] = {
    {"SET b = :val1", NULL, ":val1=" N("4"), "{" BASE "}", "{" BASE ",`b`:" NUM("4") "}", NULL},
    {"SET x = :val1, y = :val1", NULL, ":val1=" N("4"), "{" BASE "}",
     "{" BASE ",`x`:" NUM("4") ",`y`:" NUM("4") "}", NULL},
    {"SET b = a", NULL, NULL, "{" BASE ",`a`:" STR("hello") "}",
     "{" BASE ",`a`:" STR("hello") ",`b`:" STR("hello") "}", NULL},
    {"SET c = z", NULL, NULL, "{" BASE "}", NULL, MISSING},
    {"SET x = :val1, y = x", NULL, ":val1=" N("4"), "{" BASE "}", NULL, MISSING},
    {"SET a = a", NULL, NULL, "{" BASE ",`a`:" STR("hello") "}", "{" BASE ",`a`:" STR("hello") "}",
     NULL},
    {"SET a = tally, tally = :ten", NULL, ":ten=" N("10"), "{" BASE ",`tally`:" NUM("1") "}",
     "{" BASE ",`tally`:" NUM("10") ",`a`:" NUM("1") "}", NULL},
    {"REMOVE a SET b = a", NULL, NULL, "{" BASE ",`a`:" STR("hello") "}",
     "{" BASE ",`b`:" STR("hello") "}", NULL},
    {"SET #nn = :seven - #n", "{`#nn`:`nn`,`#n`:`n`}", ":seven=" N("7"),
     "{" BASE ",`n`:" NUM("2") "}", "{" BASE ",`n`:" NUM("2") ",`nn`:" NUM("5") "}", NULL},
    {"SET f = f + :f, tally = tally - :one", NULL, ":f=" N("0.2") ";:one=" N("1"),
     "{" BASE ",`f`:" NUM("0.1") ",`tally`:" NUM("1") "}",
     "{" BASE ",`f`:" NUM("0.3") ",`tally`:" NUM("0") "}", NULL},
    {"SET b = :val1 + :val2", NULL, ":val1=" N("1") ";:val2=" N("10000000000000000000000"),
     "{" BASE "}", "{" BASE ",`b`:" NUM("10000000000000000000001") "}", NULL},
    {"SET b = label + :one", NULL, ":one=" N("1"), "{" BASE ",`label`:" STR("x") "}", NULL,
     BAD_TYPE},
    {"SET b = nope + :one", NULL, ":one=" N("1"), "{" BASE "}", NULL, MISSING},
    {"SET b = :val1 + :val2", NULL, ":val1=" N("9e125") ";:val2=" N("9e125"), "{" BASE "}", NULL,
     OVERFLOW},
    {"SET b = :val1 - :val2", NULL, ":val1=" N("1e50") ";:val2=" N("1"), "{" BASE "}", NULL,
     OVERFLOW},
    /* if_not_exists and list_append */
    {"SET a = if_not_exists(a, :val1)", NULL, ":val1=" N("2"), "{" BASE "}",
     "{" BASE ",`a`:" NUM("2") "}", NULL},
    {"SET a = if_not_exists(a, :val1)", NULL, ":val1=" N("3"), "{" BASE ",`a`:" NUM("2") "}",
     "{" BASE ",`a`:" NUM("2") "}", NULL},
    {"SET b = if_not_exists(a, :val1)", NULL, ":val1=" N("6"),
     "{" BASE ",`a`:" NUM("2") ",`b`:" NUM("5") "}", "{" BASE ",`a`:" NUM("2") ",`b`:" NUM("2") "}",
     NULL},
    {"SET tally = if_not_exists(tally, :zero) + :one, fresh = if_not_exists(fresh, :zero)", NULL,
     ":zero=" N("0") ";:one=" N("1"), "{" BASE ",`tally`:" NUM("1") "}",
     "{" BASE ",`tally`:" NUM("2") ",`fresh`:" NUM("0") "}", NULL},
    {"SET a = list_append(:val1, :val2)", NULL,
     ":val1=" LIST(J2(NUM("4"), STR("hello"))) ";:val2=" LIST(J2(STR("hi"), NUM("7"))),
     "{" BASE "}", "{" BASE ",`a`:" LIST(J4(NUM("4"), STR("hello"), STR("hi"), NUM("7"))) "}",
     NULL},
    {"SET a = list_append(a, :v), b = list_append(:v, a)", NULL, ":v=" LIST(STR("dog")),
     "{" BASE ",`a`:" LIST(J2(STR("hi"), NUM("2"))) "}",
     "{" BASE ",`a`:" LIST(J3(STR("hi"), NUM("2"), STR("dog"))) ",`b`:" LIST(
         J3(STR("dog"), STR("hi"), NUM("2"))) "}",
     NULL},
    {"SET alt = list_append(if_not_exists(alt, :empty), :tail)", NULL,
     ":empty=" LIST() ";:tail=" LIST(NUM("9")), "{" BASE "}", "{" BASE ",`alt`:" LIST(NUM("9")) "}",
     NULL},
    {"SET a = list_append(b, :val1)", NULL, ":val1=" LIST(NUM("1")), "{" BASE "}", NULL, MISSING},
    {"SET a = list_append(:val1, b)", NULL, ":val1=" LIST(NUM("1")),
     "{" BASE ",`b`:" STR("hello") "}", NULL, BAD_TYPE},
    {"SET a = list_append(:val1, b)", NULL, ":val1=" LIST(NUM("1")), "{" BASE ",`b`:{`SS`:[`x`]}}",
     NULL, BAD_TYPE},
    /* nested paths */
    {"SET a.c = :val1", NULL, ":val1=" N("7"), "{" BASE ",`a`:{`M`:{`b`:" NUM("3") "}}}",
     "{" BASE ",`a`:{`M`:{`b`:" NUM("3") ",`c`:" NUM("7") "}}}", NULL},
    {"SET a[1] = :val1", NULL, ":val1=" S("hello"),
     "{" BASE ",`a`:" LIST(J3(STR("one"), STR("two"), STR("three"))) "}",
     "{" BASE ",`a`:" LIST(J3(STR("one"), STR("hello"), STR("three"))) "}", NULL},
    {"SET a.c[1].#name.y[1] = :val1", "{`#name`:`x`}", ":val1=" N("9"),
     "{" BASE ",`a`:{`M`:{`c`:" LIST(
         J2(STR("hi"), "{`M`:{`x`:{`M`:{`y`:" LIST(J2(NUM("3"), NUM("5"))) "}}}}")) "}}}",
     "{" BASE ",`a`:{`M`:{`c`:" LIST(
         J2(STR("hi"), "{`M`:{`x`:{`M`:{`y`:" LIST(J2(NUM("3"), NUM("9"))) "}}}}")) "}}}",
     NULL},
    {"SET a.c = :val1", NULL, ":val1=" N("7"), "{" BASE ",`a`:" STR("hello") "}", NULL, BAD_PATH},
    {"SET b.c = :val1", NULL, ":val1=" N("7"), "{" BASE ",`b`:" LIST(STR("hi")) "}", NULL,
     BAD_PATH},
    {"SET c.c = :val1", NULL, ":val1=" N("7"), "{" BASE "}", NULL, BAD_PATH},
    {"SET a[0] = :val1", NULL, ":val1=" N("7"), "{" BASE ",`a`:" STR("hello") "}", NULL, BAD_PATH},
    {"SET a[0].x = :val1", NULL, ":val1=" N("7"), "{" BASE ",`a`:" LIST() "}", NULL, BAD_PATH},
    {"SET #a = :val1", "{`#a`:`a.b`}", ":val1=" N("3"), "{" BASE "}",
     "{" BASE ",`a.b`:" NUM("3") "}", NULL},
    /* list indexes are positions before the update; SET past the end appends, in index order */
    {"SET a[7] = :val1", NULL, ":val1=" S("hello"),
     "{" BASE ",`a`:" LIST(J3(STR("one"), STR("two"), STR("three"))) "}",
     "{" BASE ",`a`:" LIST(J4(STR("one"), STR("two"), STR("three"), STR("hello"))) "}", NULL},
    {"SET a[84] = :val1, a[37] = :val2, a[17] = :val3, a[50] = :val4", NULL,
     ":val1=" S("a1") ";:val2=" S("a2") ";:val3=" S("a3") ";:val4=" S("a4"),
     "{" BASE ",`a`:" LIST(STR("one")) "}",
     "{" BASE ",`a`:" LIST(J5(STR("one"), STR("a3"), STR("a2"), STR("a4"), STR("a1"))) "}", NULL},
    {"REMOVE a[1] SET a[3] = :val", NULL, ":val=" N("17"),
     "{" BASE ",`a`:" LIST(J6(NUM("2"), NUM("3"), NUM("4"), NUM("5"), NUM("6"), NUM("7"))) "}",
     "{" BASE ",`a`:" LIST(J5(NUM("2"), NUM("4"), NUM("17"), NUM("6"), NUM("7"))) "}", NULL},
    {"SET a[3] = :val REMOVE a[1]", NULL, ":val=" N("17"),
     "{" BASE ",`a`:" LIST(J6(NUM("2"), NUM("3"), NUM("4"), NUM("5"), NUM("6"), NUM("7"))) "}",
     "{" BASE ",`a`:" LIST(J5(NUM("2"), NUM("4"), NUM("17"), NUM("6"), NUM("7"))) "}", NULL},
    {"REMOVE a[1], a[3], a[0]", NULL, NULL,
     "{" BASE ",`a`:" LIST(J5(NUM("0"), NUM("1"), NUM("2"), NUM("3"), NUM("4"))) "}",
     "{" BASE ",`a`:" LIST(J2(NUM("2"), NUM("4"))) "}", NULL},
    /* REMOVE */
    {"REMOVE a", NULL, NULL, "{" BASE ",`a`:" STR("hello") ",`b`:" STR("hi") "}",
     "{" BASE ",`b`:" STR("hi") "}", NULL},
    {"REMOVE a.c[1].x.y[1], a.c[1].q", NULL, NULL,
     "{" BASE ",`a`:{`M`:{`b`:" NUM("3") ",`c`:" LIST(
         J2(STR("hi"), "{`M`:{`x`:{`M`:{`y`:" LIST(J3(NUM("3"), NUM("5"), NUM("7"))) "}},`q`:" NUM(
                           "2") "}}")) "}}}",
     "{" BASE ",`a`:{`M`:{`b`:" NUM("3") ",`c`:" LIST(
         J2(STR("hi"), "{`M`:{`x`:{`M`:{`y`:" LIST(J2(NUM("3"), NUM("7"))) "}}}}")) "}}}",
     NULL},
    {"REMOVE a.b", NULL, NULL, "{" BASE ",`a`:{`M`:{`b`:" NUM("1") "}}}", "{" BASE ",`a`:{`M`:{}}}",
     NULL},
    {"REMOVE a[0]", NULL, NULL, "{" BASE ",`a`:" LIST(NUM("1")) "}", "{" BASE ",`a`:" LIST() "}",
     NULL},
    {"REMOVE a.y, b[7], c", NULL, NULL,
     "{" BASE ",`a`:{`M`:{`x`:" NUM("3") "}},`b`:" LIST(STR("hi")) "}",
     "{" BASE ",`a`:{`M`:{`x`:" NUM("3") "}},`b`:" LIST(STR("hi")) "}", NULL},
    {"REMOVE a.c", NULL, NULL, "{" BASE ",`a`:" STR("hello") "}", NULL, BAD_PATH},
    {"REMOVE c.c", NULL, NULL, "{" BASE "}", NULL, BAD_PATH},
    {"REMOVE a[0]", NULL, NULL, "{" BASE ",`a`:" STR("hello") "}", NULL, BAD_PATH},
    /* ADD */
    {"ADD a :val1", NULL, ":val1=" N("4"), "{" BASE ",`a`:" NUM("3") "}",
     "{" BASE ",`a`:" NUM("7") "}", NULL},
    {"ADD b :val1", NULL, ":val1=" N("-7.5"), "{" BASE "}", "{" BASE ",`b`:" NUM("-7.5") "}", NULL},
    {"ADD b :val1", NULL, ":val1=" N("1"), "{" BASE ",`b`:" STR("hi") "}", NULL, BAD_TYPE},
    {"ADD a :val1", NULL, ":val1={`SS`:[`pig`]}", "{" BASE ",`a`:{`SS`:[`dog`,`cat`]}}",
     "{" BASE ",`a`:{`SS`:[`dog`,`cat`,`pig`]}}", NULL},
    {"ADD a :val1", NULL, ":val1={`SS`:[`coati`,`beaver`,`badger`]}",
     "{" BASE ",`a`:{`SS`:[`beaver`,`lynx`,`coati`]}}",
     "{" BASE ",`a`:{`SS`:[`beaver`,`lynx`,`coati`,`badger`]}}", NULL},
    {"ADD a :val1", NULL, ":val1={`NS`:[`2.0`,`3`]}", "{" BASE ",`a`:{`NS`:[`1`,`2`]}}",
     "{" BASE ",`a`:{`NS`:[`1`,`2`,`3`]}}", NULL},
    {"ADD b :val1", NULL, ":val1={`BS`:[`AQ==`]}", "{" BASE "}", "{" BASE ",`b`:{`BS`:[`AQ==`]}}",
     NULL},
    {"ADD a :val1", NULL, ":val1={`NS`:[`1`]}", "{" BASE ",`a`:{`SS`:[`1`]}}", NULL, BAD_TYPE},
    {"ADD a :val1", NULL, ":val1={`NS`:[`3`]}", "{" BASE ",`a`:" LIST(NUM("1")) "}", NULL,
     BAD_TYPE},
    {"ADD a.b :one", NULL, ":one=" N("1"), "{" BASE ",`a`:{`M`:{}}}",
     "{" BASE ",`a`:{`M`:{`b`:" NUM("1") "}}}", NULL},
    {"ADD a.b :one", NULL, ":one=" N("1"), "{" BASE "}", NULL, BAD_PATH},
    {"ADD a :big", NULL, ":big=" N("9e125"), "{" BASE ",`a`:" NUM("9e125") "}", NULL, OVERFLOW},
    /* DELETE */
    {"DELETE a :val1", NULL, ":val1={`SS`:[`cat`,`mouse`]}",
     "{" BASE ",`a`:{`SS`:[`dog`,`cat`,`mouse`]},`b`:" STR("hi") "}",
     "{" BASE ",`a`:{`SS`:[`dog`]},`b`:" STR("hi") "}", NULL},
    {"DELETE a :val1", NULL, ":val1={`SS`:[`pig`]}", "{" BASE ",`a`:{`SS`:[`dog`]}}",
     "{" BASE ",`a`:{`SS`:[`dog`]}}", NULL},
    {"DELETE a :val1", NULL, ":val1={`SS`:[`dog`]}", "{" BASE ",`a`:{`SS`:[`dog`]}}", "{" BASE "}",
     NULL},
    {"DELETE a :val1", NULL, ":val1={`SS`:[`dog`]}", "{" BASE "}", "{" BASE "}", NULL},
    {"DELETE a :val1", NULL, ":val1={`NS`:[`1.0`]}", "{" BASE ",`a`:{`NS`:[`1`,`2`]}}",
     "{" BASE ",`a`:{`NS`:[`2`]}}", NULL},
    {"DELETE a :val1", NULL, ":val1={`SS`:[`dog`]}", "{" BASE ",`a`:" STR("dog") "}", NULL,
     BAD_TYPE},
    {"DELETE l[0] :s", NULL, ":s={`SS`:[`x`]}",
     "{" BASE ",`l`:" LIST(J2("{`SS`:[`x`]}", NUM("2"))) "}", "{" BASE ",`l`:" LIST(NUM("2")) "}",
     NULL},
    /* keys */
    {"SET pk = :val1", NULL, ":val1=" N("4"), "{" BASE "}", NULL, KEY_ATTR},
    {"REMOVE pk", NULL, NULL, "{" BASE "}", NULL, KEY_ATTR},
    {"ADD #k :val1", "{`#k`:`pk`}", ":val1=" N("4"), "{" BASE "}", NULL, KEY_ATTR},
    {"DELETE pk :val1", NULL, ":val1={`SS`:[`cat`]}", "{" BASE "}", NULL, KEY_ATTR},
    /* all or nothing */
    {"SET a = :v, b = :w REMOVE c, d.e", NULL, ":v=" N("1") ";:w=" N("2"),
     "{" BASE ",`c`:" NUM("1") ",`d`:" STR("x") "}", NULL, BAD_PATH},
    {"ADD n :one SET x.y = :one", NULL, ":one=" N("1"), "{" BASE ",`n`:" NUM("1") "}", NULL,
     BAD_PATH},
    /* empty containers are values like others */
    {"SET d = :v1, e = :v2, f = :v3, g = :v4", NULL,
     ":v1=" LIST() ";:v2={`M`:{}};:v3=" S("") ";:v4={`B`:``}", "{" BASE "}",
     "{" BASE ",`d`:" LIST() ",`e`:{`M`:{}},`f`:" STR("") ",`g`:{`B`:``}}", NULL},
};

static void test_updates(void **state)
{
    (void)state;
    static const char *const KEYS[] = {"pk", NULL};
    for (size_t i = 0; i < TD_ARRAY_SIZE(UPDATES); i++) {
        const struct update_case *c = &UPDATES[i];
        struct parsed p;
        struct td_err err = {0};
        parse_ok(&p, U, c->expr, c->names, c->values);
        json_t *item = json_of(c->before);
        assert_int_equal(td_ddb_item_check(item, &err), 0);
        int r = td_ddb_update_apply(p.e, item, KEYS, &err);
        if (c->after) {
            if (r < 0)
                print_message("%s: unexpected %s\n", c->expr, err.message);
            assert_int_equal(r, 0);
            json_t *want = json_of(c->after);
            _cleanup_free_ char *got_text = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS);
            _cleanup_free_ char *want_text = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
            if (strcmp(got_text, want_text) != 0)
                print_message("%s:\n  got  %s\n  want %s\n", c->expr, got_text, want_text);
            assert_string_equal(got_text, want_text);
            json_decref(want);
        } else {
            if (r >= 0 || strcmp(err.message, c->message) != 0)
                print_message("%s:\n  got  %s\n  want %s\n", c->expr, r >= 0 ? "ok" : err.message,
                              c->message);
            assert_true(r < 0);
            assert_string_equal(err.type, "ValidationException");
            assert_string_equal(err.message, c->message);
            /* and the item is as it was */
            json_t *before = json_of(c->before);
            assert_int_equal(td_ddb_item_check(before, &err), 0);
            assert_true(json_equal(item, before));
            json_decref(before);
        }
        json_decref(item);
        parsed_free(&p);
    }
}

static void test_update_nesting_and_project(void **state)
{
    (void)state;
    struct parsed p;
    struct td_err err = {0};
    /* 31 maps and a string: 32 levels, but 33 below a.x */
    _cleanup_buf_ struct td_buf deep = TD_BUF_INIT(64 * 1024);
    assert_int_equal(td_buf_puts(&deep, ":d="), 0);
    for (int i = 0; i < 31; i++)
        assert_int_equal(td_buf_puts(&deep, "{`M`:{`x`:"), 0);
    assert_int_equal(td_buf_puts(&deep, S("z")), 0);
    for (int i = 0; i < 31; i++)
        assert_int_equal(td_buf_puts(&deep, "}}"), 0);
    parse_ok(&p, U, "SET a.x = :d", NULL, deep.data);
    json_t *item = json_of("{`a`:{`M`:{}}}");
    assert_true(td_ddb_update_apply(p.e, item, NULL, &err) < 0);
    assert_string_equal(err.message, "Nesting Levels have exceeded supported limits: Attributes "
                                     "in the item have nested levels beyond supported limit");
    json_decref(item);
    parsed_free(&p);
    parse_ok(&p, U, "SET a = :d", NULL, deep.data);
    item = json_of("{}");
    assert_int_equal(td_ddb_update_apply(p.e, item, NULL, &err), 0);
    json_decref(item);
    parsed_free(&p);

    /* the updated paths, for ReturnValues UPDATED_OLD / UPDATED_NEW */
    parse_ok(&p, U, "SET a.b = :v, l[1] = :v REMOVE gone ADD n :v", NULL, ":v=" N("1"));
    item = json_of("{`a`:{`M`:{`b`:" NUM("5") ",`c`:" NUM("6") "}},`l`:" LIST(
        J2(NUM("0"), NUM("1"))) ",`gone`:" STR("x") ",`kept`:" STR("y") "}");
    json_t *old = NULL, *new = NULL;
    assert_int_equal(td_ddb_update_project(p.e, item, &old, &err), 0);
    _cleanup_free_ char *old_text = text_of(old);
    assert_string_equal(old_text,
                        "{`a`:{`M`:{`b`:{`N`:`5`}}},`gone`:{`S`:`x`},`l`:{`L`:[{`N`:`1`}]}}");
    assert_int_equal(td_ddb_update_apply(p.e, item, NULL, &err), 0);
    assert_int_equal(td_ddb_update_project(p.e, item, &new, &err), 0);
    _cleanup_free_ char *new_text = text_of(new);
    assert_string_equal(new_text,
                        "{`a`:{`M`:{`b`:{`N`:`1`}}},`l`:{`L`:[{`N`:`1`}]},`n`:{`N`:`1`}}");
    json_decref(old);
    json_decref(new);
    json_decref(item);
    parsed_free(&p);
}

/* ---- projections --------------------------------------------------------------------------- */

struct projection_case {
    const char *expr;
    const char *names;
    const char *want;
};

static const struct projection_case PROJECTIONS[] = {
    {"s, n", NULL, "{`n`:{`N`:`10`},`s`:{`S`:`banana`}}"},
    {"n, s", NULL, "{`n`:{`N`:`10`},`s`:{`S`:`banana`}}"},
    {"info.nested.deep", NULL, "{`info`:{`M`:{`nested`:{`M`:{`deep`:{`S`:`x`}}}}}}"},
    {"letters[2], letters[0]", NULL, "{`letters`:{`L`:[{`S`:`a`},{`N`:`3`}]}}"},
    {"info.arr[1].v, info.arr[0]", NULL,
     "{`info`:{`M`:{`arr`:{`L`:[{`M`:{`v`:{`N`:`1`}}},{`M`:{`v`:{`N`:`2`}}}]}}}}"},
    {"info.arr[1].v, info.nested", NULL,
     "{`info`:{`M`:{`arr`:{`L`:[{`M`:{`v`:{`N`:`2`}}}]},`nested`:{`M`:{`deep`:{`S`:`x`}}}}}}"},
    {"letters[4][0], letters[3]", NULL, "{`letters`:{`L`:[{`SS`:[`x`]},{`L`:[{`N`:`4`}]}]}}"},
    {"absent, s", NULL, "{`s`:{`S`:`banana`}}"},
    {"letters[9], info.arr[7].v, s.x, n[0]", NULL, "{}"},
    {"#d", "{`#d`:`dotted.name`}", "{`dotted.name`:{`S`:`yes`}}"},
    {"tags", NULL, "{`tags`:{`SS`:[`red`,`green`]}}"},
};

static void test_projections(void **state)
{
    (void)state;
    json_t *item = json_of(ITEM);
    struct td_err err = {0};
    for (size_t i = 0; i < TD_ARRAY_SIZE(PROJECTIONS); i++) {
        const struct projection_case *c = &PROJECTIONS[i];
        struct parsed p;
        parse_ok(&p, P, c->expr, c->names, NULL);
        json_t *got = NULL;
        assert_int_equal(td_ddb_projection_apply(p.e, item, &got, &err), 0);
        _cleanup_free_ char *text = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        for (char *q = text; *q; q++)
            if (*q == '"')
                *q = '`';
        if (strcmp(text, c->want) != 0)
            print_message("%s:\n  got  %s\n  want %s\n", c->expr, text, c->want);
        assert_string_equal(text, c->want);
        json_decref(got);
        json_t *none = NULL;
        assert_int_equal(td_ddb_projection_apply(p.e, NULL, &none, &err), 0);
        assert_int_equal(json_object_size(none), 0);
        json_decref(none);
        parsed_free(&p);
    }
    json_decref(item);
}

/* ---- key conditions ------------------------------------------------------------------------ */

struct key_case {
    const char *expr;
    const char *names;
    const char *values;
    const char *range_name;
    enum td_ddb_range_op op; /* TD_DDB_RANGE_NONE and message NULL: hash only */
    const char *message;
};

static const struct key_case KEY_CASES[] = {
    {"p=:p", NULL, ":p=" S("h"), "c", TD_DDB_RANGE_NONE, NULL},
    {" p  =   :p ", NULL, ":p=" S("h"), NULL, TD_DDB_RANGE_NONE, NULL},
    {"p=:p AND c=:c", NULL, ":p=" S("h") ";:c=" N("3"), "c", TD_DDB_RANGE_EQ, NULL},
    {"p=:p AND c<:c", NULL, ":p=" S("h") ";:c=" N("3"), "c", TD_DDB_RANGE_LT, NULL},
    {"p=:p AND c<=:c", NULL, ":p=" S("h") ";:c=" N("3"), "c", TD_DDB_RANGE_LE, NULL},
    {"p=:p AND c>:c", NULL, ":p=" S("h") ";:c=" N("3"), "c", TD_DDB_RANGE_GT, NULL},
    {"p=:p AND c>=:c", NULL, ":p=" S("h") ";:c=" N("3"), "c", TD_DDB_RANGE_GE, NULL},
    {":p=p AND :c<c", NULL, ":p=" S("h") ";:c=" N("3"), "c", TD_DDB_RANGE_GT, NULL},
    {":c>=c AND :p=p", NULL, ":p=" S("h") ";:c=" N("3"), "c", TD_DDB_RANGE_LE, NULL},
    {"c=:c AND p=:p", NULL, ":p=" S("h") ";:c=" N("3"), "c", TD_DDB_RANGE_EQ, NULL},
    {"p=:p AnD c BeTwEeN :c AND :d", NULL, ":p=" S("h") ";:c=" N("3") ";:d=" N("4"), "c",
     TD_DDB_RANGE_BETWEEN, NULL},
    {"begins_with(c, :c) AND p = :p", NULL, ":p=" S("h") ";:c=" S("ab"), "c",
     TD_DDB_RANGE_BEGINS_WITH, NULL},
    {"((c=:c) AND (p=:p))", NULL, ":p=" S("h") ";:c=" N("3"), "c", TD_DDB_RANGE_EQ, NULL},
    {"#name1=:p AND #name2=:c", "{`#name1`:`p`,`#name2`:`c`}", ":p=" S("h") ";:c=" N("3"), "c",
     TD_DDB_RANGE_EQ, NULL},
    {"p=:p AND p=:p", NULL, ":p=" S("h"), "c", 0,
     "KeyConditionExpressions must only contain one condition per key"},
    {"p=:p AND c>=:c1 AND c<=:c2", NULL, ":p=" S("h") ";:c1=" N("1") ";:c2=" N("2"), "c", 0,
     "Conditions can be of length 1 or 2 only"},
    {"p<:p", NULL, ":p=" S("h"), "c", 0, "Query key condition not supported"},
    {"begins_with(p, :p)", NULL, ":p=" S("h"), "c", 0, "Query key condition not supported"},
    {"c=:c", NULL, ":c=" N("3"), "c", 0, "Query condition missed key schema element: p"},
    {"attr1 = :v", NULL, ":v=" N("3"), "c", 0, "Query condition missed key schema element: p"},
    {"p=:p AND a<:a", NULL, ":p=" S("h") ";:a=" N("3"), "c", 0,
     "Query condition missed key schema element: c"},
    {"p=:p AND c=:c", NULL, ":p=" S("h") ";:c=" N("3"), NULL, 0,
     "Query key condition not supported"},
    {"p=:p AND a.b<:a", NULL, ":p=" S("h") ";:a=" N("3"), "c", 0,
     "KeyConditionExpressions cannot have conditions on nested attributes"},
    {"p=c", NULL, NULL, "c", 0, "Query key condition not supported"},
    {":p=:a", NULL, ":p=" S("h") ";:a=" S("h"), "c", 0, "Query key condition not supported"},
    {"p=:p AND c BETWEEN d AND :c", NULL, ":p=" S("h") ";:c=" N("3"), "c", 0,
     "Query key condition not supported"},
};

static void test_key_conditions(void **state)
{
    (void)state;
    for (size_t i = 0; i < TD_ARRAY_SIZE(KEY_CASES); i++) {
        const struct key_case *c = &KEY_CASES[i];
        struct parsed p;
        struct td_err err = {0};
        struct td_ddb_key_condition kc;
        parse_ok(&p, K, c->expr, c->names, c->values);
        int r = td_ddb_key_condition_get(p.e, "p", c->range_name, &kc, &err);
        if (c->message) {
            if (r >= 0 || strcmp(err.message, c->message) != 0)
                print_message("%s:\n  got  %s\n  want %s\n", c->expr, r >= 0 ? "ok" : err.message,
                              c->message);
            assert_true(r < 0);
            assert_string_equal(err.message, c->message);
        } else {
            if (r < 0)
                print_message("%s: unexpected %s\n", c->expr, err.message);
            assert_int_equal(r, 0);
            assert_string_equal(json_string_value(json_object_get(kc.hash_value, "S")), "h");
            assert_int_equal(kc.op, c->op);
            if (c->op != TD_DDB_RANGE_NONE)
                assert_non_null(kc.range_values[0]);
            if (c->op == TD_DDB_RANGE_BETWEEN)
                assert_string_equal(json_string_value(json_object_get(kc.range_values[1], "N")),
                                    "4");
        }
        parsed_free(&p);
    }
}

/* ---- the Developer Guide's ProductCatalog examples ----------------------------------------- */

static const char PRODUCT[] =
    "{`Id`:{`N`:`123`},`Title`:{`S`:`Bicycle 123`},`Description`:{`S`:`123 description`},"
    "`BicycleType`:{`S`:`Hybrid`},`Brand`:{`S`:`Brand-Company C`},`Price`:{`N`:`500`},"
    "`Color`:{`SS`:[`Red`,`Black`]},`ProductCategory`:{`S`:`Bicycle`},`InStock`:{`BOOL`:true},"
    "`QuantityOnHand`:{`NULL`:true},`RelatedItems`:{`L`:[{`N`:`341`},{`N`:`472`},{`N`:`649`}]},"
    "`Pictures`:{`M`:{`FrontView`:{`S`:`http://example.com/products/123_front.jpg`},"
    "`RearView`:{`S`:`http://example.com/products/123_rear.jpg`},"
    "`SideView`:{`S`:`http://example.com/products/123_left_side.jpg`}}},"
    "`ProductReviews`:{`M`:{`FiveStar`:{`L`:[{`S`:`Excellent! Can't recommend it highly "
    "enough! Buy it!`},{`S`:`Do yourself a favor and buy this.`}]},"
    "`OneStar`:{`L`:[{`S`:`Terrible product! Do not buy this.`}]}}},"
    "`Comment`:{`S`:`This product sells out quickly during the summer`},"
    "`Safety.Warning`:{`S`:`Always wear a helmet`}}";

static void test_developer_guide_conditions(void **state)
{
    (void)state;
    static const struct cond_case CASES[] = {
        {"attribute_not_exists(Price)", NULL, NULL, false},
        {"attribute_exists(#pr.FiveStar)", "{`#pr`:`ProductReviews`}", NULL, true},
        {"attribute_exists(#pr.ThreeStar)", "{`#pr`:`ProductReviews`}", NULL, false},
        {"#P between :lo and :hi", "{`#P`:`Price`}", ":lo=" N("500") ";:hi=" N("600"), true},
        {"ProductCategory IN (:cat1, :cat2) and Price between :lo and :hi", NULL,
         ":cat1=" S("Sporting Goods") ";:cat2=" S("Gardening Supplies") ";:lo=" N("500") ";:hi=" N(
             "600"),
         false},
        {"Price > :limit", NULL, ":limit=" N("500"), false},
        {"attribute_type(ProductReviews.FiveStar, :v_sub)", NULL, ":v_sub=" S("L"), true},
        {"begins_with(Pictures.FrontView, :v_sub)", NULL, ":v_sub=" S("http://"), true},
        {"contains(Color, :v_sub)", NULL, ":v_sub=" S("Red"), true},
        {"size(Brand) <= :v_sub", NULL, ":v_sub=" N("20"), true},
        {"size(ProductReviews.OneStar) > :v_sub", NULL, ":v_sub=" N("1"), false},
        {"#sw = :w", "{`#sw`:`Safety.Warning`}", ":w=" S("Always wear a helmet"), true},
        {"RelatedItems[1] = :n", NULL, ":n=" N("472"), true},
    };
    json_t *item = json_of(PRODUCT);
    struct td_err err = {0};
    assert_int_equal(td_ddb_item_check(item, &err), 0);
    for (size_t i = 0; i < TD_ARRAY_SIZE(CASES); i++) {
        struct parsed p;
        parse_ok(&p, C, CASES[i].expr, CASES[i].names, CASES[i].values);
        bool got = !CASES[i].want;
        assert_int_equal(td_ddb_condition_eval(p.e, item, &got, &err), 0);
        if (got != CASES[i].want)
            print_message("%s\n", CASES[i].expr);
        assert_int_equal(got, CASES[i].want);
        parsed_free(&p);
    }
    /* "Comment" is a reserved word: the guide's item needs a #name for it */
    struct parsed p;
    parse(&p, C, "attribute_exists(Comment)", NULL, NULL);
    assert_string_equal(p.err.message, IC "Attribute name is a reserved keyword; reserved "
                                          "keyword: Comment");
    parsed_free(&p);
    /* and the guide's projection */
    parse_ok(&p, P, "Description, RelatedItems[0], ProductReviews.FiveStar", NULL, NULL);
    json_t *got = NULL;
    assert_int_equal(td_ddb_projection_apply(p.e, item, &got, &err), 0);
    _cleanup_free_ char *text = text_of(got);
    assert_string_equal(text, "{`Description`:{`S`:`123 description`},`ProductReviews`:{`M`:{"
                              "`FiveStar`:{`L`:[{`S`:`Excellent! Can't recommend it highly "
                              "enough! Buy it!`},{`S`:`Do yourself a favor and buy this.`}]}}},"
                              "`RelatedItems`:{`L`:[{`N`:`341`}]}}");
    json_decref(got);
    parsed_free(&p);
    json_decref(item);
}

/* The update examples of the guide, one after the other on one item. */
static void test_developer_guide_updates(void **state)
{
    (void)state;
    static const struct {
        const char *expr, *names, *values;
    } STEPS[] = {
        {"SET ProductCategory = :c, Price = :p", NULL, ":c=" S("Hardware") ";:p=" N("60")},
        {"SET RelatedItems[1] = :ri", NULL, ":ri=" S("Nails")},
        {"SET #pr.#5star[1] = :r5, #pr.#3star = :r3",
         "{`#pr`:`ProductReviews`,`#5star`:`FiveStar`,`#3star`:`ThreeStar`}",
         ":r5=" S("Very happy with my purchase") ";:r3={`L`:[" S("Just OK - not that great") "]}"},
        {"SET Price = Price - :p", NULL, ":p=" N("15")},
        {"SET #ri = list_append(#ri, :vals)", "{`#ri`:`RelatedItems`}",
         ":vals={`L`:[" S("Screwdriver") "," S("Hacksaw") "]}"},
        {"SET #ri = list_append(:vals, #ri)", "{`#ri`:`RelatedItems`}",
         ":vals={`L`:[" S("Chisel") "]}"},
        {"SET Price = if_not_exists(Price, :p)", NULL, ":p=" N("100")},
        {"REMOVE Brand, InStock, QuantityOnHand", NULL, NULL},
        {"REMOVE RelatedItems[1], RelatedItems[2]", NULL, NULL},
        {"ADD QuantityOnHand :q", NULL, ":q=" N("5")},
        {"ADD Color :c", NULL, ":c={`SS`:[`Orange`,`Purple`]}"},
        {"DELETE Color :p", NULL, ":p={`SS`:[`Yellow`,`Purple`]}"},
    };
    static const char *const KEY_NAMES[] = {"Id", NULL};
    json_t *item = json_of(PRODUCT);
    struct td_err err = {0};
    assert_int_equal(td_ddb_item_check(item, &err), 0);
    for (size_t i = 0; i < TD_ARRAY_SIZE(STEPS); i++) {
        struct parsed p;
        parse_ok(&p, U, STEPS[i].expr, STEPS[i].names, STEPS[i].values);
        int r = td_ddb_update_apply(p.e, item, KEY_NAMES, &err);
        if (r < 0)
            print_message("%s: %s\n", STEPS[i].expr, err.message);
        assert_int_equal(r, 0);
        parsed_free(&p);
    }
    static const struct {
        const char *name, *want;
    } AFTER[] = {
        {"ProductCategory", "{`S`:`Hardware`}"},
        {"Price", "{`N`:`45`}"},
        {"RelatedItems", "{`L`:[{`S`:`Chisel`},{`N`:`649`},{`S`:`Screwdriver`},{`S`:`Hacksaw`}]}"},
        {"ProductReviews",
         "{`M`:{`FiveStar`:{`L`:[{`S`:`Excellent! Can't recommend it highly enough! Buy it!`},"
         "{`S`:`Very happy with my purchase`}]},`OneStar`:{`L`:[{`S`:`Terrible product! Do not "
         "buy this.`}]},`ThreeStar`:{`L`:[{`S`:`Just OK - not that great`}]}}}"},
        {"QuantityOnHand", "{`N`:`5`}"},
        {"Color", "{`SS`:[`Red`,`Black`,`Orange`]}"},
        {"Brand", NULL},
        {"InStock", NULL},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(AFTER); i++) {
        json_t *v = json_object_get(item, AFTER[i].name);
        if (!AFTER[i].want) {
            assert_null(v);
            continue;
        }
        assert_non_null(v);
        _cleanup_free_ char *text = text_of(v);
        if (strcmp(text, AFTER[i].want) != 0)
            print_message("%s: %s\n", AFTER[i].name, text);
        assert_string_equal(text, AFTER[i].want);
    }
    json_decref(item);
}

/* Messages quote the expression without ever cutting a UTF-8 character in two. */
static void test_utf8_messages(void **state)
{
    (void)state;
    _cleanup_buf_ struct td_buf b = TD_BUF_INIT(8192);
    assert_int_equal(td_buf_puts(&b, "a = "), 0);
    for (int i = 0; i < 400; i++)
        assert_int_equal(td_buf_puts(&b, "\xc3\xa9"), 0); /* é, not a token character */
    struct parsed p;
    parse(&p, C, b.data, NULL, NULL);
    assert_true(p.r < 0);
    json_t *msg = json_string(p.err.message);
    assert_non_null(msg); /* valid UTF-8 */
    json_decref(msg);
    assert_non_null(strstr(p.err.message, "token: \"\xc3\xa9\""));
    parsed_free(&p);
    /* long names in overlap messages */
    td_buf_reset(&b);
    assert_int_equal(td_buf_puts(&b, "#a, #a.b"), 0);
    _cleanup_buf_ struct td_buf names = TD_BUF_INIT(8192);
    assert_int_equal(td_buf_puts(&names, "{`#a`:`"), 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(td_buf_puts(&names, "\xe6\x97\xa5"), 0); /* 日 */
    assert_int_equal(td_buf_puts(&names, "`}"), 0);
    parse(&p, P, b.data, names.data, NULL);
    assert_true(p.r < 0);
    msg = json_string(p.err.message);
    assert_non_null(msg);
    json_decref(msg);
    parsed_free(&p);
}

/* ---- the attribute names of an expression -------------------------------------------------- */

static void test_attributes(void **state)
{
    (void)state;
    static const struct {
        enum td_ddb_expr_kind kind;
        const char *expr, *names, *values, *want;
    } CASES[] = {
        {U, "SET a.b = c, d = :v REMOVE e ADD #f :v", "{`#f`:`f.g`}", ":v=" N("1"),
         "[`a`,`c`,`d`,`e`,`f.g`]"},
        {C, "a = :v AND b.c[1] > d OR size(a) > :v", NULL, ":v=" N("1"), "[`a`,`b`,`d`]"},
        {P, "x, y.z, x2[0]", NULL, NULL, "[`x`,`y`,`x2`]"},
        {K, "p = :v", NULL, ":v=" N("1"), "[`p`]"},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(CASES); i++) {
        struct parsed p;
        parse_ok(&p, CASES[i].kind, CASES[i].expr, CASES[i].names, CASES[i].values);
        json_t *names = json_array();
        assert_int_equal(td_ddb_expr_attributes(p.e, names), 0);
        _cleanup_free_ char *text = text_of(names);
        assert_string_equal(text, CASES[i].want);
        json_decref(names);
        parsed_free(&p);
    }
}

/* Several expressions share one request's substitutions; only the check after all of them
 * refuses unused ones. */
static void test_shared_substitutions(void **state)
{
    (void)state;
    json_t *names = json_of("{`#a`:`a`,`#b`:`b`,`#c`:`c`}");
    json_t *values = values_of(":x=" N("1") ";:y=" N("2"));
    struct td_ddb_subst *s = NULL;
    struct td_err err = {0};
    struct td_ddb_expr *cond = NULL, *update = NULL;
    assert_int_equal(td_ddb_subst_new(names, values, &s, &err), 0);
    assert_int_equal(td_ddb_expr_parse(C, "#a = :x", s, &cond, &err), 0);
    assert_true(td_ddb_subst_check(s, &err) < 0);
    assert_string_equal(err.message, "Value provided in ExpressionAttributeNames unused in "
                                     "expressions: keys: {#b, #c}");
    assert_int_equal(td_ddb_expr_parse(U, "SET #b = :y", s, &update, &err), 0);
    assert_true(td_ddb_subst_check(s, &err) < 0);
    assert_string_equal(err.message, "Value provided in ExpressionAttributeNames unused in "
                                     "expressions: keys: {#c}");
    td_ddb_expr_free(cond);
    td_ddb_expr_free(update);
    td_ddb_subst_free(s);
    json_decref(names);
    json_decref(values);
    /* no substitutions at all */
    assert_int_equal(td_ddb_expr_parse(C, "attribute_exists(a)", NULL, &cond, &err), 0);
    td_ddb_expr_free(cond);
    assert_true(td_ddb_expr_parse(C, "a = :v", NULL, &cond, &err) < 0);
    assert_null(cond);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_condition_no_item),
        cmocka_unit_test(test_updates),
        cmocka_unit_test(test_update_nesting_and_project),
        cmocka_unit_test(test_projections),
        cmocka_unit_test(test_key_conditions),
        cmocka_unit_test(test_developer_guide_conditions),
        cmocka_unit_test(test_developer_guide_updates),
        cmocka_unit_test(test_utf8_messages),
        cmocka_unit_test(test_attributes),
        cmocka_unit_test(test_shared_substitutions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
