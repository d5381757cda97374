// The Invoke API through the real @aws-sdk/client-lambda, against C (tdrt) and Node
// (aws-lambda-ric) functions: invocation types, tenant ids, payload limits, logs, errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { InvokeCommand } from "@aws-sdk/client-lambda";
import {
  startDaemon,
  createFunction,
  invoke,
  readZip,
  expectError,
  payload,
  sleep,
  signedFetch,
} from "./lib.mjs";

let d;
const TENANCY = { TenancyConfig: { TenantIsolationMode: "PER_TENANT" } };
const MSG = "Tenant ID configuration not specified or passed to a function when tenant isolation is not enabled.";

before(async () => {
  d = await startDaemon({ args: ["--spin-us", process.env.SPIN ?? "50"] });
  const behave = readZip("tests/functions/behave.zip");
  const behaveNode = readZip("tests/functions/behave-node.zip");
  await createFunction(d.lambda, { FunctionName: "b", Code: { ZipFile: behave }, ...TENANCY });
  await createFunction(d.lambda, { FunctionName: "b-plain", Code: { ZipFile: behave } });
  await createFunction(d.lambda, { FunctionName: "b-short", Code: { ZipFile: behave }, Timeout: 1, ...TENANCY });
  await createFunction(d.lambda, {
    FunctionName: "bn",
    Runtime: "nodejs20.x",
    Handler: "index.handler",
    Code: { ZipFile: behaveNode },
    ...TENANCY,
  });
  await createFunction(d.lambda, {
    FunctionName: "b-json",
    Code: { ZipFile: behave },
    LoggingConfig: { LogFormat: "JSON" },
    ...TENANCY,
  });
});
after(async () => {
  const st = await d.stop();
  assert.equal(st.code, 0, d.stderr);
  assert.deepEqual(d.sandboxProcesses(), [], "no sandbox process outlives the daemon");
});

test("RequestResponse: 200, payload back, X-Amz-Executed-Version, request id", async () => {
  const r = await invoke(d.lambda, { FunctionName: "b", TenantId: "t1", Payload: payload({ action: "echo", x: 1 }) });
  assert.equal(r.StatusCode, 200);
  assert.deepEqual(r.json, { action: "echo", x: 1 });
  assert.equal(r.ExecutedVersion, "$LATEST");
  assert.equal(r.FunctionError, undefined);
  assert.match(r.$metadata.requestId, /^[0-9a-f-]{36}$/);
});

test("the runtime sees the tenant, the request id, the deadline, the ARN and the trace id", async () => {
  for (const fn of ["b", "bn"]) {
    const before = Date.now();
    const r = await invoke(d.lambda, { FunctionName: fn, TenantId: "tenant-ctx", Payload: payload({ action: "ctx" }) });
    assert.equal(r.json.tenantId, "tenant-ctx", fn);
    assert.equal(r.json.awsRequestId, r.$metadata.requestId, fn);
    assert.equal(r.json.invokedFunctionArn, `arn:aws:lambda:us-east-1:000000000000:function:${fn}`);
    assert.ok(r.json.deadlineMs >= before + 2000 && r.json.deadlineMs <= Date.now() + 3100, fn);
    assert.match(r.json.xAmznTraceId, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/);
  }
  const plain = await invoke(d.lambda, { FunctionName: "b-plain", Payload: payload({ action: "ctx" }) });
  assert.equal(plain.json.tenantId, null, "no tenant header for a plain function");
  // tdrt rewrites the variable in place for each invocation: each sees its own.
  const seen = new Set();
  for (let i = 0; i < 3; i++) {
    const r = await invoke(d.lambda, { FunctionName: "b", TenantId: "tenant-ctx", Payload: payload({ action: "ctx" }) });
    assert.equal(r.json.xAmznTraceId, r.json.traceId);
    seen.add(r.json.xAmznTraceId);
  }
  assert.equal(seen.size, 3);
});

test("X-Amz-Client-Context is passed through decoded", async () => {
  const cc = { custom: { a: 1 }, client: { installation_id: "i" }, env: { locale: "en" } };
  for (const fn of ["b", "bn"]) {
    const r = await invoke(d.lambda, {
      FunctionName: fn,
      TenantId: "t1",
      ClientContext: Buffer.from(JSON.stringify(cc)).toString("base64"),
      Payload: payload({ action: "ctx" }),
    });
    const seen = typeof r.json.clientContext === "string" ? JSON.parse(r.json.clientContext) : r.json.clientContext;
    assert.equal(seen.custom.a, 1, fn);
  }
  await expectError(
    d.lambda.send(new InvokeCommand({ FunctionName: "b", TenantId: "t1", ClientContext: "not base64!", Payload: "{}" })),
    "InvalidParameterValueException",
  );
});

