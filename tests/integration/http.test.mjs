// The HTTP layer of the API listener, probed with raw TCP sockets: ambiguous framing (request
// smuggling), pipelining, Expect: 100-continue, oversized headers, clients that vanish in the
// middle of a body, unknown paths and methods. After each abuse a normal SDK call still works.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { createHash, createHmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import { ListFunctionsCommand, GetFunctionCommand } from "@aws-sdk/client-lambda";
import { startDaemon, createFunction, invoke, readZip, payload, sleep } from "./lib.mjs";

let d;
let host;
let port;

before(async () => {
  d = await startDaemon();
  const url = new URL(d.endpoint);
  host = url.host;
  port = Number(url.port);
  const behave = readZip("tests/functions/behave.zip");
  await createFunction(d.lambda, { FunctionName: "http-a", Code: { ZipFile: behave } });
  await createFunction(d.lambda, { FunctionName: "http-b", Code: { ZipFile: behave } });
});
after(async () => {
  const st = await d.stop();
  assert.equal(st.code, 0, d.stderr);
  assert.deepEqual(d.sandboxProcesses(), [], "no sandbox process outlives the daemon");
});

class Sha256 {
  constructor(secret) {
    this.h = secret ? createHmac("sha256", secret) : createHash("sha256");
  }
  update(data) {
    this.h.update(data);
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}

// The head of a SigV4-signed request as raw text (request line and headers, no blank line),
// plus the body. extra: headers sent but not signed (content-length, expect, connection...).
async function signedHead(method, path, { body = "", headers = {}, extra = {} } = {}) {
  const signer = new SignatureV4({ service: "lambda", region: "us-east-1", credentials: d.credentials, sha256: Sha256 });
  const [pathname, qs] = path.split("?");
  const query = Object.fromEntries(new URLSearchParams(qs ?? ""));
  const signed = await signer.sign({
    method,
    protocol: "http:",
    hostname: "127.0.0.1",
    port,
    path: pathname,
    query,
    headers: { host, ...headers },
    body: body.length ? body : undefined,
  });
  const all = { ...signed.headers, ...extra };
  if (body.length && !Object.keys(all).some((k) => k.toLowerCase() === "content-length"))
    all["content-length"] = String(Buffer.byteLength(body));
  const lines = [`${method} ${path} HTTP/1.1`];
  for (const [k, v] of Object.entries(all)) lines.push(`${k}: ${v}`);
  return lines.join("\r\n");
}

async function signedRequest(method, path, opts = {}) {
  const head = await signedHead(method, path, opts);
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, "latin1"), Buffer.from(opts.body ?? "")]);
}

