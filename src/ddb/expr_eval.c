/* Evaluating parsed expressions against items: conditions and filters, projections, what a key
 * condition says, and the attribute names an expression touches.
 *
 * Conditions follow DynamoDB's semantics (as the Alternator test suite records them):
 *   - a missing attribute is never "=" to anything, not even another missing one, and always
 *     "<>"; order comparisons, BETWEEN and IN with a missing operand are false;
 *   - operands of different types are unequal and unordered (false, not an error);
 *   - S compares by UTF-8 bytes, B by unsigned bytes, N numerically, sets as sets;
 *   - size() counts UTF-16 code units of S, bytes of B, elements of sets, L and M, and has no
 *     value for other types (so a comparison with it is false);
 *   - contains() is a substring test on S and B, membership in sets, and element equality in L.
 * Evaluation recurses along the tree, which the parser keeps at most DDB_PARSE_DEPTH deep.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddb_internal.h"
#include "tenantd/cleanup.h"

void ddb_val_release(struct ddb_val *v)
{
    json_decref(v->owned);
    v->owned = NULL;
    v->v = NULL;
}

const json_t *ddb_path_get(const json_t *item, const struct ddb_path *p)
{
    if (!json_is_object(item) || p->n == 0 || p->el[0].is_index || !p->el[0].name)
        return NULL;
    const json_t *v = json_object_getn(item, p->el[0].name, p->el[0].name_len);
    for (size_t i = 1; v && i < p->n; i++) {
        const struct ddb_pelem *el = &p->el[i];
        enum td_ddb_type t = 0;
        const json_t *m = ddb_member(v, &t);
        if (el->is_index)
            v = t == TD_DDB_L ? json_array_get(m, el->index) : NULL;
        else
            v = t == TD_DDB_M && el->name ? json_object_getn(m, el->name, el->name_len) : NULL;
    }
    return v;
}

/* ---- operands ------------------------------------------------------------------------------ */

static int size_of(const json_t *av, struct ddb_val *out)
{
    enum td_ddb_type t = 0;
    const json_t *m = ddb_member(av, &t);
    size_t n;
    switch (m ? t : 0) {
    case TD_DDB_S:
        n = ddb_utf16_len(json_string_value(m), json_string_length(m));
        break;
    case TD_DDB_B:
        n = ddb_bytes_len(m);
        break;
    case TD_DDB_SS:
    case TD_DDB_NS:
    case TD_DDB_BS:
    case TD_DDB_L:
        n = json_array_size(m);
        break;
    case TD_DDB_M:
        n = json_object_size(m);
        break;
    default:
        return 0; /* no size: the operand has no value */
    }
    char text[32];
    snprintf(text, sizeof(text), "%zu", n);
    out->owned = ddb_av_new(TD_DDB_N, json_string(text));
    if (!out->owned)
        return -ENOMEM;
    out->v = out->owned;
    return 0;
}

static int eval_operand(const struct ddb_node *n, const json_t *item, struct ddb_val *out)
{
    out->v = NULL;
    out->owned = NULL;
    if (n->kind == N_PATH) {
        out->v = ddb_path_get(item, &n->path);
    } else if (n->kind == N_VALUE) {
        out->v = n->value;
    } else if (n->kind == N_FUNC && n->func == F_SIZE) {
        struct ddb_val arg;
        int r = eval_operand(n->args[0], item, &arg);
        if (r < 0)
            return r;
        r = arg.v ? size_of(arg.v, out) : 0;
        ddb_val_release(&arg);
        return r;
    }
    return 0;
}

/* ---- conditions ---------------------------------------------------------------------------- */

static bool compare_ok(enum ddb_cmp op, const json_t *a, const json_t *b)
{
    if (op == CMP_EQ)
        return a && b && td_ddb_value_equal(a, b);
    if (op == CMP_NE)
        return !(a && b && td_ddb_value_equal(a, b));
    int c = a && b ? td_ddb_value_compare(a, b) : -2;
    if (c == -2)
        return false;
    switch (op) {
    case CMP_LT:
        return c < 0;
    case CMP_LE:
        return c <= 0;
    case CMP_GT:
        return c > 0;
    case CMP_GE:
        return c >= 0;
    default:
        return false;
    }
}

