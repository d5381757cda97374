// Runtime clients against the mock Runtime API: tdrt (echo, behave, isolation) and, when
// aws-lambda-ric is installed, the Node fixtures and samples.
//
//   TDRT_FUNCTIONS_DIR=build/tests/functions TDRT_EXAMPLES_DIR=build/examples \
//     node --test tests/functions/tdrt-mock.test.mjs
// TDRT_WRAP="valgrind --leak-check=full --error-exitcode=99" runs the C bootstraps under a
// wrapper (the exit-code checks then also catch memory errors and leaks).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer as createTcpServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startMockRuntimeApi } from "./mock-runtime-api.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const srcRoot = process.env.TD_SOURCE_DIR ?? resolve(here, "../..");
const fnDir = process.env.TDRT_FUNCTIONS_DIR ?? join(srcRoot, "build/tests/functions");
const exDir = process.env.TDRT_EXAMPLES_DIR ?? join(srcRoot, "build/examples");
const wrap = (process.env.TDRT_WRAP ?? "").split(/\s+/).filter(Boolean);
const slow = wrap.length ? 20 : 1; // valgrind is slow
const ric = join(srcRoot, "node_modules/aws-lambda-ric/bin/index.mjs");
const haveRic = existsSync(ric);

const ECHO = join(exDir, "echo/bootstrap");
const ISOLATION = join(exDir, "isolation/bootstrap");
const BEHAVE = join(fnDir, "behave/bootstrap");

const sha = (b) => createHash("sha256").update(b).digest("hex");

// Run a runtime until it exits (or kill it after timeoutMs). C bootstraps go through TDRT_WRAP.
function run(cmd, { args = [], env = {}, cwd, timeoutMs = 15000 * slow, mock, native = true } = {}) {
    const argv = native && wrap.length ? [...wrap.slice(1), cmd, ...args] : args;
    const exe = native && wrap.length ? wrap[0] : cmd;
    return new Promise((resolveRun, rejectRun) => {
        const child = spawn(exe, argv, {
            cwd,
            env: { ...process.env, AWS_LAMBDA_RUNTIME_API: mock ? mock.address : "127.0.0.1:1", ...env },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const started = Date.now();
        let timedOut = false;
        const timer = setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
        }, timeoutMs);
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            // sanitizer reports (TD_SANITIZE=ON builds) and valgrind errors fail every test
            if (native && /Sanitizer|runtime error:|definitely lost|Invalid (read|write)/.test(stderr)) {
                return rejectRun(new Error(`memory error report from ${cmd}:\n${stderr}`));
            }
            resolveRun({ code, signal, stdout, stderr, timedOut, ms: Date.now() - started });
        });
    });
}

async function withMock(opts, fn) {
    const mock = await startMockRuntimeApi(opts);
    try {
        return await fn(mock);
    } finally {
        await mock.close();
    }
}

const json = (buf) => JSON.parse(buf.toString("utf8"));

// ------------------------------------------------------------------------------------------
// tdrt (C)

test("echo: response flow, keep-alive, exits non-zero when /next answers 500", async () => {
    await withMock({ invokes: [{ body: '{"hello":"world"}', tenantId: "t-1" }, { body: "not json \u00e9" }] }, async (mock) => {
        const r = await run(ECHO, { mock });
        assert.equal(r.timedOut, false, r.stderr);
        assert.notEqual(r.code, 0);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /HTTP 500/);
        assert.equal(mock.results.length, 2);
        assert.equal(mock.results[0].kind, "response");
        assert.equal(mock.results[0].body.toString(), '{"hello":"world"}');
        assert.equal(mock.results[0].headers["content-type"], "application/json");
        assert.equal(mock.results[1].body.toString(), "not json \u00e9");
        const gets = mock.requests.filter((q) => q.method === "GET");
        assert.equal(gets.length, 3);
        // one keep-alive connection for everything
        assert.deepEqual([...new Set(mock.requests.map((q) => q.connection))], [1]);
        assert.equal(mock.requests.every((q) => q.headers["expect"] === undefined), true);
    });
});

test("echo: a 6 MB event of arbitrary bytes (with NULs) comes back unchanged", async () => {
    const body = randomBytes(6 * 1024 * 1024);
    body[10] = 0;
    await withMock({ invokes: [{ body, contentType: "application/octet-stream" }] }, async (mock) => {
        const r = await run(ECHO, { mock });
        assert.equal(r.timedOut, false, r.stderr);
        assert.equal(mock.results.length, 1);
        assert.equal(mock.results[0].status, 202);
        assert.equal(mock.results[0].body.length, body.length);
        assert.equal(sha(mock.results[0].body), sha(body));
    });
});