test("tenant id rules", async () => {
  let e = await expectError(d.lambda.send(new InvokeCommand({ FunctionName: "b", Payload: "{}" })), "InvalidParameterValueException");
  assert.equal(e.message, MSG);
  assert.equal(e.$metadata.httpStatusCode, 400);
  e = await expectError(
    d.lambda.send(new InvokeCommand({ FunctionName: "b-plain", TenantId: "t1", Payload: "{}" })),
    "InvalidParameterValueException",
  );
  assert.equal(e.message, MSG);
  for (const bad of ["x".repeat(257), "semi;colon", "tab\tchar", "ünïcode", "a,b", "#hash"]) {
    e = await expectError(d.lambda.send(new InvokeCommand({ FunctionName: "b", TenantId: bad, Payload: "{}" })));
    assert.equal(e.$metadata.httpStatusCode, 400, bad);
  }
  for (const good of ["x".repeat(256), "a", "tenant with spaces", "org:team/a=b+c-d@e.f_g"]) {
    const r = await invoke(d.lambda, { FunctionName: "b", TenantId: good, Payload: payload({ action: "ctx" }) });
    assert.equal(r.json.tenantId, good);
  }
});

test("Event invocations answer 202 and run in the tenant's environment", async () => {
  const r = await d.lambda.send(
    new InvokeCommand({ FunctionName: "b", TenantId: "evt", InvocationType: "Event", Payload: payload({ action: "log", text: "from-event" }) }),
  );
  assert.equal(r.StatusCode, 202);
  for (let i = 0; i < 100 && !d.stderr.includes("from-event"); i++) await sleep(50);
  assert.match(d.stderr, /\[b evt env=\d+\] from-event/, "the event ran, logged under its tenant");
  const e = await expectError(
    d.lambda.send(new InvokeCommand({ FunctionName: "b", InvocationType: "Event", Payload: "{}" })),
    "InvalidParameterValueException",
  );
  assert.equal(e.message, MSG);
});