/* begins_with and the S/B case of contains: on strings, or on decoded bytes. */
static int text_test(enum ddb_func f, enum td_ddb_type t, const json_t *a, const json_t *b,
                     bool *ret)
{
    _cleanup_buf_ struct td_buf x = TD_BUF_INIT(DDB_BYTES_MAX);
    _cleanup_buf_ struct td_buf y = TD_BUF_INIT(DDB_BYTES_MAX);
    const char *hay = json_string_value(a), *needle = json_string_value(b);
    size_t nh = json_string_length(a), nn = json_string_length(b);
    if (t == TD_DDB_B) {
        int r = ddb_bytes(a, &x);
        if (r >= 0)
            r = ddb_bytes(b, &y);
        if (r == -ENOMEM)
            return r;
        if (r < 0) {
            *ret = false;
            return 0;
        }
        hay = x.data ? x.data : "";
        nh = x.len;
        needle = y.data ? y.data : "";
        nn = y.len;
    }
    if (f == F_BEGINS_WITH)
        *ret = nn <= nh && memcmp(hay, needle, nn) == 0;
    else
        *ret = nn == 0 || memmem(hay, nh, needle, nn) != NULL;
    return 0;
}

static int eval_contains(const json_t *a, const json_t *b, bool *ret)
{
    enum td_ddb_type ta = 0, tb = 0;
    const json_t *ma = ddb_member(a, &ta), *mb = ddb_member(b, &tb);
    size_t i;
    json_t *e;
    *ret = false;
    if (!ma || !mb)
        return 0;
    if ((ta == TD_DDB_S || ta == TD_DDB_B) && ta == tb)
        return text_test(F_CONTAINS, ta, ma, mb, ret);
    if (ddb_is_set(ta) && ddb_set_elem(ta) == tb) {
        json_array_foreach(ma, i, e)
        {
            if (ddb_member_equal(tb, e, mb, 1)) {
                *ret = true;
                break;
            }
        }
        return 0;
    }
    if (ta == TD_DDB_L) {
        json_array_foreach(ma, i, e)
        {
            if (td_ddb_value_equal(e, b)) {
                *ret = true;
                break;
            }
        }
    }
    return 0;
}

static int eval_bool_func(const struct ddb_node *n, const json_t *item, bool *ret)
{
    *ret = false;
    if (n->func == F_ATTRIBUTE_EXISTS || n->func == F_ATTRIBUTE_NOT_EXISTS) {
        bool exists = ddb_path_get(item, &n->args[0]->path) != NULL;
        *ret = n->func == F_ATTRIBUTE_EXISTS ? exists : !exists;
        return 0;
    }
    struct ddb_val a = {0}, b = {0};
    int r = eval_operand(n->args[0], item, &a);
    if (r >= 0)
        r = eval_operand(n->args[1], item, &b);
    if (r >= 0 && a.v && b.v) {
        enum td_ddb_type ta = 0, tb = 0;
        const json_t *ma = ddb_member(a.v, &ta), *mb = ddb_member(b.v, &tb);
        if (n->func == F_ATTRIBUTE_TYPE)
            *ret = ma && tb == TD_DDB_S && strcmp(td_ddb_type_name(ta), json_string_value(mb)) == 0;
        else if (n->func == F_BEGINS_WITH && ma && mb && ta == tb &&
                 (ta == TD_DDB_S || ta == TD_DDB_B))
            r = text_test(F_BEGINS_WITH, ta, ma, mb, ret);
        else if (n->func == F_CONTAINS)
            r = eval_contains(a.v, b.v, ret);
    }
    ddb_val_release(&a);
    ddb_val_release(&b);
    return r;
}

static int eval_cond(const struct ddb_node *n, const json_t *item, bool *ret);

static int eval_compare(const struct ddb_node *n, const json_t *item, bool *ret)
{
    struct ddb_val v[3] = {{0}};
    size_t k = n->kind == N_IN ? 1 : n->nargs;
    int r = 0;
    for (size_t i = 0; i < k && r >= 0; i++)
        r = eval_operand(n->args[i], item, &v[i]);
    if (r >= 0 && n->kind == N_CMP) {
        *ret = compare_ok(n->cmp, v[0].v, v[1].v);
    } else if (r >= 0 && n->kind == N_BETWEEN) {
        *ret = compare_ok(CMP_GE, v[0].v, v[1].v) && compare_ok(CMP_LE, v[0].v, v[2].v);
    } else if (r >= 0 && n->kind == N_IN) {
        *ret = false;
        for (size_t i = 1; i < n->nargs && !*ret && r >= 0 && v[0].v; i++) {
            struct ddb_val x;
            r = eval_operand(n->args[i], item, &x);
            *ret = r >= 0 && x.v && td_ddb_value_equal(v[0].v, x.v);
            ddb_val_release(&x);
        }
    }
    for (size_t i = 0; i < 3; i++)
        ddb_val_release(&v[i]);
    return r;
}

