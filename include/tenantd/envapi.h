/* The endpoints each environment's own listener serves: the Runtime API 2018-06-01, and,
 * through hooks the daemon provides, the environment's credentials endpoint and the platform
 * services its code calls with those credentials (signed requests). The HTTP server's userdata
 * must be a struct td_envapi. */
#ifndef TENANTD_ENVAPI_H
#define TENANTD_ENVAPI_H

#include "tenantd/http.h"
#include "tenantd/sched.h"

struct td_envapi {
    struct td_sched *sched;
    /* GET TD_ENV_CREDENTIALS_PATH */
    void (*credentials)(struct td_http_request *req, struct td_env *env, void *userdata);
    /* A SigV4-signed request (Authorization: AWS4-HMAC-SHA256 ...): at its headers (refuse
     * early or set the body limit) and once whole. */
    void (*signed_headers)(struct td_http_request *req, struct td_env *env, void *userdata);
    void (*signed_request)(struct td_http_request *req, struct td_env *env, void *userdata);
    void *userdata;
};

const struct td_http_handlers *td_envapi_handlers(void);

#endif
