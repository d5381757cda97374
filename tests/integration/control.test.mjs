// Control plane through the real @aws-sdk/client-lambda: CreateFunction, GetFunction,
// GetFunctionConfiguration, ListFunctions, DeleteFunction, UpdateFunctionCode,
// UpdateFunctionConfiguration, their errors, state across restarts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  ListFunctionsCommand,
  DeleteFunctionCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
} from "@aws-sdk/client-lambda";
import {
  startDaemon,
  Daemon,
  createFunction,
  invoke,
  readZip,
  makeZip,
  mkzip,
  expectError,
  payload,
  ROLE,
  signedFetch,
  sleep,
} from "./lib.mjs";

let d;
const echoZip = readZip("examples/echo.zip");
const b64sha = (buf) => createHash("sha256").update(buf).digest("base64");

before(async () => {
  d = await startDaemon();
});
after(async () => {
  const st = await d.stop();
  assert.equal(st.code, 0, d.stderr);
});

test("CreateFunction returns 201 with the FunctionConfiguration shape", async () => {
  const r = await createFunction(d.lambda, {
    FunctionName: "cfg-full",
    Code: { ZipFile: echoZip },
    Timeout: 10,
    MemorySize: 256,
    Environment: { Variables: { A: "1", GREETING: "hi" } },
    EphemeralStorage: { Size: 1024 },
    LoggingConfig: { LogFormat: "JSON", ApplicationLogLevel: "DEBUG" },
    TenancyConfig: { TenantIsolationMode: "PER_TENANT" },
    Description: "full config",
  });
  assert.equal(r.$metadata.httpStatusCode, 201);
  assert.equal(r.FunctionName, "cfg-full");
  assert.equal(r.FunctionArn, "arn:aws:lambda:us-east-1:000000000000:function:cfg-full");
  assert.equal(r.Runtime, "provided.al2023");
  assert.equal(r.Role, ROLE);
  assert.equal(r.Timeout, 10);
  assert.equal(r.MemorySize, 256);
  assert.deepEqual(r.Environment.Variables, { A: "1", GREETING: "hi" });
  assert.deepEqual(r.EphemeralStorage, { Size: 1024 });
  assert.equal(r.LoggingConfig.LogFormat, "JSON");
  assert.equal(r.LoggingConfig.ApplicationLogLevel, "DEBUG");
  assert.equal(r.LoggingConfig.LogGroup, "/aws/lambda/cfg-full");
  assert.deepEqual(r.TenancyConfig, { TenantIsolationMode: "PER_TENANT" });
  assert.equal(r.CodeSha256, b64sha(echoZip));
  assert.equal(r.CodeSize, echoZip.length);
  assert.equal(r.State, "Active");
  assert.equal(r.Version, "$LATEST");
  assert.match(r.RevisionId, /^[0-9a-f-]{36}$/);
  assert.match(r.LastModified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
  assert.equal(r.Description, "full config");
});

test("defaults: Timeout 3, MemorySize 128, 512 MB /tmp, no TenancyConfig", async () => {
  const r = await createFunction(d.lambda, { FunctionName: "cfg-defaults", Code: { ZipFile: echoZip } });
  assert.equal(r.Timeout, 3);
  assert.equal(r.MemorySize, 128);
  assert.deepEqual(r.EphemeralStorage, { Size: 512 });
  assert.equal(r.TenancyConfig, undefined);
  assert.equal(r.LoggingConfig.LogFormat, "Text");
});

test("GetFunction and GetFunctionConfiguration, by name and by ARN", async () => {
  const g = await d.lambda.send(new GetFunctionCommand({ FunctionName: "cfg-full" }));
  assert.equal(g.Configuration.FunctionName, "cfg-full");
  assert.deepEqual(g.Configuration.TenancyConfig, { TenantIsolationMode: "PER_TENANT" });
  assert.equal(g.Code.RepositoryType, "S3");
  // The Location is a presigned-style URL that serves the package without credentials.
  const res = await fetch(g.Code.Location);
  assert.equal(res.status, 200);
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), echoZip);
  const tampered = await fetch(g.Code.Location.replace(/.$/, (c) => (c === "0" ? "1" : "0")));
  assert.equal(tampered.status, 403);

  const byArn = await d.lambda.send(
    new GetFunctionConfigurationCommand({
      FunctionName: "arn:aws:lambda:us-east-1:000000000000:function:cfg-full",
    }),
  );
  assert.equal(byArn.FunctionName, "cfg-full");
  const partial = await d.lambda.send(
    new GetFunctionConfigurationCommand({ FunctionName: "000000000000:function:cfg-full" }),
  );
  assert.equal(partial.FunctionName, "cfg-full");
});

