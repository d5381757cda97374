// The isolation test of the foundation issue: a function keeps a module-level counter, a counter
// in a /tmp file, its process id and the first tenant it ever saw. Three tenants are invoked
// interleaved, 30 times, some of them concurrently. Every answer must show the invoking tenant
// as the first tenant its process ever saw, counters that grow only with that tenant's own
// invocations, and no process shared between tenants. For the C and the Node runtime.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDaemon, createFunction, invoke, readZip } from "./lib.mjs";

let d;
const TENANTS = ["tenant-red", "tenant-green", "tenant-blue"];

before(async () => {
  d = await startDaemon();
  await createFunction(d.lambda, {
    FunctionName: "iso-c",
    Code: { ZipFile: readZip("examples/isolation.zip") },
    TenancyConfig: { TenantIsolationMode: "PER_TENANT" },
  });
  await createFunction(d.lambda, {
    FunctionName: "iso-node",
    Runtime: "nodejs20.x",
    Handler: "index.handler",
    Code: { ZipFile: readZip("examples/isolation-node.zip") },
    TenancyConfig: { TenantIsolationMode: "PER_TENANT" },
  });
});

after(async () => {
  const st = await d.stop();
  assert.equal(st.code, 0, d.stderr);
  assert.deepEqual(d.sandboxProcesses(), []);
});

// 30 invocations: rounds of the three tenants in turn, every third round fired concurrently
// (then a tenant may get a second environment, which must still be its own).
function schedule() {
  const rounds = [];
  for (let i = 0; i < 10; i++) rounds.push({ concurrent: i % 3 === 2, tenants: [...TENANTS] });
  return rounds;
}

async function runIsolation(fn) {
  const answers = [];
  const call = async (tenant) => {
    const r = await invoke(d.lambda, { FunctionName: fn, TenantId: tenant, Payload: "{}" });
    assert.equal(r.StatusCode, 200);
    assert.equal(r.FunctionError, undefined, r.text);
    answers.push({ ...r.json, invoked: tenant });
  };
  for (const round of schedule()) {
    if (round.concurrent) {
      // Two invocations per tenant at once, all tenants together.
      await Promise.all(round.tenants.flatMap((t) => [call(t), call(t)]));
    } else {
      for (const t of round.tenants) await call(t);
    }
  }
  return answers;
}

function check(answers) {
  assert.ok(answers.length >= 30);
  const byInstance = new Map();
  for (const a of answers) {
    assert.equal(a.tenant, a.invoked, "the function saw the tenant that invoked it");
    assert.equal(a.firstTenant, a.invoked, `process ${a.instance} first saw ${a.firstTenant}, now serves ${a.invoked}`);
    if (!byInstance.has(a.instance)) byInstance.set(a.instance, []);
    byInstance.get(a.instance).push(a);
  }
  const pidOwner = new Map();
  const instanceOwner = new Map();
  for (const [instance, list] of byInstance) {
    const tenants = new Set(list.map((a) => a.tenant));
    assert.equal(tenants.size, 1, `process ${instance} served ${[...tenants]}`);
    const tenant = list[0].tenant;
    instanceOwner.set(instance, tenant);
    // Per process the counters count exactly that process's invocations: 1, 2, 3, ...
    const mem = list.map((a) => a.memCount).sort((x, y) => x - y);
    assert.deepEqual(mem, mem.map((_, i) => i + 1), `memory counter of ${instance}`);
    // The /tmp counter is the environment's own: it grows in step with the memory counter.
    for (const a of list) assert.equal(a.tmpCount, a.memCount, `/tmp counter of ${instance}`);
    for (const a of list) {
      const owner = pidOwner.get(a.pid);
      assert.ok(owner === undefined || owner === tenant, `pid ${a.pid} seen for ${owner} and ${tenant}`);
      pidOwner.set(a.pid, tenant);
    }
  }
  // Every tenant was served, each only by its own processes.
  for (const t of TENANTS) assert.ok([...instanceOwner.values()].includes(t));
  const served = new Map(TENANTS.map((t) => [t, answers.filter((a) => a.invoked === t).length]));
  for (const t of TENANTS) {
    const total = [...byInstance.entries()]
      .filter(([, list]) => list[0].tenant === t)
      .reduce((n, [, list]) => n + list.length, 0);
    assert.equal(total, served.get(t), `${t}'s invocations all ran in ${t}'s environments`);
  }
}

test("C runtime: state never crosses tenants", async () => {
  check(await runIsolation("iso-c"));
});

test("Node runtime (aws-lambda-ric): state never crosses tenants", async () => {
  check(await runIsolation("iso-node"));
});
