/* Applying an UpdateExpression to an item, with DynamoDB's semantics (as the Alternator test
 * suite records them against DynamoDB):
 *
 *   - every SET value is computed from the item as it was before the update ("SET a = b,
 *     b = :v" copies the old b; "SET x = :v, y = x" fails when x did not exist);
 *   - list indexes name the positions before the update: SETs of list elements are applied in
 *     ascending index order (an index past the end appends), then ADD and DELETE, then the
 *     REMOVEs in descending path order, so "REMOVE a[1] SET a[3] = :v" sets the old a[3];
 *   - SET on a path whose parent is missing or of the wrong type, and REMOVE through one, fail
 *     with "The document path provided in the update expression is invalid for update"; a
 *     missing leaf or an index past the end makes REMOVE do nothing;
 *   - ADD adds to a number (a missing one counts as 0) or unions a set of the same type;
 *     DELETE takes elements out of a set, and removes the attribute once the set is empty;
 *   - key attributes cannot be touched.
 * The update is all or nothing: it is computed on a copy, then committed in steps that either
 * cannot fail or are undone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ddb_internal.h"
#include "tenantd/cleanup.h"

#define MSG_MISSING  "The provided expression refers to an attribute that does not exist in the item"
#define MSG_BAD_TYPE "An operand in the update expression has an incorrect data type"
#define MSG_BAD_PATH "The document path provided in the update expression is invalid for update"
#define MSG_NESTING                                                                                \
    "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels "    \
    "beyond supported limit"

/* ---- computing SET values ------------------------------------------------------------------ */

static int eval_value(const struct ddb_node *n, const json_t *item, json_t **ret,
                      struct td_err *err);

static int eval_number(const struct ddb_node *n, const json_t *item, struct ddb_num *num,
                       struct td_err *err)
{
    json_t *v = NULL;
    int r = eval_value(n, item, &v, err);
    if (r < 0)
        return r;
    enum td_ddb_type t = 0;
    const json_t *m = ddb_member(v, &t);
    enum ddb_num_status st = t == TD_DDB_N ? ddb_num_of(m, num) : DDB_NUM_SYNTAX;
    json_decref(v);
    return st == DDB_NUM_OK ? 0 : ddb_invalid(err, MSG_BAD_TYPE);
}

static int eval_sum(const struct ddb_node *n, const json_t *item, json_t **ret, struct td_err *err)
{
    struct ddb_num a, b, sum;
    int r = eval_number(n->args[0], item, &a, err);
    if (r >= 0)
        r = eval_number(n->args[1], item, &b, err);
    if (r < 0)
        return r;
    enum ddb_num_status st = ddb_num_add(&a, &b, n->kind == N_MINUS, &sum);
    if (st != DDB_NUM_OK)
        return ddb_num_error(st, "", 0, err);
    *ret = ddb_av_num(&sum);
    return *ret ? 0 : ddb_oom(err);
}

static int eval_list_append(const struct ddb_node *n, const json_t *item, json_t **ret,
                            struct td_err *err)
{
    json_t *a = NULL, *b = NULL;
    int r = eval_value(n->args[0], item, &a, err);
    if (r >= 0)
        r = eval_value(n->args[1], item, &b, err);
    enum td_ddb_type ta = 0, tb = 0;
    json_t *la = r >= 0 ? ddb_member(a, &ta) : NULL, *lb = r >= 0 ? ddb_member(b, &tb) : NULL;
    if (r >= 0 && (ta != TD_DDB_L || tb != TD_DDB_L))
        r = ddb_invalid(err, MSG_BAD_TYPE);
    if (r >= 0 && json_array_extend(la, lb) < 0)
        r = ddb_oom(err);
    json_decref(b);
    if (r < 0) {
        json_decref(a);
        return r;
    }
    *ret = a;
    return 0;
}

