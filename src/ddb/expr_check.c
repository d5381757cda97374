/* The checks DynamoDB makes once an expression has parsed, in DynamoDB's order, so that an
 * expression with several problems gets the message DynamoDB would give (the order is that of
 * dynalite, whose messages were recorded against DynamoDB; the Alternator test suite adds a few
 * cases, e.g. if_not_exists() in a condition is "not allowed", not unknown):
 *
 *   conditions: too many operators; redundant parentheses; unknown function; function used
 *     where it is not allowed; reserved word; then, condition by condition in source order:
 *     undefined placeholder, number of operands, identical operands, operand types. A key
 *     condition is then refused OR, NOT, <>, IN and functions other than begins_with.
 *   updates: too many operators; reserved word; unknown function; a section used twice;
 *     undefined #name; undefined :value; overlapping paths; conflicting paths; ADD and DELETE
 *     operand types; function operands and types.
 *   projections: reserved word; undefined #name; overlapping paths; conflicting paths.
 *
 * Placeholders are resolved (and marked used) here. Operand types are only known for :values
 * and function results; a path's type is only known when an item is evaluated, and a wrong one
 * there makes a condition false rather than an error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ddb_internal.h"

#define MSG_OPERAND_TYPE "Incorrect operand type for operator or function; operator or function: "
#define MSG_MISUSED      "The function is not allowed to be used this way in an expression; function: "
#define ALL_TYPES        "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"

static const char *const FUNC_NAMES[] = {
    [F_UNKNOWN] = "",
    [F_ATTRIBUTE_EXISTS] = "attribute_exists",
    [F_ATTRIBUTE_NOT_EXISTS] = "attribute_not_exists",
    [F_ATTRIBUTE_TYPE] = "attribute_type",
    [F_BEGINS_WITH] = "begins_with",
    [F_CONTAINS] = "contains",
    [F_SIZE] = "size",
    [F_IF_NOT_EXISTS] = "if_not_exists",
    [F_LIST_APPEND] = "list_append",
};

static const size_t FUNC_ARITY[] = {
    [F_UNKNOWN] = 0,        [F_ATTRIBUTE_EXISTS] = 1, [F_ATTRIBUTE_NOT_EXISTS] = 1,
    [F_ATTRIBUTE_TYPE] = 2, [F_BEGINS_WITH] = 2,      [F_CONTAINS] = 2,
    [F_SIZE] = 1,           [F_IF_NOT_EXISTS] = 2,    [F_LIST_APPEND] = 2,
};

const char *ddb_func_name(enum ddb_func f)
{
    return f <= F_LIST_APPEND ? FUNC_NAMES[f] : "";
}

/* Function names are case-sensitive. */
static enum ddb_func func_of(const char *name, size_t len)
{
    for (int f = F_ATTRIBUTE_EXISTS; f <= F_LIST_APPEND; f++)
        if (strlen(FUNC_NAMES[f]) == len && memcmp(FUNC_NAMES[f], name, len) == 0)
            return (enum ddb_func)f;
    return F_UNKNOWN;
}

static bool is_update_func(enum ddb_func f)
{
    return f == F_IF_NOT_EXISTS || f == F_LIST_APPEND;
}

/* Functions whose result is a truth value, usable only as conditions. */
static bool is_bool_func(enum ddb_func f)
{
    return f >= F_ATTRIBUTE_EXISTS && f <= F_CONTAINS;
}

static const char *cmp_name(enum ddb_cmp c)
{
    static const char *const NAMES[] = {"=", "<>", "<", "<=", ">", ">="};
    return NAMES[c];
}

/* ---- walking the tree in source order ------------------------------------------------------ */

/* A visitor returns <0 to stop the walk with an error. */
typedef int (*visit_fn)(struct td_ddb_expr *e, struct ddb_node *n, void *ctx, struct td_err *err);