test("missing functions are ResourceNotFoundException 404", async () => {
  const e = await expectError(
    d.lambda.send(new GetFunctionCommand({ FunctionName: "nope" })),
    "ResourceNotFoundException",
  );
  assert.equal(e.$metadata.httpStatusCode, 404);
  assert.match(e.message, /Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope/);
  await expectError(d.lambda.send(new DeleteFunctionCommand({ FunctionName: "nope" })), "ResourceNotFoundException");
  await expectError(
    d.lambda.send(new GetFunctionCommand({ FunctionName: "arn:aws:lambda:eu-west-1:000000000000:function:cfg-full" })),
    "ResourceNotFoundException",
  );
});

test("CreateFunction errors", async () => {
  const base = { Code: { ZipFile: echoZip } };
  let e = await expectError(createFunction(d.lambda, { ...base, FunctionName: "cfg-full" }), "ResourceConflictException");
  assert.equal(e.$metadata.httpStatusCode, 409);
  e = await expectError(createFunction(d.lambda, { ...base, FunctionName: "bad-rt", Runtime: "python9.9" }), "InvalidParameterValueException");
  assert.equal(e.$metadata.httpStatusCode, 400);
  assert.match(e.message, /runtime/);
  await expectError(createFunction(d.lambda, { ...base, FunctionName: "bad name!" }), "InvalidParameterValueException");
  await expectError(createFunction(d.lambda, { ...base, FunctionName: "x".repeat(65) }), "InvalidParameterValueException");
  e = await expectError(
    createFunction(d.lambda, { ...base, FunctionName: "bad-tenancy", TenancyConfig: { TenantIsolationMode: "PER_REQUEST" } }),
    "InvalidParameterValueException",
  );
  assert.match(e.message, /PER_TENANT/);
  await expectError(createFunction(d.lambda, { ...base, FunctionName: "t0", Timeout: 0 }), "InvalidParameterValueException");
  await expectError(createFunction(d.lambda, { ...base, FunctionName: "t901", Timeout: 901 }), "InvalidParameterValueException");
  await expectError(createFunction(d.lambda, { ...base, FunctionName: "m127", MemorySize: 127 }), "InvalidParameterValueException");
  await expectError(createFunction(d.lambda, { ...base, FunctionName: "m10241", MemorySize: 10241 }), "InvalidParameterValueException");
  await expectError(createFunction(d.lambda, { ...base, FunctionName: "eph", EphemeralStorage: { Size: 100 } }), "InvalidParameterValueException");
  e = await expectError(
    createFunction(d.lambda, { ...base, FunctionName: "reserved", Environment: { Variables: { AWS_REGION: "x" } } }),
    "InvalidParameterValueException",
  );
  assert.match(e.message, /reserved keys/);
  await expectError(createFunction(d.lambda, { ...base, FunctionName: "badrole", Role: "not-an-arn" }), "InvalidParameterValueException");
  await expectError(createFunction(d.lambda, { FunctionName: "nozip", Code: {} }), "InvalidParameterValueException");
  await expectError(
    createFunction(d.lambda, { FunctionName: "notzip", Code: { ZipFile: Buffer.from("this is not a zip file") } }),
    "InvalidParameterValueException",
  );
  await expectError(
    createFunction(d.lambda, { ...base, FunctionName: "node-nohandler", Runtime: "nodejs20.x", Handler: undefined }),
    "InvalidParameterValueException",
  );
  await expectError(
    createFunction(d.lambda, { ...base, FunctionName: "levels-text", LoggingConfig: { LogFormat: "Text", ApplicationLogLevel: "DEBUG" } }),
    "InvalidParameterValueException",
  );
});