// A raw connection that reads responses one by one (1xx interim answers included).
class RawConn {
  constructor() {
    this.buf = Buffer.alloc(0);
    this.ended = false;
    this.waiters = [];
    this.sock = net.connect(port, "127.0.0.1");
    this.sock.on("data", (c) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake();
    });
    this.sock.on("end", () => {
      this.ended = true;
      this.wake();
    });
    this.sock.on("close", () => {
      this.ended = true;
      this.wake();
    });
    this.sock.on("error", () => {
      this.ended = true;
      this.wake();
    });
    this.connected = new Promise((res) => this.sock.once("connect", res));
  }
  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  write(data) {
    return new Promise((res) => this.sock.write(typeof data === "string" ? Buffer.from(data, "latin1") : data, () => res()));
  }
  async waitData(deadline) {
    if (this.ended) return false;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for a response; have ${JSON.stringify(this.buf.toString("latin1").slice(0, 200))}`);
    await new Promise((res) => {
      const t = setTimeout(res, left);
      this.waiters.push(() => {
        clearTimeout(t);
        res();
      });
    });
    return true;
  }
  // Resolves with {status, headers, body} or null when the connection ended with nothing more.
  async response(timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.tryParse();
      if (r) return r;
      if (this.ended) {
        if (this.buf.length === 0) return null;
        throw new Error(`connection ended in the middle of a response: ${this.buf.toString("latin1").slice(0, 300)}`);
      }
      await this.waitData(deadline);
    }
  }
  tryParse() {
    const end = this.buf.indexOf("\r\n\r\n");
    if (end < 0) return null;
    const head = this.buf.subarray(0, end).toString("latin1");
    const [statusLine, ...lines] = head.split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!m) throw new Error(`not an HTTP response: ${head.slice(0, 200)}`);
    const status = Number(m[1]);
    const headers = {};
    for (const l of lines) {
      const i = l.indexOf(":");
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    let rest = this.buf.subarray(end + 4);
    if (status < 200 || status === 204 || status === 304) {
      this.buf = rest;
      return { status, headers, body: "" };
    }
    if (headers["content-length"] !== undefined) {
      const n = Number(headers["content-length"]);
      if (rest.length < n) return null;
      this.buf = rest.subarray(n);
      return { status, headers, body: rest.subarray(0, n).toString("latin1") };
    }
    if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
      const parts = [];
      let off = 0;
      for (;;) {
        const nl = rest.indexOf("\r\n", off);
        if (nl < 0) return null;
        const size = parseInt(rest.subarray(off, nl).toString("latin1"), 16);
        if (size === 0) {
          const fin = rest.indexOf("\r\n\r\n", nl - 2 >= 0 ? nl - 2 : 0);
          if (fin < 0) return null;
          this.buf = rest.subarray(fin + 4);
          return { status, headers, body: Buffer.concat(parts).toString("latin1") };
        }
        if (rest.length < nl + 2 + size + 2) return null;
        parts.push(rest.subarray(nl + 2, nl + 2 + size));
        off = nl + 2 + size + 2;
      }
    }
    // Delimited by the end of the connection.
    if (!this.ended) return null;
    this.buf = Buffer.alloc(0);
    return { status, headers, body: rest.toString("latin1") };
  }
  // Whether the server closes the connection within timeoutMs.
  async closedWithin(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await this.waitData(deadline).catch(() => {});
    return this.ended;
  }
  destroy() {
    this.sock.destroy();
  }
}

async function sdkStillWorks() {
  const r = await d.lambda.send(new ListFunctionsCommand({}));
  assert.equal(r.$metadata.httpStatusCode, 200);
  const names = r.Functions.map((f) => f.FunctionName).sort();
  assert.ok(names.includes("http-a") && names.includes("http-b"), names.join(","));
}

async function waitForStderr(needle, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!d.stderr.includes(needle) && Date.now() < deadline) await sleep(20);
  return d.stderr.includes(needle);
}

// A signed invocation that logs a marker, as a barrier: once its marker is in the daemon's log,
// anything that ran before it on the same function (one warm environment) has logged too.
async function barrier(fn, text) {
  const r = await invoke(d.lambda, { FunctionName: fn, Payload: payload({ action: "log", text }) });
  assert.deepEqual(r.json, { logged: text });
  assert.ok(await waitForStderr(text));
}

function assertAwsError(r, status, type) {
  assert.equal(r.status, status, r.body);
  if (type) assert.equal(r.headers["x-amzn-errortype"], type);
  else assert.ok(r.headers["x-amzn-errortype"], "x-amzn-ErrorType present");
  assert.match(r.headers["content-type"] ?? "", /json/);
  const body = JSON.parse(r.body);
  assert.equal(typeof (body.message ?? body.Message), "string");
}

test("a signed request over a raw socket works (the test's own client is right)", async () => {
  const c = new RawConn();
  await c.write(await signedRequest("GET", "/2015-03-31/functions/http-a"));
  const r = await c.response();
  assert.equal(r.status, 200, r.body);
  assert.equal(JSON.parse(r.body).Configuration.FunctionName, "http-a");
  const body = JSON.stringify({ action: "echo", raw: true });
  await c.write(await signedRequest("POST", "/2015-03-31/functions/http-a/invocations", { body }));
  const r2 = await c.response();
  assert.equal(r2.status, 200, r2.body);
  assert.deepEqual(JSON.parse(r2.body), { action: "echo", raw: true });
  c.destroy();
});

test("Content-Length together with Transfer-Encoding: chunked is refused with 400 and never runs", async () => {
  const body = JSON.stringify({ action: "log", text: "smuggle-cl-te" });
  const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
  for (const te of ["chunked", "Chunked", " chunked"]) {
    const head = await signedHead("POST", "/2015-03-31/functions/http-a/invocations", {
      body,
      extra: { "content-length": String(Buffer.byteLength(body)), "transfer-encoding": te },
    });
    const c = new RawConn();
    // A second request hidden after the first body: it must not be answered either.
    const smuggled = `GET /2015-03-31/functions/http-b HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
    await c.write(`${head}\r\n\r\n${chunked}${smuggled}`);
    const r = await c.response();
    assert.equal(r.status, 400, `TE '${te}': ${r.status} ${r.body}`);
    assert.ok(await c.closedWithin(5000), "the connection is closed after the 400");
    assert.equal(c.buf.length, 0, `nothing after the 400: ${c.buf.toString("latin1")}`);
    c.destroy();
  }
  // Transfer-Encoding first, then Content-Length.
  const c = new RawConn();
  const head = await signedHead("POST", "/2015-03-31/functions/http-a/invocations", {
    body,
    extra: { "transfer-encoding": "chunked", "content-length": "4" },
  });
  await c.write(`${head}\r\n\r\n${chunked}`);
  const r = await c.response();
  assert.equal(r.status, 400, r.body);
  c.destroy();

  await barrier("http-a", "after-cl-te");
  assert.ok(!d.stderr.includes("smuggle-cl-te"), "the refused invocation never reached the function");
  await sdkStillWorks();
});

