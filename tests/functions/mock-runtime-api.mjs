// A tiny mock of the Lambda Runtime API 2018-06-01 (node:http only), for testing runtime
// clients (tdrt, aws-lambda-ric) without the daemon.
//
// As a module:
//   const mock = await startMockRuntimeApi({ invokes: [{ body: '{"a":1}', tenantId: "t1" }] });
//   ... run a runtime with AWS_LAMBDA_RUNTIME_API=mock.address ...
//   await mock.served;           // every invoke answered (or the runtime went away)
//   mock.requests                // everything the runtime sent: {method, path, headers, body,
//                                //   connection: a number per TCP connection}
//   mock.results                 // per invoke: {kind: "response"|"error", headers, body, status}
//   await mock.close();
//
// Invoke options: body (string | Buffer), requestId, tenantId, traceId, clientContext,
// cognitoIdentity, arn, deadlineMs, contentType, headers (extra/overriding headers, names
// sent as given), answerStatus (status to answer the runtime's POST with; default 202, or 413
// over the payload limit), dropPolls (before this invoke is handed out, that many GET /next
// are answered by closing their connection, as tenantd does to a poll a later one replaced).
// After the last invoke, GET /next is answered per `after`: "500" (default: a container
// error, the runtime should exit), "hang" (never answered) or "close" (the socket is dropped).
//
// As a program (prints one JSON line per request the runtime makes, then exits after the
// runtime's next /next once all invokes are served):
//   node mock-runtime-api.mjs [--port N] [--event JSON | --event-file FILE] [--tenant T]
//                             [--count N] [--after 500|hang|close]
import { createServer } from "node:http";
import { createHash, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

export const MAX_PAYLOAD = 6 * 1024 * 1024 + 100; // RIE's interop.MaxPayloadSize

const PREFIX = "/2018-06-01";

function sendJson(res, status, obj) {
    const body = JSON.stringify(obj) + "\n";
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
}

export function summarize(req) {
    const out = {
        method: req.method,
        path: req.path,
        connection: req.connection,
        headers: req.headers,
        bodyLength: req.body.length,
    };
    if (req.body.length <= 4096) out.body = req.body.toString("utf8");
    else out.bodySha256 = createHash("sha256").update(req.body).digest("hex");
    return out;
}

export async function startMockRuntimeApi({ invokes = [], after = "500", port = 0, onRequest } = {}) {
    const requests = [];
    const results = [];
    let next = 0; // index of the next invoke to hand out
    let current = null; // the invoke handed out and not yet answered
    let resolveServed;
    const served = new Promise((r) => (resolveServed = r));
    const sockets = new Set();

    const prepared = invokes.map((inv) => ({ ...inv, requestId: inv.requestId ?? randomUUID() }));

    function invokeHeaders(inv) {
        const h = {
            "Lambda-Runtime-Aws-Request-Id": inv.requestId,
            "Lambda-Runtime-Deadline-Ms": String(inv.deadlineMs ?? Date.now() + 30000),
            "Lambda-Runtime-Invoked-Function-Arn":
                inv.arn ?? "arn:aws:lambda:us-east-1:000000000000:function:mock",
            "Content-Type": inv.contentType ?? "application/json",
        };
        if (inv.traceId) h["Lambda-Runtime-Trace-Id"] = inv.traceId;
        if (inv.clientContext) h["Lambda-Runtime-Client-Context"] = inv.clientContext;
        if (inv.cognitoIdentity) h["Lambda-Runtime-Cognito-Identity"] = inv.cognitoIdentity;
        if (inv.tenantId) h["Lambda-Runtime-Aws-Tenant-Id"] = inv.tenantId;
        return { ...h, ...(inv.headers ?? {}) };
    }

    const server = createServer((req, res) => {
        const chunks = [];
        req.on("data", (c) => chunks.push(c));
        req.on("end", () => {
            const record = {
                method: req.method,
                path: req.url,
                headers: req.headers,
                body: Buffer.concat(chunks),
                connection: req.socket.mockId,
            };
            requests.push(record);
            if (onRequest) onRequest(record);
            route(record, res);
        });
    });
    let connections = 0;
    server.on("connection", (s) => {
        s.mockId = ++connections;
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
    });
    server.keepAliveTimeout = 0; // never drop an idle keep-alive connection on our own
    server.requestTimeout = 0; // /next is a long poll
    server.headersTimeout = 0;

    function route(r, res) {
        if (!r.path.startsWith(PREFIX + "/")) return sendJson(res, 404, { errorType: "NotFound" });
        const path = r.path.slice(PREFIX.length);

        if (r.method === "GET" && path === "/runtime/invocation/next") {
            if (current) {
                return sendJson(res, 403, {
                    errorMessage: "State transition is not allowed",
                    errorType: "InvalidStateTransition",
                });
            }
            if (next < prepared.length && prepared[next].dropPolls > 0) {
                prepared[next].dropPolls--;
                return res.socket.destroy();
            }
            if (next < prepared.length) {
                current = prepared[next++];
                const body = Buffer.isBuffer(current.body) ? current.body : Buffer.from(current.body ?? "{}");
                res.writeHead(200, { ...invokeHeaders(current), "Content-Length": body.length });
                return res.end(body);
            }
            resolveServed();
            if (after === "hang") return; // never answered
            if (after === "close") return res.socket.destroy();
            return sendJson(res, 500, { errorMessage: "Internal Server Error", errorType: "InternalServerError" });
        }

        if (r.method === "POST" && path === "/runtime/init/error") {
            results.push({ kind: "init-error", headers: r.headers, body: r.body, status: 202 });
            resolveServed();
            return sendJson(res, 202, { status: "OK" });
        }

        const m = /^\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(path);
        if (r.method === "POST" && m) {
            const id = decodeURIComponent(m[1]);
            if (!current || id !== current.requestId) {
                return sendJson(res, 400, { errorMessage: "Invalid request ID", errorType: "InvalidRequestID" });
            }
            let status = current.answerStatus ?? 202;
            if (r.body.length > MAX_PAYLOAD && !current.answerStatus) status = 413;
            results.push({ kind: m[2], requestId: id, headers: r.headers, body: r.body, status });
            current = null;
            if (next >= prepared.length) resolveServed();
            if (status === 413) {
                return sendJson(res, 413, {
                    errorMessage: `Exceeded maximum allowed payload size (${MAX_PAYLOAD} bytes).`,
                    errorType: "RequestEntityTooLarge",
                });
            }
            if (status >= 500) {
                return sendJson(res, status, { errorMessage: "Internal Server Error", errorType: "InternalServerError" });
            }
            return sendJson(res, status, status === 202 ? { status: "OK" } : { errorType: "MockError" });
        }
        return sendJson(res, 404, { errorMessage: "Not found", errorType: "NotFound" });
    }

    await new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", resolve);
    });
    const actualPort = server.address().port;
    return {
        port: actualPort,
        address: `127.0.0.1:${actualPort}`,
        requests,
        results,
        invokes: prepared,
        served,
        close() {
            for (const s of sockets) s.destroy();
            return new Promise((r) => server.close(() => r()));
        },
    };
}

async function main(argv) {
    const opt = { port: 0, count: 1, after: "500" };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const v = () => argv[++i];
        if (a === "--port") opt.port = Number(v());
        else if (a === "--event") opt.event = Buffer.from(v());
        else if (a === "--event-file") opt.event = readFileSync(v());
        else if (a === "--tenant") opt.tenant = v();
        else if (a === "--count") opt.count = Number(v());
        else if (a === "--after") opt.after = v();
        else {
            console.error(`unknown option ${a}`);
            process.exit(64);
        }
    }
    const invokes = Array.from({ length: opt.count }, () => ({
        body: opt.event ?? Buffer.from('{"hello":"world"}'),
        tenantId: opt.tenant,
    }));
    const mock = await startMockRuntimeApi({
        invokes,
        after: opt.after,
        port: opt.port,
        onRequest: (r) => console.log(JSON.stringify(summarize(r))),
    });
    console.log(JSON.stringify({ listening: mock.address }));
    await mock.served;
    if (opt.after !== "hang") {
        // Give the runtime its last /next, then stop.
        setTimeout(() => mock.close().then(() => process.exit(0)), 200);
    }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
    main(process.argv.slice(2)).catch((e) => {
        console.error(e);
        process.exit(1);
    });
}
