/* The AWS query protocol (IAM, STS): form-encoded POST bodies in, XML documents out.
 *
 * Requests:  Action=CreateRole&Version=2010-05-08&RoleName=r&Tags.member.1.Key=k ...
 * Responses: <CreateRoleResponse xmlns="NS"><CreateRoleResult>...</CreateRoleResult>
 *            <ResponseMetadata><RequestId>ID</RequestId></ResponseMetadata></CreateRoleResponse>
 * Errors:    <ErrorResponse xmlns="NS"><Error><Type>Sender</Type><Code>C</Code>
 *            <Message>M</Message></Error><RequestId>ID</RequestId></ErrorResponse>
 *
 * Decoding is uriparser's (percent-escapes, '+' as space); XML is written with libxml2's
 * text writer, which escapes. */
#ifndef TENANTD_AWSQUERY_H
#define TENANTD_AWSQUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "tenantd/buf.h"
#include "tenantd/error.h"

#define TD_QUERY_MAX_PARAMS 1024
#define TD_QUERY_MAX_BODY   (256 * 1024)

struct td_query;

/* Parse a form body. Refused (400, err filled with the given protocol's wording): more than
 * TD_QUERY_MAX_PARAMS parameters, a NUL byte (raw or %00), a parameter named twice. */
int td_query_parse(const char *body, size_t len, struct td_query **ret, struct td_err *err);
void td_query_free(struct td_query *q);
/* A parameter's decoded value; NULL when absent. An empty value ("Name=" or "Name") is "". */
const char *td_query_get(const struct td_query *q, const char *name);
/* How many members a list has: the largest N such that "<prefix>.1<suffix>" .. "<prefix>.N
 * <suffix>" all exist ("Tags.member", ".Key"). -EINVAL when numbering has gaps beyond N. */
int td_query_list_len(const struct td_query *q, const char *prefix, const char *suffix);
/* The value of "<prefix>.<n><suffix>". */
const char *td_query_member(const struct td_query *q, const char *prefix, size_t n,
                            const char *suffix);

/* An XML response under construction. */
struct td_xml;

/* <root xmlns="ns"> ... */
int td_xml_new(const char *root, const char *ns, struct td_xml **ret);
void td_xml_free(struct td_xml *x);
int td_xml_open(struct td_xml *x, const char *name);
int td_xml_close(struct td_xml *x);
/* <name>text</name> (text escaped) */
int td_xml_text(struct td_xml *x, const char *name, const char *text);
int td_xml_textf(struct td_xml *x, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* End the document: with request_id, <ResponseMetadata><RequestId>id</RequestId>
 * </ResponseMetadata> comes last inside the root, so the caller closes its own elements
 * first. The document is appended to out. */
int td_xml_finish(struct td_xml *x, const char *request_id, struct td_buf *out);

/* The error document of the query protocol for err (Type Sender for 4xx, Receiver for 5xx). */
int td_query_error_xml(const struct td_err *err, const char *ns, const char *request_id,
                       struct td_buf *out);

/* The answer to an action that returned r: with r >= 0, x's document (an open result element
 * closed first; x may be NULL for none); otherwise err's error document, err given status 500
 * and failure_type when the action left it unset. out is replaced; *status is the HTTP
 * status. */
void td_query_respond(int r, struct td_xml *x, struct td_err *err, const char *ns,
                      const char *failure_type, const char *request_id, unsigned *status,
                      struct td_buf *out);

#endif
