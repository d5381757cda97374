/* Key attribute values as bytes whose memcmp order (SQLite's BLOB order) is DynamoDB's order.
 *
 *   S  the UTF-8 bytes as they are (DynamoDB orders strings by their UTF-8 bytes);
 *   B  the raw bytes (unsigned, as DynamoDB orders binary values);
 *   N  a sign byte, then for non-zero numbers an exponent byte and the digits two by two:
 *        0x01                                     zero
 *        0x02, E+130, p1 .. pk, 0x00              positive: pi = 1 + 10*d(2i) + d(2i+1)
 *        0x00, 255-(E+130), 254-p1 .. 254-pk, 0xff negative: everything inverted
 *      E is the exponent of the leading digit (-130..125, so E+130 fits a byte) and the digits
 *      have no trailing zeros, so equal numbers spelled differently ("1.50", "15e-1") encode
 *      identically. The terminator (0x00 below every digit pair of a positive number, 0xff
 *      above every inverted pair of a negative one) makes a shorter digit string sort as the
 *      smaller magnitude, and makes the N encoding self-delimiting (at most 22 bytes).
 *
 * The S and B encodings are not self-delimiting: store the hash and the range key in separate
 * columns (or length-prefix them) rather than concatenating the two.
 */
#include <errno.h>
#include <string.h>

#include "ddb_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/util.h"

#define SIGN_NEG  0x00
#define SIGN_ZERO 0x01
#define SIGN_POS  0x02
#define TERM_POS  0x00
#define TERM_NEG  0xff
#define PAIR_INV  254

static int encode_number(const json_t *str, struct td_buf *out)
{
    struct ddb_num n;
    if (ddb_num_of(str, &n) != DDB_NUM_OK)
        return -EINVAL;
    unsigned char b[2 + DDB_NUM_DIGITS / 2 + 1];
    size_t len = 0;
    if (n.ndigits == 0) {
        b[len++] = SIGN_ZERO;
        return td_buf_append(out, b, len);
    }
    unsigned char e = (unsigned char)(n.exp - DDB_NUM_EMIN);
    b[len++] = n.neg ? SIGN_NEG : SIGN_POS;
    b[len++] = n.neg ? (unsigned char)(255 - e) : e;
    for (size_t i = 0; i < n.ndigits; i += 2) {
        unsigned pair = 1u + 10u * n.d[i] + (i + 1 < n.ndigits ? n.d[i + 1] : 0u);
        b[len++] = (unsigned char)(n.neg ? PAIR_INV - pair : pair);
    }
    b[len++] = n.neg ? TERM_NEG : TERM_POS;
    return td_buf_append(out, b, len);
}

int td_ddb_key_encode(const json_t *value, struct td_buf *out)
{
    enum td_ddb_type t = 0;
    const json_t *m = ddb_member(value, &t);
    if (!m)
        return -EINVAL;
    switch (t) {
    case TD_DDB_S:
        return td_buf_append(out, json_string_value(m), json_string_length(m));
    case TD_DDB_B:
        return td_base64_decode(json_string_value(m), json_string_length(m), out);
    case TD_DDB_N:
        return encode_number(m, out);
    default:
        return -EINVAL;
    }
}

static int decode_number(const unsigned char *p, size_t len, struct ddb_num *n)
{
    memset(n, 0, sizeof(*n));
    if (len == 1 && p[0] == SIGN_ZERO)
        return 0;
    if (len < 4 || (p[0] != SIGN_POS && p[0] != SIGN_NEG))
        return -EINVAL;
    n->neg = p[0] == SIGN_NEG;
    if (p[len - 1] != (n->neg ? TERM_NEG : TERM_POS))
        return -EINVAL;
    n->exp = (n->neg ? 255 - p[1] : p[1]) + DDB_NUM_EMIN;
    size_t npairs = len - 3;
    if (npairs * 2 > DDB_NUM_DIGITS)
        return -EINVAL;
    for (size_t i = 0; i < npairs; i++) {
        unsigned pair = n->neg ? (unsigned)(PAIR_INV - p[2 + i]) : p[2 + i];
        if (pair < 1 || pair > 100)
            return -EINVAL;
        n->d[n->ndigits++] = (uint8_t)((pair - 1) / 10);
        n->d[n->ndigits++] = (uint8_t)((pair - 1) % 10);
    }
    while (n->ndigits > 0 && n->d[n->ndigits - 1] == 0)
        n->ndigits--;
    if (n->ndigits == 0 || n->d[0] == 0 || n->exp > DDB_NUM_EMAX)
        return -EINVAL;
    return 0;
}

int td_ddb_key_decode(enum td_ddb_type type, const void *data, size_t len, json_t **ret)
{
    *ret = NULL;
    json_t *member = NULL;
    if (type == TD_DDB_S) {
        member = json_stringn(data ? data : "", len);
        if (!member)
            return -EINVAL; /* not UTF-8: not something td_ddb_key_encode wrote */
    } else if (type == TD_DDB_B) {
        _cleanup_buf_ struct td_buf text = TD_BUF_INIT(DDB_BYTES_MAX * 2);
        int r = td_base64_encode(data, len, &text);
        if (r < 0)
            return r;
        member = json_stringn(text.data ? text.data : "", text.len);
    } else if (type == TD_DDB_N) {
        struct ddb_num n;
        if (decode_number(data, len, &n) < 0)
            return -EINVAL;
        char text[DDB_NUM_TEXT_MAX];
        ddb_num_format(&n, text);
        member = json_string(text);
    } else {
        return -EINVAL;
    }
    *ret = ddb_av_new(type, member);
    return *ret ? 0 : -ENOMEM;
}