test("echo: an event over TDRT_EVENT_MAX (32 MiB) -> Runtime.EventTooLarge, the loop goes on", async () => {
    const invokes = [{ body: Buffer.alloc(33 * 1024 * 1024, 0x61) }, { body: '{"after":1}' }];
    await withMock({ invokes }, async (mock) => {
        const r = await run(ECHO, { mock });
        assert.equal(mock.results.length, 2, r.stderr);
        assert.equal(mock.results[0].kind, "error");
        assert.equal(mock.results[0].headers["lambda-runtime-function-error-type"], "Runtime.EventTooLarge");
        assert.equal(json(mock.results[0].body).errorType, "Runtime.EventTooLarge");
        assert.equal(mock.results[1].body.toString(), '{"after":1}');
        assert.equal(r.code, 1);
    });
});

test("echo: an empty event", async () => {
    await withMock({ invokes: [{ body: "" }] }, async (mock) => {
        await run(ECHO, { mock });
        assert.equal(mock.results[0].kind, "response");
        assert.equal(mock.results[0].body.length, 0);
    });
});

test("echo: request ids are URL-encoded in the path", async () => {
    await withMock({ invokes: [{ body: "{}", requestId: "a/b?c d#e%" }] }, async (mock) => {
        await run(ECHO, { mock });
        assert.equal(mock.results.length, 1);
        assert.equal(mock.results[0].requestId, "a/b?c d#e%");
        assert.ok(mock.requests.some((q) => q.path.includes("/invocation/a%2Fb%3Fc%20d%23e%25/response")));
    });
});

test("echo: no Runtime API (connection refused) -> prompt non-zero exit", async () => {
    const r = await run(ECHO, { env: { AWS_LAMBDA_RUNTIME_API: "127.0.0.1:1" } });
    assert.equal(r.timedOut, false);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tdrt: GET \/runtime\/invocation\/next/);
});

test("echo: AWS_LAMBDA_RUNTIME_API missing or malformed -> non-zero exit", async () => {
    for (const v of ["", "127.0.0.1:9001/x", "a b"]) {
        const r = await run(ECHO, { env: { AWS_LAMBDA_RUNTIME_API: v } });
        assert.equal(r.code, 1, v);
        assert.match(r.stderr, /AWS_LAMBDA_RUNTIME_API/);
    }
});

test("echo: a 5xx answer to the response POST -> exit", async () => {
    await withMock({ invokes: [{ body: "{}", answerStatus: 500 }, { body: "{}" }] }, async (mock) => {
        const r = await run(ECHO, { mock });
        assert.equal(r.code, 1);
        assert.equal(mock.results.length, 1);
        assert.match(r.stderr, /HTTP 500/);
    });
});

test("echo: a /next closed unanswered a few times is asked again, and the loop goes on", async () => {
    await withMock({ invokes: [{ body: '{"a":1}' }, { body: '{"b":2}', dropPolls: 4 }] }, async (mock) => {
        const r = await run(ECHO, { mock });
        assert.equal(r.timedOut, false, r.stderr);
        assert.equal(r.code, 1); /* the 500 after the last invoke */
        assert.equal(mock.results.length, 2, r.stderr);
        assert.equal(mock.results[1].body.toString(), '{"b":2}');
        assert.equal(mock.requests.filter((q) => q.method === "GET").length, 2 + 4 + 1);
    });
});

test("echo: a dropped /next connection -> exit", async () => {
    await withMock({ invokes: [{ body: "{}" }], after: "close" }, async (mock) => {
        const r = await run(ECHO, { mock });
        assert.equal(r.timedOut, false);
        assert.equal(r.code, 1);
        // asked again a bounded number of times, logged once, and once more on giving up
        assert.equal((r.stderr.match(/closed before any answer/g) ?? []).length, 1, r.stderr);
        assert.match(r.stderr, /closed unanswered 20 times: giving up/);
    });
});

