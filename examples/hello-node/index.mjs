// hello-node: a nodejs20.x function (handler "index.handler") that says hello and shows
// what the platform told it about the invocation.
export const handler = async (event, context) => ({
    message: "hello",
    tenantId: context.tenantId ?? null,
    requestId: context.awsRequestId,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    remainingMs: context.getRemainingTimeInMillis(),
    input: event,
});