static int eval_cond(const struct ddb_node *n, const json_t *item, bool *ret)
{
    int r = 0;
    switch (n->kind) {
    case N_AND:
    case N_OR:
        /* AND: true until one is false; OR: false until one is true */
        *ret = n->kind == N_AND;
        for (size_t i = 0; i < n->nargs && r >= 0; i++) {
            bool x = false;
            r = eval_cond(n->args[i], item, &x);
            if (x != (n->kind == N_AND)) {
                *ret = x;
                break;
            }
        }
        return r;
    case N_NOT:
        r = eval_cond(n->args[0], item, ret);
        *ret = !*ret;
        return r;
    case N_CMP:
    case N_BETWEEN:
    case N_IN:
        return eval_compare(n, item, ret);
    case N_FUNC:
        return eval_bool_func(n, item, ret);
    default:
        *ret = false;
        return 0;
    }
}

int td_ddb_condition_eval(const struct td_ddb_expr *e, const json_t *item, bool *ret,
                          struct td_err *err)
{
    *ret = false;
    if (!e || !e->root || e->kind == TD_DDB_EXPR_PROJECTION || e->kind == TD_DDB_EXPR_UPDATE)
        return -EINVAL;
    int r = eval_cond(e->root, item, ret);
    if (r < 0) {
        *ret = false;
        return ddb_oom(err);
    }
    return 0;
}

/* ---- projections --------------------------------------------------------------------------- */

/* The list nodes of a projection being built, with the item index their last element came
 * from: paths are added in ascending order, so "a[1], a[3]" become a list of two. */
struct list_origin {
    const json_t *list;
    uint32_t index;
};

struct projection {
    struct list_origin *lists;
    size_t n, cap;
};

static int remember_list(struct projection *pj, const json_t *list, uint32_t index)
{
    for (size_t i = 0; i < pj->n; i++)
        if (pj->lists[i].list == list) {
            pj->lists[i].index = index;
            return 0;
        }
    if (pj->n == pj->cap) {
        size_t cap = pj->cap ? pj->cap * 2 : 8;
        struct list_origin *l = realloc(pj->lists, cap * sizeof(*l));
        if (!l)
            return -ENOMEM;
        pj->lists = l;
        pj->cap = cap;
    }
    pj->lists[pj->n++] = (struct list_origin){list, index};
    return 0;
}

static bool last_from(const struct projection *pj, const json_t *list, uint32_t index)
{
    for (size_t i = 0; i < pj->n; i++)
        if (pj->lists[i].list == list)
            return json_array_size(list) > 0 && pj->lists[i].index == index;
    return false;
}

/* An empty container of the source's type, or a copy of the source at the path's end. */
static json_t *shell_of(const json_t *src, bool last)
{
    if (last)
        return json_deep_copy(src);
    enum td_ddb_type t = 0;
    ddb_member(src, &t);
    return ddb_av_new(t, t == TD_DDB_M ? json_object() : json_array());
}

/* Add the value at path p of item to the projection `out`. */
static int project_path(struct projection *pj, const json_t *item, const struct ddb_path *p,
                        json_t *out)
{
    const json_t *src = json_object_getn(item, p->el[0].name, p->el[0].name_len);
    json_t *node = json_object_getn(out, p->el[0].name, p->el[0].name_len);
    if (!node) {
        node = shell_of(src, p->n == 1);
        if (!node || json_object_setn_new(out, p->el[0].name, p->el[0].name_len, node) < 0)
            return -ENOMEM;
    }
    for (size_t i = 1; i < p->n; i++) {
        const struct ddb_pelem *el = &p->el[i];
        bool last = i + 1 == p->n;
        json_t *m = ddb_member(node, NULL);
        const json_t *sm = ddb_member(src, NULL);
        json_t *child;
        if (el->is_index) {
            src = json_array_get(sm, el->index);
            if (last_from(pj, m, el->index)) {
                child = json_array_get(m, json_array_size(m) - 1);
            } else {
                child = shell_of(src, last);
                if (!child || json_array_append_new(m, child) < 0 ||
                    remember_list(pj, m, el->index) < 0)
                    return -ENOMEM;
            }
        } else {
            src = json_object_getn(sm, el->name, el->name_len);
            child = json_object_getn(m, el->name, el->name_len);
            if (!child) {
                child = shell_of(src, last);
                if (!child || json_object_setn_new(m, el->name, el->name_len, child) < 0)
                    return -ENOMEM;
            }
        }
        node = child;
    }
    return 0;
}