/* The value of a SET operand, computed from the item before the update (a new reference). */
static int eval_value(const struct ddb_node *n, const json_t *item, json_t **ret,
                      struct td_err *err)
{
    *ret = NULL;
    const json_t *v = NULL;
    switch (n->kind) {
    case N_VALUE:
        v = n->value;
        break;
    case N_PATH:
        v = ddb_path_get(item, &n->path);
        if (!v)
            return ddb_invalid(err, MSG_MISSING);
        break;
    case N_PLUS:
    case N_MINUS:
        return eval_sum(n, item, ret, err);
    case N_FUNC:
        if (n->func == F_LIST_APPEND)
            return eval_list_append(n, item, ret, err);
        if (n->func == F_IF_NOT_EXISTS) {
            v = ddb_path_get(item, &n->args[0]->path);
            if (!v)
                return eval_value(n->args[1], item, ret, err);
            break;
        }
        return ddb_invalid(err, MSG_BAD_TYPE);
    default:
        return ddb_invalid(err, MSG_BAD_TYPE);
    }
    *ret = json_deep_copy(v);
    return *ret ? 0 : ddb_oom(err);
}

/* ---- paths in the item being updated ------------------------------------------------------- */

/* The value at the first n elements of p (mutable), or NULL. */
static json_t *get_prefix(json_t *item, const struct ddb_path *p, size_t n)
{
    struct ddb_path prefix = {.el = p->el, .n = n};
    return (json_t *)ddb_path_get(item, &prefix);
}

/* The container a path's last element lives in: the item's map of attributes for a top-level
 * path, the M or L member of the parent otherwise; NULL when there is none of the right kind. */
static json_t *parent_of(json_t *item, const struct ddb_path *p)
{
    if (p->n == 1)
        return item;
    enum td_ddb_type t = 0;
    json_t *m = ddb_member(get_prefix(item, p, p->n - 1), &t);
    bool want_list = p->el[p->n - 1].is_index;
    if (!m || t != (want_list ? TD_DDB_L : TD_DDB_M))
        return NULL;
    return m;
}

/* Put value (a new reference, always consumed) at p. */
static int set_at(json_t *item, const struct ddb_path *p, json_t *value, struct td_err *err)
{
    json_t *parent = parent_of(item, p);
    const struct ddb_pelem *last = &p->el[p->n - 1];
    if (!parent) {
        json_decref(value);
        return ddb_invalid(err, MSG_BAD_PATH);
    }
    int r;
    if (!last->is_index)
        r = json_object_setn_new(parent, last->name, last->name_len, value);
    else if (last->index < json_array_size(parent))
        r = json_array_set_new(parent, last->index, value);
    else
        r = json_array_append_new(parent, value);
    return r < 0 ? ddb_oom(err) : 0;
}

static int remove_at(json_t *item, const struct ddb_path *p, struct td_err *err)
{
    json_t *parent = parent_of(item, p);
    const struct ddb_pelem *last = &p->el[p->n - 1];
    if (!parent)
        return ddb_invalid(err, MSG_BAD_PATH);
    if (!last->is_index)
        json_object_deln(parent, last->name, last->name_len);
    else if (last->index < json_array_size(parent))
        json_array_remove(parent, last->index);
    return 0;
}

/* ---- ADD and DELETE ------------------------------------------------------------------------ */

static int add_to(json_t *item, const struct ddb_action *a, struct td_err *err)
{
    json_t *existing = (json_t *)ddb_path_get(item, &a->path);
    const json_t *value = a->value->value;
    if (!existing) {
        json_t *copy = json_deep_copy(value);
        return copy ? set_at(item, &a->path, copy, err) : ddb_oom(err);
    }
    enum td_ddb_type te = 0, tv = 0;
    json_t *me = ddb_member(existing, &te);
    const json_t *mv = ddb_member(value, &tv);
    if (!me || te != tv)
        return ddb_invalid(err, MSG_BAD_TYPE);
    if (te == TD_DDB_N) {
        struct ddb_num x, y, sum;
        if (ddb_num_of(me, &x) != DDB_NUM_OK || ddb_num_of(mv, &y) != DDB_NUM_OK)
            return ddb_invalid(err, MSG_BAD_TYPE);
        enum ddb_num_status st = ddb_num_add(&x, &y, false, &sum);
        if (st != DDB_NUM_OK)
            return ddb_num_error(st, "", 0, err);
        char text[DDB_NUM_TEXT_MAX];
        ddb_num_format(&sum, text);
        return json_object_set_new(existing, "N", json_string(text)) < 0 ? ddb_oom(err) : 0;
    }
    enum td_ddb_type elem = ddb_set_elem(te);
    _cleanup_free_ const json_t **sorted = NULL;
    if (!elem)
        return ddb_invalid(err, MSG_BAD_TYPE);
    if (ddb_set_sorted(me, elem, &sorted) < 0)
        return ddb_oom(err);
    size_t n = json_array_size(me), i;
    json_t *x;
    json_array_foreach(mv, i, x)
    {
        if (!ddb_set_has(sorted, n, elem, x) && json_array_append(me, x) < 0)
            return ddb_oom(err);
    }
    return 0;
}