test("hostile zip packages are refused", async () => {
  const cases = {
    dotdot: mkzip(["--raw-name", "../evil=x"]),
    absolute: mkzip(["--raw-name", "/etc/evil=x"]),
    "link-out": mkzip(["--symlink", "l=../../../etc/passwd", "bootstrap=x"]),
    "link-abs": mkzip(["--symlink", "l=/etc/passwd"]),
    many: mkzip(["--many", "10001"]),
    huge: mkzip(["--zeros", "big=262144001"]),
  };
  for (const [name, zip] of Object.entries(cases)) {
    const e = await expectError(
      createFunction(d.lambda, { FunctionName: `hostile-${name}`, Code: { ZipFile: zip } }),
      "InvalidParameterValueException",
    );
    assert.equal(e.$metadata.httpStatusCode, 400, name);
  }
  const list = await d.lambda.send(new ListFunctionsCommand({}));
  assert.ok(!list.Functions.some((f) => f.FunctionName.startsWith("hostile-")));
  // Nothing of the refused packages stays on disk.
  assert.ok(!readdirSync(join(d.stateDir, "code")).some((n) => n.startsWith(".tmp-")));
});

test("an oversized CreateFunction body is 413 RequestEntityTooLargeException", async () => {
  const e = await expectError(
    createFunction(d.lambda, { FunctionName: "too-big", Code: { ZipFile: Buffer.alloc(52_500_000, 1) } }),
    "RequestEntityTooLargeException",
  );
  assert.equal(e.$metadata.httpStatusCode, 413);
});

test("ListFunctions pages with Marker/MaxItems, on both path spellings", async () => {
  for (let i = 0; i < 5; i++)
    await createFunction(d.lambda, { FunctionName: `list-${i}`, Code: { ZipFile: echoZip } });
  const seen = [];
  let Marker;
  let pages = 0;
  do {
    const r = await d.lambda.send(new ListFunctionsCommand({ MaxItems: 2, Marker }));
    assert.ok(r.Functions.length <= 2);
    seen.push(...r.Functions.map((f) => f.FunctionName));
    Marker = r.NextMarker;
    pages++;
  } while (Marker);
  assert.ok(pages >= 3);
  assert.deepEqual(seen, [...seen].sort());
  assert.equal(new Set(seen).size, seen.length);
  for (let i = 0; i < 5; i++) assert.ok(seen.includes(`list-${i}`));
  await expectError(d.lambda.send(new ListFunctionsCommand({ MaxItems: 0 })), "InvalidParameterValueException");

  // awscli 2 / old botocore use a trailing slash; sign a raw request for it.
  const res = await signedFetch(d, "/2015-03-31/functions/");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.ok(body.Functions.some((f) => f.FunctionName === "list-0"));
});

test("UpdateFunctionConfiguration changes settings; TenancyConfig is immutable", async () => {
  const before = await d.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: "cfg-full" }));
  const r = await d.lambda.send(
    new UpdateFunctionConfigurationCommand({
      FunctionName: "cfg-full",
      Timeout: 20,
      Environment: { Variables: { B: "2" } },
      RevisionId: before.RevisionId,
    }),
  );
  assert.equal(r.Timeout, 20);
  assert.deepEqual(r.Environment.Variables, { B: "2" });
  assert.notEqual(r.RevisionId, before.RevisionId);
  assert.deepEqual(r.TenancyConfig, { TenantIsolationMode: "PER_TENANT" });
  assert.equal(r.MemorySize, 256, "unchanged members keep their value");
  await expectError(
    d.lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: "cfg-full", Timeout: 5, RevisionId: before.RevisionId })),
    "PreconditionFailedException",
  );
  // The SDK model has no TenancyConfig here; send it raw to check the server refuses it.
  const res = await signedFetch(d, "/2015-03-31/functions/cfg-defaults/configuration", {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ TenancyConfig: { TenantIsolationMode: "PER_TENANT" } }),
  });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get("x-amzn-errortype"), "InvalidParameterValueException");
  const after = await d.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: "cfg-defaults" }));
  assert.equal(after.TenancyConfig, undefined);
});

