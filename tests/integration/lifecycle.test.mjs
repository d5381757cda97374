// The daemon's own life: stopping with invocations in flight, reaping every child, staying
// responsive whatever an environment does, exiting cleanly on SIGTERM and SIGINT.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { InvokeCommand } from "@aws-sdk/client-lambda";
import { Daemon, startDaemon, createFunction, invoke, readZip, payload, signedFetch, sleep } from "./lib.mjs";

const TENANCY = { TenancyConfig: { TenantIsolationMode: "PER_TENANT" } };

function children(pid) {
  const out = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const status = readFileSync(`/proc/${p}/status`, "utf8");
      if (Number(/^PPid:\s+(\d+)/m.exec(status)[1]) === pid)
        out.push({ pid: Number(p), state: /^State:\s+(\S)/m.exec(status)[1] });
    } catch {
      // gone
    }
  }
  return out;
}

for (const signal of ["SIGTERM", "SIGINT"]) {
  test(`${signal}: in-flight invocations are answered, every environment is killed and reaped, exit 0`, async () => {
    const d = await startDaemon();
    try {
      await createFunction(d.lambda, { FunctionName: "slow", Code: { ZipFile: readZip("tests/functions/behave.zip") }, Timeout: 30, ...TENANCY });
      await invoke(d.lambda, { FunctionName: "slow", TenantId: "warm", Payload: payload({ action: "echo" }) });
      const inflight = [0, 1, 2].map((i) =>
        d.lambda
          .send(new InvokeCommand({ FunctionName: "slow", TenantId: `t${i}`, Payload: payload({ action: "sleep", ms: 20000 }) }))
          .then((r) => ({ ok: true, r }), (e) => ({ ok: false, e })),
      );
      // Wait until the three environments hold their invocations.
      const busy = async () => (await (await signedFetch(d, "/tenantd/stats")).json()).environments.busy;
      for (let i = 0; i < 100 && (await busy()) < 3; i++) await sleep(50);
      assert.equal(await busy(), 3, "the three invocations are running");
      const t0 = Date.now();
      d.proc.kill(signal);
      const results = await Promise.all(inflight);
      const status = await d.exited;
      assert.ok(Date.now() - t0 < 10000, "stopping does not wait for the 20 s sleeps");
      assert.equal(status.code, 0, d.stderr);
      for (const res of results) {
        // Each caller got an answer (an error), not a hang.
        if (res.ok) assert.equal(res.r.FunctionError, "Unhandled");
        else assert.ok(res.e.$metadata?.httpStatusCode >= 500 || res.e.name, String(res.e));
      }
      assert.deepEqual(d.sandboxProcesses(), [], "no process of any environment is left");
    } finally {
      await d.stop(); // also when an assertion failed: a daemon left running keeps the test file alive
    }
  });
}

