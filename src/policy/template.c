/* Tenant session-policy templates: ${tenant} substitution and the built-in safe templates. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"
#include "tenantd/cleanup.h"

#define TABLE_NAME_MIN 3
#define TABLE_NAME_MAX 255

static const char *const ITEM_ACTIONS[] = {
    "dynamodb:GetItem",        "dynamodb:BatchGetItem",       "dynamodb:Query",
    "dynamodb:PutItem",        "dynamodb:UpdateItem",         "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
};

bool pol_is_tenant_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("._:/=+-@ ", c) != NULL);
}

bool td_policy_tenant_id_valid(const char *tenant_id)
{
    if (!tenant_id)
        return false;
    size_t n = strnlen(tenant_id, TD_POLICY_TENANT_ID_MAX + 1);
    if (n == 0 || n > TD_POLICY_TENANT_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!pol_is_tenant_char(tenant_id[i]))
            return false;
    return true;
}

/* Scan the JSON text, tracking whether we are inside a string (escapes included), and replace
 * the shorthand there only. The tenant id holds no '"' or '\\', so it is JSON-string safe. */
static int substitute(struct td_buf *out, const char *text, size_t len, const char *tenant_id)
{
    const char *sh = TD_POLICY_TEMPLATE_SHORTHAND;
    size_t shn = strlen(sh), start = 0;
    bool in_string = false;
    int r = 0;
    for (size_t i = 0; i < len && r == 0; i++) {
        char c = text[i];
        if (!in_string) {
            in_string = c == '"';
        } else if (c == '\\') {
            i++; /* the escaped character cannot end the string */
        } else if (c == '"') {
            in_string = false;
        } else if (c == '$' && len - i >= shn && memcmp(text + i, sh, shn) == 0) {
            r = td_buf_append(out, text + start, i - start);
            if (r == 0)
                r = td_buf_puts(out, tenant_id);
            i += shn - 1;
            start = i + 1;
        }
    }
    if (r == 0)
        r = td_buf_append(out, text + start, len - start);
    return r;
}

int td_policy_template_instantiate(const char *text, size_t len, const char *tenant_id, char **ret,
                                   size_t *ret_len)
{
    if (!ret)
        return -EINVAL;
    *ret = NULL;
    if (!text || !td_policy_tenant_id_valid(tenant_id))
        return -EINVAL;
    _cleanup_buf_ struct td_buf out = TD_BUF_INIT(TD_POLICY_MAX_TEXT_BYTES);
    int r = td_buf_append(&out, "", 0); /* an empty template still gives a string */
    if (r == 0)
        r = substitute(&out, text, len, tenant_id);
    if (r < 0)
        return r;
    *ret = td_buf_steal(&out, ret_len);
    return 0;
}

/* ---- built-in templates -------------------------------------------------------------------- */

static bool span_chars(const char *s, size_t n, const char *set, bool digits, bool lower)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (digits && c >= '0' && c <= '9') || (lower && c >= 'a' && c <= 'z') ||
                  strchr(set, c) != NULL;
        if (!ok || c == '\0')
            return false;
    }
    return n > 0;
}

/* arn:<partition>:dynamodb:<region>:<account>:table/<name> */
static bool is_table_arn(const char *arn)
{
    struct pol_arn a;
    if (!arn || strnlen(arn, 2048) >= 2048 || pol_arn_split(arn, strlen(arn), &a) != POL_ARN_PARTS)
        return false;
    const char *res = a.part[5];
    size_t name_len = a.len[5] - (a.len[5] >= 6 ? 6 : a.len[5]);
    return a.len[0] == 3 && memcmp(a.part[0], "arn", 3) == 0 &&
           span_chars(a.part[1], a.len[1], "-", false, true) && a.len[2] == 8 &&
           memcmp(a.part[2], "dynamodb", 8) == 0 &&
           span_chars(a.part[3], a.len[3], "-", true, true) &&
           span_chars(a.part[4], a.len[4], "", true, false) && a.len[5] > 6 &&
           memcmp(res, "table/", 6) == 0 && name_len >= TABLE_NAME_MIN &&
           name_len <= TABLE_NAME_MAX &&
           span_chars(res + 6, name_len, "_.-ABCDEFGHIJKLMNOPQRSTUVWXYZ", true, true);
}

static json_t *action_list(void)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < TD_ARRAY_SIZE(ITEM_ACTIONS); i++) {
        if (json_array_append_new(list, json_string(ITEM_ACTIONS[i])) < 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

int td_policy_template_builtin(enum td_policy_layout layout, const char *table_arn, char **ret)
{
    if (!ret)
        return -EINVAL;
    *ret = NULL;
    if (!is_table_arn(table_arn) ||
        (layout != TD_POLICY_LAYOUT_LEADING_KEY && layout != TD_POLICY_LAYOUT_KEY_PREFIX))
        return -EINVAL;
    bool prefix = layout == TD_POLICY_LAYOUT_KEY_PREFIX;
    json_t *actions = action_list();
    if (!actions)
        return -ENOMEM;
    /* "o" steals the reference to actions, also when json_pack fails. */
    json_t *doc = json_pack("{s:s, s:[{s:s, s:s, s:o, s:[s], s:{s:{s:[s]}, s:{s:s}}}]}", "Version",
                            TD_POLICY_VERSION_2012, "Statement", "Sid",
                            prefix ? "TenantKeyPrefixItems" : "TenantLeadingKeyItems", "Effect",
                            "Allow", "Action", actions, "Resource", table_arn, "Condition",
                            prefix ? "ForAllValues:StringLike" : "ForAllValues:StringEquals",
                            "dynamodb:LeadingKeys",
                            prefix ? TD_POLICY_TENANT_VARIABLE "#*" : TD_POLICY_TENANT_VARIABLE,
                            "Null", "dynamodb:LeadingKeys", "false");
    if (!doc)
        return -ENOMEM;
    *ret = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return *ret ? 0 : -ENOMEM;
}