test("two different Content-Length headers are refused with 400", async () => {
  const body = JSON.stringify({ action: "log", text: "smuggle-two-cl" });
  for (const [a, b] of [
    [body.length, body.length - 10],
    [body.length - 10, body.length],
    [body.length, 0],
  ]) {
    const head = await signedHead("POST", "/2015-03-31/functions/http-a/invocations", {
      body,
      extra: { "content-length": String(a) },
    });
    const c = new RawConn();
    await c.write(`${head}\r\nContent-Length: ${b}\r\n\r\n${body}`);
    const r = await c.response();
    assert.equal(r.status, 400, `${a}/${b}: ${r.status} ${r.body}`);
    c.destroy();
  }
  // A comma-separated list of two lengths is ambiguous too.
  const c = new RawConn();
  await c.write(`POST /2015-03-31/functions HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2, 3\r\n\r\n{}x`);
  const r = await c.response();
  assert.equal(r.status, 400, r.body);
  c.destroy();

  await barrier("http-a", "after-two-cl");
  assert.ok(!d.stderr.includes("smuggle-two-cl"));
  await sdkStillWorks();
});

test("a NUL byte in a header value is refused with 400", async () => {
  // Each of these requests would otherwise be answered normally (200 for the signed invocation,
  // 403/404 for the others): the 400 must come from the header check.
  const problems = [];
  for (const [name, value] of [
    ["X-Test", "a\x00b"],
    ["X-Test", "\x00"],
    ["Content-Type", "application/json\x00; charset=evil"],
  ]) {
    const body = JSON.stringify({ action: "log", text: "nul-in-header" });
    const head = await signedHead("POST", "/2015-03-31/functions/http-a/invocations", { body });
    const c = new RawConn();
    await c.write(`${head}\r\n${name}: ${value}\r\n\r\n${body}`);
    const r = await c.response();
    if (r.status !== 400) problems.push(`signed Invoke + ${name}: ${JSON.stringify(value)} -> ${r.status} ${r.body}`);
    c.destroy();
  }
  for (const path of ["/2015-03-31/functions", "/no/such/path"]) {
    const c = new RawConn();
    await c.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nX-Test: a\x00b\r\n\r\n`);
    const r = await c.response();
    if (r.status !== 400) problems.push(`GET ${path} + X-Test: "a\\0b" -> ${r.status} ${r.body}`);
    c.destroy();
  }
  // In a header name, too.
  const c = new RawConn();
  await c.write(`GET /2015-03-31/functions HTTP/1.1\r\nHost: ${host}\r\nX-A\x00b: 1\r\n\r\n`);
  const r = await c.response();
  assert.equal(r.status, 400, r.body);
  c.destroy();

  await barrier("http-a", "after-nul");
  const ran = d.stderr.includes("nul-in-header");
  assert.deepEqual(problems, [], `requests with a NUL byte in a header value were not refused${ran ? " (and the invocation ran)" : ""}`);
  assert.ok(!ran, "an invocation with a NUL byte in a header ran");
  await sdkStillWorks();
});

test("pipelined keep-alive requests on one socket are answered in order", async () => {
  const reqs = [
    // A slow invocation first: the answers behind it must wait for it.
    await signedRequest("POST", "/2015-03-31/functions/http-b/invocations", {
      body: JSON.stringify({ action: "sleep", ms: 300 }),
    }),
    await signedRequest("GET", "/2015-03-31/functions/http-a"),
    await signedRequest("GET", "/2015-03-31/functions/http-b/configuration"),
    await signedRequest("POST", "/2015-03-31/functions/http-a/invocations", {
      body: JSON.stringify({ action: "echo", seq: 4 }),
    }),
    await signedRequest("GET", "/2015-03-31/functions/nope-missing"), // 404 ResourceNotFound
    await signedRequest("POST", "/2015-03-31/functions/http-b/invocations", {
      body: JSON.stringify({ action: "echo", seq: 6 }),
    }),
    await signedRequest("GET", "/2015-03-31/functions"),
  ];
  const c = new RawConn();
  await c.connected;
  await c.write(Buffer.concat(reqs)); // all at once
  const got = [];
  for (let i = 0; i < reqs.length; i++) {
    const r = await c.response();
    assert.ok(r, `answer ${i} missing: the connection was closed after ${i} answers`);
    got.push(r);
  }
  assert.equal(got[0].status, 200, got[0].body);
  assert.deepEqual(JSON.parse(got[0].body), { slept: 300 });
  assert.equal(got[1].status, 200);
  assert.equal(JSON.parse(got[1].body).Configuration.FunctionName, "http-a");
  assert.equal(got[2].status, 200);
  assert.equal(JSON.parse(got[2].body).FunctionName, "http-b");
  assert.equal(got[3].status, 200);
  assert.deepEqual(JSON.parse(got[3].body), { action: "echo", seq: 4 });
  assertAwsError(got[4], 404, "ResourceNotFoundException");
  assert.equal(got[5].status, 200);
  assert.deepEqual(JSON.parse(got[5].body), { action: "echo", seq: 6 });
  assert.equal(got[6].status, 200);
  assert.ok(JSON.parse(got[6].body).Functions.length >= 2);
  for (const r of got) assert.notEqual((r.headers.connection ?? "").toLowerCase(), "close");
  // The connection is still usable afterwards.
  await c.write(await signedRequest("GET", "/2015-03-31/functions/http-a/configuration"));
  const last = await c.response();
  assert.equal(last.status, 200);
  assert.equal(JSON.parse(last.body).FunctionName, "http-a");
  c.destroy();
});

test("pipelined requests behind an early refusal: in order, and nothing unanswered runs", async () => {
  // Requests refused from their headers (no signature, unknown path) may close the connection
  // (the body was never read); the answers given must still be in order, and a request that
  // got no answer must not have run.
  const reqs = [
    await signedRequest("GET", "/2015-03-31/functions/http-a"),
    Buffer.from(`GET /2015-03-31/functions HTTP/1.1\r\nHost: ${host}\r\n\r\n`), // unsigned: 403
    await signedRequest("POST", "/2015-03-31/functions/http-b/invocations", {
      body: JSON.stringify({ action: "log", text: "pipelined-after-403" }),
    }),
    Buffer.from(`GET /no/such/path HTTP/1.1\r\nHost: ${host}\r\n\r\n`), // 404
    await signedRequest("POST", "/2015-03-31/functions/http-b/invocations", {
      body: JSON.stringify({ action: "log", text: "pipelined-after-404" }),
    }),
  ];
  const c = new RawConn();
  await c.connected;
  await c.write(Buffer.concat(reqs));
  const got = [];
  for (let i = 0; i < reqs.length; i++) {
    const r = await c.response();
    if (!r) break;
    got.push(r);
    if ((r.headers.connection ?? "").toLowerCase() === "close") break;
  }
  assert.ok(got.length >= 2, `at least the first two answers (${got.length})`);
  assert.equal(got[0].status, 200);
  assert.equal(JSON.parse(got[0].body).Configuration.FunctionName, "http-a");
  assertAwsError(got[1], 403, "MissingAuthenticationTokenException");
  if (got.length > 2) assert.deepEqual(JSON.parse(got[2].body), { logged: "pipelined-after-403" });
  if (got.length > 3) assertAwsError(got[3], 404);
  if (got.length > 4) assert.deepEqual(JSON.parse(got[4].body), { logged: "pipelined-after-404" });
  c.destroy();
  await barrier("http-b", "pipeline-barrier");
  assert.equal(d.stderr.includes("pipelined-after-403"), got.length > 2, "ran if and only if answered");
  assert.equal(d.stderr.includes("pipelined-after-404"), got.length > 4, "ran if and only if answered");
  await sdkStillWorks();
});

test("Expect: 100-continue on a signed Invoke: 100 Continue, then the answer", async () => {
  const body = JSON.stringify({ action: "echo", expect: "100-continue" });
  const head = await signedHead("POST", "/2015-03-31/functions/http-a/invocations", {
    body,
    headers: { "content-type": "application/json" },
    extra: { expect: "100-continue", "content-length": String(Buffer.byteLength(body)) },
  });
  const c = new RawConn();
  await c.write(`${head}\r\n\r\n`);
  const interim = await c.response(5000);
  assert.equal(interim.status, 100, "the daemon asks for the body");
  await c.write(body);
  const r = await c.response();
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(JSON.parse(r.body), { action: "echo", expect: "100-continue" });

  // Unsigned with Expect: the refusal comes without the body being asked for.
  const c2 = new RawConn();
  await c2.write(
    `POST /2015-03-31/functions/http-a/invocations HTTP/1.1\r\nHost: ${host}\r\n` +
      `Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n`,
  );
  const refused = await c2.response(5000);
  assertAwsError(refused, 403, "MissingAuthenticationTokenException");
  c.destroy();
  c2.destroy();
  await sdkStillWorks();
});

test("a client that sends its whole body before reading gets the answer given at the head", async () => {
  // A large unsigned body is refused as soon as the head is in. The daemon then reads and
  // discards the rest (lingering close) instead of closing with unread input, which would reset
  // the connection and lose the answer for a client that reads only after writing.
  const big = 7 * 1024 * 1024;
  const head = `POST /2015-03-31/functions/http-a/invocations HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${big}`;
  const s = net.connect(port, "127.0.0.1");
  await new Promise((res) => s.once("connect", res));
  s.pause(); // nothing is read until everything is written
  let writeError = null;
  s.on("error", (e) => (writeError = e));
  s.write(`${head}\r\n\r\n`);
  await new Promise((res) => s.write(Buffer.alloc(big, 0x61), () => res()));
  const chunks = [];
  s.on("data", (c) => chunks.push(c));
  const ended = new Promise((res) => s.once("end", res));
  s.resume();
  await Promise.race([ended, sleep(10000)]);
  const text = Buffer.concat(chunks).toString("latin1");
  assert.equal(writeError, null, `writing: ${writeError}`);
  assert.match(text, /^HTTP\/1\.1 403 /, text.slice(0, 200));
  assert.match(text, /MissingAuthenticationTokenException/);
  assert.match(text, /Connection: close/i);
  s.destroy();
  await sdkStillWorks();
});

test("a 70 KB header is refused without crashing the daemon", async () => {
  for (const size of [70 * 1024, 200 * 1024]) {
    const c = new RawConn();
    await c.connected;
    c.sock.on("error", () => {});
    await c.write(`GET /2015-03-31/functions HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${"a".repeat(size)}\r\n\r\n`);
    const r = await c.response().catch((e) => ({ error: e }));
    if (r && !r.error) assert.ok([400, 413, 431].includes(r.status), `status ${r.status}`);
    // Either an error status or a closed connection; never a 2xx or a hang.
    assert.ok(await c.closedWithin(5000), "the connection is closed");
    c.destroy();
  }
  // Many ordinary headers adding up to more than the limit.
  const c = new RawConn();
  await c.connected;
  c.sock.on("error", () => {});
  let many = "";
  for (let i = 0; i < 2000; i++) many += `X-H${i}: ${"v".repeat(40)}\r\n`;
  await c.write(`GET /2015-03-31/functions HTTP/1.1\r\nHost: ${host}\r\n${many}\r\n`);
  const r = await c.response().catch((e) => ({ error: e }));
  if (r && !r.error) assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
  assert.ok(await c.closedWithin(5000));
  c.destroy();
  assert.equal(d.proc.exitCode, null, "the daemon is running");
  await sdkStillWorks();
});

test("a client that disconnects in the middle of a body does not disturb later requests", async () => {
  const body = JSON.stringify({ action: "log", text: "cut-short-body".padEnd(5000, "x") });
  for (let i = 0; i < 5; i++) {
    const head = await signedHead("POST", "/2015-03-31/functions/http-a/invocations", { body });
    const c = new RawConn();
    await c.connected;
    await c.write(`${head}\r\n\r\n${body.slice(0, 1000 + i * 500)}`);
    c.destroy();
  }
  // Unsigned, announcing a large body, gone after a few bytes.
  for (let i = 0; i < 5; i++) {
    const c = new RawConn();
    await c.connected;
    c.sock.on("error", () => {});
    await c.write(
      `PUT /2015-03-31/functions/http-a/code HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 50000000\r\n\r\n{"ZipFile":"`,
    );
    c.destroy();
  }
  // A chunked body cut in the middle of a chunk.
  {
    const head = await signedHead("POST", "/2015-03-31/functions/http-a/invocations", {
      extra: { "transfer-encoding": "chunked" },
    });
    const c = new RawConn();
    await c.connected;
    await c.write(`${head}\r\n\r\n1000\r\n${"y".repeat(100)}`);
    c.destroy();
  }
  // Later requests: on new connections, with the SDK, and concurrently.
  await sdkStillWorks();
  const results = await Promise.all(
    [1, 2, 3].map((n) => invoke(d.lambda, { FunctionName: "http-b", Payload: payload({ action: "echo", n }) })),
  );
  assert.deepEqual(results.map((r) => r.json.n), [1, 2, 3]);
  await barrier("http-a", "after-disconnects");
  assert.ok(!d.stderr.includes("cut-short-body"), "no truncated invocation ran");
});