test("behave: ctx carries every header (case-insensitive), trace id exported and cleared", async () => {
    const deadline = Date.now() + 60000;
    const invokes = [
        {
            body: '{"action":"ctx"}',
            requestId: "req-1",
            deadlineMs: deadline,
            arn: "arn:aws:lambda:us-east-1:1:function:f:live",
            tenantId: "tenant-42",
            traceId: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            clientContext: '{"custom":{"k":"v"}}',
            cognitoIdentity: '{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}',
        },
        {
            body: '{"action":"ctx"}',
            requestId: "req-2",
            headers: { "LAMBDA-RUNTIME-AWS-TENANT-ID": "upper", "lambda-runtime-deadline-ms": String(deadline) },
        },
        // The runtime keeps its header buffers from one invocation to the next: longer values
        // than before, and none of the first one's left over.
        { body: '{"action":"ctx"}', requestId: `req-3-${"r".repeat(300)}`, tenantId: "t".repeat(200) },
    ];
    await withMock({ invokes }, async (mock) => {
        const r = await run(BEHAVE, { mock });
        assert.equal(mock.results.length, 3, r.stderr);
        const a = json(mock.results[0].body);
        assert.equal(a.awsRequestId, "req-1");
        assert.equal(a.deadlineMs, deadline);
        assert.ok(a.remainingMs > 50000 && a.remainingMs <= 60000, String(a.remainingMs));
        assert.equal(a.invokedFunctionArn, "arn:aws:lambda:us-east-1:1:function:f:live");
        assert.equal(a.tenantId, "tenant-42");
        assert.equal(a.traceId, invokes[0].traceId);
        assert.equal(a.xAmznTraceId, invokes[0].traceId);
        assert.deepEqual(a.clientContext, { custom: { k: "v" } });
        assert.deepEqual(a.identity, { cognitoIdentityId: "id", cognitoIdentityPoolId: "pool" });
        const b = json(mock.results[1].body);
        assert.equal(b.tenantId, "upper");
        assert.equal(b.traceId, null);
        assert.equal(b.xAmznTraceId, null);
        assert.equal(b.clientContext, null);
        const c = json(mock.results[2].body);
        assert.equal(c.awsRequestId, invokes[2].requestId);
        assert.equal(c.tenantId, invokes[2].tenantId);
        assert.equal(c.traceId, null);
        assert.equal(c.clientContext, null);
        assert.equal(c.identity, null);
    });
});

test("behave: no tenant header -> tenantId null", async () => {
    await withMock({ invokes: [{ body: '{"action":"ctx"}' }] }, async (mock) => {
        await run(BEHAVE, { mock });
        assert.equal(json(mock.results[0].body).tenantId, null);
    });
});

test("behave: function error flow with escaping", async () => {
    const message = 'boom "quoted" \\ back\nnew line \u00e9 \u0001';
    await withMock({ invokes: [{ body: JSON.stringify({ action: "error", type: "MyError", message }) }] }, async (mock) => {
        await run(BEHAVE, { mock });
        const res = mock.results[0];
        assert.equal(res.kind, "error");
        assert.equal(res.headers["lambda-runtime-function-error-type"], "MyError");
        assert.equal(res.headers["content-type"], "application/json");
        assert.deepEqual(json(res.body), { errorMessage: message, errorType: "MyError", stackTrace: [] });
    });
});

test("behave: bad events are function errors; the loop goes on", async () => {
    // The empty and the short event come after longer ones: tdrt reuses the event's buffer, and
    // the handler must still see each event NUL-terminated (not the end of the one before).
    const invokes = [{ body: "not json" }, { body: '{"action":"nope"}' }, { body: '{"action":"error","type":"bad type"}' }, { body: '{"action":"echo"}' }, { body: "" }, { body: "[]" }];
    await withMock({ invokes }, async (mock) => {
        await run(BEHAVE, { mock });
        assert.equal(mock.results.length, 6);
        for (const r of mock.results.slice(4)) assert.equal(r.headers["lambda-runtime-function-error-type"], "BehaveBadEvent", r.body.toString());
        assert.equal(mock.results[0].headers["lambda-runtime-function-error-type"], "BehaveBadEvent");
        assert.match(json(mock.results[1].body).errorMessage, /unknown action "nope"/);
        // an invalid error type is refused by tdrt_response_error -> the generic handler error
        assert.equal(json(mock.results[2].body).errorType, "HandlerError");
        assert.equal(mock.results[3].body.toString(), '{"action":"echo"}');
    });
});

