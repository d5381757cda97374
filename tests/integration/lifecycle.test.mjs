// The daemon's own life: stopping with invocations in flight, reaping every child, staying
// responsive whatever an environment does, exiting cleanly on SIGTERM and SIGINT.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { InvokeCommand } from "@aws-sdk/client-lambda";
import { startDaemon, createFunction, invoke, readZip, payload, sleep } from "./lib.mjs";

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
    await createFunction(d.lambda, { FunctionName: "slow", Code: { ZipFile: readZip("tests/functions/behave.zip") }, Timeout: 30, ...TENANCY });
    await invoke(d.lambda, { FunctionName: "slow", TenantId: "warm", Payload: payload({ action: "echo" }) });
    const inflight = [0, 1, 2].map((i) =>
      d.lambda
        .send(new InvokeCommand({ FunctionName: "slow", TenantId: `t${i}`, Payload: payload({ action: "sleep", ms: 20000 }) }))
        .then((r) => ({ ok: true, r }), (e) => ({ ok: false, e })),
    );
    // Wait until the three environments hold their invocations.
    for (let i = 0; i < 100 && children(d.proc.pid).length < 4; i++) await sleep(50);
    assert.ok(d.sandboxProcesses().length >= 3, "runtimes are running");
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
    await d.stop();
  });
}

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
