/* Internals of the table data model and expressions, shared by the files of src/ddb/ (not part
 * of the public API, include/tenantd/ddb.h).
 *
 * Layout: number.c (38-digit decimals), value.c (AttributeValues: checks, equality, order,
 * sizes), key.c (order-preserving key bytes), subst.c (ExpressionAttributeNames/Values),
 * reserved.c (DynamoDB's reserved words), expr_lex.c (tokens, syntax-error messages),
 * expr_parse.c (recursive descent into the tree below), expr_check.c (the semantic checks, in
 * DynamoDB's order), expr_eval.c (conditions, projections, key conditions), update.c.
 */
#ifndef TENANTD_DDB_INTERNAL_H
#define TENANTD_DDB_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tenantd/buf.h"
#include "tenantd/ddb.h"
#include "tenantd/error.h"

#define DDB_VALIDATION    "ValidationException"
#define DDB_SERIALIZATION "SerializationException"

/* Bytes a B value may decode into: more than any request body the service accepts. */
#define DDB_BYTES_MAX (32 * 1024 * 1024)
/* Recursion cap of the helpers that walk values (checked values are at most
 * TD_DDB_MAX_DEPTH deep; this only guards values that skipped td_ddb_value_check). */
#define DDB_WALK_MAX 64

int ddb_invalid(struct td_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* How many bytes of s (len bytes) a message may quote: at most max, never cutting a UTF-8
 * sequence, so that a message about valid UTF-8 text is valid UTF-8 (a JSON string). */
int ddb_quote_len(const char *s, size_t len, size_t max);
int ddb_oom(struct td_err *err);

/* ---- numbers (number.c) -------------------------------------------------------------------- */

#define DDB_NUM_DIGITS 38
#define DDB_NUM_EMIN   (-130) /* exponent of the leading digit: 1E-130 is the smallest magnitude */
#define DDB_NUM_EMAX   125    /* 9.99...E+125 the largest */
/* Plain notation of the longest canonical number: "-0." + 129 zeros + 38 digits + NUL. */
#define DDB_NUM_TEXT_MAX 176

/* value = (-1)^neg x d[0].d[1]d[2]...d[ndigits-1] x 10^exp; d[0] and d[ndigits-1] are not 0.
 * Zero has ndigits 0 (and neg false, exp 0). */
struct ddb_num {
    bool neg;
    uint8_t ndigits;
    uint8_t d[DDB_NUM_DIGITS];
    int exp;
};

enum ddb_num_status {
    DDB_NUM_OK = 0,
    DDB_NUM_SYNTAX,
    DDB_NUM_OVERFLOW,
    DDB_NUM_UNDERFLOW,
    DDB_NUM_PRECISION,
};

enum ddb_num_status ddb_num_parse(const char *s, size_t len, struct ddb_num *out);
/* The number of a JSON string (an N member or an NS element). */
enum ddb_num_status ddb_num_of(const json_t *str, struct ddb_num *out);
/* Canonical plain notation ("150", "0.001", "-1.5"). */
void ddb_num_format(const struct ddb_num *n, char out[DDB_NUM_TEXT_MAX]);
int ddb_num_cmp(const struct ddb_num *a, const struct ddb_num *b);
/* a + b, or a - b when subtract. DDB_NUM_OVERFLOW also stands for a result that needs more than
 * 38 digits: DynamoDB reports both with its overflow message. */
enum ddb_num_status ddb_num_add(const struct ddb_num *a, const struct ddb_num *b, bool subtract,
                                struct ddb_num *out);
/* Bytes the number counts for in an item's size. */
size_t ddb_num_size(const struct ddb_num *n);
/* DynamoDB's message for a refused number (text is quoted for syntax errors). */
int ddb_num_error(enum ddb_num_status st, const char *text, size_t len, struct td_err *err);

/* ---- values (value.c) ---------------------------------------------------------------------- */

/* The one member of a well-formed AttributeValue ({"S": "x"} -> "x"), and its type. */
json_t *ddb_member(const json_t *av, enum td_ddb_type *type);
enum td_ddb_type ddb_type_from_name(const char *name, size_t len);
/* "STRING", "NUMBER", ... as UpdateExpression's ADD and DELETE messages spell them. */
const char *ddb_type_long_name(enum td_ddb_type t);
bool ddb_is_set(enum td_ddb_type t);
/* The element type of a set type (SS -> S), or 0. */
enum td_ddb_type ddb_set_elem(enum td_ddb_type t);
/* A new AttributeValue {"<type>": member}; steals member. NULL without memory. */
json_t *ddb_av_new(enum td_ddb_type t, json_t *member);
json_t *ddb_av_num(const struct ddb_num *n);
/* Decode the base64 of a B member (or BS element) into out (emptied first). */
int ddb_bytes(const json_t *str, struct td_buf *out);
/* Bytes a checked B member decodes to (without decoding it). */
size_t ddb_bytes_len(const json_t *str);
/* Length of UTF-8 text in UTF-16 code units (what size() counts for strings). */
size_t ddb_utf16_len(const char *s, size_t n);
/* Nesting levels of a value: 1 for a scalar or an empty M/L, capped at DDB_WALK_MAX. */
unsigned ddb_depth(const json_t *av);
/* Order of two members of the same scalar type S, N or B (<0, 0, >0). */
int ddb_scalar_cmp(enum td_ddb_type t, const json_t *a, const json_t *b);
bool ddb_member_equal(enum td_ddb_type t, const json_t *a, const json_t *b, unsigned depth);
/* The elements of a set member sorted by ddb_scalar_cmp (an array of borrowed pointers that the
 * caller frees), for set equality, union and difference in O(n log n). */
int ddb_set_sorted(const json_t *set, enum td_ddb_type elem, const json_t ***ret);
bool ddb_set_has(const json_t *const *sorted, size_t n, enum td_ddb_type elem, const json_t *x);
int ddb_value_check_at(json_t *av, unsigned depth, struct td_err *err);

/* ---- substitutions (subst.c) --------------------------------------------------------------- */

/* The name a "#ref" stands for (borrowed from the substitutions), marking it used; NULL when
 * the reference is not defined. */
const char *ddb_subst_name(struct td_ddb_subst *s, const char *ref, size_t len, size_t *name_len);
/* The value a ":ref" stands for (canonical, borrowed), marking it used; NULL if not defined. */
const json_t *ddb_subst_value(struct td_ddb_subst *s, const char *ref, size_t len);

/* ---- reserved words (reserved.c) ----------------------------------------------------------- */

bool ddb_is_reserved(const char *word, size_t len);

/* ---- tokens (expr_lex.c) ------------------------------------------------------------------- */

enum ddb_tok_type {
    T_EOF = 0,
    T_NAME,    /* [A-Za-z][A-Za-z0-9_]*: an attribute name, function name or keyword */
    T_NAMEREF, /* #[A-Za-z0-9_]+ */
    T_VALREF,  /* :[A-Za-z0-9_]+ */
    T_NUMBER,  /* [0-9]+: a list index */
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_LPAREN,
    T_RPAREN,
    T_LBRACKET,
    T_RBRACKET,
    T_COMMA,
    T_DOT,
    T_PLUS,
    T_MINUS,
    T_BAD, /* a character no token starts with, or a lone '#' or ':' */
};

struct ddb_tok {
    enum ddb_tok_type type;
    uint32_t start;
    uint32_t len;
};

/* Tokens of text (at most TD_DDB_EXPR_MAX_BYTES), always ending with one T_EOF. */
int ddb_lex(const char *text, size_t len, struct ddb_tok **ret, size_t *n);
bool ddb_tok_is(const char *text, const struct ddb_tok *t, const char *keyword);
/* "Invalid <kind>: Syntax error; token: "<tok>", near: "<prev tok next>"". */
int ddb_syntax_error(enum td_ddb_expr_kind kind, const char *text, const struct ddb_tok *toks,
                     size_t ntoks, size_t at, struct td_err *err);
const char *ddb_kind_name(enum td_ddb_expr_kind kind);

/* ---- the parsed expression ----------------------------------------------------------------- */

/* Nodes, paths and copied names live in one arena, freed at once with the expression. */
struct ddb_chunk;
struct ddb_arena {
    struct ddb_chunk *head;
};
void *ddb_arena_alloc(struct ddb_arena *a, size_t size); /* zeroed; NULL without memory */
void ddb_arena_free(struct ddb_arena *a);

enum ddb_func {
    F_UNKNOWN = 0,
    F_ATTRIBUTE_EXISTS,
    F_ATTRIBUTE_NOT_EXISTS,
    F_ATTRIBUTE_TYPE,
    F_BEGINS_WITH,
    F_CONTAINS,
    F_SIZE,
    F_IF_NOT_EXISTS,
    F_LIST_APPEND,
};

enum ddb_node_kind {
    N_PATH, /* operands */
    N_VALUE,
    N_FUNC,
    N_PLUS, /* UpdateExpression: operand + operand, operand - operand */
    N_MINUS,
    N_CMP, /* conditions */
    N_BETWEEN,
    N_IN,
    N_AND,
    N_OR,
    N_NOT,
};

enum ddb_cmp { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

struct ddb_pelem {
    bool is_index;
    bool is_ref;      /* written as #ref: name is resolved by the checks */
    uint32_t index;   /* list index */
    const char *text; /* the element as written (a name or a #ref) */
    size_t text_len;
    const char *name; /* the attribute name (resolved), NULL until then */
    size_t name_len;
};

struct ddb_path {
    struct ddb_pelem *el;
    size_t n;
    uint32_t tok; /* first token */
};

struct ddb_node {
    enum ddb_node_kind kind;
    enum ddb_cmp cmp;
    enum ddb_func func;
    const char *text; /* function name or :ref as written */
    size_t text_len;
    struct ddb_node **args; /* operands: 2 for CMP, 3 for BETWEEN, 1+n for IN, n for AND/OR */
    size_t nargs;
    struct ddb_path path;
    const json_t *value; /* N_VALUE: resolved by the checks (borrowed from the substitutions) */
    uint32_t tok;        /* first token of the node */
    uint32_t tok_end;    /* token after the node */
    uint8_t parens;      /* parentheses written directly around it */
};

enum ddb_action_kind { A_SET, A_REMOVE, A_ADD, A_DELETE };

struct ddb_action {
    enum ddb_action_kind kind;
    struct ddb_path path;
    struct ddb_node *value; /* SET: the value; ADD/DELETE: a :ref; REMOVE: NULL */
};

struct td_ddb_expr {
    enum td_ddb_expr_kind kind;
    struct ddb_arena arena;
    char *text; /* copy of the expression, in the arena */
    size_t len;
    struct ddb_tok *toks; /* in the arena */
    size_t ntoks;
    struct ddb_node *root;  /* condition, filter, key condition */
    struct ddb_path *paths; /* projection */
    size_t npaths;
    struct ddb_action *actions; /* update */
    size_t nactions;
    bool redundant_parens; /* seen by the parser, reported by the checks */
    bool section_twice;
    char section_name[8];
    unsigned operators; /* operators and functions, for DynamoDB's limit of 300 */
};

#define DDB_MAX_OPERATORS 300
#define DDB_MAX_IN        100 /* operands of IN, the left one included */
#define DDB_PARSE_DEPTH   64  /* nesting of parentheses, NOT and function calls */

int ddb_parse(struct td_ddb_expr *e, struct td_err *err);
int ddb_check(struct td_ddb_expr *e, struct td_ddb_subst *s, struct td_err *err);
int ddb_expr_error(const struct td_ddb_expr *e, struct td_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Paths against values. */
const json_t *ddb_path_get(const json_t *item, const struct ddb_path *p);
/* Order for applying updates: names bytewise, indexes numerically, a shorter prefix first. */
int ddb_path_cmp(const struct ddb_path *a, const struct ddb_path *b);
/* "[a, b, [1]]" as DynamoDB prints paths in messages (cut at cap). */
void ddb_path_str(const struct ddb_path *p, char *out, size_t cap);
const char *ddb_func_name(enum ddb_func f);

/* An operand's value while evaluating: borrowed from the item or the substitutions, or
 * computed (size(), +, list_append) and owned. */
struct ddb_val {
    const json_t *v; /* NULL: no value (a missing attribute) */
    json_t *owned;
};
void ddb_val_release(struct ddb_val *v);

#endif