test("behave: log prints to stdout and stderr", async () => {
    await withMock({ invokes: [{ body: '{"action":"log","text":"hello-log-line"}' }] }, async (mock) => {
        const r = await run(BEHAVE, { mock });
        assert.match(r.stdout, /hello-log-line/);
        assert.match(r.stderr, /hello-log-line/);
        assert.deepEqual(json(mock.results[0].body), { logged: "hello-log-line" });
    });
});

test("behave: sleep", async () => {
    await withMock({ invokes: [{ body: '{"action":"sleep","ms":300}' }] }, async (mock) => {
        const r = await run(BEHAVE, { mock });
        assert.ok(r.ms >= 300);
        assert.deepEqual(json(mock.results[0].body), { slept: 300 });
    });
});

test("behave: big 7000000 -> 413 from the API, logged, and the loop goes on", async () => {
    const invokes = [{ body: '{"action":"big","bytes":7000000}' }, { body: '{"action":"big","bytes":6000000}' }];
    await withMock({ invokes }, async (mock) => {
        const r = await run(BEHAVE, { mock });
        assert.equal(mock.results.length, 2);
        assert.equal(mock.results[0].body.length, 7000000);
        assert.equal(mock.results[0].status, 413);
        assert.match(r.stderr, /HTTP 413/);
        assert.equal(mock.results[1].status, 202);
        assert.equal(mock.results[1].body.length, 6000000);
        assert.equal(typeof json(mock.results[1].body), "string");
    });
});

test("behave: env lists the environment", async () => {
    await withMock({ invokes: [{ body: '{"action":"env"}' }] }, async (mock) => {
        await run(BEHAVE, { mock, env: { BEHAVE_MARKER: "m\u00e9" } });
        const e = json(mock.results[0].body);
        assert.equal(e.AWS_LAMBDA_RUNTIME_API, mock.address);
        assert.equal(e.BEHAVE_MARKER, "m\u00e9");
    });
});

test("behave: exit 3 mid-invocation", async () => {
    await withMock({ invokes: [{ body: '{"action":"exit","code":3}' }] }, async (mock) => {
        const r = await run(BEHAVE, { mock });
        assert.equal(r.code, 3);
        assert.equal(mock.results.length, 0);
    });
});

test("behave: crash dies of SIGSEGV", { skip: wrap.length > 0 }, async () => {
    await withMock({ invokes: [{ body: '{"action":"crash"}' }] }, async (mock) => {
        const r = await run(BEHAVE, { mock });
        assert.equal(r.signal, "SIGSEGV");
        assert.equal(mock.results.length, 0);
    });
});

test("behave: spin never answers", { skip: wrap.length > 0 }, async () => {
    await withMock({ invokes: [{ body: '{"action":"spin"}' }] }, async (mock) => {
        const r = await run(BEHAVE, { mock, timeoutMs: 700 });
        assert.equal(r.timedOut, true);
        assert.equal(mock.results.length, 0);
    });
});

test("behave: BEHAVE_INIT_FAIL posts /runtime/init/error and exits 1", async () => {
    await withMock({ invokes: [] }, async (mock) => {
        const r = await run(BEHAVE, { mock, env: { BEHAVE_INIT_FAIL: "1" } });
        assert.equal(r.code, 1);
        assert.equal(mock.requests.length, 1);
        assert.equal(mock.requests[0].path, "/2018-06-01/runtime/init/error");
        const res = mock.results[0];
        assert.equal(res.kind, "init-error");
        assert.equal(res.headers["lambda-runtime-function-error-type"], "Runtime.BehaveInitError");
        assert.deepEqual(json(res.body), {
            errorMessage: "init failed on request",
            errorType: "Runtime.BehaveInitError",
            stackTrace: [],
        });
    });
});

test("behave: BEHAVE_INIT_EXIT exits 2 before /next", async () => {
    await withMock({ invokes: [] }, async (mock) => {
        const r = await run(BEHAVE, { mock, env: { BEHAVE_INIT_EXIT: "1" } });
        assert.equal(r.code, 2);
        assert.equal(mock.requests.length, 0);
    });
});