static int walk(struct td_ddb_expr *e, struct ddb_node *n, visit_fn fn, void *ctx,
                struct td_err *err)
{
    int r = fn(e, n, ctx, err);
    for (size_t i = 0; r >= 0 && i < n->nargs; i++)
        r = walk(e, n->args[i], fn, ctx, err);
    return r;
}

/* Every operand tree of the expression, in source order. */
static int walk_all(struct td_ddb_expr *e, visit_fn fn, void *ctx, struct td_err *err)
{
    if (e->root)
        return walk(e, e->root, fn, ctx, err);
    for (size_t i = 0; i < e->nactions; i++) {
        struct ddb_action *a = &e->actions[i];
        struct ddb_node target = {.kind = N_PATH, .path = a->path};
        int r = fn(e, &target, ctx, err);
        if (r >= 0 && a->value)
            r = walk(e, a->value, fn, ctx, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < e->npaths; i++) {
        struct ddb_node target = {.kind = N_PATH, .path = e->paths[i]};
        int r = fn(e, &target, ctx, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int visit_func_names(struct td_ddb_expr *e, struct ddb_node *n, void *ctx,
                            struct td_err *err)
{
    (void)ctx;
    if (n->kind != N_FUNC)
        return 0;
    n->func = func_of(n->text, n->text_len);
    bool known = e->kind == TD_DDB_EXPR_UPDATE ? is_update_func(n->func) : n->func != F_UNKNOWN;
    if (!known)
        return ddb_expr_error(e, err, "Invalid function name; function: %.*s", (int)n->text_len,
                              n->text);
    return 0;
}

static int visit_reserved(struct td_ddb_expr *e, struct ddb_node *n, void *ctx, struct td_err *err)
{
    (void)ctx;
    if (n->kind != N_PATH)
        return 0;
    for (size_t i = 0; i < n->path.n; i++) {
        const struct ddb_pelem *el = &n->path.el[i];
        if (!el->is_index && !el->is_ref && ddb_is_reserved(el->text, el->text_len))
            return ddb_expr_error(e, err,
                                  "Attribute name is a reserved keyword; reserved keyword: %.*s",
                                  (int)el->text_len, el->text);
    }
    return 0;
}

/* Resolve placeholders. ctx: which ones ('#', ':' or both, 0). */
struct resolve_ctx {
    struct td_ddb_subst *s;
    char only;
};

static int visit_resolve(struct td_ddb_expr *e, struct ddb_node *n, void *ctx, struct td_err *err)
{
    struct resolve_ctx *rc = ctx;
    if (n->kind == N_VALUE && rc->only != '#') {
        n->value = ddb_subst_value(rc->s, n->text, n->text_len);
        if (!n->value)
            return ddb_expr_error(e, err,
                                  "An expression attribute value used in expression is not "
                                  "defined; attribute value: %.*s",
                                  (int)n->text_len, n->text);
    }
    if (n->kind != N_PATH || rc->only == ':')
        return 0;
    for (size_t i = 0; i < n->path.n; i++) {
        struct ddb_pelem *el = &n->path.el[i];
        if (!el->is_ref)
            continue;
        el->name = ddb_subst_name(rc->s, el->text, el->text_len, &el->name_len);
        if (!el->name)
            return ddb_expr_error(e, err,
                                  "An expression attribute name used in the document path is not "
                                  "defined; attribute name: %.*s",
                                  (int)el->text_len, el->text);
    }
    return 0;
}

/* ---- paths --------------------------------------------------------------------------------- */

void ddb_path_str(const struct ddb_path *p, char *out, size_t cap)
{
    char el_text[128];
    size_t o = 0;
    if (cap < 8)
        return;
    out[o++] = '[';
    for (size_t i = 0; i < p->n; i++) {
        const struct ddb_pelem *el = &p->el[i];
        if (el->is_index)
            snprintf(el_text, sizeof(el_text), "%s[%u]", i ? ", " : "", el->index);
        else
            snprintf(el_text, sizeof(el_text), "%s%.*s", i ? ", " : "",
                     ddb_quote_len(el->name ? el->name : "", el->name_len, 100),
                     el->name ? el->name : "");
        size_t n = strlen(el_text);
        /* whole elements only, so that no UTF-8 sequence is cut */
        if (o + n + 5 > cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, el_text, n);
        o += n;
    }
    out[o++] = ']';
    out[o] = '\0';
}

static bool elem_equal(const struct ddb_pelem *a, const struct ddb_pelem *b)
{
    if (a->is_index != b->is_index)
        return false;
    if (a->is_index)
        return a->index == b->index;
    return a->name_len == b->name_len && a->name && b->name &&
           memcmp(a->name, b->name, a->name_len) == 0;
}

static bool paths_equal(const struct ddb_path *a, const struct ddb_path *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!elem_equal(&a->el[i], &b->el[i]))
            return false;
    return true;
}

int ddb_path_cmp(const struct ddb_path *a, const struct ddb_path *b)
{
    for (size_t i = 0; i < a->n && i < b->n; i++) {
        const struct ddb_pelem *x = &a->el[i], *y = &b->el[i];
        if (x->is_index != y->is_index)
            return x->is_index ? 1 : -1;
        if (x->is_index) {
            if (x->index != y->index)
                return x->index < y->index ? -1 : 1;
            continue;
        }
        size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
        int c = memcmp(x->name, y->name, n);
        if (c != 0)
            return c;
        if (x->name_len != y->name_len)
            return x->name_len < y->name_len ? -1 : 1;
    }
    return a->n == b->n ? 0 : a->n < b->n ? -1 : 1;
}

enum relation { REL_NONE, REL_OVERLAP, REL_CONFLICT };

/* One path a prefix of the other: overlap; a name against an index at the same depth of an
 * otherwise equal prefix: conflict. */
static enum relation relation(const struct ddb_path *a, const struct ddb_path *b)
{
    for (size_t i = 0; i < a->n && i < b->n; i++) {
        if (a->el[i].is_index != b->el[i].is_index)
            return REL_CONFLICT;
        if (!elem_equal(&a->el[i], &b->el[i]))
            return REL_NONE;
    }
    return REL_OVERLAP;
}

static int check_paths(struct td_ddb_expr *e, const struct ddb_path *const *paths, size_t n,
                       struct td_err *err)
{
    size_t conflict_a = 0, conflict_b = 0;
    bool conflict = false;
    for (size_t i = 1; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            enum relation rel = relation(paths[j], paths[i]);
            char one[300], two[300];
            if (rel == REL_OVERLAP) {
                ddb_path_str(paths[j], one, sizeof(one));
                ddb_path_str(paths[i], two, sizeof(two));
                return ddb_expr_error(e, err,
                                      "Two document paths overlap with each other; must remove "
                                      "or rewrite one of these paths; path one: %s, path two: %s",
                                      one, two);
            }
            if (rel == REL_CONFLICT && !conflict) {
                conflict = true;
                conflict_a = j;
                conflict_b = i;
            }
        }
    }
    if (conflict) {
        char one[300], two[300];
        ddb_path_str(paths[conflict_a], one, sizeof(one));
        ddb_path_str(paths[conflict_b], two, sizeof(two));
        return ddb_expr_error(e, err,
                              "Two document paths conflict with each other; must remove or "
                              "rewrite one of these paths; path one: %s, path two: %s",
                              one, two);
    }
    return 0;
}

/* ---- operand types ------------------------------------------------------------------------- */

/* The type an operand is known to have before any item is seen, or 0. */
static enum td_ddb_type static_type(const struct ddb_node *n)
{
    enum td_ddb_type t = 0;
    switch (n->kind) {
    case N_VALUE:
        return n->value && ddb_member(n->value, &t) ? t : 0;
    case N_FUNC:
        if (n->func == F_SIZE)
            return TD_DDB_N;
        if (n->func == F_LIST_APPEND)
            return TD_DDB_L;
        if (n->func == F_IF_NOT_EXISTS && n->nargs == 2)
            return static_type(n->args[1]);
        return is_bool_func(n->func) ? TD_DDB_BOOL : 0;
    case N_PLUS:
    case N_MINUS:
        return TD_DDB_N;
    default:
        return 0;
    }
}

static bool is_scalar_key_type(enum td_ddb_type t)
{
    return t == TD_DDB_S || t == TD_DDB_N || t == TD_DDB_B;
}

static int operand_type_error(struct td_ddb_expr *e, const char *op, enum td_ddb_type t,
                              struct td_err *err)
{
    return ddb_expr_error(e, err, MSG_OPERAND_TYPE "%s, operand type: %s", op,
                          t ? td_ddb_type_name(t) : ALL_TYPES);
}

/* "AttributeValue: {N:5}" as the BETWEEN messages print a bound. */
static void bound_text(const json_t *av, char *out, size_t cap)
{
    enum td_ddb_type t = 0;
    const json_t *m = ddb_member(av, &t);
    const char *text = m && json_is_string(m) ? json_string_value(m) : "";
    size_t len = m && json_is_string(m) ? json_string_length(m) : 0;
    snprintf(out, cap, "AttributeValue: {%s:%.*s}", td_ddb_type_name(t),
             ddb_quote_len(text, len, 100), text);
}

static int check_between(struct td_ddb_expr *e, const struct ddb_node *n, struct td_err *err)
{
    for (size_t i = 0; i < 3; i++) {
        enum td_ddb_type t = static_type(n->args[i]);
        if (t && !is_scalar_key_type(t))
            return operand_type_error(e, "BETWEEN", t, err);
    }
    const struct ddb_node *lo = n->args[1], *hi = n->args[2];
    if (lo->kind != N_VALUE || hi->kind != N_VALUE)
        return 0;
    enum td_ddb_type tl = static_type(lo), th = static_type(hi);
    char a[160], b[160];
    bound_text(lo->value, a, sizeof(a));
    bound_text(hi->value, b, sizeof(b));
    if (tl != th)
        return ddb_expr_error(e, err,
                              "The BETWEEN operator requires same data type for lower and upper "
                              "bounds; lower bound operand: %s, upper bound operand: %s",
                              a, b);
    if (td_ddb_value_compare(lo->value, hi->value) > 0)
        return ddb_expr_error(e, err,
                              "The BETWEEN operator requires upper bound to be greater than or "
                              "equal to lower bound; lower bound operand: %s, upper bound "
                              "operand: %s",
                              a, b);
    return 0;
}

static int check_attribute_type(struct td_ddb_expr *e, const struct ddb_node *n, struct td_err *err)
{
    const struct ddb_node *arg = n->args[1];
    enum td_ddb_type t = static_type(arg);
    if (t != TD_DDB_S)
        return operand_type_error(e, "attribute_type", t, err);
    const json_t *m = ddb_member(arg->value, NULL);
    if (!ddb_type_from_name(json_string_value(m), json_string_length(m)))
        return ddb_expr_error(e, err,
                              "Invalid attribute type name found; type: %.*s, valid types: "
                              "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}",
                              ddb_quote_len(json_string_value(m), json_string_length(m), 100),
                              json_string_value(m));
    return 0;
}

/* Operand and type errors of one function call (its arguments are checked by the walk). */
static int check_function(struct td_ddb_expr *e, const struct ddb_node *n, struct td_err *err)
{
    const char *name = ddb_func_name(n->func);
    switch (n->func) {
    case F_ATTRIBUTE_EXISTS:
    case F_ATTRIBUTE_NOT_EXISTS:
    case F_IF_NOT_EXISTS:
        if (n->args[0]->kind != N_PATH)
            return ddb_expr_error(e, err,
                                  "Operator or function requires a document path; operator or "
                                  "function: %s",
                                  name);
        return 0;
    case F_ATTRIBUTE_TYPE:
        return check_attribute_type(e, n, err);
    case F_BEGINS_WITH:
        for (size_t i = 0; i < n->nargs; i++) {
            enum td_ddb_type t = static_type(n->args[i]);
            if (t && t != TD_DDB_S && t != TD_DDB_B)
                return operand_type_error(e, name, t, err);
        }
        return 0;
    case F_SIZE: {
        enum td_ddb_type t = static_type(n->args[0]);
        if (t == TD_DDB_N || t == TD_DDB_BOOL || t == TD_DDB_NULL)
            return operand_type_error(e, name, t, err);
        return 0;
    }
    case F_LIST_APPEND:
        for (size_t i = 0; i < n->nargs; i++) {
            enum td_ddb_type t = static_type(n->args[i]);
            if (t && t != TD_DDB_L)
                return operand_type_error(e, name, t, err);
        }
        return 0;
    case F_CONTAINS:
    case F_UNKNOWN:
    default:
        return 0;
    }
}

static int check_arity(struct td_ddb_expr *e, const struct ddb_node *n, void *ctx,
                       struct td_err *err)
{
    (void)ctx;
    if (n->kind == N_FUNC && n->nargs != FUNC_ARITY[n->func])
        return ddb_expr_error(e, err,
                              "Incorrect number of operands for operator or function; operator "
                              "or function: %s, number of operands: %zu",
                              ddb_func_name(n->func), n->nargs);
    if (n->kind == N_IN && n->nargs > DDB_MAX_IN)
        return ddb_expr_error(e, err,
                              "The IN operator is provided with too many operands; number of "
                              "operands: %zu",
                              n->nargs);
    return 0;
}

static int visit_arity(struct td_ddb_expr *e, struct ddb_node *n, void *ctx, struct td_err *err)
{
    return check_arity(e, n, ctx, err);
}

/* "a = a", "begins_with(a, a)": DynamoDB wants distinct operands. */
static int check_distinct(struct td_ddb_expr *e, const struct ddb_node *n, struct td_err *err)
{
    bool two = (n->kind == N_CMP) || (n->kind == N_FUNC && n->nargs == 2);
    if (!two || n->args[0]->kind != N_PATH || n->args[1]->kind != N_PATH ||
        !paths_equal(&n->args[0]->path, &n->args[1]->path))
        return 0;
    char path[300];
    ddb_path_str(&n->args[0]->path, path, sizeof(path));
    return ddb_expr_error(e, err,
                          "The first operand must be distinct from the remaining operands for "
                          "this operator or function; operator: %s, first operand: %s",
                          n->kind == N_CMP ? cmp_name(n->cmp) : ddb_func_name(n->func), path);
}

static int visit_distinct(struct td_ddb_expr *e, struct ddb_node *n, void *ctx, struct td_err *err)
{
    (void)ctx;
    return check_distinct(e, n, err);
}

static int visit_types(struct td_ddb_expr *e, struct ddb_node *n, void *ctx, struct td_err *err)
{
    (void)ctx;
    if (n->kind == N_FUNC)
        return check_function(e, n, err);
    if (n->kind == N_BETWEEN)
        return check_between(e, n, err);
    if (n->kind == N_CMP && n->cmp != CMP_EQ && n->cmp != CMP_NE) {
        for (size_t i = 0; i < 2; i++) {
            enum td_ddb_type t = static_type(n->args[i]);
            if (t && !is_scalar_key_type(t))
                return operand_type_error(e, cmp_name(n->cmp), t, err);
        }
    }
    if (n->kind == N_PLUS || n->kind == N_MINUS) {
        for (size_t i = 0; i < 2; i++) {
            enum td_ddb_type t = static_type(n->args[i]);
            if (t && t != TD_DDB_N)
                return operand_type_error(e, n->kind == N_PLUS ? "+" : "-", t, err);
        }
    }
    return 0;
}

/* ---- conditions ---------------------------------------------------------------------------- */

/* Functions where they may not be: a truth-valued one as an operand, size() as a condition,
 * if_not_exists() and list_append() anywhere in a condition. */
static int check_misused(struct td_ddb_expr *e, const struct ddb_node *n, bool as_condition,
                         struct td_err *err)
{
    if (n->kind == N_FUNC) {
        bool bad =
            is_update_func(n->func) || (as_condition ? n->func == F_SIZE : is_bool_func(n->func));
        if (bad)
            return ddb_expr_error(e, err, MSG_MISUSED "%s", ddb_func_name(n->func));
    }
    bool args_are_conditions = n->kind == N_AND || n->kind == N_OR || n->kind == N_NOT;
    for (size_t i = 0; i < n->nargs; i++) {
        int r = check_misused(e, n->args[i], args_are_conditions, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The checks DynamoDB makes condition by condition, in source order. */
static int check_conditions(struct td_ddb_expr *e, struct ddb_node *n, struct td_ddb_subst *s,
                            struct td_err *err)
{
    if (n->kind == N_AND || n->kind == N_OR || n->kind == N_NOT) {
        for (size_t i = 0; i < n->nargs; i++) {
            int r = check_conditions(e, n->args[i], s, err);
            if (r < 0)
                return r;
        }
        return 0;
    }
    struct resolve_ctx rc = {.s = s};
    int r = walk(e, n, visit_resolve, &rc, err);
    if (r >= 0)
        r = walk(e, n, visit_arity, NULL, err);
    if (r >= 0)
        r = walk(e, n, visit_distinct, NULL, err);
    if (r >= 0)
        r = walk(e, n, visit_types, NULL, err);
    return r;
}

static const char *key_operator(const struct ddb_node *n)
{
    switch (n->kind) {
    case N_OR:
        return "OR";
    case N_NOT:
        return "NOT";
    case N_IN:
        return "IN";
    case N_CMP:
        return n->cmp == CMP_NE ? "<>" : NULL;
    case N_FUNC:
        return n->func == F_BEGINS_WITH ? NULL : ddb_func_name(n->func);
    default:
        return NULL;
    }
}

static int visit_key_operators(struct td_ddb_expr *e, struct ddb_node *n, void *ctx,
                               struct td_err *err)
{
    (void)ctx;
    const char *op = key_operator(n);
    if (op)
        return ddb_expr_error(e, err, "Invalid operator used in KeyConditionExpression: %s", op);
    return 0;
}

static int check_condition(struct td_ddb_expr *e, struct td_ddb_subst *s, struct td_err *err)
{
    if (e->redundant_parens)
        return ddb_expr_error(e, err, "The expression has redundant parentheses;");
    int r = walk_all(e, visit_func_names, NULL, err);
    if (r >= 0)
        r = check_misused(e, e->root, true, err);
    if (r >= 0)
        r = walk_all(e, visit_reserved, NULL, err);
    if (r >= 0)
        r = check_conditions(e, e->root, s, err);
    if (r >= 0 && e->kind == TD_DDB_EXPR_KEY_CONDITION)
        r = walk_all(e, visit_key_operators, NULL, err);
    return r;
}

/* ---- updates ------------------------------------------------------------------------------- */

/* list_append(list_append(..)), if_not_exists(.., if_not_exists(..)): DynamoDB refuses a
 * function nested in itself. */
static int check_nesting(struct td_ddb_expr *e, const struct ddb_node *n, enum ddb_func outer,
                         struct td_err *err)
{
    if (n->kind == N_FUNC && n->func == outer && outer != F_UNKNOWN)
        return ddb_expr_error(e, err, MSG_MISUSED "%s", ddb_func_name(n->func));
    enum ddb_func inner = n->kind == N_FUNC ? n->func : outer;
    for (size_t i = 0; i < n->nargs; i++) {
        int r = check_nesting(e, n->args[i], inner, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int check_add_delete(struct td_ddb_expr *e, struct td_err *err)
{
    for (size_t i = 0; i < e->nactions; i++) {
        const struct ddb_action *a = &e->actions[i];
        if (a->kind != A_ADD && a->kind != A_DELETE)
            continue;
        enum td_ddb_type t = static_type(a->value);
        bool ok = ddb_is_set(t) || (a->kind == A_ADD && t == TD_DDB_N);
        if (!ok)
            return ddb_expr_error(e, err,
                                  "Incorrect operand type for operator or function; operator: "
                                  "%s, operand type: %s, typeSet: ALLOWED_FOR_%s_OPERAND",
                                  a->kind == A_ADD ? "ADD" : "DELETE", ddb_type_long_name(t),
                                  a->kind == A_ADD ? "ADD" : "DELETE");
    }
    return 0;
}

static int check_update_values(struct td_ddb_expr *e, struct td_err *err)
{
    for (size_t i = 0; i < e->nactions; i++) {
        struct ddb_node *v = e->actions[i].kind == A_SET ? e->actions[i].value : NULL;
        int r = 0;
        if (v)
            r = walk(e, v, visit_arity, NULL, err);
        if (r >= 0 && v)
            r = check_nesting(e, v, F_UNKNOWN, err);
        if (r >= 0 && v)
            r = walk(e, v, visit_types, NULL, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int check_update(struct td_ddb_expr *e, struct td_ddb_subst *s, struct td_err *err)
{
    int r = walk_all(e, visit_reserved, NULL, err);
    if (r >= 0)
        r = walk_all(e, visit_func_names, NULL, err);
    if (r >= 0 && e->section_twice)
        r = ddb_expr_error(e, err,
                           "The \"%s\" section can only be used once in an update expression;",
                           e->section_name);
    struct resolve_ctx names = {.s = s, .only = '#'}, values = {.s = s, .only = ':'};
    if (r >= 0)
        r = walk_all(e, visit_resolve, &names, err);
    if (r >= 0)
        r = walk_all(e, visit_resolve, &values, err);
    if (r >= 0 && e->nactions > 0) {
        const struct ddb_path **paths = calloc(e->nactions, sizeof(*paths));
        if (!paths)
            return ddb_oom(err);
        for (size_t i = 0; i < e->nactions; i++)
            paths[i] = &e->actions[i].path;
        r = check_paths(e, paths, e->nactions, err);
        free(paths);
    }
    if (r >= 0)
        r = check_add_delete(e, err);
    if (r >= 0)
        r = check_update_values(e, err);
    return r;
}

/* ---- projections --------------------------------------------------------------------------- */

static int check_projection(struct td_ddb_expr *e, struct td_ddb_subst *s, struct td_err *err)
{
    struct resolve_ctx names = {.s = s, .only = '#'};
    int r = walk_all(e, visit_reserved, NULL, err);
    if (r >= 0)
        r = walk_all(e, visit_resolve, &names, err);
    if (r >= 0 && e->npaths > 0) {
        const struct ddb_path **paths = calloc(e->npaths, sizeof(*paths));
        if (!paths)
            return ddb_oom(err);
        for (size_t i = 0; i < e->npaths; i++)
            paths[i] = &e->paths[i];
        r = check_paths(e, paths, e->npaths, err);
        free(paths);
    }
    return r;
}

int ddb_check(struct td_ddb_expr *e, struct td_ddb_subst *s, struct td_err *err)
{
    if (e->operators > DDB_MAX_OPERATORS)
        return ddb_expr_error(
            e, err, "The expression contains too many operators; operator count: %u", e->operators);
    switch (e->kind) {
    case TD_DDB_EXPR_UPDATE:
        return check_update(e, s, err);
    case TD_DDB_EXPR_PROJECTION:
        return check_projection(e, s, err);
    case TD_DDB_EXPR_CONDITION:
    case TD_DDB_EXPR_FILTER:
    case TD_DDB_EXPR_KEY_CONDITION:
    default:
        return check_condition(e, s, err);
    }
}