/* DELETE: the set without the given elements; *emptied when nothing is left. */
static int delete_from(json_t *item, const struct ddb_action *a, bool *emptied, struct td_err *err)
{
    *emptied = false;
    if (!parent_of(item, &a->path))
        return ddb_invalid(err, MSG_BAD_PATH);
    json_t *existing = (json_t *)ddb_path_get(item, &a->path);
    if (!existing)
        return 0;
    enum td_ddb_type te = 0, tv = 0;
    json_t *me = ddb_member(existing, &te);
    const json_t *mv = ddb_member(a->value->value, &tv);
    if (!me || te != tv || !ddb_is_set(te))
        return ddb_invalid(err, MSG_BAD_TYPE);
    enum td_ddb_type elem = ddb_set_elem(te);
    _cleanup_free_ const json_t **sorted = NULL;
    if (ddb_set_sorted(mv, elem, &sorted) < 0)
        return ddb_oom(err);
    json_t *kept = json_array();
    size_t i;
    json_t *x;
    if (!kept)
        return ddb_oom(err);
    json_array_foreach(me, i, x)
    {
        if (!ddb_set_has(sorted, json_array_size(mv), elem, x) && json_array_append(kept, x) < 0) {
            json_decref(kept);
            return ddb_oom(err);
        }
    }
    *emptied = json_array_size(kept) == 0;
    if (*emptied) {
        json_decref(kept);
        return 0;
    }
    return json_object_set_new(existing, td_ddb_type_name(te), kept) < 0 ? ddb_oom(err) : 0;
}

/* ---- the update ---------------------------------------------------------------------------- */

static int check_keys(const struct td_ddb_expr *e, const char *const *key_names, struct td_err *err)
{
    for (size_t i = 0; key_names && i < e->nactions; i++) {
        const struct ddb_pelem *el = &e->actions[i].path.el[0];
        for (size_t k = 0; key_names[k]; k++) {
            if (strlen(key_names[k]) == el->name_len &&
                memcmp(key_names[k], el->name, el->name_len) == 0)
                return ddb_invalid(err,
                                   "One or more parameter values were invalid: Cannot update "
                                   "attribute %s. This attribute is part of the key",
                                   key_names[k]);
        }
    }
    return 0;
}

static int path_asc(const void *x, const void *y)
{
    const struct ddb_path *const *a = x, *const *b = y;
    return ddb_path_cmp(*a, *b);
}

static int path_desc(const void *x, const void *y)
{
    return -path_asc(x, y);
}

struct plan {
    const struct ddb_action **sets; /* sorted by path */
    json_t **values;                /* their computed values, in the same order */
    size_t nsets;
    const struct ddb_path **removes; /* REMOVEs, then sets emptied by DELETE */
    size_t nremoves;
};

static void plan_free(struct plan *pl)
{
    for (size_t i = 0; pl->values && i < pl->nsets; i++)
        json_decref(pl->values[i]);
    free(pl->sets);
    free(pl->values);
    free(pl->removes);
}

static int action_asc(const void *x, const void *y)
{
    const struct ddb_action *const *a = x, *const *b = y;
    return ddb_path_cmp(&(*a)->path, &(*b)->path);
}

/* The SET actions sorted by path, with their values computed from the item before the update
 * (in source order, so that the first error in the expression is the one reported). */