test("isolation (C): counters, pid, instance id, first tenant", async () => {
    const invokes = [{ body: "{}", tenantId: "A" }, { body: "{}", tenantId: "B" }, { body: "{}" }];
    await withMock({ invokes }, async (mock) => {
        const r = await run(ISOLATION, { mock });
        assert.equal(mock.results.length, 3, r.stderr);
        const [a, b, c] = mock.results.map((x) => json(x.body));
        assert.equal(a.tenant, "A");
        assert.equal(b.tenant, "B");
        assert.equal(c.tenant, null);
        for (const x of [a, b, c]) assert.equal(x.firstTenant, "A");
        assert.deepEqual([a.memCount, b.memCount, c.memCount], [1, 2, 3]);
        assert.deepEqual([b.tmpCount - a.tmpCount, c.tmpCount - b.tmpCount], [1, 1]);
        assert.match(a.instance, /^[0-9a-f]{32}$/);
        assert.equal(a.instance, c.instance);
        assert.equal(a.pid, c.pid);
    });
    await withMock({ invokes: [{ body: "{}", tenantId: "A" }] }, async (mock) => {
        await run(ISOLATION, { mock });
        assert.equal(json(mock.results[0].body).memCount, 1);
    });
});

// ------------------------------------------------------------------------------------------
// tdrt (C) against a scripted Runtime API over raw TCP: the wire cases node:http cannot make
// (chunked events, idle keep-alive connections closed by the server, malformed answers).

