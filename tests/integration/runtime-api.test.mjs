// What an execution environment sees, and the Runtime API protocol, probed from inside: the
// functions are provided.al2023 packages whose bootstrap is a Node script speaking the Runtime
// API itself with node:http (keep-alive, exact headers), answering each invocation with a JSON
// report of what it observed. Also environment reuse, the idle timeout and the node-wide
// environment limit.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { InvokeCommand } from "@aws-sdk/client-lambda";
import {
  startDaemon,
  createFunction,
  invoke,
  nodeBootstrapZip,
  expectError,
  payload,
  sleep,
  signedFetch,
} from "./lib.mjs";

// ---- the probe runtime (serialized into the package's main.mjs; runs inside the sandbox) ----

async function probeRuntime() {
  const http = await import("node:http");
  const fs = await import("node:fs");
  const os = await import("node:os");
  const net = await import("node:net");
  const { randomUUID } = await import("node:crypto");

  const instance = randomUUID(); // one per environment (process)
  const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
  const base = "/2018-06-01/runtime";
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let last = null; // the outcome of a probe whose caller could not be told directly
  let fd3 = null; // the inherited API socket, once a probe used it

  function request(method, path, opts = {}) {
    const { body, headers = {}, expectContinue = false } = opts;
    return new Promise((resolve, reject) => {
      const buf = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
      const h = { ...headers };
      if (buf) h["Content-Length"] = String(buf.length);
      if (expectContinue) h.Expect = "100-continue";
      let continued = false;
      const req = http.request(
        { host, port: Number(port), method, path: base + path, headers: h, agent: opts.agent ?? agent },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () =>
            resolve({
              status: res.statusCode,
              headers: res.headers,
              rawHeaders: res.rawHeaders,
              body: Buffer.concat(chunks),
              continued,
            }),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      if (expectContinue) {
        req.on("continue", () => {
          continued = true;
          req.end(buf);
        });
      } else {
        req.end(buf);
      }
    });
  }

  const code = (f) => {
    try {
      f();
      return "ok";
    } catch (e) {
      return e.code ?? String(e);
    }
  };
  const connectCode = (p, h) =>
    new Promise((resolve) => {
      const s = net.connect(p, h);
      const t = setTimeout(() => {
        s.destroy();
        resolve("timeout");
      }, 2000);
      s.on("connect", () => {
        clearTimeout(t);
        s.destroy();
        resolve("connected");
      });
      s.on("error", (e) => {
        clearTimeout(t);
        resolve(e.code);
      });
    });
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));

  for (;;) {
    const next = await request("GET", "/invocation/next");
    const id = next.headers["lambda-runtime-aws-request-id"];
    const tenant = next.headers["lambda-runtime-aws-tenant-id"] ?? null;
    const idPath = "/invocation/" + encodeURIComponent(id);
    let ev;
    try {
      ev = JSON.parse(next.body.toString());
    } catch {
      ev = {};
    }
    if (!ev || typeof ev !== "object" || typeof ev.op !== "string") ev = { op: "headers" };
    const respond = (obj, o = {}) =>
      request("POST", idPath + "/response", {
        body: typeof obj === "string" || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj),
        headers: o.headers ?? { "Content-Type": "application/json" },
        expectContinue: o.expectContinue,
      });
    try {
      switch (ev.op) {
        case "headers":
          await respond({
            instance,
            tenant,
            rawHeaders: next.rawHeaders,
            bodyB64: next.body.toString("base64"),
            now: Date.now(),
          });
          break;
        case "env":
          await respond({ instance, tenant, env: process.env });
          break;
        case "sandbox": {
          const r = {
            instance,
            tenant,
            uid: process.getuid(),
            gid: process.getgid(),
            euid: process.geteuid(),
            pid: process.pid,
            ppid: process.ppid,
            hostname: os.hostname(),
            ifaces: Object.keys(os.networkInterfaces()),
          };
          r.writeTask = code(() => fs.writeFileSync("/var/task/probe-write", "x"));
          r.writeTaskExisting = code(() => fs.appendFileSync("/var/task/main.mjs", "x"));
          r.writeRoot = code(() => fs.writeFileSync("/probe-write", "x"));
          r.mkdirRoot = code(() => fs.mkdirSync("/probe-dir"));
          r.writeEtc = code(() => fs.writeFileSync("/etc/probe-write", "x"));
          r.writeUsr = code(() => fs.writeFileSync("/usr/probe-write", "x"));
          r.writeTmp = code(() => fs.writeFileSync("/tmp/probe-" + instance, "x"));
          r.readTmp = fs.readFileSync("/tmp/probe-" + instance, "utf8");
          r.taskFiles = fs.readdirSync("/var/task").sort();
          r.rootEntries = fs.readdirSync("/").sort();
          r.proc = fs.readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(Number);
          r.hidden = {
            root: code(() => fs.readdirSync("/root")),
            home: code(() => fs.readdirSync("/home")),
            stateDir: code(() => fs.readdirSync(ev.stateDir)),
            stateDb: code(() => fs.readFileSync(ev.stateDir + "/tenantd.db")),
            credentials: code(() => fs.readFileSync(ev.stateDir + "/credentials")),
            repo: code(() => fs.readdirSync(ev.repo)),
          };
          r.passwd = fs.readFileSync("/etc/passwd", "utf8");
          r.connectDaemon = await connectCode(ev.daemonPort, "127.0.0.1");
          r.connectOutside = await connectCode(80, "192.0.2.1");
          r.connectRuntimeApi = await connectCode(Number(port), host);
          await respond(r);
          break;
        }
        case "tmp-write":
          fs.writeFileSync("/tmp/" + ev.name, ev.content);
          await respond({ instance, tenant, files: fs.readdirSync("/tmp").sort() });
          break;
        case "tmp-list":
          await respond({ instance, tenant, files: fs.readdirSync("/tmp").sort() });
          break;
        case "sleep":
          await wait(ev.ms);
          if (ev.log) console.log(ev.log);
          await respond({ instance, tenant, slept: ev.ms });
          break;
        case "log":
          console.log(ev.text);
          await respond({ instance, tenant, logged: ev.text });
          break;
        case "double-response": {
          const a = await respond({ first: true, instance });
          const b = await respond({ second: true });
          last = { firstStatus: a.status, secondStatus: b.status, secondBody: b.body.toString() };
          const c = await request("POST", idPath + "/error", {
            body: JSON.stringify({ errorType: "Late", errorMessage: "late" }),
            headers: { "Content-Type": "application/json" },
          });
          last.errorAfterStatus = c.status;
          last.errorAfterBody = c.body.toString();
          break;
        }
        case "last":
          await respond({ instance, last });
          last = null;
          break;
        case "unknown-id": {
          const x = await request("POST", "/invocation/" + randomUUID() + "/response", { body: "{}" });
          const y = await request("POST", "/invocation/" + randomUUID() + "/error", { body: "{}" });
          const z = await request("POST", "/invocation/not-a-uuid/response", { body: "{}" });
          await respond({
            instance,
            response: { status: x.status, body: x.body.toString(), contentType: x.headers["content-type"] },
            error: { status: y.status, body: y.body.toString() },
            garbage: { status: z.status, body: z.body.toString() },
          });
          break;
        }
        case "init-error": {
          const x = await request("POST", "/init/error", {
            body: JSON.stringify({ errorType: "Runtime.Late", errorMessage: "too late" }),
            headers: { "Content-Type": "application/json", "Lambda-Runtime-Function-Error-Type": "Runtime.Late" },
          });
          await respond({ instance, status: x.status, body: x.body.toString() });
          break;
        }
        case "next-while-busy": {
          const x = await request("GET", "/invocation/next", { agent: false });
          await respond({ instance, status: x.status, body: x.body.toString() });
          break;
        }
        case "too-large": {
          const buf = Buffer.alloc(ev.bytes, "x");
          buf[0] = buf[buf.length - 1] = 0x22; // a JSON string
          const x = await respond(buf);
          last = { status: x.status, body: x.body.toString() };
          break;
        }
        case "expect-continue": {
          const x = await respond({ expectContinue: true, instance }, { expectContinue: true });
          last = { status: x.status, continued: x.continued, body: x.body.toString() };
          break;
        }
        case "content-type":
          last = { status: (await respond(ev.body, { headers: ev.contentType ? { "Content-Type": ev.contentType } : {} })).status };
          break;
        case "error-trace": {
          const x = await request("POST", idPath + "/error", {
            body: ev.errorBody,
            headers: { "Content-Type": "application/json" },
          });
          last = { status: x.status, body: x.body.toString() };
          break;
        }
        case "fd3": {
          // Raw bytes on the inherited API socket (TENANTD_RUNTIME_API_FD): what comes back
          // within ev.waitMs, and whether the daemon closed it.
          if (!fd3) {
            fd3 = { sock: new net.Socket({ fd: Number(process.env.TENANTD_RUNTIME_API_FD), readable: true, writable: true }), data: [], ended: false, error: null };
            fd3.sock.on("data", (c) => fd3.data.push(c));
            fd3.sock.on("end", () => (fd3.ended = true));
            fd3.sock.on("close", () => (fd3.ended = true));
            fd3.sock.on("error", (e) => (fd3.error = e.code ?? String(e)));
          }
          fd3.data = [];
          if (!fd3.ended) fd3.sock.write(Buffer.from(ev.rawB64, "base64"));
          const deadline = Date.now() + ev.waitMs;
          while (Date.now() < deadline && !fd3.ended) {
            const text = Buffer.concat(fd3.data).toString("latin1");
            if (ev.expectAnswers && (text.match(/HTTP\/1\.1 /g) ?? []).length >= ev.expectAnswers) break;
            await wait(10);
          }
          await respond({ instance, text: Buffer.concat(fd3.data).toString("latin1"), ended: fd3.ended, error: fd3.error });
          break;
        }
        default:
          throw new Error("unknown op " + ev.op);
      }
    } catch (e) {
      await request("POST", idPath + "/error", {
        body: JSON.stringify({ errorType: "ProbeFailure", errorMessage: String((e && e.stack) || e) }),
        headers: { "Content-Type": "application/json", "Lambda-Runtime-Function-Error-Type": "Function.ProbeFailure" },
      });
    }
  }
}