// The launcher (the process that clones environments) never ends while the daemon runs; if it
// does, no environment can be created any more: the daemon stops, with exit status 1 for its
// supervisor, and leaves no environment behind, not even one the launcher had cloned and not yet
// reported (strace holds the launcher in that report's sendmsg while it is killed).
test("the launcher's end stops the daemon: every environment is killed and reaped, exit 1", async () => {
  const d = await startDaemon();
  let tracer;
  try {
    await createFunction(d.lambda, { FunctionName: "l", Code: { ZipFile: readZip("tests/functions/behave.zip") }, ...TENANCY });
    for (const t of ["a", "b"]) await invoke(d.lambda, { FunctionName: "l", TenantId: t, Payload: payload({ action: "echo" }) });
    const comm = (pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      } catch {
        return ""; // gone meanwhile
      }
    };
    const envs = () => children(d.proc.pid).filter((c) => comm(c.pid) === "tenantd-env").length;
    await sleep(300); // the prewarmed environments' launches are over (a clone is briefly named so)
    const launchers = children(d.proc.pid).filter((c) => comm(c.pid) === "tenantd-launch");
    assert.equal(launchers.length, 1, "one launcher, a child of the daemon");
    assert.ok(envs() >= 2, "environments are the daemon's children");
    tracer = spawn("strace", ["-p", String(launchers[0].pid), "-e", "trace=sendmsg", "-e", "inject=sendmsg:delay_enter=20000000", "-o", "/dev/null"], { stdio: ["ignore", "ignore", "pipe"] });
    let traced = "";
    tracer.stderr.on("data", (b) => (traced += b));
    for (let i = 0; i < 100 && !traced.includes("attached"); i++) await sleep(50);
    assert.match(traced, /attached/, "strace attached to the launcher");
    const before = envs();
    const arriving = d.lambda.send(new InvokeCommand({ FunctionName: "l", TenantId: "new", Payload: payload({ action: "echo" }) })).catch((e) => e);
    for (let i = 0; i < 100 && envs() === before; i++) await sleep(50);
    assert.ok(envs() > before, "the launcher cloned an environment it has not reported");
    process.kill(launchers[0].pid, "SIGKILL");
    tracer.kill("SIGKILL"); // the launcher dies once strace lets go of it
    let timer;
    const status = await Promise.race([d.exited, new Promise((res) => (timer = setTimeout(() => res(null), 15000)))]);
    clearTimeout(timer);
    assert.ok(status, `the daemon stopped within 15 s of the launcher's end:\n${d.stderr.slice(-3000)}`);
    assert.equal(status.code, 1, d.stderr);
    assert.match(d.stderr, /the environment launcher exited/);
    await arriving;
    assert.deepEqual(d.sandboxProcesses(), [], "no process of any environment is left");
  } finally {
    tracer?.kill("SIGKILL");
    if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill("SIGKILL");
    await d.stop();
  }
});

// ^C in a terminal, or systemd's control-group kill, signal the launcher too: it leaves stopping
// to the daemon, which stops as on its own signal.
for (const signal of ["SIGTERM", "SIGINT"]) {
  test(`${signal} to the daemon's whole process group: a clean stop, exit 0`, async () => {
    const d = await startDaemon({ detached: true });
    try {
      await createFunction(d.lambda, { FunctionName: "g", Code: { ZipFile: readZip("tests/functions/behave.zip") }, ...TENANCY });
      await invoke(d.lambda, { FunctionName: "g", TenantId: "t", Payload: payload({ action: "echo" }) });
      process.kill(-d.proc.pid, signal);
      const status = await d.exited;
      assert.equal(status.code, 0, d.stderr);
      assert.doesNotMatch(d.stderr, /launcher exited/);
      assert.deepEqual(d.sandboxProcesses(), [], "no process of any environment is left");
    } finally {
      await d.stop();
    }
  });
}

// A start that fails late (here: the endpoint file cannot be written) ends the daemon with an
// error and exit status 1, instead of leaving it running half-started.
test("a start that fails after the listeners are up exits 1 with the reason", async () => {
  const state = mkdtempSync(join(tmpdir(), "tenantd-it-late-"));
  mkdirSync(join(state, "endpoint", "in-the-way"), { recursive: true });
  const d = new Daemon({ stateDir: state });
  try {
    await assert.rejects(d.start(), /exited with 1[\s\S]*cannot write .*endpoint/);
    assert.deepEqual(d.sandboxProcesses(), [], "no process of any environment is left");
  } finally {
    await d.stop();
    rmSync(state, { recursive: true, force: true });
  }
});