// answers[i](req, sock) writes the answer to the i-th request (any bytes); past the end a
// 500 answers. req: {method, path, headers, body, connection}. A socket marked sock.ignore
// (say, after sock.end()) has whatever else arrives on it read and dropped.
async function withRawApi(answers, fn) {
    const requests = [];
    const sockets = new Set();
    let connections = 0;
    const server = createTcpServer((sock) => {
        const connection = ++connections;
        sockets.add(sock);
        sock.on("close", () => sockets.delete(sock));
        sock.on("error", () => {});
        let buf = Buffer.alloc(0);
        sock.on("data", (d) => {
            if (sock.ignore) return;
            buf = Buffer.concat([buf, d]);
            for (;;) {
                const end = buf.indexOf("\r\n\r\n");
                if (end < 0) return;
                const [line, ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
                const headers = {};
                for (const l of lines) {
                    const i = l.indexOf(":");
                    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
                }
                const len = Number(headers["content-length"] ?? 0);
                if (buf.length < end + 4 + len) return;
                const [method, path] = line.split(" ");
                const req = { method, path, headers, body: buf.subarray(end + 4, end + 4 + len), connection };
                buf = buf.subarray(end + 4 + len);
                requests.push(req);
                const answer = answers[requests.length - 1] ?? ((r, s) => s.write(rawAnswer(500, {}, "{}")));
                answer(req, sock);
                if (sock.ignore) return;
            }
        });
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    const api = { address: `127.0.0.1:${server.address().port}`, requests };
    try {
        return await fn(api);
    } finally {
        for (const s of sockets) s.destroy();
        await new Promise((r) => server.close(r));
    }
}

const STATUS_TEXT = { 100: "Continue", 200: "OK", 202: "Accepted", 500: "Internal Server Error" };

function rawAnswer(status, headers, body, { chunks } = {}) {
    const b = Buffer.from(body);
    let head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "X"}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    if (!chunks) return Buffer.concat([Buffer.from(head + `Content-Length: ${b.length}\r\n\r\n`), b]);
    const parts = [Buffer.from(head + "Transfer-Encoding: chunked\r\n\r\n")];
    for (let at = 0; at < b.length; at += chunks) {
        const c = b.subarray(at, at + chunks);
        parts.push(Buffer.from(`${c.length.toString(16)};ext=1\r\n`), c, Buffer.from("\r\n"));
    }
    parts.push(Buffer.from("0\r\nX-Trailer: t\r\n\r\n"));
    return Buffer.concat(parts);
}

const invokeHeaders = (id, extra = {}) => ({
    "Lambda-Runtime-Aws-Request-Id": id,
    "Lambda-Runtime-Deadline-Ms": String(Date.now() + 30000),
    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:000000000000:function:raw",
    "Content-Type": "application/json",
    ...extra,
});
const invocation = (id, body, opts) => (req, sock) => sock.write(rawAnswer(200, invokeHeaders(id), body, opts));
const accepted = () => (req, sock) => sock.write(rawAnswer(202, { "Content-Type": "application/json" }, '{"status":"OK"}'));

test("raw: a chunked /next answer (with extensions and trailers) is one event", async () => {
    const body = Buffer.concat([Buffer.from('{"chunked":"'), randomBytes(100000).map((b) => 0x61 + (b % 26)), Buffer.from('"}')]);
    await withRawApi([invocation("c-1", body, { chunks: 4093 }), accepted(), invocation("c-2", "{}", { chunks: 1 }), accepted()], async (api) => {
        const r = await run(ECHO, { mock: api });
        assert.equal(r.timedOut, false, r.stderr);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /HTTP 500/);
        const posts = api.requests.filter((q) => q.method === "POST");
        assert.equal(posts.length, 2, r.stderr);
        assert.equal(posts[0].path, "/2018-06-01/runtime/invocation/c-1/response");
        assert.equal(sha(posts[0].body), sha(body));
        assert.equal(posts[1].body.toString(), "{}");
        assert.deepEqual([...new Set(api.requests.map((q) => q.connection))], [1]);
    });
});

test("raw: tdrt reuses its buffers, and no invocation sees anything of the one before", async () => {
    const pad = "y".repeat(70000); // over the 64 KiB a kept buffer may keep
    const first = rawAnswer(
        200,
        invokeHeaders("r-1", { "Lambda-Runtime-Aws-Tenant-Id": "t".repeat(200), "Lambda-Runtime-Trace-Id": "Root=1-abc", "Lambda-Runtime-Client-Context": '{"c":1}' }),
        `{"action":"ctx","pad":"${pad}"}`,
        { chunks: 4093 },
    );
    // An interim answer's headers belong to no invocation.
    const second = Buffer.concat([Buffer.from("HTTP/1.1 100 Continue\r\nLambda-Runtime-Aws-Tenant-Id: interim\r\n\r\n"), rawAnswer(200, invokeHeaders("r-2"), '{"action":"ctx"}')]);
    // The last of duplicate headers wins, and a blank one counts as absent.
    const third = rawAnswer(200, invokeHeaders("r-3", { "Lambda-Runtime-Aws-Tenant-Id": "first", "lambda-runtime-aws-tenant-id": " " }), '{"action":"ctx"}');
    const script = [first, second, third, rawAnswer(200, invokeHeaders("r-4"), "")].flatMap((a) => [(req, sock) => sock.write(a), accepted()]);
    await withRawApi(script, async (api) => {
        const r = await run(BEHAVE, { mock: api });
        const posts = api.requests.filter((q) => q.method === "POST");
        assert.equal(posts.length, 4, r.stderr);
        const [a, b, c] = posts.slice(0, 3).map((q) => json(q.body));
        assert.equal(a.tenantId, "t".repeat(200));
        assert.equal(a.traceId, "Root=1-abc");
        assert.deepEqual(a.clientContext, { c: 1 });
        assert.equal(b.awsRequestId, "r-2");
        assert.equal(b.tenantId, null);
        assert.equal(b.traceId, null);
        assert.equal(b.clientContext, null);
        assert.equal(c.awsRequestId, "r-3");
        assert.equal(c.tenantId, null);
        // an empty event after longer ones is still an empty, NUL-terminated string
        assert.equal(posts[3].path, "/2018-06-01/runtime/invocation/r-4/error");
        assert.equal(json(posts[3].body).errorType, "BehaveBadEvent", posts[3].body.toString());
    });
});

test("raw: an answer dribbled a byte at a time; interim 100 Continue; header whitespace", async () => {
    const dribble = (buf) => async (req, sock) => {
        sock.setNoDelay(true);
        for (const b of buf) {
            sock.write(Buffer.from([b]));
            await new Promise((r) => setTimeout(r, 1));
        }
    };
    const head = rawAnswer(100, {}, "").subarray(0, -"Content-Length: 0\r\n\r\n".length);
    const answer = Buffer.concat([
        Buffer.from(head.toString() + "\r\n"),
        rawAnswer(200, invokeHeaders("d-1", { "lambda-runtime-aws-tenant-id": " \t tenant-d \t ", "Lambda-Runtime-Trace-Id": "" }), '{"action":"ctx"}'),
    ]);
    await withRawApi([dribble(answer), accepted()], async (api) => {
        const r = await run(BEHAVE, { mock: api });
        assert.equal(r.code, 1, r.stderr);
        const post = api.requests[1];
        assert.equal(post.path, "/2018-06-01/runtime/invocation/d-1/response", r.stderr);
        const ctx = json(post.body);
        assert.equal(ctx.awsRequestId, "d-1");
        assert.equal(ctx.tenantId, "tenant-d");
        assert.equal(ctx.traceId, null);
    });
});

test("raw: the server closes idle keep-alive connections; the runtime reconnects and goes on", async () => {
    const answers = [
        // answered, then the connection is dropped while the handler runs: the POST retries
        (req, sock) => sock.write(rawAnswer(200, invokeHeaders("k-1"), '{"n":1}'), () => sock.destroy()),
        // answered, then closed (FIN) the way an idle keep-alive timeout closes it: the next
        // GET /next goes out on a fresh connection
        (req, sock) => {
            sock.ignore = true;
            sock.end(rawAnswer(202, {}, '{"status":"OK"}'));
        },
        invocation("k-2", '{"n":2}'),
        accepted(),
    ];
    await withRawApi(answers, async (api) => {
        const r = await run(ECHO, { mock: api });
        assert.equal(r.timedOut, false, r.stderr);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /HTTP 500/);
        const seen = api.requests.map((q) => `${q.method} ${q.path.replace("/2018-06-01/runtime/invocation/", "")} #${q.connection}`);
        assert.deepEqual(seen, ["GET next #1", "POST k-1/response #2", "GET next #3", "POST k-2/response #3", "GET next #3"]);
        assert.equal(api.requests[1].body.toString(), '{"n":1}');
        assert.equal(api.requests[3].body.toString(), '{"n":2}');
    });
});

