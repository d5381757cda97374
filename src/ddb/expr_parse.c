/* Recursive-descent parser of DynamoDB's expressions into the tree of ddb_internal.h.
 *
 * Conditions (ConditionExpression, FilterExpression, KeyConditionExpression share DynamoDB's
 * one grammar), from the loosest binding to the tightest:
 *   or      := and (OR and)*
 *   and     := not (AND not)*
 *   not     := NOT not | cmp
 *   cmp     := catom [comparator operand | BETWEEN operand AND operand
 *                     | IN '(' operand (',' operand)* ')']
 *   catom   := '(' or ')' | operand
 *   operand := '(' operand ')' | name '(' operand (',' operand)* ')' | :value | path
 *   path    := (name | #name) ('.' (name | #name) | '[' digits ']')*
 * A bare operand is a condition only if it is a function call ("attribute_exists(a)"); "a"
 * alone is a syntax error at the token after it, where a comparator was expected. Keywords
 * are case-insensitive, function names are not (they are checked later, as DynamoDB's parser
 * accepts any name before a parenthesis).
 *
 * Updates:  (SET set (',' set)* | REMOVE path (',' path)* | ADD path :value (',' ...)*
 *            | DELETE path :value (',' ...)*)+
 *   set     := path '=' ['('] operand [('+' | '-') operand] [')']
 * Projections: path (',' path)*.
 *
 * Only syntax errors are reported here; everything DynamoDB reports after parsing (reserved
 * words, placeholders, functions, types, overlapping paths) is in expr_check.c. Parentheses
 * nest at most DDB_PARSE_DEPTH deep, so the recursion is bounded whatever the input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ddb_internal.h"
#include "tenantd/cleanup.h"

/* ---- the arena ----------------------------------------------------------------------------- */