const probeZip = nodeBootstrapZip(`(${probeRuntime.toString()})();\n`);
const TENANCY = { TenancyConfig: { TenantIsolationMode: "PER_TENANT" } };
const SECRET = "s3cr3t-daemon-only-7f1d";

async function call(lambda, params) {
  const r = await invoke(lambda, params);
  assert.equal(r.FunctionError, undefined, `function error: ${r.text}`);
  return r;
}

async function waitFor(cond, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

// ---- one daemon for most of the file ----

let d;

before(async () => {
  d = await startDaemon({ env: { TENANTD_TEST_SECRET: SECRET, HOME: "/root", USER: "root", LOGNAME: "root" } });
  await createFunction(d.lambda, {
    FunctionName: "probe",
    Code: { ZipFile: probeZip },
    Timeout: 7,
    MemorySize: 256,
    Environment: { Variables: { PROBE_VAR: "probe value", EMPTY_VAR: "", WITH_EQUALS: "x=y" } },
  });
  await createFunction(d.lambda, { FunctionName: "probe-t", Code: { ZipFile: probeZip }, Timeout: 7, ...TENANCY });
  // A fresh one per protocol test that must not share an environment.
  for (const n of ["probe-proto", "probe-big"]) {
    await createFunction(d.lambda, { FunctionName: n, Code: { ZipFile: probeZip }, Timeout: 10 });
  }
});
after(async () => {
  const st = await d.stop();
  assert.equal(st.code, 0, d.stderr);
  assert.deepEqual(d.sandboxProcesses(), [], "no sandbox process outlives the daemon");
});

describe("the environment's variables", () => {
  test("platform variables, the function's own, and nothing of the daemon", async () => {
    const r = await call(d.lambda, { FunctionName: "probe", Payload: payload({ op: "env" }) });
    const env = r.json.env;
    assert.equal(env.AWS_LAMBDA_RUNTIME_API, "127.0.0.1:9001");
    assert.equal(env._HANDLER, "function.handler");
    assert.equal(env.LAMBDA_TASK_ROOT, "/var/task");
    assert.equal(env.LAMBDA_RUNTIME_DIR, "/var/runtime");
    assert.equal(env.AWS_LAMBDA_FUNCTION_NAME, "probe");
    assert.equal(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, "256");
    assert.equal(env.AWS_LAMBDA_FUNCTION_VERSION, "$LATEST");
    assert.equal(env.AWS_LAMBDA_LOG_GROUP_NAME, "/aws/lambda/probe");
    const today = new Date().toISOString().slice(0, 10).replace(/-/g, "/");
    assert.match(env.AWS_LAMBDA_LOG_STREAM_NAME, /^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    // The date part is today's (UTC), or yesterday's just after midnight.
    const streamDay = env.AWS_LAMBDA_LOG_STREAM_NAME.slice(0, 10);
    const yesterday = new Date(Date.now() - 86400000).toISOString().slice(0, 10).replace(/-/g, "/");
    assert.ok([today, yesterday].includes(streamDay), streamDay);
    assert.equal(env.AWS_REGION, "us-east-1");
    assert.equal(env.AWS_DEFAULT_REGION, "us-east-1");
    assert.ok(env.TZ, "TZ is set");
    assert.match(env.TZ, /UTC/);
    // The function's own variables, verbatim.
    assert.equal(env.PROBE_VAR, "probe value");
    assert.equal(env.EMPTY_VAR, "");
    assert.equal(env.WITH_EQUALS, "x=y");

    // Nothing of the daemon's environment.
    assert.equal(env.TENANTD_TEST_SECRET, undefined, "the daemon's variable leaked");
    for (const [k, v] of Object.entries(env)) {
      assert.ok(!String(v).includes(SECRET), `${k} carries the daemon's secret`);
      assert.ok(!String(v).includes(d.stateDir), `${k} names the daemon's state dir`);
    }
    assert.notEqual(env.HOME, "/root", "the daemon's HOME");
    assert.equal(env.USER, undefined, "the daemon's USER");
    assert.equal(env.LOGNAME, undefined, "the daemon's LOGNAME");
    // Every daemon variable that is not also a platform one is absent.
    const platform = new Set([
      "PATH", "LANG", "TZ", "LD_LIBRARY_PATH", "PWD", "SHLVL", "_", "HOME", "NODE_PATH",
    ]);
    const daemonEnv = { ...process.env, TENANTD_TEST_SECRET: SECRET, USER: "root", LOGNAME: "root" };
    const leaked = Object.keys(daemonEnv).filter(
      (k) => !platform.has(k) && !k.startsWith("AWS_") && !k.startsWith("LAMBDA_") && k in env && env[k] === daemonEnv[k],
    );
    assert.deepEqual(leaked, [], "daemon variables visible in the environment");
    // Credentials of the daemon's own process are not passed on either.
    for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) {
      if (process.env[k]) assert.notEqual(env[k], process.env[k], k);
      if (env[k]) assert.notEqual(env[k], d.credentials.secretAccessKey, k);
    }
    assert.ok(!Object.values(env).includes(d.credentials.secretAccessKey), "the admin secret is not in the environment");
    assert.ok(!Object.values(env).includes(d.credentials.accessKeyId), "the admin key id is not in the environment");
  });

  test("the tenant id is never in the environment", async () => {
    const tenant = "tenant-env-probe-4e1a";
    const r = await call(d.lambda, { FunctionName: "probe-t", TenantId: tenant, Payload: payload({ op: "env" }) });
    assert.equal(r.json.tenant, tenant, "the runtime got the tenant on /next");
    for (const [k, v] of Object.entries(r.json.env)) {
      assert.ok(!k.includes(tenant) && !String(v).includes(tenant), `${k}=${v} names the tenant`);
    }
    assert.equal(r.json.env.AWS_LAMBDA_FUNCTION_NAME, "probe-t");
  });
});

describe("GET /runtime/invocation/next", () => {
  const lambdaHeaders = (raw) => {
    const out = {};
    for (let i = 0; i < raw.length; i += 2) if (/^lambda-runtime-/i.test(raw[i])) out[raw[i]] = raw[i + 1];
    return out;
  };
  const headerValue = (raw, name) => {
    for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === name.toLowerCase()) return raw[i + 1];
    return undefined;
  };

  test("headers of a plain function, without client context", async () => {
    const t0 = Date.now();
    const r = await call(d.lambda, { FunctionName: "probe", Payload: payload({ op: "headers" }) });
    const t1 = Date.now();
    const h = lambdaHeaders(r.json.rawHeaders);
    assert.deepEqual(Object.keys(h).sort(), [
      "Lambda-Runtime-Aws-Request-Id",
      "Lambda-Runtime-Deadline-Ms",
      "Lambda-Runtime-Invoked-Function-Arn",
      "Lambda-Runtime-Trace-Id",
    ]);
    assert.equal(h["Lambda-Runtime-Aws-Request-Id"], r.$metadata.requestId);
    assert.match(h["Lambda-Runtime-Deadline-Ms"], /^\d{13}$/);
    const deadline = Number(h["Lambda-Runtime-Deadline-Ms"]);
    assert.ok(deadline >= t0 + 7000 - 50 && deadline <= t1 + 7000 + 50, `deadline ${deadline - t0} ms after the call`);
    assert.equal(h["Lambda-Runtime-Invoked-Function-Arn"], "arn:aws:lambda:us-east-1:000000000000:function:probe");
    assert.match(h["Lambda-Runtime-Trace-Id"], /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=[01]$/);
    assert.equal(headerValue(r.json.rawHeaders, "Content-Type"), "application/json");
    assert.deepEqual(JSON.parse(Buffer.from(r.json.bodyB64, "base64")), { op: "headers" });
  });

  test("Client-Context (decoded JSON) only when the caller sent one; a given trace id passes", async () => {
    const cc = { custom: { k: "v", n: 1 }, client: { installation_id: "inst-1" }, env: { locale: "fr" } };
    const r = await call(d.lambda, {
      FunctionName: "probe",
      ClientContext: Buffer.from(JSON.stringify(cc)).toString("base64"),
      Payload: payload({ op: "headers" }),
    });
    const h = lambdaHeaders(r.json.rawHeaders);
    assert.ok("Lambda-Runtime-Client-Context" in h, Object.keys(h).join(","));
    assert.deepEqual(JSON.parse(h["Lambda-Runtime-Client-Context"]), cc);
    assert.equal(h["Lambda-Runtime-Aws-Tenant-Id"], undefined);

    const trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    const res = await signedFetch(d, "/2015-03-31/functions/probe/invocations", {
      method: "POST",
      headers: { "x-amzn-trace-id": trace },
      body: JSON.stringify({ op: "headers" }),
    });
    assert.equal(res.status, 200);
    const j = await res.json();
    const h2 = lambdaHeaders(j.rawHeaders);
    assert.equal(h2["Lambda-Runtime-Trace-Id"], trace);
    assert.equal(h2["Lambda-Runtime-Client-Context"], undefined);
  });

  test("Lambda-Runtime-Aws-Tenant-Id only for PER_TENANT functions", async () => {
    const r = await call(d.lambda, { FunctionName: "probe-t", TenantId: "tenant-hdr", Payload: payload({ op: "headers" }) });
    const h = lambdaHeaders(r.json.rawHeaders);
    assert.deepEqual(Object.keys(h).sort(), [
      "Lambda-Runtime-Aws-Request-Id",
      "Lambda-Runtime-Aws-Tenant-Id",
      "Lambda-Runtime-Deadline-Ms",
      "Lambda-Runtime-Invoked-Function-Arn",
      "Lambda-Runtime-Trace-Id",
    ]);
    assert.equal(h["Lambda-Runtime-Aws-Tenant-Id"], "tenant-hdr");
    assert.equal(h["Lambda-Runtime-Invoked-Function-Arn"], "arn:aws:lambda:us-east-1:000000000000:function:probe-t");
  });

  test("the body is the raw payload bytes", async () => {
    const bytes = Buffer.alloc(512);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i & 0xff;
    for (const p of [bytes, Buffer.from("not json at all \r\n\0 \u00e9"), Buffer.from('{"op" : "headers",  "spaces":  true }')]) {
      const r = await invoke(d.lambda, { FunctionName: "probe", Payload: p });
      assert.equal(r.FunctionError, undefined, r.text);
      assert.deepEqual(Buffer.from(r.json.bodyB64, "base64"), p);
    }
    // An empty payload.
    const res = await signedFetch(d, "/2015-03-31/functions/probe/invocations", { method: "POST" });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).bodyB64, "");
  });
});