test("raw: Connection: close and a body that ends with the connection", async () => {
    const answers = [
        (req, sock) =>
            sock.end(
                Buffer.concat([
                    Buffer.from("HTTP/1.1 200 OK\r\nConnection: close\r\nLambda-Runtime-Aws-Request-Id: e-1\r\n\r\n"),
                    Buffer.from('{"until":"eof"}'),
                ]),
            ),
        accepted(),
    ];
    await withRawApi(answers, async (api) => {
        const r = await run(ECHO, { mock: api });
        assert.equal(r.code, 1, r.stderr);
        assert.equal(api.requests[1].path, "/2018-06-01/runtime/invocation/e-1/response");
        assert.equal(api.requests[1].body.toString(), '{"until":"eof"}');
        assert.deepEqual(api.requests.map((q) => q.connection), [1, 2, 2]);
    });
});

test("raw: malformed answers are a Runtime API failure: exit non-zero, no hang, no retry", async () => {
    const cases = [
        ["a malformed status line", (req, sock) => sock.write("HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"), /malformed/],
        ["not HTTP at all", (req, sock) => sock.write("SSH-2.0-OpenSSH_9.2\r\n"), /malformed/],
        ["a bad chunk size", (req, sock) => sock.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), /malformed/],
        ["headers over the cap", (req, sock) => sock.write(`HTTP/1.1 200 OK\r\nX-Big: ${"x".repeat(300 * 1024)}\r\n\r\n`), /headers too large/],
        ["a truncated body", (req, sock) => sock.end(rawAnswer(200, invokeHeaders("t-1"), "0123456789").subarray(0, -5)), /in the middle/],
    ];
    for (const [what, answer, re] of cases) {
        await withRawApi([answer], async (api) => {
            // the server keeps the connection open (except the truncated body): a runtime that
            // waited for more would be killed by the timeout
            const r = await run(ECHO, { mock: api, timeoutMs: 5000 * slow });
            assert.equal(r.timedOut, false, what);
            assert.equal(r.code, 1, `${what}: ${r.stderr}`);
            assert.match(r.stderr, re, what);
            assert.equal(api.requests.length, 1, what);
        });
    }
});

// ------------------------------------------------------------------------------------------
// Node fixtures and samples through the real aws-lambda-ric

const nodeOpts = { skip: haveRic ? false : "aws-lambda-ric is not installed" };
const runNode = (dir, opts) => run("node", { args: [ric, "index.handler"], cwd: dir, native: false, ...opts });
const BEHAVE_NODE = join(here, "behave-node");

