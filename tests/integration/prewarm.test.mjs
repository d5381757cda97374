// The tenant-neutral pool: environments of a PER_TENANT function are initialised before any
// tenant is known; a tenant seen for the first time takes one and keeps it for good. The pool
// never hands an environment to a second tenant, and init never sees tenant data.
import { test } from "node:test";
import assert from "node:assert/strict";
import { UpdateFunctionCodeCommand } from "@aws-sdk/client-lambda";
import { startDaemon, createFunction, readZip, signedFetch, sleep } from "./lib.mjs";

const TENANCY = { TenancyConfig: { TenantIsolationMode: "PER_TENANT" } };

async function stats(d) {
  const res = await signedFetch(d, "/tenantd/stats");
  assert.equal(res.status, 200);
  return res.json();
}

async function waitFor(d, predicate, what) {
  for (let i = 0; i < 200; i++) {
    const s = await stats(d);
    if (predicate(s)) return s;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await stats(d))}`);
}

// Invoke through raw HTTP to see tenantd's X-Tenantd-Environment header.
async function call(d, fn, tenant) {
  const res = await signedFetch(d, `/2015-03-31/functions/${fn}/invocations`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(tenant ? { "x-amz-tenant-id": tenant } : {}) },
    body: "{}",
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-amz-function-error"), null);
  return { env: res.headers.get("x-tenantd-environment"), body: await res.json() };
}

test("new tenants take prewarmed environments, bound to them for good", async () => {
  const d = await startDaemon({ args: ["--prewarm", "2"] });
  try {
    await createFunction(d.lambda, { FunctionName: "iso", Code: { ZipFile: readZip("examples/isolation.zip") }, ...TENANCY });
    await waitFor(d, (s) => s.environments.idle === 2, "two neutral environments");

    const a1 = await call(d, "iso", "tenant-a");
    assert.match(a1.env, /^prewarmed/);
    assert.equal(a1.body.firstTenant, "tenant-a", "the prewarmed environment served nobody before");
    assert.equal(a1.body.memCount, 1);
    const b1 = await call(d, "iso", "tenant-b");
    assert.match(b1.env, /^prewarmed/);
    assert.notEqual(b1.body.instance, a1.body.instance);
    assert.equal(b1.body.firstTenant, "tenant-b");

    // The pool is refilled; the tenants keep their own environments.
    await waitFor(d, (s) => s.environments.total === 4 && s.environments.idle === 4, "the pool refilled");
    const a2 = await call(d, "iso", "tenant-a");
    assert.equal(a2.env, "warm");
    assert.equal(a2.body.instance, a1.body.instance);
    assert.equal(a2.body.memCount, 2);

    // Many new tenants: every one gets an environment nobody else ever had.
    const seen = new Map();
    for (let i = 0; i < 12; i++) {
      const r = await call(d, "iso", `burst-${i}`);
      assert.equal(r.body.firstTenant, `burst-${i}`);
      assert.equal(r.body.memCount, 1);
      assert.ok(!seen.has(r.body.instance));
      seen.set(r.body.instance, `burst-${i}`);
    }
  } finally {
    assert.equal((await d.stop()).code, 0, d.stderr);
  }
});

test("Node functions are prewarmed too; updates replace the neutral environments", async () => {
  const d = await startDaemon({ args: ["--prewarm", "1"] });
  try {
    await createFunction(d.lambda, {
      FunctionName: "iso-node",
      Runtime: "nodejs20.x",
      Handler: "index.handler",
      Code: { ZipFile: readZip("examples/isolation-node.zip") },
      ...TENANCY,
    });
    await waitFor(d, (s) => s.environments.idle === 1, "one neutral environment");
    const r = await call(d, "iso-node", "n-1");
    assert.match(r.env, /^prewarmed/);
    assert.equal(r.body.firstTenant, "n-1");

    await waitFor(d, (s) => s.environments.idle === 2, "the pool refilled");
    const before = await stats(d);
    await d.lambda.send(new UpdateFunctionCodeCommand({ FunctionName: "iso-node", ZipFile: readZip("examples/isolation-node.zip") }));
    // The old code's environments go (the neutral one and n-1's); one neutral of the new code comes.
    await waitFor(d, (s) => s.reaped >= before.reaped + 2 && s.environments.total === 1 && s.environments.idle === 1, "the new generation");
    const after = await call(d, "iso-node", "n-1");
    assert.match(after.env, /^prewarmed/, "the tenant gets a fresh environment of the new code");
    assert.notEqual(after.body.instance, r.body.instance);
  } finally {
    assert.equal((await d.stop()).code, 0, d.stderr);
  }
});

test("without prewarming (--prewarm 0), and for plain functions, a first invocation starts an environment", async () => {
  const d = await startDaemon({ args: ["--prewarm", "0"] });
  try {
    await createFunction(d.lambda, { FunctionName: "iso", Code: { ZipFile: readZip("examples/isolation.zip") }, ...TENANCY });
    await createFunction(d.lambda, { FunctionName: "plain", Code: { ZipFile: readZip("examples/isolation.zip") } });
    assert.equal((await stats(d)).environments.total, 0);
    const r = await call(d, "iso", "t");
    assert.match(r.env, /^new; spawn_us=\d+; init_us=\d+$/);
    const p = await call(d, "plain", null);
    assert.match(p.env, /^new; /);
    assert.equal((await call(d, "plain", null)).env, "warm");
  } finally {
    assert.equal((await d.stop()).code, 0, d.stderr);
  }
});