static int path_ptr_cmp(const void *x, const void *y)
{
    const struct ddb_path *const *a = x, *const *b = y;
    return ddb_path_cmp(*a, *b);
}

/* The paths of item, as a new item holding only them. */
static int project(const struct ddb_path **paths, size_t n, const json_t *item, json_t **ret,
                   struct td_err *err)
{
    json_t *out = json_object();
    struct projection pj = {0};
    int r = out ? 0 : -ENOMEM;
    qsort(paths, n, sizeof(*paths), path_ptr_cmp);
    for (size_t i = 0; r == 0 && i < n && item; i++)
        if (ddb_path_get(item, paths[i]))
            r = project_path(&pj, item, paths[i], out);
    free(pj.lists);
    if (r < 0) {
        json_decref(out);
        return ddb_oom(err);
    }
    *ret = out;
    return 0;
}

int td_ddb_projection_apply(const struct td_ddb_expr *e, const json_t *item, json_t **ret,
                            struct td_err *err)
{
    *ret = NULL;
    if (!e || e->kind != TD_DDB_EXPR_PROJECTION)
        return -EINVAL;
    _cleanup_free_ const struct ddb_path **paths =
        calloc(e->npaths ? e->npaths : 1, sizeof(*paths));
    if (!paths)
        return ddb_oom(err);
    for (size_t i = 0; i < e->npaths; i++)
        paths[i] = &e->paths[i];
    return project(paths, e->npaths, item, ret, err);
}

int td_ddb_update_project(const struct td_ddb_expr *e, const json_t *item, json_t **ret,
                          struct td_err *err)
{
    *ret = NULL;
    if (!e || e->kind != TD_DDB_EXPR_UPDATE)
        return -EINVAL;
    _cleanup_free_ const struct ddb_path **paths =
        calloc(e->nactions ? e->nactions : 1, sizeof(*paths));
    if (!paths)
        return ddb_oom(err);
    for (size_t i = 0; i < e->nactions; i++)
        paths[i] = &e->actions[i].path;
    return project(paths, e->nactions, item, ret, err);
}

/* ---- key conditions ------------------------------------------------------------------------ */

#define MSG_NOT_SUPPORTED "Query key condition not supported"

/* The simple conditions ANDed together (at most 3 kept: more is an error anyway). */
static void key_leaves(const struct ddb_node *n, const struct ddb_node **out, size_t *count)
{
    if (n->kind == N_AND) {
        for (size_t i = 0; i < n->nargs; i++)
            key_leaves(n->args[i], out, count);
        return;
    }
    if (*count < 3)
        out[*count] = n;
    (*count)++;
}

static enum td_ddb_range_op range_op(enum ddb_cmp c, bool flipped)
{
    switch (c) {
    case CMP_LT:
        return flipped ? TD_DDB_RANGE_GT : TD_DDB_RANGE_LT;
    case CMP_LE:
        return flipped ? TD_DDB_RANGE_GE : TD_DDB_RANGE_LE;
    case CMP_GT:
        return flipped ? TD_DDB_RANGE_LT : TD_DDB_RANGE_GT;
    case CMP_GE:
        return flipped ? TD_DDB_RANGE_LE : TD_DDB_RANGE_GE;
    case CMP_EQ:
    case CMP_NE:
    default:
        return TD_DDB_RANGE_EQ;
    }
}

/* One simple condition: the attribute it is on, its operator and its values. */
struct key_leaf {
    const struct ddb_path *path;
    enum td_ddb_range_op op;
    const json_t *values[2];
};

static int read_leaf(const struct ddb_node *n, struct key_leaf *k, struct td_err *err)
{
    const struct ddb_node *attr = n->args[0];
    if (n->kind == N_CMP) {
        bool flipped = attr->kind != N_PATH;
        if (flipped)
            attr = n->args[1];
        const struct ddb_node *value = n->args[flipped ? 0 : 1];
        if (attr->kind != N_PATH || value->kind != N_VALUE)
            return ddb_invalid(err, MSG_NOT_SUPPORTED);
        k->op = range_op(n->cmp, flipped);
        k->values[0] = value->value;
    } else {
        /* BETWEEN and begins_with: the attribute first, then values */
        for (size_t i = 1; i < n->nargs; i++) {
            if (n->args[i]->kind != N_VALUE)
                return ddb_invalid(err, MSG_NOT_SUPPORTED);
            k->values[i - 1] = n->args[i]->value;
        }
        if (attr->kind != N_PATH)
            return ddb_invalid(err, MSG_NOT_SUPPORTED);
        k->op = n->kind == N_BETWEEN ? TD_DDB_RANGE_BETWEEN : TD_DDB_RANGE_BEGINS_WITH;
    }
    k->path = &attr->path;
    if (k->path->n > 1)
        return ddb_invalid(err, "KeyConditionExpressions cannot have conditions on nested "
                                "attributes");
    return 0;
}