test("behave-node: ctx, error, throw, log, big, echo", nodeOpts, async () => {
    const invokes = [
        { body: '{"action":"ctx"}', tenantId: "tenant-42", traceId: "Root=1-abc", clientContext: '{"a":1}' },
        { body: '{"action":"error","type":"MyError","message":"boom"}' },
        { body: '{"action":"throw"}' },
        { body: '{"action":"log","text":"node-log-line"}' },
        { body: '{"action":"big","bytes":1000}' },
        { body: '{"action":"echo","x":[1,2]}' },
    ];
    await withMock({ invokes }, async (mock) => {
        const r = await runNode(BEHAVE_NODE, { mock });
        assert.equal(mock.results.length, 6, r.stderr);
        const ctx = json(mock.results[0].body);
        assert.equal(ctx.tenantId, "tenant-42");
        assert.equal(ctx.xAmznTraceId, "Root=1-abc");
        assert.deepEqual(ctx.clientContext, { a: 1 });
        const err = json(mock.results[1].body);
        assert.equal(mock.results[1].kind, "error");
        assert.equal(err.errorType, "MyError");
        assert.equal(err.errorMessage, "boom");
        assert.equal(json(mock.results[2].body).errorType, "BehaveCustomError");
        assert.match(r.stdout + r.stderr, /node-log-line/);
        assert.equal(mock.results[4].body.length, 1000);
        assert.deepEqual(json(mock.results[5].body), { action: "echo", x: [1, 2] });
        assert.notEqual(r.code, 0);
    });
});

test("behave-node: exit and init failures", nodeOpts, async () => {
    await withMock({ invokes: [{ body: '{"action":"exit","code":3}' }] }, async (mock) => {
        const r = await runNode(BEHAVE_NODE, { mock });
        assert.equal(r.code, 3);
    });
    await withMock({ invokes: [] }, async (mock) => {
        const r = await runNode(BEHAVE_NODE, { mock, env: { BEHAVE_INIT_FAIL: "1" } });
        assert.notEqual(r.code, 0);
        assert.equal(mock.results[0]?.kind, "init-error", r.stderr);
        assert.equal(json(mock.results[0].body).errorType, "Runtime.BehaveInitError");
    });
    await withMock({ invokes: [] }, async (mock) => {
        const r = await runNode(BEHAVE_NODE, { mock, env: { BEHAVE_INIT_EXIT: "1" } });
        assert.equal(r.code, 2);
        assert.equal(mock.requests.length, 0);
    });
});

test("badhandler-node: init error", nodeOpts, async () => {
    await withMock({ invokes: [] }, async (mock) => {
        const r = await runNode(join(here, "badhandler-node"), { mock });
        assert.notEqual(r.code, 0);
        assert.equal(mock.results[0]?.kind, "init-error", r.stderr);
        assert.equal(mock.results[0].headers["lambda-runtime-function-error-type"], "Runtime.ImportModuleError");
        assert.equal(json(mock.results[0].body).errorType, "Runtime.ImportModuleError");
        assert.match(json(mock.results[0].body).errorMessage, /does-not-exist/);
    });
});

test("hello-node and isolation-node samples", nodeOpts, async () => {
    await withMock({ invokes: [{ body: '{"n":1}', tenantId: "T" }] }, async (mock) => {
        await runNode(join(srcRoot, "examples/hello-node"), { mock });
        const h = json(mock.results[0].body);
        assert.equal(h.message, "hello");
        assert.equal(h.tenantId, "T");
        assert.deepEqual(h.input, { n: 1 });
    });
    await withMock({ invokes: [{ body: "{}", tenantId: "A" }, { body: "{}", tenantId: "B" }] }, async (mock) => {
        await runNode(join(srcRoot, "examples/isolation-node"), { mock });
        const [a, b] = mock.results.map((x) => json(x.body));
        assert.equal(a.tenant, "A");
        assert.equal(b.firstTenant, "A");
        assert.deepEqual([a.memCount, b.memCount], [1, 2]);
        assert.equal(b.tmpCount - a.tmpCount, 1);
        assert.match(a.instance, /^[0-9a-f]{32}$/);
        assert.equal(a.pid, b.pid);
    });
});

test("zips: bootstrap at the root with mode 0755", async () => {
    for (const z of [join(exDir, "echo.zip"), join(exDir, "isolation.zip"), join(fnDir, "behave.zip")]) {
        const buf = readFileSync(z);
        // central directory entry: signature PK\1\2, "version made by" host 3 (unix), external
        // attributes at offset 38 (mode in the high 16 bits), name at offset 46.
        const cd = buf.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
        assert.ok(cd >= 0, z);
        assert.equal(buf[cd + 5], 3, `${z}: made on unix`);
        const nameLen = buf.readUInt16LE(cd + 28);
        assert.equal(buf.subarray(cd + 46, cd + 46 + nameLen).toString(), "bootstrap");
        const mode = buf.readUInt32LE(cd + 38) >>> 16;
        assert.equal(mode & 0o777, 0o755, `${z}: mode ${mode.toString(8)}`);
        assert.equal(mode & 0o170000, 0o100000, `${z}: regular file`);
    }
});
