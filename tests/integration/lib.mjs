// Shared helpers for the integration tests: start the real daemon on a loopback port chosen at
// run time, talk to it with the real AWS SDK, build function packages, clean up everything.
import { spawn, execFileSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, readdirSync, chmodSync, openSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { SignatureV4 } from "@smithy/signature-v4";
import {
  LambdaClient,
  CreateFunctionCommand,
  InvokeCommand,
} from "@aws-sdk/client-lambda";

process.env.AWS_SDK_JS_SUPPRESS_NODE_VERSION_WARNING ??= "1";
process.removeAllListeners("warning");

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, "../..");
export const buildDir = process.env.TENANTD_BUILD_DIR ?? join(repo, "build");
export const tenantdBin = process.env.TENANTD_BIN ?? join(buildDir, "tenantd");
export const mkzipBin = join(buildDir, "tests/tools/mkzip");

export const ROLE = "arn:aws:iam::000000000000:role/tenantd-test";

// Each daemon gets its own range of sandbox uids, also against the daemons of test files running
// at the same time in other processes: two daemons sharing uids would see each other's
// environments in sandboxProcesses and share the kernel's per-uid limits. (A range used to be
// picked from the pid modulo 500, and two files whose pids matched collided.) A range is claimed
// by creating a file named after it exclusively, and given back when the process exits; ranges
// from 3,000,000 up, below 2^32.
const UID_CLAIMS = join(tmpdir(), "tenantd-test-uid-ranges");
const UID_RANGES = 60000;
const uidClaimed = [];
let uidNext = (process.pid * 7919) % UID_RANGES;
process.on("exit", () => {
  for (const file of uidClaimed) rmSync(file, { force: true });
});

function nextUidBase() {
  mkdirSync(UID_CLAIMS, { recursive: true });
  for (let tries = 0; tries < UID_RANGES; tries++) {
    const range = uidNext;
    uidNext = (uidNext + 1) % UID_RANGES;
    const file = join(UID_CLAIMS, String(range));
    try {
      closeSync(openSync(file, "wx"));
    } catch (e) {
      if (e.code === "EEXIST") continue; // another process's (or left by a killed run)
      throw e;
    }
    uidClaimed.push(file);
    return 3_000_000 + range * 65536;
  }
  throw new Error("no free range of sandbox uids");
}

export function zipPath(rel) {
  return join(buildDir, rel);
}

export function readZip(rel) {
  return readFileSync(zipPath(rel));
}