static int plan_sets(const struct td_ddb_expr *e, const json_t *item, struct plan *pl,
                     struct td_err *err)
{
    size_t n = e->nactions ? e->nactions : 1;
    pl->sets = calloc(n, sizeof(*pl->sets));
    pl->values = calloc(n, sizeof(*pl->values));
    pl->removes = calloc(n, sizeof(*pl->removes));
    if (!pl->sets || !pl->values || !pl->removes)
        return ddb_oom(err);
    for (size_t i = 0; i < e->nactions; i++) {
        if (e->actions[i].kind != A_SET)
            continue;
        int r = eval_value(e->actions[i].value, item, &pl->values[pl->nsets], err);
        if (r < 0)
            return r;
        pl->sets[pl->nsets++] = &e->actions[i];
    }
    /* sort the (action, value) pairs together: sort the actions, then find each value */
    json_t **values = calloc(n, sizeof(*values));
    const struct ddb_action **by_source = calloc(n, sizeof(*by_source));
    if (!values || !by_source) {
        free(values);
        free(by_source);
        return ddb_oom(err);
    }
    memcpy(by_source, pl->sets, pl->nsets * sizeof(*by_source));
    qsort(pl->sets, pl->nsets, sizeof(*pl->sets), action_asc);
    for (size_t i = 0; i < pl->nsets; i++)
        for (size_t k = 0; k < pl->nsets; k++)
            if (by_source[k] == pl->sets[i])
                values[i] = pl->values[k];
    free(pl->values);
    free(by_source);
    pl->values = values;
    return 0;
}

static int apply_plan(const struct td_ddb_expr *e, json_t *work, struct plan *pl,
                      struct td_err *err)
{
    for (size_t i = 0; i < pl->nsets; i++) {
        json_t *v = pl->values[i];
        pl->values[i] = NULL;
        int r = set_at(work, &pl->sets[i]->path, v, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < e->nactions; i++) {
        const struct ddb_action *a = &e->actions[i];
        bool emptied = false;
        int r = 0;
        if (a->kind == A_ADD)
            r = add_to(work, a, err);
        else if (a->kind == A_DELETE)
            r = delete_from(work, a, &emptied, err);
        else if (a->kind == A_REMOVE)
            pl->removes[pl->nremoves++] = &a->path;
        if (r < 0)
            return r;
        if (emptied)
            pl->removes[pl->nremoves++] = &a->path;
    }
    qsort(pl->removes, pl->nremoves, sizeof(*pl->removes), path_desc);
    for (size_t i = 0; i < pl->nremoves; i++) {
        int r = remove_at(work, pl->removes[i], err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < e->nactions; i++) {
        const struct ddb_pelem *el = &e->actions[i].path.el[0];
        const json_t *v = json_object_getn(work, el->name, el->name_len);
        if (v && ddb_depth(v) > TD_DDB_MAX_DEPTH)
            return ddb_invalid(err, MSG_NESTING);
    }
    return 0;
}

/* Make item what work is: new attributes first (undone if that fails), then replacements and
 * removals, which do not allocate. */
static int commit(json_t *item, json_t *work, struct td_err *err)
{
    size_t n = json_object_size(work), added = 0, len;
    _cleanup_free_ const char **keys = calloc(n ? n : 1, sizeof(*keys));
    _cleanup_free_ size_t *lens = calloc(n ? n : 1, sizeof(*lens));
    if (!keys || !lens)
        return ddb_oom(err);
    const char *key;
    json_t *v;
    void *next;
    json_object_keylen_foreach(work, key, len, v)
    {
        if (json_object_getn(item, key, len))
            continue;
        if (json_object_setn(item, key, len, v) < 0) {
            for (size_t i = 0; i < added; i++)
                json_object_deln(item, keys[i], lens[i]);
            return ddb_oom(err);
        }
        keys[added] = key;
        lens[added++] = len;
    }
    json_object_keylen_foreach(work, key, len, v)
    {
        json_object_setn(item, key, len, v); /* replaces: no allocation */
    }
    json_object_keylen_foreach_safe(item, next, key, len, v)
    {
        if (!json_object_getn(work, key, len))
            json_object_deln(item, key, len);
    }
    return 0;
}

int td_ddb_update_apply(const struct td_ddb_expr *e, json_t *item, const char *const *key_names,
                        struct td_err *err)
{
    if (!e || e->kind != TD_DDB_EXPR_UPDATE || !json_is_object(item))
        return -EINVAL;
    int r = check_keys(e, key_names, err);
    if (r < 0)
        return r;
    struct plan pl = {0};
    json_t *work = json_deep_copy(item);
    r = work ? plan_sets(e, item, &pl, err) : ddb_oom(err);
    if (r >= 0)
        r = apply_plan(e, work, &pl, err);
    if (r >= 0)
        r = commit(item, work, err);
    plan_free(&pl);
    json_decref(work);
    return r < 0 ? r : 0;
}