test("DryRun validates and answers 204 without running anything", async () => {
  const r = await d.lambda.send(new InvokeCommand({ FunctionName: "b", TenantId: "dry", InvocationType: "DryRun" }));
  assert.equal(r.StatusCode, 204);
  assert.doesNotMatch(d.stderr, /\[b dry env=/);
  await expectError(d.lambda.send(new InvokeCommand({ FunctionName: "b", InvocationType: "DryRun" })), "InvalidParameterValueException");
  await expectError(d.lambda.send(new InvokeCommand({ FunctionName: "missing", InvocationType: "DryRun" })), "ResourceNotFoundException");
});

test("payload limits: 6 MB synchronous, 256 KB Event", async () => {
  const ok = Buffer.alloc(6291456 - 20, 0x61);
  const body = Buffer.concat([Buffer.from('{"action":"echo","p":"'), ok.subarray(0, ok.length - 24), Buffer.from('"}')]);
  assert.ok(body.length <= 6291456);
  const r = await invoke(d.lambda, { FunctionName: "b", TenantId: "big", Payload: body });
  assert.equal(r.StatusCode, 200);
  assert.equal(r.Payload.length, body.length);

  let e = await expectError(
    d.lambda.send(new InvokeCommand({ FunctionName: "b", TenantId: "big", Payload: Buffer.alloc(6291457, 0x61) })),
    "RequestEntityTooLargeException",
  );
  assert.equal(e.$metadata.httpStatusCode, 413);
  assert.match(e.message, /6291456 bytes/);
  e = await expectError(
    d.lambda.send(new InvokeCommand({ FunctionName: "b", TenantId: "big", InvocationType: "Event", Payload: Buffer.alloc(262145, 0x61) })),
    "RequestEntityTooLargeException",
  );
  assert.match(e.message, /262145 byte payload is too large for the Event invocation type \(limit 262144 bytes\)/);
});

test("a response over 6 MB is Function.ResponseSizeTooLarge", async () => {
  for (const fn of ["b", "bn"]) {
    const r = await invoke(d.lambda, { FunctionName: fn, TenantId: "big-resp", Payload: payload({ action: "big", bytes: 7_000_000 }) });
    assert.equal(r.FunctionError, "Unhandled", fn);
    assert.equal(r.json.errorType, "Function.ResponseSizeTooLarge", fn);
    assert.match(r.json.errorMessage, /Response payload size \(7000000 bytes\) exceeded maximum allowed payload size \(6291556 bytes\)/);
  }
});

test("X-Amz-Log-Type: Tail returns the invocation's log", async () => {
  for (const fn of ["b", "bn"]) {
    const r = await invoke(d.lambda, { FunctionName: fn, TenantId: "tail", LogType: "Tail", Payload: payload({ action: "log", text: "hello-tail" }) });
    const id = r.$metadata.requestId;
    assert.match(r.log, new RegExp(`START RequestId: ${id} Version: \\$LATEST`), fn);
    assert.match(r.log, /hello-tail/, fn);
    assert.match(r.log, new RegExp(`END RequestId: ${id}`), fn);
    assert.match(r.log, new RegExp(`REPORT RequestId: ${id}\\tDuration: [0-9.]+ ms\\tBilled Duration: \\d+ ms\\tMemory Size: 128 MB\\tMax Memory Used: \\d+ MB`), fn);
  }
  // Only the last 4 KB.
  const long = "y".repeat(10000);
  const r = await invoke(d.lambda, { FunctionName: "b", TenantId: "tail", LogType: "Tail", Payload: payload({ action: "log", text: long }) });
  assert.ok(Buffer.from(r.LogResult, "base64").length <= 4096);
  assert.match(r.log, /REPORT RequestId/);
  const none = await invoke(d.lambda, { FunctionName: "b", TenantId: "tail", Payload: payload({ action: "echo" }) });
  assert.equal(none.LogResult, undefined);
});

test("JSON log format: platform events carry the tenant id", async () => {
  const r = await invoke(d.lambda, { FunctionName: "b-json", TenantId: "json-t", LogType: "Tail", Payload: payload({ action: "echo" }) });
  const lines = r.log.trim().split("\n").map((l) => JSON.parse(l));
  const start = lines.find((l) => l.type === "platform.start");
  const report = lines.find((l) => l.type === "platform.report");
  assert.equal(start.record.tenantId, "json-t");
  assert.equal(start.record.requestId, r.$metadata.requestId);
  assert.equal(report.record.tenantId, "json-t");
  assert.equal(report.record.status, "success");
  assert.ok(report.record.metrics.durationMs >= 0);
});

test("function errors: 200 with X-Amz-Function-Error: Unhandled and the runtime's error", async () => {
  let r = await invoke(d.lambda, { FunctionName: "b", TenantId: "err", Payload: payload({ action: "error", type: "MyError", message: "boom" }) });
  assert.equal(r.StatusCode, 200);
  assert.equal(r.FunctionError, "Unhandled");
  assert.equal(r.json.errorType, "MyError");
  assert.equal(r.json.errorMessage, "boom");
  r = await invoke(d.lambda, { FunctionName: "bn", TenantId: "err", Payload: payload({ action: "throw" }) });
  assert.equal(r.FunctionError, "Unhandled");
  assert.equal(r.json.errorType, "BehaveCustomError");
  assert.equal(r.json.errorMessage, "thrown on request");
  assert.ok(Array.isArray(r.json.trace) || Array.isArray(r.json.stackTrace));
});

test("timeout: Sandbox.Timedout, the environment is killed and replaced", async () => {
  const t0 = Date.now();
  let r = await invoke(d.lambda, { FunctionName: "b-short", TenantId: "slow", Payload: payload({ action: "spin" }) });
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(r.FunctionError, "Unhandled");
  assert.equal(r.json.errorType, "Sandbox.Timedout");
  assert.equal(r.json.errorMessage, `RequestId: ${r.$metadata.requestId} Error: Task timed out after 1.00 seconds`);
  r = await invoke(d.lambda, { FunctionName: "b-short", TenantId: "slow", Payload: payload({ action: "echo", again: true }) });
  assert.deepEqual(r.json, { action: "echo", again: true });
});

test("runtime exit during an invocation: Runtime.ExitError; next invoke gets a new environment", async () => {
  for (const fn of ["b", "bn"]) {
    const r = await invoke(d.lambda, { FunctionName: fn, TenantId: "exit", Payload: payload({ action: "exit", code: 3 }) });
    assert.equal(r.FunctionError, "Unhandled", fn);
    assert.equal(r.json.errorType, "Runtime.ExitError", fn);
    assert.equal(r.json.errorMessage, `RequestId: ${r.$metadata.requestId} Error: Runtime exited with error: exit status 3`);
    const again = await invoke(d.lambda, { FunctionName: fn, TenantId: "exit", Payload: payload({ action: "echo", n: 2 }) });
    assert.deepEqual(again.json, { action: "echo", n: 2 }, fn);
  }
  const crash = await invoke(d.lambda, { FunctionName: "b", TenantId: "exit", Payload: payload({ action: "crash" }) });
  assert.equal(crash.json.errorType, "Runtime.ExitError");
  assert.match(crash.json.errorMessage, /signal: segmentation fault/);
});

test("init errors reach the invocation that started the environment", async () => {
  const behave = readZip("tests/functions/behave.zip");
  await createFunction(d.lambda, { FunctionName: "init-fail", Code: { ZipFile: behave }, Environment: { Variables: { BEHAVE_INIT_FAIL: "1" } }, ...TENANCY });
  let r = await invoke(d.lambda, { FunctionName: "init-fail", TenantId: "i", LogType: "Tail", Payload: "{}" });
  assert.equal(r.FunctionError, "Unhandled");
  assert.equal(r.json.errorType, "Runtime.BehaveInitError");
  assert.match(r.log, /INIT_REPORT .*Status: error/);

  await createFunction(d.lambda, { FunctionName: "init-exit", Code: { ZipFile: behave }, Environment: { Variables: { BEHAVE_INIT_EXIT: "1" } }, ...TENANCY });
  r = await invoke(d.lambda, { FunctionName: "init-exit", TenantId: "i", Payload: "{}" });
  assert.equal(r.json.errorType, "Runtime.ExitError");
  assert.match(r.json.errorMessage, /Runtime exited with error: exit status 2/);

  await createFunction(d.lambda, {
    FunctionName: "node-bad-handler",
    Runtime: "nodejs20.x",
    Handler: "index.handler",
    Code: { ZipFile: readZip("tests/functions/badhandler-node.zip") },
    ...TENANCY,
  });
  r = await invoke(d.lambda, { FunctionName: "node-bad-handler", TenantId: "i", Payload: "{}" });
  assert.equal(r.FunctionError, "Unhandled");
  assert.equal(r.json.errorType, "Runtime.ImportModuleError");

  // A package without an executable bootstrap.
  const { makeZip } = await import("./lib.mjs");
  await createFunction(d.lambda, { FunctionName: "no-bootstrap", Code: { ZipFile: makeZip({ "readme.txt": "hi" }) }, ...TENANCY });
  r = await invoke(d.lambda, { FunctionName: "no-bootstrap", TenantId: "i", Payload: "{}" });
  assert.equal(r.FunctionError, "Unhandled");
  assert.equal(r.json.errorType, "Runtime.InvalidEntrypoint");

  // Their neutral pools are not refilled in a loop: a replacement for an environment that never
  // initialised waits 1 s, then 2 s, 4 s ... (without that, about 60 environments a second).
  const created = async () => (await (await signedFetch(d, "/tenantd/stats")).json()).created;
  const before = await created();
  await sleep(3000);
  const made = (await created()) - before;
  assert.ok(made <= 24, `${made} environments started in 3 s for the four functions that cannot initialise`);
});

test("function name forms and qualifiers", async () => {
  let r = await invoke(d.lambda, { FunctionName: "arn:aws:lambda:us-east-1:000000000000:function:b", TenantId: "q", Payload: payload({ action: "echo" }) });
  assert.equal(r.StatusCode, 200);
  r = await invoke(d.lambda, { FunctionName: "b:$LATEST", TenantId: "q", Payload: payload({ action: "echo" }) });
  assert.equal(r.StatusCode, 200);
  r = await invoke(d.lambda, { FunctionName: "b", Qualifier: "$LATEST", TenantId: "q", Payload: payload({ action: "echo" }) });
  assert.equal(r.StatusCode, 200);
  await expectError(d.lambda.send(new InvokeCommand({ FunctionName: "b", Qualifier: "7", TenantId: "q" })), "ResourceNotFoundException");
  await expectError(d.lambda.send(new InvokeCommand({ FunctionName: "nope", TenantId: "q" })), "ResourceNotFoundException");
});

test("any payload bytes and content type pass through unparsed", async () => {
  const res = await signedFetch(d, "/2015-03-31/functions/b-plain/invocations", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: "not json at all \u0000\u0001",
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-amz-function-error"), "Unhandled", "behave refuses non-JSON events");
  const raw = await signedFetch(d, "/2015-03-31/functions/b-plain/invocations", { method: "POST", body: '{"action":"echo"}' });
  assert.equal(raw.status, 200);
  assert.deepEqual(await raw.json(), { action: "echo" });
});

// The loop polls without sleeping for at most --spin-us (50 us by default) after handing an event
// to a runtime: a long invocation must not keep the daemon busy-waiting for its answer.
test("the daemon sleeps while a long invocation runs (its polling after a delivery is bounded)", async () => {
  await invoke(d.lambda, { FunctionName: "b-plain", Payload: payload({ action: "echo" }) }); // warm
  const cpuMs = () => {
    const f = readFileSync(`/proc/${d.proc.pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // clock ticks (USER_HZ = 100)
  };
  const before = cpuMs();
  const r = await invoke(d.lambda, { FunctionName: "b-plain", Payload: payload({ action: "sleep", ms: 2000 }) });
  const used = cpuMs() - before;
  assert.equal(r.StatusCode, 200, r.text);
  assert.ok(used < 600, `the daemon used ${used} ms of CPU during a 2 s invocation`);
});