describe("Runtime API protocol errors", () => {
  test("a second /response for the same id: 403 InvalidStateTransition", async () => {
    const r = await call(d.lambda, { FunctionName: "probe-proto", Payload: payload({ op: "double-response" }) });
    assert.equal(r.json.first, true, "the caller got the first response");
    const l = await call(d.lambda, { FunctionName: "probe-proto", Payload: payload({ op: "last" }) });
    assert.equal(l.json.instance, r.json.instance);
    assert.equal(l.json.last.firstStatus, 202);
    assert.equal(l.json.last.secondStatus, 403);
    assert.equal(JSON.parse(l.json.last.secondBody).errorType, "InvalidStateTransition");
    assert.equal(l.json.last.errorAfterStatus, 403, "an /error after the response is refused too");
    assert.equal(JSON.parse(l.json.last.errorAfterBody).errorType, "InvalidStateTransition");
  });

  test("/response and /error for an unknown id: 400 InvalidRequestID", async () => {
    const r = await call(d.lambda, { FunctionName: "probe-proto", Payload: payload({ op: "unknown-id" }) });
    assert.equal(r.json.response.status, 400);
    assert.deepEqual(JSON.parse(r.json.response.body), { errorMessage: "Invalid request ID", errorType: "InvalidRequestID" });
    assert.match(r.json.response.contentType, /application\/json/);
    assert.equal(r.json.error.status, 400);
    assert.equal(JSON.parse(r.json.error.body).errorType, "InvalidRequestID");
    assert.equal(r.json.garbage.status, 400);
    assert.equal(JSON.parse(r.json.garbage.body).errorType, "InvalidRequestID");
  });

  test("/init/error after init: 403", async () => {
    const r = await call(d.lambda, { FunctionName: "probe-proto", Payload: payload({ op: "init-error" }) });
    assert.equal(r.json.status, 403);
    assert.equal(JSON.parse(r.json.body).errorType, "InvalidStateTransition");
    // The environment is unharmed.
    const again = await call(d.lambda, { FunctionName: "probe-proto", Payload: payload({ op: "tmp-list" }) });
    assert.equal(again.json.instance, r.json.instance);
  });

  test("/next while an invocation is unanswered: 403", async () => {
    const r = await call(d.lambda, { FunctionName: "probe-proto", Payload: payload({ op: "next-while-busy" }) });
    assert.equal(r.json.status, 403);
    assert.equal(JSON.parse(r.json.body).errorType, "InvalidStateTransition");
    const again = await call(d.lambda, { FunctionName: "probe-proto", Payload: payload({ op: "tmp-list" }) });
    assert.equal(again.json.instance, r.json.instance, "the environment still works");
  });

  test("a /response over 6291556 bytes: 413 to the runtime, Function.ResponseSizeTooLarge to the caller", async () => {
    const r = await invoke(d.lambda, { FunctionName: "probe-big", Payload: payload({ op: "too-large", bytes: 6291557 }) });
    assert.equal(r.FunctionError, "Unhandled");
    assert.equal(r.json.errorType, "Function.ResponseSizeTooLarge");
    assert.match(r.json.errorMessage, /6291557 bytes\) exceeded maximum allowed payload size \(6291556 bytes\)/);
    const l = await call(d.lambda, { FunctionName: "probe-big", Payload: payload({ op: "last" }) });
    assert.equal(l.json.last.status, 413);
    assert.equal(JSON.parse(l.json.last.body).errorType, "RequestEntityTooLarge");
    // Exactly at the limit is fine.
    const ok = await invoke(d.lambda, { FunctionName: "probe-big", Payload: payload({ op: "too-large", bytes: 6291556 }) });
    assert.equal(ok.FunctionError, undefined, ok.text.slice(0, 200));
    assert.equal(ok.Payload.length, 6291556);
    const l2 = await call(d.lambda, { FunctionName: "probe-big", Payload: payload({ op: "last" }) });
    assert.equal(l2.json.last.status, 202);
    assert.equal(l2.json.instance, l.json.instance, "one environment throughout");
  });

  test("Expect: 100-continue on /response is accepted", async () => {
    const r = await call(d.lambda, { FunctionName: "probe-proto", Payload: payload({ op: "expect-continue" }) });
    assert.equal(r.json.expectContinue, true);
    const l = await call(d.lambda, { FunctionName: "probe-proto", Payload: payload({ op: "last" }) });
    assert.equal(l.json.last.status, 202);
    assert.equal(l.json.last.continued, true, "the runtime got 100 Continue");
  });

  test("any Content-Type on /response is accepted and passed to the caller", async () => {
    for (const [ct, body] of [
      ["text/plain; charset=utf-8", "plain text"],
      ["application/x-www-form-urlencoded", "a=1&b=2"],
      ["image/png", "\x89PNG"],
      ["application/vnd.custom+json", '{"x":1}'],
    ]) {
      const res = await signedFetch(d, "/2015-03-31/functions/probe-proto/invocations", {
        method: "POST",
        body: JSON.stringify({ op: "content-type", contentType: ct, body }),
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), ct);
      assert.equal(res.headers.get("x-amz-function-error"), null);
      assert.equal(await res.text(), body);
      const l = await call(d.lambda, { FunctionName: "probe-proto", Payload: payload({ op: "last" }) });
      assert.equal(l.json.last.status, 202);
    }
  });

  test("/error without an error-type header and with 'trace': the body verbatim, X-Amz-Function-Error: Unhandled", async () => {
    const errorBody =
      '{"errorType":"CustomErr", "errorMessage":"handler failed","trace":["CustomErr: handler failed","    at f (/var/task/x.js:1:1)"]}';
    const r = await invoke(d.lambda, { FunctionName: "probe-proto", Payload: payload({ op: "error-trace", errorBody }) });
    assert.equal(r.StatusCode, 200);
    assert.equal(r.FunctionError, "Unhandled");
    assert.equal(r.text, errorBody, "the body is passed through byte for byte");
    const res = await signedFetch(d, "/2015-03-31/functions/probe-proto/invocations", {
      method: "POST",
      body: JSON.stringify({ op: "error-trace", errorBody }),
    });
    assert.equal(res.headers.get("x-amz-function-error"), "Unhandled");
    assert.equal(await res.text(), errorBody);
    const l = await call(d.lambda, { FunctionName: "probe-proto", Payload: payload({ op: "last" }) });
    assert.equal(l.json.last.status, 202);
    assert.deepEqual(JSON.parse(l.json.last.body), { status: "OK" });
  });
});

