// behave-node: the Node twin of tests/functions/behave (nodejs20.x, handler index.handler,
// run by aws-lambda-ric). The event is a JSON object with an "action":
//   echo, error (type, message), throw (a custom Error subclass), sleep (ms), exit (code),
//   log (text: printed to stdout and stderr), big (bytes: the JSON answer is exactly that many
//   bytes when >= 2), env, ctx, crash (SIGSEGV), spin (busy-loop forever).
// At module load: BEHAVE_INIT_FAIL set -> throws (the RIC posts /runtime/init/error);
// BEHAVE_INIT_EXIT set -> process.exit(2).
import { setTimeout as sleep } from "node:timers/promises";

class BehaveCustomError extends Error {
    constructor(message) {
        super(message);
        this.name = "BehaveCustomError";
    }
}

class BehaveInitError extends Error {
    constructor(message) {
        super(message);
        this.name = "Runtime.BehaveInitError";
    }
}

if (process.env.BEHAVE_INIT_EXIT !== undefined) process.exit(2);
if (process.env.BEHAVE_INIT_FAIL !== undefined) throw new BehaveInitError("init failed on request");

function badEvent(message) {
    const e = new Error(message);
    e.name = "BehaveBadEvent";
    return e;
}

export const handler = async (event, context) => {
    if (event === null || typeof event !== "object" || Array.isArray(event)) {
        throw badEvent("the event is not a JSON object");
    }
    switch (event.action) {
        case "echo":
            return event;
        case "error": {
            const e = new Error(event.message ?? "");
            e.name = event.type ?? "BehaveError";
            throw e;
        }
        case "throw":
            throw new BehaveCustomError("thrown on request");
        case "sleep": {
            const ms = Number(event.ms) || 0;
            if (ms > 0) await sleep(ms);
            return { slept: ms };
        }
        case "exit":
            process.exit(Number(event.code) & 0xff);
            break;
        case "log": {
            const text = event.text ?? "";
            console.log(text);
            console.error(text);
            return { logged: text };
        }
        case "big": {
            const n = Number(event.bytes) || 0;
            if (n < 0 || n > 256 * 1024 * 1024) throw badEvent("bytes out of range");
            // JSON.stringify adds the two quotes: exactly n bytes on the wire.
            return n >= 2 ? "x".repeat(n - 2) : n === 1 ? 0 : "";
        }
        case "env":
            return { ...process.env };
        case "ctx": {
            const remainingMs = context.getRemainingTimeInMillis();
            return {
                awsRequestId: context.awsRequestId,
                deadlineMs: Date.now() + remainingMs,
                remainingMs,
                invokedFunctionArn: context.invokedFunctionArn,
                tenantId: context.tenantId ?? null,
                traceId: process.env._X_AMZN_TRACE_ID ?? null,
                xAmznTraceId: process.env._X_AMZN_TRACE_ID ?? null,
                clientContext: context.clientContext ?? null,
                identity: context.identity ?? null,
                functionName: context.functionName,
            };
        }
        case "crash":
            process.kill(process.pid, "SIGSEGV");
            await sleep(10000);
            return null;
        case "spin":
            for (;;) {}
        default:
            throw badEvent(`unknown action ${JSON.stringify(event.action)}`);
    }
};