// A launcher that is stopped (SIGSTOP, stuck in the kernel) neither freezes the daemon nor keeps
// it from stopping: launches queue without blocking, and SIGTERM ends the launcher after a grace
// period, giving up the environments it never reported.
test("a stopped launcher: the daemon keeps answering and still stops on SIGTERM", async () => {
  const d = await startDaemon();
  let launcher;
  try {
    await createFunction(d.lambda, { FunctionName: "s", Code: { ZipFile: readZip("tests/functions/behave.zip") }, ...TENANCY });
    await invoke(d.lambda, { FunctionName: "s", TenantId: "warm", Payload: payload({ action: "echo" }) });
    await sleep(300); // prewarming done
    launcher = children(d.proc.pid).find((c) => readFileSync(`/proc/${c.pid}/comm`, "utf8").trim() === "tenantd-launch");
    assert.ok(launcher, "the launcher");
    process.kill(launcher.pid, "SIGSTOP");
    const waiting = Array.from({ length: 6 }, (_, i) =>
      d.lambda.send(new InvokeCommand({ FunctionName: "s", TenantId: `stuck-${i}`, Payload: payload({ action: "echo" }) })).catch((e) => e),
    );
    await sleep(300);
    const t1 = Date.now();
    const warm = await invoke(d.lambda, { FunctionName: "s", TenantId: "warm", Payload: payload({ action: "echo" }) });
    assert.equal(warm.FunctionError, undefined, warm.text);
    assert.ok(Date.now() - t1 < 3000, "a warm tenant is answered while launches wait");
    const t0 = Date.now();
    d.proc.kill("SIGTERM");
    let timer;
    const status = await Promise.race([d.exited, new Promise((res) => (timer = setTimeout(() => res(null), 20000)))]);
    clearTimeout(timer);
    assert.ok(status, `the daemon did not stop within 20 s:\n${d.stderr.slice(-2000)}`);
    assert.ok(Date.now() - t0 < 15000);
    assert.equal(status.code, 0, d.stderr);
    assert.match(d.stderr, /has not reported every environment/);
    await Promise.all(waiting); // every waiting caller got an answer (prewarmed ones a real one)
    assert.deepEqual(d.sandboxProcesses(), [], "no process of any environment is left");
  } finally {
    if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill("SIGKILL");
    await d.stop();
  }
});

test("every child is reaped: no zombies after exits, crashes and timeouts", async () => {
  const d = await startDaemon();
  try {
    const zip = readZip("tests/functions/behave.zip");
    await createFunction(d.lambda, { FunctionName: "z", Code: { ZipFile: zip }, Timeout: 1, ...TENANCY });
    const actions = [{ action: "exit", code: 1 }, { action: "crash" }, { action: "spin" }, { action: "echo" }];
    for (let i = 0; i < 3; i++)
      await Promise.all(actions.map((a, j) => invoke(d.lambda, { FunctionName: "z", TenantId: `z${j}`, Payload: payload(a) })));
    await sleep(300);
    const zombies = children(d.proc.pid).filter((c) => c.state === "Z");
    assert.deepEqual(zombies, []);
  } finally {
    assert.equal((await d.stop()).code, 0, d.stderr);
  }
});

test("the daemon keeps serving other tenants while an environment spins or floods its log", async () => {
  const d = await startDaemon();
  try {
    const zip = readZip("tests/functions/behave.zip");
    await createFunction(d.lambda, { FunctionName: "noisy", Code: { ZipFile: zip }, Timeout: 5, ...TENANCY });
    await invoke(d.lambda, { FunctionName: "noisy", TenantId: "quiet", Payload: payload({ action: "echo" }) });
    const spinning = invoke(d.lambda, { FunctionName: "noisy", TenantId: "spinner", Payload: payload({ action: "spin" }) });
    const logging = invoke(d.lambda, { FunctionName: "noisy", TenantId: "logger", Payload: payload({ action: "log", text: "x".repeat(200000) }) });
    for (let i = 0; i < 20; i++) {
      const r = await invoke(d.lambda, { FunctionName: "noisy", TenantId: "quiet", Payload: payload({ action: "echo", i }) });
      assert.deepEqual(r.json, { action: "echo", i });
    }
    assert.equal((await spinning).json.errorType, "Sandbox.Timedout");
    assert.equal((await logging).StatusCode, 200);
  } finally {
    assert.equal((await d.stop()).code, 0, d.stderr);
  }
});