test("UpdateFunctionCode replaces the code; new invocations run it", async () => {
  await createFunction(d.lambda, { FunctionName: "code-swap", Code: { ZipFile: echoZip } });
  let r = await invoke(d.lambda, { FunctionName: "code-swap", Payload: payload({ v: 1 }) });
  assert.deepEqual(r.json, { v: 1 });
  const other = readZip("tests/functions/behave.zip");
  const u = await d.lambda.send(new UpdateFunctionCodeCommand({ FunctionName: "code-swap", ZipFile: other }));
  assert.equal(u.CodeSha256, b64sha(other));
  assert.equal(u.CodeSize, other.length);
  r = await invoke(d.lambda, { FunctionName: "code-swap", Payload: payload({ action: "ctx" }) });
  assert.ok(r.json.awsRequestId, "the behave fixture answered: the new code runs");
});

test("DeleteFunction is 204 and the function is gone", async () => {
  await createFunction(d.lambda, { FunctionName: "to-delete", Code: { ZipFile: echoZip } });
  const r = await d.lambda.send(new DeleteFunctionCommand({ FunctionName: "to-delete" }));
  assert.equal(r.$metadata.httpStatusCode, 204);
  await expectError(d.lambda.send(new GetFunctionCommand({ FunctionName: "to-delete" })), "ResourceNotFoundException");
});

test("state survives a restart; code packages are stored once by SHA-256", async () => {
  const d2 = await startDaemon();
  try {
    const zip = makeZip({ bootstrap: { content: readZip("examples/echo.zip"), mode: "0755" } });
    await createFunction(d2.lambda, { FunctionName: "persist-a", Code: { ZipFile: echoZip }, TenancyConfig: { TenantIsolationMode: "PER_TENANT" } });
    await createFunction(d2.lambda, { FunctionName: "persist-b", Code: { ZipFile: echoZip } });
    assert.ok(zip.length > 0);
    const sha = createHash("sha256").update(echoZip).digest("hex");
    const codeDirs = readdirSync(join(d2.stateDir, "code")).filter((n) => !n.startsWith("."));
    assert.deepEqual(codeDirs, [sha], "one package directory for two functions");
    const keyBefore = d2.credentials.accessKeyId;
    assert.equal((await d2.stop({ keepState: true })).code, 0, d2.stderr);

    const d3 = new Daemon({ stateDir: d2.stateDir });
    await d3.start();
    try {
      assert.equal(d3.credentials.accessKeyId, keyBefore, "the admin key is reused");
      const g = await d3.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: "persist-a" }));
      assert.deepEqual(g.TenancyConfig, { TenantIsolationMode: "PER_TENANT" });
      const r = await invoke(d3.lambda, { FunctionName: "persist-a", TenantId: "t1", Payload: payload({ after: "restart" }) });
      assert.deepEqual(r.json, { after: "restart" });
      await d3.lambda.send(new DeleteFunctionCommand({ FunctionName: "persist-a" }));
      assert.ok(existsSync(join(d3.stateDir, "code", sha)), "still used by persist-b");
      await d3.lambda.send(new DeleteFunctionCommand({ FunctionName: "persist-b" }));
      // persist-a's environment may still be on its way out: it holds the package until reaped.
      for (let i = 0; i < 100 && existsSync(join(d3.stateDir, "code", sha)); i++) await sleep(50);
      assert.ok(!existsSync(join(d3.stateDir, "code", sha)), "removed with its last function");
    } finally {
      assert.equal((await d3.stop()).code, 0, d3.stderr);
    }
  } finally {
    await d2.stop();
  }
});
