// The hostile-function suite: functions that try to break out of their environment.
//
// For each runtime (C with tdrt, Node with aws-lambda-ric) tenant B's environment of a function
// holds a secret in its memory, in /tmp and in a child process's environment, while tenant A
// runs attacks from an environment of the same function. Every attack must fail, B must keep
// its secret and keep working, and the daemon must stay up. Each attack is reported on one
// line ("ok N - C: <attack>: blocked (<what happened>)"); any attack that works fails the
// suite. Positive controls check, from the host, that what the attacks look for really exists
// (the secret in B's /tmp and environ; a lingering process before its environment is reaped).
//
// Run alone: make build && node --test tests/integration/hostile/
// (TENANTD_BIN=build-asan/tenantd TENANTD_BUILD_DIR=build-asan to attack the sanitizer build).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { ListFunctionsCommand } from "@aws-sdk/client-lambda";
import { buildDir, createFunction, invoke, makeZip, payload, readZip, sleep, startDaemon } from "../lib.mjs";

const IDLE_TIMEOUT_S = 2;
const PIDS_MAX = 1024;

let d;
before(async () => {
  d = await startDaemon({ args: ["--idle-timeout", String(IDLE_TIMEOUT_S)] });
});
after(async () => {
  await d?.stop();
});

// ---- host-side views (the test runs as root on the host) ----

function readOr(path, fallback = null) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

function uidOf(pid) {
  const status = readOr(`/proc/${pid}/status`, "");
  const m = /^Uid:\s+(\d+)/m.exec(status);
  return m ? Number(m[1]) : -1;
}

// The environment (its host uid, processes and request id) holding this secret in /tmp.
function findHolder(secret) {
  for (const pid of d.sandboxProcesses()) {
    const reqid = readOr(`/proc/${pid}/root/tmp/reqid`);
    if (reqid && readOr(`/proc/${pid}/root/tmp/secret`) === secret) {
      const uid = uidOf(pid);
      return { uid, pid, reqid, pids: d.sandboxProcesses().filter((p) => uidOf(p) === uid) };
    }
  }
  return null;
}

function processesNamed(comm) {
  return d.sandboxProcesses().filter((p) => readOr(`/proc/${p}/comm`, "").trim() === comm);
}

function hostAddresses() {
  const out = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal || a.address.startsWith("fe80:")) continue;
      out.push(a.address);
    }
  }
  return out;
}

function daemonPort() {
  return Number(new URL(d.endpoint).port);
}