// A zip built with the project's mkzip tool from {name: content} entries. Values may be
// strings (mode 0644) or {content, mode} objects.
export function makeZip(entries) {
  const dir = mkdtempSync(join(tmpdir(), "tdzip-"));
  try {
    const args = [join(dir, "p.zip")];
    for (const [name, value] of Object.entries(entries)) {
      const content = typeof value === "string" ? value : value.content;
      const mode = typeof value === "string" ? "0644" : value.mode;
      const file = join(dir, `f${args.length}`);
      writeFileSync(file, content);
      chmodSync(file, Number.parseInt(mode, 8));
      args.push(`${name}=@${file}`);
    }
    execFileSync(mkzipBin, args);
    return readFileSync(join(dir, "p.zip"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function mkzip(args) {
  const dir = mkdtempSync(join(tmpdir(), "tdzip-"));
  try {
    execFileSync(mkzipBin, [join(dir, "p.zip"), ...args]);
    return readFileSync(join(dir, "p.zip"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A provided.al2023 bootstrap written in Node (node is visible inside the sandbox).
export function nodeBootstrapZip(script) {
  return makeZip({
    bootstrap: { content: "#!/bin/sh\nexec /usr/bin/node /var/task/main.mjs\n", mode: "0755" },
    "main.mjs": script,
  });
}

function readCredentials(stateDir) {
  const text = readFileSync(join(stateDir, "credentials"), "utf8");
  return {
    accessKeyId: /aws_access_key_id\s*=\s*(\S+)/.exec(text)[1],
    secretAccessKey: /aws_secret_access_key\s*=\s*(\S+)/.exec(text)[1],
  };
}

export class Daemon {
  constructor(opts = {}) {
    this.opts = opts;
    this.stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), "tenantd-it-"));
    this.ownsState = !opts.stateDir;
    this.uidBase = opts.uidBase ?? nextUidBase();
    this.stderr = "";
  }

  async start() {
    // Functions need an existing role: the tests' role, plus whatever the test declares.
    const rolesFile = join(this.stateDir, "roles.json");
    const roles = [{ RoleName: "tenantd-test" }, ...(this.opts.roles ?? [])];
    writeFileSync(rolesFile, JSON.stringify({ Roles: roles }));
    const args = [
      "serve",
      "--listen", "127.0.0.1:0",
      "--state-dir", this.stateDir,
      "--uid-base", String(this.uidBase),
      "--roles", rolesFile,
      ...(this.opts.args ?? []),
    ];
    this.proc = spawn(tenantdBin, args, {
      detached: this.opts.detached ?? false, // a process group of its own
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...(this.opts.env ?? {}) },
    });
    this.exited = new Promise((res) => this.proc.on("exit", (code, signal) => res({ code, signal })));
    this.proc.stderr.on("data", (d) => {
      this.stderr += d.toString();
      if (this.stderr.length > 4_000_000) this.stderr = this.stderr.slice(-2_000_000);
    });
    this.endpoint = await new Promise((res, rej) => {
      let out = "";
      const timer = setTimeout(() => rej(new Error(`tenantd did not start:\n${this.stderr}`)), 15000);
      this.proc.stdout.on("data", (d) => {
        out += d.toString();
        const m = /tenantd listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          res(m[1]);
        }
      });
      this.proc.on("exit", (code) => {
        clearTimeout(timer);
        rej(new Error(`tenantd exited with ${code}:\n${this.stderr}`));
      });
    });
    this.credentials = readCredentials(this.stateDir);
    this.lambda = this.client();
    return this;
  }

  client(extra = {}) {
    return new LambdaClient({
      endpoint: this.endpoint,
      region: "us-east-1",
      credentials: this.credentials,
      maxAttempts: 1,
      ...extra,
    });
  }

  // Processes still running with this daemon's sandbox uids.
  sandboxProcesses() {
    const found = [];
    for (const pid of readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const status = readFileSync(`/proc/${pid}/status`, "utf8");
        const uid = Number(/^Uid:\s+(\d+)/m.exec(status)[1]);
        if (uid >= this.uidBase && uid < this.uidBase + 65536) found.push(Number(pid));
      } catch {
        // gone meanwhile
      }
    }
    return found;
  }

  async stop({ keepState = false } = {}) {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGTERM");
      const killer = setTimeout(() => this.proc.kill("SIGKILL"), 15000);
      this.exitStatus = await this.exited;
      clearTimeout(killer);
    } else if (this.proc) {
      this.exitStatus = await this.exited;
    }
    if (this.ownsState && !keepState) rmSync(this.stateDir, { recursive: true, force: true });
    return this.exitStatus;
  }
}

export async function startDaemon(opts) {
  return new Daemon(opts).start();
}

export async function createFunction(lambda, params) {
  return lambda.send(
    new CreateFunctionCommand({
      Role: ROLE,
      Runtime: "provided.al2023",
      Handler: "function.handler",
      ...params,
    }),
  );
}

export async function invoke(lambda, params) {
  const r = await lambda.send(new InvokeCommand(params));
  const text = r.Payload ? Buffer.from(r.Payload).toString() : "";
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { ...r, text, json, log: r.LogResult ? Buffer.from(r.LogResult, "base64").toString() : "" };
}

export function payload(obj) {
  return Buffer.from(JSON.stringify(obj));
}

export async function expectError(promise, name) {
  try {
    await promise;
  } catch (e) {
    if (name && e.name !== name) throw new Error(`expected ${name}, got ${e.name}: ${e.message}`);
    return e;
  }
  throw new Error(`expected ${name ?? "an error"}, got success`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

// A request signed with SigV4 the way the SDKs sign, for paths and headers the SDK would not
// send by itself. opts: {method, headers, body, credentials, signingDate, service, query}.
export async function signedFetch(d, path, opts = {}) {
  const url = new URL(`${d.endpoint}${path}`);
  const signer = new SignatureV4({
    service: opts.service ?? "lambda",
    region: opts.region ?? "us-east-1",
    credentials: opts.credentials ?? d.credentials,
    sha256: Sha256,
  });
  const query = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signed = await signer.sign(
    {
      method: opts.method ?? "GET",
      protocol: "http:",
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query,
      headers: { host: url.host, ...(opts.headers ?? {}) },
      body: opts.body,
    },
    opts.signingDate ? { signingDate: opts.signingDate } : {},
  );
  const { host, ...headers } = signed.headers;
  return fetch(url, { method: opts.method ?? "GET", headers, body: opts.body });
}