describe("the inherited API socket (TENANTD_RUNTIME_API_FD)", () => {
  // Custom runtimes start with a connected AF_UNIX socket on fd 3 speaking the Runtime API
  // (tenantd's C runtime client uses it instead of TCP). It is served by the daemon's lean
  // HTTP server: strict parsing, answers in order, a clear error and a close for bad input.
  const raw = (s) => Buffer.from(s, "latin1").toString("base64");
  const answers = (text) => text.split(/(?=HTTP\/1\.1 )/).filter((a) => a.startsWith("HTTP/1.1 "));
  const fd3 = async (fn, rawText, expectAnswers, waitMs = 3000) =>
    JSON.parse((await call(d.lambda, { FunctionName: fn, Payload: payload({ op: "fd3", rawB64: raw(rawText), expectAnswers, waitMs }) })).text);
  const unknownResponse = (id) =>
    `POST /2018-06-01/runtime/invocation/${id}/response HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`;

  before(async () => {
    for (const n of ["probe-fd", "probe-fd-head"]) await createFunction(d.lambda, { FunctionName: n, Code: { ZipFile: probeZip }, Timeout: 10 });
  });

  test("fd 3 is announced to custom runtimes, and TENANTD_RUNTIME_API_FD is reserved", async () => {
    const env = JSON.parse((await call(d.lambda, { FunctionName: "probe", Payload: payload({ op: "env" }) })).text).env;
    assert.equal(env.TENANTD_RUNTIME_API_FD, "3");
    const e = await expectError(
      createFunction(d.lambda, { FunctionName: "fd-reserved", Code: { ZipFile: probeZip }, Environment: { Variables: { TENANTD_RUNTIME_API_FD: "7" } } }),
      "InvalidParameterValueException",
    );
    assert.match(e.message, /reserved keys/);
  });

  test("pipelined requests are answered in order, as the environment that owns the socket", async () => {
    const ids = ["0f0e0d0c-0b0a-4908-8706-050403020100", "1f1e1d1c-1b1a-4918-9716-151413121110"];
    const r = await fd3("probe-fd", unknownResponse(ids[0]) + unknownResponse(ids[1]) + "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n", 3);
    const a = answers(r.text);
    assert.equal(a.length, 3, r.text);
    assert.match(a[0], /^HTTP\/1\.1 400 /);
    assert.match(a[0], /InvalidRequestID/);
    assert.match(a[1], /^HTTP\/1\.1 400 /);
    assert.match(a[1], /InvalidRequestID/);
    // The environment is busy with this very invocation: a second /next is a state error.
    assert.match(a[2], /^HTTP\/1\.1 403 /);
    assert.equal(r.ended, false, "the connection stays open");
  });

  test("a malformed request is answered 400 and the socket closed; the runtime and the daemon carry on", async () => {
    const r = await fd3("probe-fd", "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 1);
    assert.match(r.text, /^HTTP\/1\.1 400 /);
    assert.match(r.text, /Connection: close/i);
    assert.deepEqual(JSON.parse(r.text.slice(r.text.indexOf("\r\n\r\n") + 4)), {
      errorMessage: "Malformed HTTP/1.1 request",
      errorType: "InvalidRequest",
    });
    await waitFor(async () => JSON.parse((await call(d.lambda, { FunctionName: "probe-fd", Payload: payload({ op: "fd3", rawB64: "", waitMs: 0 }) })).text).ended, 3000, "the close");
    // Same environment, still answering over TCP.
    const again = JSON.parse((await call(d.lambda, { FunctionName: "probe-fd", Payload: payload({ op: "env" }) })).text);
    assert.equal(again.instance, r.instance);
  });

  test("a head over the limits (more than 64 fields) is answered 431 and the socket closed", async () => {
    let head = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n";
    for (let i = 0; i < 70; i++) head += `X-Field-${i}: v\r\n`;
    const r = await fd3("probe-fd-head", head + "\r\n", 1);
    assert.match(r.text, /^HTTP\/1\.1 431 /);
    assert.match(r.text, /"errorType":"RequestHeaderFieldsTooLarge"/);
    assert.match(r.text, /Connection: close/i);
    const again = JSON.parse((await call(d.lambda, { FunctionName: "probe-fd-head", Payload: payload({ op: "env" }) })).text);
    assert.equal(again.instance, r.instance);
  });
});

describe("the sandbox, seen from inside", () => {
  let a;
  let b;
  const sandboxEvent = () =>
    payload({ op: "sandbox", daemonPort: Number(new URL(d.endpoint).port), stateDir: d.stateDir, repo: process.cwd() });

  before(async () => {
    a = (await call(d.lambda, { FunctionName: "probe-t", TenantId: "sbx-a", Payload: sandboxEvent() })).json;
    b = (await call(d.lambda, { FunctionName: "probe-t", TenantId: "sbx-b", Payload: sandboxEvent() })).json;
  });

  test("/var/task is the package and read-only; / is read-only; /tmp is writable", () => {
    for (const r of [a, b]) {
      assert.deepEqual(r.taskFiles, ["bootstrap", "main.mjs"]);
      assert.ok(["EROFS", "EACCES", "EPERM"].includes(r.writeTask), `write /var/task: ${r.writeTask}`);
      assert.ok(["EROFS", "EACCES", "EPERM"].includes(r.writeTaskExisting), `append /var/task/main.mjs: ${r.writeTaskExisting}`);
      assert.ok(["EROFS", "EACCES", "EPERM"].includes(r.writeRoot), `write /: ${r.writeRoot}`);
      assert.ok(["EROFS", "EACCES", "EPERM"].includes(r.mkdirRoot), `mkdir /: ${r.mkdirRoot}`);
      assert.ok(["EROFS", "EACCES", "EPERM"].includes(r.writeEtc), `write /etc: ${r.writeEtc}`);
      assert.ok(["EROFS", "EACCES", "EPERM"].includes(r.writeUsr), `write /usr: ${r.writeUsr}`);
      assert.equal(r.writeTmp, "ok");
      assert.equal(r.readTmp, "x");
    }
  });

  test("/tmp is per environment: tenant A's files are invisible to tenant B and back", async () => {
    const wa = await call(d.lambda, { FunctionName: "probe-t", TenantId: "sbx-a", Payload: payload({ op: "tmp-write", name: "from-a", content: "A" }) });
    assert.equal(wa.json.instance, a.instance);
    assert.ok(wa.json.files.includes("from-a"));
    const wb = await call(d.lambda, { FunctionName: "probe-t", TenantId: "sbx-b", Payload: payload({ op: "tmp-write", name: "from-b", content: "B" }) });
    assert.equal(wb.json.instance, b.instance);
    assert.ok(!wb.json.files.includes("from-a"), `B sees ${wb.json.files}`);
    assert.ok(!wb.json.files.includes(`probe-${a.instance}`));
    const la = await call(d.lambda, { FunctionName: "probe-t", TenantId: "sbx-a", Payload: payload({ op: "tmp-list" }) });
    assert.ok(la.json.files.includes("from-a"));
    assert.ok(!la.json.files.includes("from-b"), `A sees ${la.json.files}`);
    assert.ok(!la.json.files.includes(`probe-${b.instance}`));
    // A third tenant starts with an empty /tmp.
    const lc = await call(d.lambda, { FunctionName: "probe-t", TenantId: "sbx-c", Payload: payload({ op: "tmp-list" }) });
    assert.deepEqual(lc.json.files, []);
  });

  test("not root, and a different uid per environment", () => {
    // Inside its user namespace every runtime is the sandbox user (Lambda's 993:990) ...
    for (const r of [a, b]) {
      assert.equal(r.uid, 993);
      assert.equal(r.euid, 993);
      assert.equal(r.gid, 990);
    }
    assert.notEqual(a.instance, b.instance);
    // ... and outside, each environment's processes have a uid of their own, in the range
    // reserved for this daemon (root inside maps to no one).
    const outside = new Set();
    for (const pid of d.sandboxProcesses()) {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const [real, effective] = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status).slice(1).map(Number);
      assert.equal(real, effective);
      assert.ok(real >= d.uidBase && real < d.uidBase + 65536);
      outside.add(real);
    }
    assert.ok(outside.size >= 2, `environments run as distinct uids outside: ${[...outside]}`);
  });

  test("a PID namespace: the runtime's parent is the namespace's init, /proc shows only its own processes", () => {
    for (const r of [a, b]) {
      assert.equal(r.ppid, 1, "the runtime's parent is pid 1 of its namespace");
      assert.ok(r.proc.includes(r.pid), `/proc lists the runtime itself (${r.proc})`);
      assert.ok(r.proc.length <= 3, `/proc lists only the environment's processes: ${r.proc}`);
      assert.ok(!r.proc.includes(1) || r.proc.length <= 3, "at most init and the runtime's own");
    }
    // Environments do not show each other's processes.
    if (a.pid !== b.pid) {
      assert.ok(!a.proc.includes(b.pid), `A's /proc ${a.proc} lists B's runtime ${b.pid}`);
      assert.ok(!b.proc.includes(a.pid), `B's /proc ${b.proc} lists A's runtime ${a.pid}`);
    }
  });

  test("hostname, network: not the tenant, only lo, the daemon's port unreachable", () => {
    for (const [r, t] of [[a, "sbx-a"], [b, "sbx-b"]]) {
      assert.notEqual(r.hostname, t);
      assert.ok(!r.hostname.includes(t));
      assert.deepEqual(r.ifaces, ["lo"]);
      assert.equal(r.connectDaemon, "ECONNREFUSED", "the daemon's public port is in another network namespace");
      assert.notEqual(r.connectOutside, "connected");
      assert.equal(r.connectRuntimeApi, "connected");
    }
  });

  test("nothing of the host's /root, /home, the daemon's state dir or the repository", () => {
    for (const r of [a, b]) {
      for (const [what, c] of Object.entries(r.hidden)) assert.ok(["ENOENT", "EACCES"].includes(c), `${what}: ${c}`);
      assert.ok(!r.rootEntries.includes("root"), r.rootEntries.join(","));
      assert.ok(!r.rootEntries.includes("home"), r.rootEntries.join(","));
    }
  });

  test("/etc/passwd is the sandbox's minimal one", () => {
    const host = readFileSync("/etc/passwd", "utf8");
    for (const r of [a, b]) {
      const lines = r.passwd.trim().split("\n");
      assert.ok(lines.length <= 3, r.passwd);
      assert.ok(lines.some((l) => l.split(":")[2] === String(r.uid)), `the runtime's uid ${r.uid} is listed`);
      assert.notEqual(r.passwd, host);
      for (const l of host.trim().split("\n")) {
        const name = l.split(":")[0];
        if (name !== "root") assert.ok(!lines.some((x) => x.split(":")[0] === name), `host user ${name} visible`);
      }
    }
  });
});