async function waitFor(what, fn, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function shorten(text, max = 200) {
  const flat = String(text).replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}

// One subtest (one output line) per attack result from the function.
async function report(t, label, results) {
  assert.ok(Array.isArray(results) && results.length > 0, `no results: ${JSON.stringify(results)}`);
  for (const r of results) {
    const outcome = r.blocked ? "blocked" : "NOT BLOCKED";
    await t.test(`${label}: ${r.attack}: ${outcome} (${shorten(r.detail)})`, () => {
      assert.equal(r.blocked, true, `attack worked: ${r.attack}: ${r.detail}`);
    });
  }
}

async function expectFailure(t, label, attack, r, errorType) {
  const got = r.FunctionError ? `${r.json?.errorType}: ${shorten(r.json?.errorMessage ?? "", 80)}` : "succeeded";
  await t.test(`${label}: ${attack}: ${r.json?.errorType === errorType ? "blocked" : "NOT BLOCKED"} (${got})`, () => {
    assert.equal(r.FunctionError, "Unhandled", `${attack}: ${r.text}`);
    assert.equal(r.json?.errorType, errorType, `${attack}: ${r.text}`);
  });
}

// ---- the two suites ----

function cPackage() {
  const bootstrap = readFileSync(join(buildDir, "tests/integration/hostile/attack-c/bootstrap"));
  return makeZip({
    bootstrap: { content: bootstrap, mode: "0755" },
    // A setuid-root file in the package: extraction must not keep the bit.
    "suid-probe": { content: "#!/bin/sh\nid\n", mode: "4755" },
  });
}

const suites = [
  {
    label: "C",
    runtime: "provided.al2023",
    handler: "function.handler",
    zip: cPackage,
    memory: 128,
    extra: true, // the Runtime API flood, /tmp fill and the syscall-level attacks live in C
  },
  {
    label: "Node",
    runtime: "nodejs20.x",
    handler: "index.handler",
    zip: () => readZip("tests/integration/hostile/attack-node.zip"),
    memory: 256,
    extra: false,
  },
];

for (const s of suites) {
  const fn = `hostile-${s.label.toLowerCase()}`;
  const secret = `tdsecret-${s.label}-${randomBytes(16).toString("hex")}`;
  const state = {};

  async function make(name, config = {}) {
    await createFunction(d.lambda, {
      FunctionName: name,
      Runtime: s.runtime,
      Handler: s.handler,
      Code: { ZipFile: s.zip() },
      MemorySize: s.memory,
      Timeout: 300,
      TenancyConfig: { TenantIsolationMode: "PER_TENANT" },
      ...config,
    });
  }

  const call = (name, tenant, event) =>
    invoke(d.lambda, { FunctionName: name, TenantId: tenant, LogType: "Tail", Payload: payload(event) });

  test(`${s.label}: tenant B holds a secret`, async () => {
    await make(fn);
    state.hold = call(fn, "tenant-b", { action: "hold", secret, maxMs: 240000 });
    state.holder = await waitFor("B's environment", () => findHolder(secret));
    const b = state.holder;
    // Positive controls: the secret is where the attacks will look for it.
    assert.equal(readOr(`/proc/${b.pid}/root/tmp/secret`), secret);
    const environs = b.pids.map((p) => readOr(`/proc/${p}/environ`, ""));
    assert.ok(environs.some((e) => e.includes(`TENANT_SECRET=${secret}`)), "B's child holds the secret");
    state.hostPids = [...b.pids, d.proc.pid];
  });

  test(`${s.label}: tenant A attacks (files, processes, network, syscalls, privileges)`, async (t) => {
    assert.ok(state.holder, "B is holding");
    const r = await call(fn, "tenant-a", {
      action: "attacks",
      secretHex: Buffer.from(secret).toString("hex"),
      hostPids: state.hostPids,
      statePath: d.stateDir,
      daemonPort: daemonPort(),
      hostAddrs: hostAddresses(),
    });
    assert.equal(r.FunctionError, undefined, r.text);
    await report(t, s.label, r.json.results);
  });

  test(`${s.label}: tenant A answers B's invocation through its own Runtime API`, async (t) => {
    const r = await call(fn, "tenant-a", { action: "spoof", requestId: state.holder.reqid.trim() });
    assert.equal(r.FunctionError, undefined, r.text);
    await report(t, s.label, r.json.results);
  });

  if (s.extra) {
    test(`${s.label}: tenant A floods its Runtime API; other environments unaffected`, async (t) => {
      const flood = call(fn, "tenant-a", { action: "flood", ms: 3000 });
      const latencies = [];
      const failures = [];
      const started = Date.now();
      while (Date.now() - started < 3000) {
        const t0 = performance.now();
        const r = await call(fn, "tenant-c", { action: "ping" });
        latencies.push(performance.now() - t0);
        if (r.FunctionError || !r.json?.pong) failures.push(r.text);
      }
      const f = await flood;
      const outcome = f.FunctionError ? `${f.json?.errorType}` : JSON.stringify(f.json);
      const worst = Math.max(...latencies).toFixed(1);
      await t.test(
        `${s.label}: flood the Runtime API: ${failures.length === 0 ? "blocked" : "NOT BLOCKED"} (flood: ${outcome}; tenant C: ${latencies.length} invocations, ${failures.length} failed, slowest ${worst} ms)`,
        () => assert.deepEqual(failures, []),
      );
    });

    test(`${s.label}: tenant A sends garbage on its inherited Runtime API socket, then cuts it`, async (t) => {
      // fd 3 is the environment's own connection to the Runtime API (TENANTD_RUNTIME_API_FD).
      // Garbage gets a 400 and a close; tdrt finds its socket gone and carries on over TCP.
      const j = await call(fn, "tenant-a", { action: "api-socket" });
      const ok = j.json?.status === 400 && j.json?.closed === true;
      await t.test(`${s.label}: garbage on the inherited API socket: ${ok ? "blocked" : "NOT BLOCKED"} (${shorten(j.text, 120)})`, () => {
        assert.equal(j.FunctionError, undefined, j.text);
        assert.equal(j.json.status, 400, j.text);
        assert.equal(j.json.closed, true, j.text);
      });
      for (let i = 0; i < 3; i++) {
        const again = await call(fn, "tenant-a", { action: "ping" });
        assert.equal(again.json?.pong, true, `tenant A's runtime carries on: ${again.text}`);
      }
      // A process of the function's own polls /next over TCP while the runtime waits on its
      // own socket: it is refused, and neither takes the next event nor cuts the runtime off.
      assert.equal((await call(fn, "tenant-s", { action: "stray-next" })).json?.forked, true);
      let stray;
      for (let i = 0; i < 50 && !stray?.json?.done; i++) {
        await sleep(100);
        stray = await call(fn, "tenant-s", { action: "stray-result" });
      }
      // (403 "from Ready to Ready": refused because the runtime's poll is parked, not because an
      // invocation was running)
      assert.match(stray.json?.line ?? "", /^HTTP\/1\.1 403[^]*from Ready to Ready/, stray.text);
      // A runtime that shuts its socket down mid-invocation: its answer still arrives.
      const cut = await call(fn, "tenant-d", { action: "api-socket", cut: true });
      assert.equal(cut.FunctionError, undefined, cut.text);
      assert.equal(cut.json?.cut, true, cut.text);
      const after = await call(fn, "tenant-d", { action: "ping" });
      assert.equal(after.json?.pong, true, after.text);
      const other = await call(fn, "tenant-c", { action: "ping" });
      assert.equal(other.json?.pong, true, other.text);
    });
  }

  test(`${s.label}: tenant A fork bomb`, async (t) => {
    await make(`${fn}-bomb`, { Timeout: 3 });
    const perUid = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const counts = new Map();
        for (const p of d.sandboxProcesses()) counts.set(uidOf(p), (counts.get(uidOf(p)) ?? 0) + 1);
        perUid.push(Math.max(0, ...counts.values()));
        await sleep(100);
      }
    })();
    const r = await call(`${fn}-bomb`, "tenant-a", { action: "fork-bomb" });
    sampling = false;
    await sampler;
    const most = Math.max(...perUid);
    const ok = r.FunctionError === "Unhandled" && most <= PIDS_MAX;
    await t.test(
      `${s.label}: fork bomb: ${ok ? "blocked" : "NOT BLOCKED"} (${r.json?.errorType ?? "succeeded"}; at most ${most} processes in one environment, pids limit ${PIDS_MAX})`,
      () => {
        assert.equal(r.FunctionError, "Unhandled", r.text);
        assert.ok(most <= PIDS_MAX, `${most} processes`);
      },
    );
    const ping = await call(fn, "tenant-c", { action: "ping" });
    assert.equal(ping.json?.pong, true, ping.text);
  });

  test(`${s.label}: tenant A allocates past MemorySize`, async (t) => {
    const r = await call(fn, "tenant-a", { action: "oom" });
    await expectFailure(t, s.label, "allocate past MemorySize", r, "Runtime.OutOfMemory");
    const again = await call(fn, "tenant-a", { action: "ping" });
    assert.equal(again.json?.pong, true, `the environment is replaced: ${again.text}`);
  });

  if (s.extra) {
    test(`${s.label}: tenant A fills /tmp past its size`, async (t) => {
      // /tmp is a tmpfs whose pages count toward the memory limit: MemorySize above /tmp's size.
      await make(`${fn}-disk`, { MemorySize: 1024, EphemeralStorage: { Size: 512 } });
      const r = await call(`${fn}-disk`, "tenant-a", { action: "fill-tmp" });
      const mb = (r.json?.written ?? 0) / 1048576;
      const ok = r.json?.errno === "ENOSPC" && mb <= 512;
      await t.test(`${s.label}: fill /tmp past EphemeralStorage: ${ok ? "blocked" : "NOT BLOCKED"} (${r.json?.errno ?? r.text} after ${mb} MiB of 512)`, () => {
        assert.equal(r.json?.errno, "ENOSPC", r.text);
        assert.ok(mb <= 512 && mb >= 500, `${mb} MiB`);
      });
    });
  }

  test(`${s.label}: tenant A spins past the timeout`, async (t) => {
    await make(`${fn}-spin`, { Timeout: 2 });
    const r = await call(`${fn}-spin`, "tenant-a", { action: "spin" });
    await expectFailure(t, s.label, "spin the CPU past the timeout", r, "Sandbox.Timedout");
  });

  test(`${s.label}: tenant A leaves a process behind`, async (t) => {
    const r = await call(fn, "tenant-a", { action: "linger" });
    assert.equal(r.FunctionError, undefined, r.text);
    // Positive control: it really runs after the invocation.
    const lingering = await waitFor("td-linger", () => {
      const p = processesNamed("td-linger");
      return p.length ? p : null;
    }, 5000);
    // None may survive the environment, which is reaped once idle.
    let gone = false;
    const deadline = Date.now() + (IDLE_TIMEOUT_S + 20) * 1000;
    while (!gone && Date.now() < deadline) {
      await sleep(200);
      gone = processesNamed("td-linger").length === 0;
    }
    await t.test(`${s.label}: outlive the environment: ${gone ? "blocked" : "NOT BLOCKED"} (host pid ${lingering.join(",")} ran after the invocation; ${gone ? "gone" : "still running"} after the environment was reaped)`, () => {
      assert.ok(gone);
    });
  });

  test(`${s.label}: tenant B kept its secret and keeps working; the daemon is up`, async () => {
    writeFileSync(`/proc/${state.holder.pid}/root/tmp/release`, "go");
    const held = await state.hold;
    assert.equal(held.FunctionError, undefined, held.text);
    assert.deepEqual(held.json, { tmp: true, memory: true, environ: true });
    const check = await call(fn, "tenant-b", { action: "check", secret });
    assert.deepEqual(check.json, { tmp: true, memory: true, environ: true }, check.text);
    assert.equal(d.proc.exitCode, null, "the daemon is running");
    const list = await d.lambda.send(new ListFunctionsCommand({}));
    assert.ok(list.Functions.some((f) => f.FunctionName === fn));
  });
}

