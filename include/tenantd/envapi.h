/* The endpoints each environment's own listener serves (Runtime API 2018-06-01). The HTTP
 * server's userdata must be the scheduler. */
#ifndef TENANTD_ENVAPI_H
#define TENANTD_ENVAPI_H

#include "tenantd/http.h"
#include "tenantd/sched.h"

const struct td_http_handlers *td_envapi_handlers(void);

#endif
