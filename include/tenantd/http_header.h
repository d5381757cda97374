/* One HTTP header as received: not NUL-terminated, duplicates possible. Shared by the HTTP
 * layer and the SigV4 verifier. */
#ifndef TENANTD_HTTP_HEADER_H
#define TENANTD_HTTP_HEADER_H

#include <stddef.h>

struct td_http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

#endif