// Every process in one of this daemon's environment cgroups (init included, which runs as
// root outside the sandbox's uid range).
function environmentProcesses(daemonPid) {
  const marker = `/tenantd.${daemonPid}/env-`;
  return readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .filter((pid) => (readOr(`/proc/${pid}/cgroup`) ?? "").includes(marker))
    .map(Number);
}

function cgroupDirsNamed(name, dir = "/sys/fs/cgroup", depth = 0, out = []) {
  if (depth > 6) return out;
  let entries = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    if (e.name === name) out.push(join(dir, e.name));
    else cgroupDirsNamed(name, join(dir, e.name), depth + 1, out);
  }
  return out;
}

// scripts/cgroup-v2-vm.sh starts each daemon in a fresh delegated cgroup of its own, where a
// next daemon cannot find the cgroups of the one before (a service manager clears those).
const freshCgroups = process.env.TENANTD_FRESH_CGROUP_PER_DAEMON === "1";
test("no process of any environment survives the daemon killed with SIGKILL; the next daemon clears its cgroups", { skip: freshCgroups && "each daemon runs in a fresh cgroup" }, async (t) => {
  const pid = d.proc.pid;
  // Environments of several functions and tenants, idle and prewarmed.
  for (const tenant of ["k1", "k2", "k3"]) {
    const r = await invoke(d.lambda, { FunctionName: "hostile-c", TenantId: tenant, Payload: payload({ action: "ping" }) });
    assert.equal(r.json?.pong, true, r.text);
  }
  const before = environmentProcesses(pid);
  assert.ok(before.length >= 6, `environment processes before: ${before}`);
  assert.ok(cgroupDirsNamed(`tenantd.${pid}`).length > 0, "the daemon's cgroup directory is where this test looks");
  d.proc.kill("SIGKILL");
  await d.exited;
  const left = await waitFor("every environment process gone", () => {
    const p = environmentProcesses(pid);
    return p.length === 0 ? [] : null;
  }, 10000).catch(() => environmentProcesses(pid));
  assert.deepEqual(left, [], `still running: ${left.map((p) => `${p} ${readOr(`/proc/${p}/cmdline`, "")}`).join("; ")}`);
  // A killed daemon cannot remove its own directories: only another daemon's start-up does.
  // Test files run in parallel, so a daemon started by another one may already have.
  const stale = cgroupDirsNamed(`tenantd.${pid}`);
  if (stale.length === 0) t.diagnostic("already removed by a daemon another test file started");
  const next = await startDaemon({ stateDir: d.stateDir });
  try {
    assert.deepEqual(cgroupDirsNamed(`tenantd.${pid}`), [], "the next daemon removed them");
  } finally {
    await next.stop();
  }
});
