/* XML documents of the query protocol, written with libxml2's text writer. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlwriter.h>

#include "tenantd/awsquery.h"

struct td_xml {
    xmlBufferPtr buf;
    xmlTextWriterPtr w;
};

static const xmlChar *X(const char *s)
{
    return (const xmlChar *)s;
}

void td_xml_free(struct td_xml *x)
{
    if (!x)
        return;
    if (x->w)
        xmlFreeTextWriter(x->w);
    if (x->buf)
        xmlBufferFree(x->buf);
    free(x);
}

int td_xml_new(const char *root, const char *ns, struct td_xml **ret)
{
    struct td_xml *x = calloc(1, sizeof(*x));
    if (!x || !(x->buf = xmlBufferCreate()) || !(x->w = xmlNewTextWriterMemory(x->buf, 0)) ||
        xmlTextWriterStartDocument(x->w, NULL, "UTF-8", NULL) < 0 ||
        xmlTextWriterStartElement(x->w, X(root)) < 0 ||
        (ns && xmlTextWriterWriteAttribute(x->w, X("xmlns"), X(ns)) < 0)) {
        td_xml_free(x);
        return -ENOMEM;
    }
    *ret = x;
    return 0;
}

int td_xml_open(struct td_xml *x, const char *name)
{
    return xmlTextWriterStartElement(x->w, X(name)) < 0 ? -ENOMEM : 0;
}

int td_xml_close(struct td_xml *x)
{
    return xmlTextWriterEndElement(x->w) < 0 ? -ENOMEM : 0;
}

int td_xml_text(struct td_xml *x, const char *name, const char *text)
{
    return xmlTextWriterWriteElement(x->w, X(name), X(text)) < 0 ? -ENOMEM : 0;
}

int td_xml_textf(struct td_xml *x, const char *name, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(text))
        return -E2BIG;
    return td_xml_text(x, name, text);
}

int td_xml_finish(struct td_xml *x, const char *request_id, struct td_buf *out)
{
    if (request_id && (td_xml_open(x, "ResponseMetadata") < 0 ||
                       td_xml_text(x, "RequestId", request_id) < 0 || td_xml_close(x) < 0))
        return -ENOMEM;
    if (xmlTextWriterEndDocument(x->w) < 0)
        return -ENOMEM;
    xmlFreeTextWriter(x->w); /* flushes into the buffer */
    x->w = NULL;
    return td_buf_append(out, xmlBufferContent(x->buf), (size_t)xmlBufferLength(x->buf));
}

int td_query_error_xml(const struct td_err *err, const char *ns, const char *request_id,
                       struct td_buf *out)
{
    struct td_xml *x = NULL;
    int r = td_xml_new("ErrorResponse", ns, &x);
    if (r == 0 && ((r = td_xml_open(x, "Error")) < 0 ||
                   (r = td_xml_text(x, "Type", err->status >= 500 ? "Receiver" : "Sender")) < 0 ||
                   (r = td_xml_text(x, "Code", err->type)) < 0 ||
                   (r = td_xml_text(x, "Message", err->message)) < 0 || (r = td_xml_close(x)) < 0 ||
                   (request_id && (r = td_xml_text(x, "RequestId", request_id)) < 0)))
        r = -ENOMEM;
    if (r == 0)
        r = td_xml_finish(x, NULL, out);
    td_xml_free(x);
    return r;
}

void td_query_respond(int r, struct td_xml *x, struct td_err *err, const char *ns,
                      const char *failure_type, const char *request_id, unsigned *status,
                      struct td_buf *out)
{
    if (r >= 0 && x)
        r = td_xml_close(x) == 0 ? td_xml_finish(x, request_id, out) : -ENOMEM;
    if (r >= 0) {
        *status = 200;
        return;
    }
    if (!err->status)
        td_err_set(err, 500, failure_type, "Request processing has failed");
    td_buf_reset(out);
    (void)td_query_error_xml(err, ns, request_id, out);
    *status = (unsigned)err->status;
}
