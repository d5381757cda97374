/* Tokens of DynamoDB expressions, and DynamoDB's syntax-error message.
 *
 * DynamoDB's lexer (as its errors show): a name is a letter followed by letters, digits and
 * '_' ("_a" and "1a" are not names); "#" and ":" start placeholders of letters, digits and
 * '_' ("#1", ":_" are fine, a lone "#" is a bad token); digits make a number (only list
 * indexes use them); space, tab, CR and LF separate tokens. Any other character is a token of
 * its own that no rule accepts, so it is where the syntax error is reported.
 *
 * The message names the offending token and quotes the text from the start of the token
 * before it to the end of the token after it, as DynamoDB does:
 *   "ADD hits : incr"       -> token: ":", near: "hits : incr"
 *   "INVALID SYNTAX HERE"   -> token: "INVALID", near: "INVALID SYNTAX"
 *   "a,"                    -> token: "<EOF>", near: ","
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ddb_internal.h"

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_word(char c)
{
    return is_alpha(c) || is_digit(c) || c == '_';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Length of the UTF-8 sequence starting at s (1 for a byte that starts none). */
static size_t utf8_len(const char *s, size_t avail)
{
    unsigned char c = (unsigned char)s[0];
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (n > avail)
        return 1;
    for (size_t i = 1; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            return 1;
    return n;
}

/* The token at text[i], whose first character is not white space. */
static struct ddb_tok next_token(const char *text, size_t len, size_t i)
{
    struct ddb_tok t = {.type = T_BAD, .start = (uint32_t)i, .len = 1};
    char c = text[i];
    char c2 = i + 1 < len ? text[i + 1] : '\0';
    size_t j = i + 1;
    if (is_alpha(c)) {
        while (j < len && is_word(text[j]))
            j++;
        t.type = T_NAME;
    } else if (c == '#' || c == ':') {
        while (j < len && is_word(text[j]))
            j++;
        t.type = j > i + 1 ? (c == '#' ? T_NAMEREF : T_VALREF) : T_BAD;
    } else if (is_digit(c)) {
        while (j < len && is_digit(text[j]))
            j++;
        t.type = T_NUMBER;
    } else if (c == '<' && c2 == '>') {
        t.type = T_NE;
        j++;
    } else if ((c == '<' || c == '>') && c2 == '=') {
        t.type = c == '<' ? T_LE : T_GE;
        j++;
    } else {
        static const char PUNCT[] = "=<>()[],.+-";
        static const enum ddb_tok_type TYPES[] = {T_EQ,     T_LT,       T_GT,       T_LPAREN,
                                                  T_RPAREN, T_LBRACKET, T_RBRACKET, T_COMMA,
                                                  T_DOT,    T_PLUS,     T_MINUS};
        const char *p = c ? strchr(PUNCT, c) : NULL;
        if (p)
            t.type = TYPES[p - PUNCT];
        else
            j = i + utf8_len(text + i, len - i);
    }
    t.len = (uint32_t)(j - i);
    return t;
}

int ddb_lex(const char *text, size_t len, struct ddb_tok **ret, size_t *n)
{
    *ret = NULL;
    *n = 0;
    if (len > TD_DDB_EXPR_MAX_BYTES)
        return -E2BIG;
    /* at most one token per byte, plus the end */
    struct ddb_tok *toks = calloc(len + 1, sizeof(*toks));
    if (!toks)
        return -ENOMEM;
    size_t count = 0, i = 0;
    for (;;) {
        while (i < len && is_space(text[i]))
            i++;
        if (i >= len)
            break;
        toks[count] = next_token(text, len, i);
        i += toks[count].len;
        count++;
    }
    toks[count].type = T_EOF;
    toks[count].start = (uint32_t)len;
    toks[count].len = 0;
    *ret = toks;
    *n = count + 1;
    return 0;
}

bool ddb_tok_is(const char *text, const struct ddb_tok *t, const char *keyword)
{
    return t->type == T_NAME && strlen(keyword) == t->len &&
           strncasecmp(text + t->start, keyword, t->len) == 0;
}

const char *ddb_kind_name(enum td_ddb_expr_kind kind)
{
    switch (kind) {
    case TD_DDB_EXPR_CONDITION:
        return "ConditionExpression";
    case TD_DDB_EXPR_KEY_CONDITION:
        return "KeyConditionExpression";
    case TD_DDB_EXPR_FILTER:
        return "FilterExpression";
    case TD_DDB_EXPR_PROJECTION:
        return "ProjectionExpression";
    case TD_DDB_EXPR_UPDATE:
        return "UpdateExpression";
    default:
        return "Expression";
    }
}

/* How much text a message quotes around an error; tokens can be long names. */
#define QUOTE_MAX 300

int ddb_syntax_error(enum td_ddb_expr_kind kind, const char *text, const struct ddb_tok *toks,
                     size_t ntoks, size_t at, struct td_err *err)
{
    if (at >= ntoks)
        at = ntoks - 1;
    const struct ddb_tok *t = &toks[at];
    size_t from = at > 0 ? toks[at - 1].start : t->start;
    const struct ddb_tok *last = at + 1 < ntoks ? &toks[at + 1] : t;
    size_t to = (size_t)last->start + last->len;
    if (to < (size_t)t->start + t->len)
        to = (size_t)t->start + t->len;
    int tok_len = ddb_quote_len(text + t->start, t->len, QUOTE_MAX);
    int near_len = ddb_quote_len(text + from, to - from, QUOTE_MAX);
    if (t->type == T_EOF)
        return ddb_invalid(err, "Invalid %s: Syntax error; token: \"<EOF>\", near: \"%.*s\"",
                           ddb_kind_name(kind), near_len, text + from);
    return ddb_invalid(err, "Invalid %s: Syntax error; token: \"%.*s\", near: \"%.*s\"",
                       ddb_kind_name(kind), tok_len, text + t->start, near_len, text + from);
}