static bool same_name(const struct ddb_path *a, const struct ddb_path *b)
{
    return a->el[0].name_len == b->el[0].name_len &&
           memcmp(a->el[0].name, b->el[0].name, a->el[0].name_len) == 0;
}

static bool is_name(const struct ddb_path *p, const char *name)
{
    return name && p->el[0].name_len == strlen(name) &&
           memcmp(p->el[0].name, name, p->el[0].name_len) == 0;
}

int td_ddb_key_condition_get(const struct td_ddb_expr *e, const char *hash_name,
                             const char *range_name, struct td_ddb_key_condition *ret,
                             struct td_err *err)
{
    memset(ret, 0, sizeof(*ret));
    if (!e || e->kind != TD_DDB_EXPR_KEY_CONDITION || !e->root || !hash_name)
        return -EINVAL;
    const struct ddb_node *leaves[3];
    size_t count = 0;
    key_leaves(e->root, leaves, &count);
    if (count > 2)
        return ddb_invalid(err, "Conditions can be of length 1 or 2 only");
    struct key_leaf k[2] = {{0}};
    for (size_t i = 0; i < count; i++) {
        int r = read_leaf(leaves[i], &k[i], err);
        if (r < 0)
            return r;
    }
    if (count == 2 && same_name(k[0].path, k[1].path))
        return ddb_invalid(err, "KeyConditionExpressions must only contain one condition per key");
    const struct key_leaf *hash = NULL, *range = NULL, *other = NULL;
    for (size_t i = 0; i < count; i++) {
        if (is_name(k[i].path, hash_name))
            hash = &k[i];
        else if (is_name(k[i].path, range_name))
            range = &k[i];
        else
            other = &k[i];
    }
    if (!hash)
        return ddb_invalid(err, "Query condition missed key schema element: %s", hash_name);
    if (hash->op != TD_DDB_RANGE_EQ)
        return ddb_invalid(err, MSG_NOT_SUPPORTED);
    if (other)
        return range_name
                   ? ddb_invalid(err, "Query condition missed key schema element: %s", range_name)
                   : ddb_invalid(err, MSG_NOT_SUPPORTED);
    ret->hash_value = hash->values[0];
    if (range) {
        ret->op = range->op;
        ret->range_values[0] = range->values[0];
        ret->range_values[1] = range->values[1];
    }
    return 0;
}

/* ---- attribute names ----------------------------------------------------------------------- */

static int add_name(json_t *names, const struct ddb_path *p)
{
    const struct ddb_pelem *el = &p->el[0];
    size_t i;
    json_t *v;
    if (!el->name)
        return 0;
    json_array_foreach(names, i, v)
    {
        if (json_is_string(v) && json_string_length(v) == el->name_len &&
            memcmp(json_string_value(v), el->name, el->name_len) == 0)
            return 0;
    }
    return json_array_append_new(names, json_stringn(el->name, el->name_len)) < 0 ? -ENOMEM : 0;
}

static int node_names(const struct ddb_node *n, json_t *names)
{
    if (n->kind == N_PATH)
        return add_name(names, &n->path);
    for (size_t i = 0; i < n->nargs; i++) {
        int r = node_names(n->args[i], names);
        if (r < 0)
            return r;
    }
    return 0;
}

int td_ddb_expr_attributes(const struct td_ddb_expr *e, json_t *names)
{
    int r = 0;
    if (!e || !json_is_array(names))
        return -EINVAL;
    if (e->root)
        r = node_names(e->root, names);
    for (size_t i = 0; r >= 0 && i < e->npaths; i++)
        r = add_name(names, &e->paths[i]);
    for (size_t i = 0; r >= 0 && i < e->nactions; i++) {
        r = add_name(names, &e->actions[i].path);
        if (r >= 0 && e->actions[i].value)
            r = node_names(e->actions[i].value, names);
    }
    return r;
}