struct ddb_chunk {
    struct ddb_chunk *next;
    size_t used;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

#define CHUNK_SIZE 8192

void *ddb_arena_alloc(struct ddb_arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    struct ddb_chunk *c = a->head;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > CHUNK_SIZE ? size : CHUNK_SIZE;
        c = calloc(1, sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

void ddb_arena_free(struct ddb_arena *a)
{
    while (a->head) {
        struct ddb_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

/* ---- the parser ---------------------------------------------------------------------------- */

struct parser {
    struct td_ddb_expr *e;
    const char *text;
    const struct ddb_tok *toks;
    size_t pos;
    unsigned depth;
    size_t err_at; /* the furthest token where a rule failed */
    bool failed;
    bool oom;
    bool too_deep;
};

/* Growing lists of nodes, copied into the arena once complete. */
struct vec {
    void **v;
    size_t n, cap;
};

static bool vec_push(struct parser *p, struct vec *v, void *x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        void **nv = realloc(v->v, cap * sizeof(*nv));
        if (!nv) {
            p->oom = true;
            return false;
        }
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return true;
}

static void *vec_finish(struct parser *p, struct vec *v, size_t elem_size)
{
    void *out = ddb_arena_alloc(&p->e->arena, (v->n ? v->n : 1) * elem_size);
    if (!out)
        p->oom = true;
    else if (v->n)
        memcpy(out, v->v, v->n * elem_size);
    free(v->v);
    v->v = NULL;
    return out;
}

static const struct ddb_tok *cur(const struct parser *p)
{
    return &p->toks[p->pos];
}

static const struct ddb_tok *peek(const struct parser *p, size_t k)
{
    size_t i = p->pos;
    while (k-- > 0 && p->toks[i].type != T_EOF)
        i++;
    return &p->toks[i];
}

static void *fail_at(struct parser *p, size_t at)
{
    if (!p->failed || at > p->err_at)
        p->err_at = at;
    p->failed = true;
    return NULL;
}

static void *fail(struct parser *p)
{
    return fail_at(p, p->pos);
}

static bool accept(struct parser *p, enum ddb_tok_type type)
{
    if (cur(p)->type != type)
        return false;
    p->pos++;
    return true;
}

static bool is_kw(const struct parser *p, const struct ddb_tok *t, const char *kw)
{
    return ddb_tok_is(p->text, t, kw);
}

/* Words that are keywords of the expression's grammar, and so never names. */
static bool is_keyword(const struct parser *p, const struct ddb_tok *t)
{
    static const char *const CONDITION[] = {"AND", "OR", "NOT", "BETWEEN", "IN"};
    static const char *const UPDATE[] = {"SET", "REMOVE", "ADD", "DELETE"};
    if (t->type != T_NAME)
        return false;
    if (p->e->kind == TD_DDB_EXPR_UPDATE) {
        for (size_t i = 0; i < TD_ARRAY_SIZE(UPDATE); i++)
            if (is_kw(p, t, UPDATE[i]))
                return true;
    } else if (p->e->kind != TD_DDB_EXPR_PROJECTION) {
        for (size_t i = 0; i < TD_ARRAY_SIZE(CONDITION); i++)
            if (is_kw(p, t, CONDITION[i]))
                return true;
    }
    return false;
}

static bool enter(struct parser *p)
{
    if (++p->depth > DDB_PARSE_DEPTH) {
        p->too_deep = true;
        return false;
    }
    return true;
}

static struct ddb_node *new_node(struct parser *p, enum ddb_node_kind kind, size_t tok)
{
    struct ddb_node *n = ddb_arena_alloc(&p->e->arena, sizeof(*n));
    if (!n) {
        p->oom = true;
        return NULL;
    }
    n->kind = kind;
    n->tok = (uint32_t)tok;
    return n;
}

/* ---- paths --------------------------------------------------------------------------------- */

static bool path_name(struct parser *p, struct ddb_pelem *el)
{
    const struct ddb_tok *t = cur(p);
    if ((t->type != T_NAME && t->type != T_NAMEREF) || is_keyword(p, t)) {
        fail(p);
        return false;
    }
    el->is_ref = t->type == T_NAMEREF;
    el->text = p->text + t->start;
    el->text_len = t->len;
    if (!el->is_ref) {
        el->name = el->text;
        el->name_len = el->text_len;
    }
    p->pos++;
    return true;
}

static bool path_index(struct parser *p, struct ddb_pelem *el)
{
    const struct ddb_tok *t = cur(p);
    if (t->type != T_NUMBER) {
        fail(p);
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < t->len; i++) {
        v = v * 10 + (uint64_t)(p->text[t->start + i] - '0');
        if (v > INT32_MAX) {
            fail(p); /* no list is that long */
            return false;
        }
    }
    el->is_index = true;
    el->index = (uint32_t)v;
    el->text = p->text + t->start;
    el->text_len = t->len;
    p->pos++;
    if (!accept(p, T_RBRACKET)) {
        fail(p);
        return false;
    }
    return true;
}

static bool parse_path(struct parser *p, struct ddb_path *out)
{
    struct ddb_pelem els[DDB_PARSE_DEPTH];
    size_t n = 0;
    memset(els, 0, sizeof(els));
    out->tok = (uint32_t)p->pos;
    if (!path_name(p, &els[n++]))
        return false;
    for (;;) {
        bool dot = cur(p)->type == T_DOT, bracket = cur(p)->type == T_LBRACKET;
        if (!dot && !bracket)
            break;
        if (n == DDB_PARSE_DEPTH) {
            p->too_deep = true;
            return false;
        }
        p->pos++;
        if (!(dot ? path_name(p, &els[n]) : path_index(p, &els[n])))
            return false;
        n++;
    }
    out->el = ddb_arena_alloc(&p->e->arena, n * sizeof(*out->el));
    if (!out->el) {
        p->oom = true;
        return false;
    }
    memcpy(out->el, els, n * sizeof(*out->el));
    out->n = n;
    return true;
}

/* ---- operands ------------------------------------------------------------------------------ */

static struct ddb_node *parse_operand(struct parser *p);

static struct ddb_node *parse_function(struct parser *p)
{
    const struct ddb_tok *name = cur(p);
    struct ddb_node *n = new_node(p, N_FUNC, p->pos);
    if (!n || !enter(p))
        return NULL;
    n->text = p->text + name->start;
    n->text_len = name->len;
    p->pos += 2; /* the name and '(' */
    struct vec args = {0};
    do {
        struct ddb_node *a = parse_operand(p);
        if (!a || !vec_push(p, &args, a)) {
            free(args.v);
            return NULL;
        }
    } while (accept(p, T_COMMA));
    n->nargs = args.n;
    n->args = vec_finish(p, &args, sizeof(*n->args));
    if (!n->args)
        return NULL;
    if (!accept(p, T_RPAREN))
        return fail(p);
    p->depth--;
    p->e->operators++;
    return n;
}

/* An operand: '(' operand ')', a function call, a :value or a path. */
static struct ddb_node *parse_operand(struct parser *p)
{
    const struct ddb_tok *t = cur(p);
    size_t start = p->pos;
    struct ddb_node *n = NULL;
    if (t->type == T_LPAREN) {
        if (!enter(p))
            return NULL;
        p->pos++;
        n = parse_operand(p);
        if (!n)
            return NULL;
        if (!accept(p, T_RPAREN))
            return fail(p);
        p->depth--;
        if (++n->parens >= 2 && p->e->kind != TD_DDB_EXPR_UPDATE)
            p->e->redundant_parens = true;
        n->tok = (uint32_t)start;
    } else if (t->type == T_VALREF) {
        n = new_node(p, N_VALUE, p->pos);
        if (!n)
            return NULL;
        n->text = p->text + t->start;
        n->text_len = t->len;
        p->pos++;
    } else if (t->type == T_NAME && peek(p, 1)->type == T_LPAREN && !is_keyword(p, t)) {
        n = parse_function(p);
    } else {
        n = new_node(p, N_PATH, p->pos);
        if (!n || !parse_path(p, &n->path))
            return NULL;
    }
    if (n)
        n->tok_end = (uint32_t)p->pos;
    return n;
}

/* ---- conditions ---------------------------------------------------------------------------- */

static bool is_condition(const struct ddb_node *n)
{
    return n->kind >= N_CMP;
}

/* A bare path or value where a condition must be: a syntax error where the comparator was
 * expected. Function calls pass (the checks refuse size() and the update functions). */
static bool require_cond(struct parser *p, const struct ddb_node *n)
{
    if (is_condition(n) || n->kind == N_FUNC)
        return true;
    fail_at(p, n->tok_end);
    return false;
}

static struct ddb_node *parse_or(struct parser *p);

static struct ddb_node *parse_catom(struct parser *p)
{
    if (cur(p)->type != T_LPAREN)
        return parse_operand(p);
    size_t start = p->pos;
    if (!enter(p))
        return NULL;
    p->pos++;
    struct ddb_node *n = parse_or(p);
    if (!n)
        return NULL;
    if (!accept(p, T_RPAREN))
        return fail(p);
    p->depth--;
    if (++n->parens >= 2)
        p->e->redundant_parens = true;
    n->tok = (uint32_t)start;
    n->tok_end = (uint32_t)p->pos;
    return n;
}

static bool cmp_of(enum ddb_tok_type t, enum ddb_cmp *ret)
{
    switch (t) {
    case T_EQ:
        *ret = CMP_EQ;
        return true;
    case T_NE:
        *ret = CMP_NE;
        return true;
    case T_LT:
        *ret = CMP_LT;
        return true;
    case T_LE:
        *ret = CMP_LE;
        return true;
    case T_GT:
        *ret = CMP_GT;
        return true;
    case T_GE:
        *ret = CMP_GE;
        return true;
    default:
        return false;
    }
}

static struct ddb_node *parse_in_list(struct parser *p, struct ddb_node *n)
{
    if (!accept(p, T_LPAREN))
        return fail(p);
    struct vec args = {0};
    if (!vec_push(p, &args, n->args[0]))
        return NULL;
    do {
        struct ddb_node *a = parse_operand(p);
        if (!a || !vec_push(p, &args, a)) {
            free(args.v);
            return NULL;
        }
    } while (accept(p, T_COMMA));
    n->nargs = args.n;
    n->args = vec_finish(p, &args, sizeof(*n->args));
    if (!n->args)
        return NULL;
    if (!accept(p, T_RPAREN))
        return fail(p);
    return n;
}

static struct ddb_node *parse_cmp(struct parser *p)
{
    struct ddb_node *left = parse_catom(p);
    if (!left)
        return NULL;
    const struct ddb_tok *t = cur(p);
    enum ddb_cmp cmp = CMP_EQ;
    bool is_cmp = cmp_of(t->type, &cmp), between = is_kw(p, t, "BETWEEN"), in = is_kw(p, t, "IN");
    if (!is_cmp && !between && !in)
        return left;
    if (is_condition(left))
        return fail(p);
    struct ddb_node *n = new_node(p, is_cmp ? N_CMP : between ? N_BETWEEN : N_IN, left->tok);
    if (!n)
        return NULL;
    n->cmp = cmp;
    p->pos++;
    p->e->operators++;
    if (in) {
        n->args = ddb_arena_alloc(&p->e->arena, sizeof(*n->args));
        if (!n->args) {
            p->oom = true;
            return NULL;
        }
        n->args[0] = left;
        n->nargs = 1;
        n = parse_in_list(p, n);
    } else {
        n->nargs = between ? 3 : 2;
        n->args = ddb_arena_alloc(&p->e->arena, n->nargs * sizeof(*n->args));
        if (!n->args) {
            p->oom = true;
            return NULL;
        }
        n->args[0] = left;
        if (!(n->args[1] = parse_operand(p)))
            return NULL;
        if (between) {
            if (!is_kw(p, cur(p), "AND"))
                return fail(p);
            p->pos++;
            if (!(n->args[2] = parse_operand(p)))
                return NULL;
        }
    }
    if (n)
        n->tok_end = (uint32_t)p->pos;
    return n;
}

static struct ddb_node *parse_not(struct parser *p)
{
    if (!is_kw(p, cur(p), "NOT"))
        return parse_cmp(p);
    size_t start = p->pos;
    if (!enter(p))
        return NULL;
    p->pos++;
    struct ddb_node *inner = parse_not(p);
    if (!inner || !require_cond(p, inner))
        return NULL;
    p->depth--;
    struct ddb_node *n = new_node(p, N_NOT, start);
    if (!n)
        return NULL;
    n->args = ddb_arena_alloc(&p->e->arena, sizeof(*n->args));
    if (!n->args) {
        p->oom = true;
        return NULL;
    }
    n->args[0] = inner;
    n->nargs = 1;
    n->tok_end = (uint32_t)p->pos;
    p->e->operators++;
    return n;
}

/* and := not (AND not)*, or := and (OR and)*: n-ary nodes, so the tree stays shallow. */
static struct ddb_node *parse_chain(struct parser *p, bool is_or)
{
    struct ddb_node *first = is_or ? parse_chain(p, false) : parse_not(p);
    const char *kw = is_or ? "OR" : "AND";
    if (!first || !is_kw(p, cur(p), kw))
        return first;
    struct vec args = {0};
    struct ddb_node *n = new_node(p, is_or ? N_OR : N_AND, first->tok);
    if (!n || !require_cond(p, first) || !vec_push(p, &args, first))
        return NULL;
    while (is_kw(p, cur(p), kw)) {
        p->pos++;
        p->e->operators++;
        struct ddb_node *next = is_or ? parse_chain(p, false) : parse_not(p);
        if (!next || !require_cond(p, next) || !vec_push(p, &args, next)) {
            free(args.v);
            return NULL;
        }
    }
    n->nargs = args.n;
    n->args = vec_finish(p, &args, sizeof(*n->args));
    n->tok_end = (uint32_t)p->pos;
    return n->args ? n : NULL;
}

static struct ddb_node *parse_or(struct parser *p)
{
    return parse_chain(p, true);
}

static int parse_condition(struct parser *p)
{
    struct ddb_node *root = parse_or(p);
    if (root && require_cond(p, root) && cur(p)->type == T_EOF) {
        p->e->root = root;
        return 0;
    }
    if (root)
        fail(p);
    return -EINVAL;
}

/* ---- projections --------------------------------------------------------------------------- */

static int parse_projection(struct parser *p)
{
    struct vec paths = {0};
    do {
        struct ddb_path *path = ddb_arena_alloc(&p->e->arena, sizeof(*path));
        if (!path) {
            p->oom = true;
            break;
        }
        if (!parse_path(p, path) || !vec_push(p, &paths, path))
            break;
    } while (accept(p, T_COMMA));
    if (p->oom || p->too_deep || p->failed || cur(p)->type != T_EOF) {
        free(paths.v);
        if (!p->oom && !p->too_deep)
            fail(p);
        return -EINVAL;
    }
    p->e->paths = ddb_arena_alloc(&p->e->arena, paths.n * sizeof(*p->e->paths));
    if (!p->e->paths) {
        free(paths.v);
        p->oom = true;
        return -ENOMEM;
    }
    for (size_t i = 0; i < paths.n; i++)
        p->e->paths[i] = *(struct ddb_path *)paths.v[i];
    p->e->npaths = paths.n;
    free(paths.v);
    return 0;
}

/* ---- updates ------------------------------------------------------------------------------- */

static const char *const SECTIONS[] = {
    [A_SET] = "SET", [A_REMOVE] = "REMOVE", [A_ADD] = "ADD", [A_DELETE] = "DELETE"};

static int section_of(const struct parser *p, const struct ddb_tok *t)
{
    for (int i = A_SET; i <= A_DELETE; i++)
        if (is_kw(p, t, SECTIONS[i]))
            return i;
    return -1;
}

static bool at_action_end(const struct parser *p)
{
    const struct ddb_tok *t = cur(p);
    return t->type == T_EOF || t->type == T_COMMA || section_of(p, t) >= 0;
}

/* operand [('+' | '-') operand] */
static struct ddb_node *parse_sum(struct parser *p)
{
    struct ddb_node *a = parse_operand(p);
    if (!a)
        return NULL;
    enum ddb_tok_type op = cur(p)->type;
    if (op != T_PLUS && op != T_MINUS)
        return a;
    struct ddb_node *n = new_node(p, op == T_PLUS ? N_PLUS : N_MINUS, a->tok);
    if (!n)
        return NULL;
    p->pos++;
    n->nargs = 2;
    n->args = ddb_arena_alloc(&p->e->arena, 2 * sizeof(*n->args));
    if (!n->args) {
        p->oom = true;
        return NULL;
    }
    n->args[0] = a;
    if (!(n->args[1] = parse_operand(p)))
        return NULL;
    n->tok_end = (uint32_t)p->pos;
    p->e->operators++;
    return n;
}

/* The value of SET: a sum may be wrapped in one pair of parentheses, "(a + b)", which the
 * operand rule cannot take: try that reading first, then the plain one. */
static struct ddb_node *parse_set_value(struct parser *p)
{
    size_t start = p->pos, err_at = p->err_at;
    unsigned depth = p->depth;
    bool failed = p->failed;
    if (cur(p)->type == T_LPAREN) {
        p->pos++;
        struct ddb_node *v = parse_sum(p);
        if (v && accept(p, T_RPAREN) && at_action_end(p)) {
            v->parens++;
            return v;
        }
        if (p->oom || p->too_deep)
            return NULL;
        /* forget this attempt, but remember how far it got for the error message */
        size_t tried = p->failed ? p->err_at : 0;
        p->pos = start;
        p->depth = depth;
        p->failed = failed;
        p->err_at = err_at;
        struct ddb_node *v2 = parse_sum(p);
        if (!v2 && p->failed && tried > p->err_at)
            p->err_at = tried;
        return v2;
    }
    return parse_sum(p);
}

static bool parse_action(struct parser *p, enum ddb_action_kind kind, struct ddb_action *a)
{
    a->kind = kind;
    if (!parse_path(p, &a->path))
        return false;
    if (kind == A_REMOVE)
        return true;
    if (kind == A_SET) {
        if (!accept(p, T_EQ)) {
            fail(p);
            return false;
        }
        a->value = parse_set_value(p);
        return a->value != NULL;
    }
    const struct ddb_tok *t = cur(p);
    if (t->type != T_VALREF) {
        fail(p);
        return false;
    }
    a->value = new_node(p, N_VALUE, p->pos);
    if (!a->value)
        return false;
    a->value->text = p->text + t->start;
    a->value->text_len = t->len;
    p->pos++;
    a->value->tok_end = (uint32_t)p->pos;
    return true;
}

static int parse_update(struct parser *p)
{
    struct vec actions = {0};
    bool seen[A_DELETE + 1] = {false};
    do {
        int kind = section_of(p, cur(p));
        if (kind < 0) {
            fail(p);
            break;
        }
        if (seen[kind] && !p->e->section_twice) {
            p->e->section_twice = true;
            memcpy(p->e->section_name, SECTIONS[kind], strlen(SECTIONS[kind]) + 1);
        }
        seen[kind] = true;
        p->pos++;
        do {
            struct ddb_action *a = ddb_arena_alloc(&p->e->arena, sizeof(*a));
            if (!a)
                p->oom = true;
            if (!a || !parse_action(p, (enum ddb_action_kind)kind, a) || !vec_push(p, &actions, a))
                goto out;
        } while (accept(p, T_COMMA));
    } while (cur(p)->type != T_EOF);
out:
    if (p->oom || p->too_deep || p->failed) {
        free(actions.v);
        return -EINVAL;
    }
    p->e->actions = ddb_arena_alloc(&p->e->arena, actions.n * sizeof(*p->e->actions));
    if (!p->e->actions) {
        free(actions.v);
        p->oom = true;
        return -ENOMEM;
    }
    for (size_t i = 0; i < actions.n; i++)
        p->e->actions[i] = *(struct ddb_action *)actions.v[i];
    p->e->nactions = actions.n;
    free(actions.v);
    return 0;
}

/* ---- entry points -------------------------------------------------------------------------- */

int ddb_parse(struct td_ddb_expr *e, struct td_err *err)
{
    struct parser p = {.e = e, .text = e->text, .toks = e->toks};
    int r;
    if (e->kind == TD_DDB_EXPR_PROJECTION)
        r = parse_projection(&p);
    else if (e->kind == TD_DDB_EXPR_UPDATE)
        r = parse_update(&p);
    else
        r = parse_condition(&p);
    if (p.oom)
        return ddb_oom(err);
    if (p.too_deep)
        return ddb_expr_error(e, err,
                              "The expression has too many nested levels; maximum levels: %d",
                              DDB_PARSE_DEPTH);
    if (r < 0 || p.failed)
        return ddb_syntax_error(e->kind, e->text, e->toks, e->ntoks, p.err_at, err);
    return 0;
}

int ddb_expr_error(const struct td_ddb_expr *e, struct td_err *err, const char *fmt, ...)
{
    char msg[TD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ddb_invalid(err, "Invalid %s: %s", ddb_kind_name(e->kind), msg);
}

static bool blank(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' && text[i] != '\n')
            return false;
    return true;
}

int td_ddb_expr_parse(enum td_ddb_expr_kind kind, const char *text, struct td_ddb_subst *s,
                      struct td_ddb_expr **ret, struct td_err *err)
{
    *ret = NULL;
    if (kind < TD_DDB_EXPR_CONDITION || kind > TD_DDB_EXPR_UPDATE || !text)
        return -EINVAL;
    struct td_ddb_expr *e = calloc(1, sizeof(*e));
    if (!e)
        return ddb_oom(err);
    e->kind = kind;
    e->len = strlen(text);
    if (e->len > TD_DDB_EXPR_MAX_BYTES) {
        int r = ddb_expr_error(e, err,
                               "Expression size has exceeded the maximum allowed size; expression "
                               "size: %zu",
                               e->len);
        free(e);
        return r;
    }
    if (blank(text, e->len)) {
        int r = ddb_expr_error(e, err, "The expression can not be empty;");
        free(e);
        return r;
    }
    int r = 0;
    e->text = ddb_arena_alloc(&e->arena, e->len + 1);
    _cleanup_free_ struct ddb_tok *toks = NULL;
    if (!e->text || ddb_lex(text, e->len, &toks, &e->ntoks) < 0 ||
        !(e->toks = ddb_arena_alloc(&e->arena, e->ntoks * sizeof(*e->toks))))
        r = ddb_oom(err);
    if (r == 0) {
        memcpy(e->text, text, e->len + 1);
        memcpy(e->toks, toks, e->ntoks * sizeof(*e->toks));
        r = ddb_parse(e, err);
    }
    if (r == 0)
        r = ddb_check(e, s, err);
    if (r < 0) {
        td_ddb_expr_free(e);
        return r;
    }
    *ret = e;
    return 0;
}

void td_ddb_expr_free(struct td_ddb_expr *e)
{
    if (!e)
        return;
    ddb_arena_free(&e->arena);
    free(e);
}