describe("environment reuse", () => {
  test("a plain function reuses one warm environment for sequential invokes", async () => {
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await call(d.lambda, { FunctionName: "probe", Payload: payload({ op: "tmp-list" }) })).json.instance);
    assert.equal(new Set(ids).size, 1, ids.join(","));
  });

  test("a PER_TENANT function never shares an environment across tenants", async () => {
    const seen = new Map();
    for (const t of ["reuse-a", "reuse-b", "reuse-a", "reuse-c", "reuse-b", "reuse-a"]) {
      const r = await call(d.lambda, { FunctionName: "probe-t", TenantId: t, Payload: payload({ op: "tmp-list" }) });
      assert.equal(r.json.tenant, t);
      if (!seen.has(t)) seen.set(t, new Set());
      seen.get(t).add(r.json.instance);
    }
    for (const [t, s] of seen) assert.equal(s.size, 1, `${t} reuses its one warm environment`);
    const all = [...seen.values()].flatMap((s) => [...s]);
    assert.equal(new Set(all).size, seen.size, "no environment served two tenants");
  });

  test("concurrent invokes of one tenant get several environments, all of that tenant", async () => {
    const rs = await Promise.all(
      [0, 1, 2].map(() => call(d.lambda, { FunctionName: "probe-t", TenantId: "conc-t", Payload: payload({ op: "sleep", ms: 500 }) })),
    );
    assert.equal(new Set(rs.map((r) => r.json.instance)).size, 3, rs.map((r) => r.json.instance).join(","));
    for (const r of rs) assert.equal(r.json.tenant, "conc-t");
    // Afterwards the tenant's next invokes land on one of those three.
    const again = await call(d.lambda, { FunctionName: "probe-t", TenantId: "conc-t", Payload: payload({ op: "tmp-list" }) });
    assert.ok(rs.map((r) => r.json.instance).includes(again.json.instance));
  });
});

