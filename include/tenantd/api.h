/* The Lambda API handlers of the main listener. They share the node's services; the daemon
 * authenticates each request (SigV4) before it reaches them. */
#ifndef TENANTD_API_H
#define TENANTD_API_H

#include <stdint.h>

#include "tenantd/function.h"
#include "tenantd/http.h"
#include "tenantd/registry.h"
#include "tenantd/route.h"
#include "tenantd/sched.h"
#include "tenantd/store.h"

struct td_iam;

struct td_services {
    struct td_store *store;
    struct td_iam *iam; /* roles: a function's Role must name one */
    struct td_registry *registry;
    struct td_sched *sched;
    struct td_service_identity id;
    const char *endpoint; /* "http://host:port" */
    uint8_t code_url_key[32];
};

/* Control plane (src/control/api.c). */
void td_control_handle(struct td_services *svc, struct td_http_request *req,
                       const struct td_route_match *m, const char *request_id);
/* GET /tenantd/code/<token>: the code package behind a GetFunction Code.Location URL. */
void td_control_code_download(struct td_services *svc, struct td_http_request *req,
                              const char *token, const char *request_id);
/* Body limit of a control-plane operation. */
size_t td_control_body_max(enum td_route_id id);

/* Invoke API (src/invoke/invoke.c). */
/* The payload limit of an invocation, by its type (6 MB synchronous, 256 KB Event). */
size_t td_invoke_body_max(struct td_http_request *req);
void td_invoke_handle(struct td_services *svc, struct td_http_request *req, const char *function,
                      const char *request_id);

/* X-Amz-Tenant-Id: 1-256 characters of [a-zA-Z0-9._:/=+-@ ]. */
int td_tenant_id_validate(const char *tenant, struct td_err *err);

#endif