test("unknown paths: 404 with x-amzn-ErrorType", async () => {
  for (const [method, path] of [
    ["GET", "/"],
    ["GET", "/no/such/path"],
    ["POST", "/2015-03-31/functionz"],
    ["GET", "/2015-03-31/functions/a/b/c/d"],
    ["GET", "/2099-01-01/functions"],
    ["POST", "/2018-06-01/runtime/invocation/next"],
    ["GET", "/2015-03-31/functions/http-a/invocations/extra"],
  ]) {
    const c = new RawConn();
    await c.write(`${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\n\r\n`);
    const r = await c.response();
    assertAwsError(r, 404);
    c.destroy();
  }
  // Signed, too: still a 404 of the same shape.
  const c = new RawConn();
  await c.write(await signedRequest("GET", "/no/such/path"));
  assertAwsError(await c.response(), 404);
  c.destroy();
  await sdkStillWorks();
});

test("a wrong method on a known path: 405 (or 404) with an AWS-shaped error", async () => {
  for (const [method, path] of [
    ["PATCH", "/2015-03-31/functions"],
    ["DELETE", "/2015-03-31/functions"],
    ["GET", "/2015-03-31/functions/http-a/invocations"],
    ["PUT", "/2015-03-31/functions/http-a/invocations"],
    ["POST", "/2015-03-31/functions/http-a/configuration"],
    ["GET", "/2015-03-31/functions/http-a/code"],
    ["PUT", "/2015-03-31/functions/http-a"],
  ]) {
    for (const signed of [false, true]) {
      const c = new RawConn();
      if (signed) await c.write(await signedRequest(method, path));
      else await c.write(`${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\n\r\n`);
      const r = await c.response();
      assert.ok([404, 405].includes(r.status), `${method} ${path}: ${r.status} ${r.body}`);
      assertAwsError(r, r.status);
      c.destroy();
    }
  }
  // An unknown method.
  const c = new RawConn();
  await c.write(`BREW /2015-03-31/functions HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\n\r\n`);
  const r = await c.response();
  assert.ok(r.status >= 400 && r.status < 500, `${r.status}`);
  c.destroy();
  await sdkStillWorks();
});

test("garbage instead of HTTP is refused and the daemon keeps serving", async () => {
  for (const junk of [
    "GET\r\n\r\n",
    "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "GET /2015-03-31/functions HTTP/1.1\r\nNo-Colon-Header\r\n\r\n",
    "GET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\n folded: continuation\r\n\r\n",
    "POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    "POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "GET / HTTP/1.1\r\n\r\n",
  ]) {
    const c = new RawConn();
    await c.connected;
    await c.write(junk);
    // An error status or a closed connection; never a success.
    const r = await c.response(5000);
    if (r) assert.ok(r.status >= 400 && r.status <= 505, `${JSON.stringify(junk)}: ${r.status}`);
    c.destroy();
  }
  // Things that are not HTTP at all and never end a request head: the daemon just waits.
  for (const junk of ["\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "\x00".repeat(1000), "GET /"]) {
    const c = new RawConn();
    await c.connected;
    await c.write(junk);
    c.destroy();
  }
  await sdkStillWorks();
  const g = await d.lambda.send(new GetFunctionCommand({ FunctionName: "http-b" }));
  assert.equal(g.Configuration.FunctionName, "http-b");
});