// ---- daemons with other settings ----

test("the idle timeout: an idle environment is reaped and the next invoke starts a new one", async () => {
  const d2 = await startDaemon({ args: ["--idle-timeout", "1"] });
  try {
    await createFunction(d2.lambda, { FunctionName: "idle", Code: { ZipFile: probeZip } });
    const r1 = await call(d2.lambda, { FunctionName: "idle", LogType: "Tail", Payload: payload({ op: "tmp-list" }) });
    assert.match(r1.log, /REPORT RequestId: .*Init Duration: [\d.]+ ms/);
    // Warm right after: same environment, no init.
    const r2 = await call(d2.lambda, { FunctionName: "idle", LogType: "Tail", Payload: payload({ op: "tmp-list" }) });
    assert.equal(r2.json.instance, r1.json.instance);
    assert.doesNotMatch(r2.log, /Init Duration/);
    assert.ok(d2.sandboxProcesses().length > 0, "the environment is running");
    // Idle for over a second: reaped (its processes disappear).
    const t0 = Date.now();
    await waitFor(() => d2.sandboxProcesses().length === 0, 5000, "the idle environment to be reaped");
    assert.ok(Date.now() - t0 >= 500, "not reaped before the idle timeout");
    const r3 = await call(d2.lambda, { FunctionName: "idle", LogType: "Tail", Payload: payload({ op: "tmp-list" }) });
    assert.notEqual(r3.json.instance, r1.json.instance, "a new environment");
    assert.match(r3.log, /REPORT RequestId: .*Init Duration: [\d.]+ ms/, "a cold start again");
  } finally {
    const st = await d2.stop();
    assert.equal(st.code, 0, d2.stderr);
    assert.deepEqual(d2.sandboxProcesses(), []);
  }
});

