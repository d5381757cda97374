/* echo: a provided.al2023 function that answers with its input bytes, unchanged. */
#include <stdlib.h>

#include "tdrt.h"

static int handler(const struct tdrt_context *ctx, const char *event, size_t event_len,
                   struct tdrt_response *resp, void *userdata)
{
    (void)ctx;
    (void)userdata;
    return tdrt_response_set(resp, event, event_len, "application/json");
}

int main(void)
{
    return tdrt_run(handler, NULL) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