test("the environment limit: throttling, eviction of idle environments, queued events", async () => {
  const d3 = await startDaemon({ args: ["--max-environments", "2"] });
  try {
    await createFunction(d3.lambda, { FunctionName: "lim", Code: { ZipFile: probeZip }, Timeout: 10, ...TENANCY });
    const inv = (t, ev, extra = {}) => invoke(d3.lambda, { FunctionName: "lim", TenantId: t, Payload: payload(ev), ...extra });

    // Two tenants busy: a third tenant's synchronous invoke is throttled.
    const busy = [inv("lim-a", { op: "sleep", ms: 1500 }), inv("lim-b", { op: "sleep", ms: 1500 })];
    await waitFor(() => d3.sandboxProcesses().length >= 2, 5000, "two environments");
    const e = await expectError(inv("lim-c", { op: "tmp-list" }), "TooManyRequestsException");
    assert.equal(e.$metadata.httpStatusCode, 429);
    assert.equal(e.Reason, "ConcurrentInvocationLimitExceeded");
    assert.ok(e.$response, "the SDK error carries the raw response");
    assert.match(String(e.$response.headers["retry-after"]), /^\d+$/);
    const raw = await signedFetch(d3, "/2015-03-31/functions/lim/invocations", {
      method: "POST",
      headers: { "x-amz-tenant-id": "lim-c" },
      body: JSON.stringify({ op: "tmp-list" }),
    });
    assert.equal(raw.status, 429);
    assert.equal(raw.headers.get("x-amzn-errortype"), "TooManyRequestsException");
    assert.match(raw.headers.get("retry-after") ?? "", /^\d+$/);
    const body = await raw.json();
    assert.equal(body.Reason, "ConcurrentInvocationLimitExceeded");
    const [ra, rb] = await Promise.all(busy);
    assert.equal(ra.json.tenant, "lim-a");
    assert.equal(rb.json.tenant, "lim-b");

    // Both idle now: an environment is idle (and its last use recorded) when its runtime asks for
    // the next event, which this Node runtime does after its answer, so possibly after the
    // caller has it; under load, lim-b's could come after lim-a is touched below. Wait for both.
    const envStats = async () => (await (await signedFetch(d3, "/tenantd/stats")).json()).environments;
    await waitFor(async () => (await envStats()).idle === 2, 5000, "both environments idle");
    // Touch lim-a so that lim-b is the least recently used.
    const a2 = await inv("lim-a", { op: "tmp-list" });
    assert.equal(a2.json.instance, ra.json.instance);
    // A third tenant evicts an idle environment instead of being refused.
    const c = await inv("lim-c", { op: "tmp-list" });
    assert.equal(c.FunctionError, undefined, c.text);
    assert.equal(c.json.tenant, "lim-c");
    const a3 = await inv("lim-a", { op: "tmp-list" });
    assert.equal(a3.json.instance, ra.json.instance, "the recently used environment was kept");
    const b2 = await inv("lim-b", { op: "tmp-list" });
    assert.equal(b2.FunctionError, undefined, b2.text);
    assert.notEqual(b2.json.instance, rb.json.instance, "the least recently used one was evicted");
    await waitFor(() => d3.sandboxProcesses().length <= 2, 5000, "at most two environments");

    // Over the limit, an Event invocation is queued and runs once there is room.
    const mark = d3.stderr.length;
    const busy2 = [
      inv("lim-a", { op: "sleep", ms: 1500, log: "busy-done-lim-a" }),
      inv("lim-b", { op: "sleep", ms: 1500, log: "busy-done-lim-b" }),
    ];
    await waitFor(
      () => ["lim-a", "lim-b"].every((t) => new RegExp(`\\[lim ${t} env=\\d+\\] START RequestId`).test(d3.stderr.slice(mark))),
      5000,
      "both busy invocations to start",
    );
    const startedBefore = d3.stderr.length;
    const ev = await d3.lambda.send(
      new InvokeCommand({
        FunctionName: "lim",
        TenantId: "lim-d",
        InvocationType: "Event",
        Payload: payload({ op: "log", text: "queued-event-ran-lim-d" }),
      }),
    );
    assert.equal(ev.StatusCode, 202, "accepted, not throttled");
    await waitFor(() => d3.stderr.includes("queued-event-ran-lim-d"), 10000, "the queued event to run");
    const log = d3.stderr.slice(startedBefore);
    const ranAt = log.indexOf("queued-event-ran-lim-d");
    const firstDone = Math.min(
      ...["busy-done-lim-a", "busy-done-lim-b"].map((m) => (log.indexOf(m) < 0 ? Infinity : log.indexOf(m))),
    );
    assert.ok(firstDone < ranAt, "the event ran only after a busy invocation finished");
    assert.match(d3.stderr, /\[lim lim-d env=\d+\] queued-event-ran-lim-d/);
    const done2 = await Promise.all(busy2);
    for (const r of done2) assert.equal(r.FunctionError, undefined, r.text);
  } finally {
    const st = await d3.stop();
    assert.equal(st.code, 0, d3.stderr);
    assert.deepEqual(d3.sandboxProcesses(), []);
  }
});
